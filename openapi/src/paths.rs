//! Phase three: the REST operations of every resource, in a form neutral to the two document
//! formats (`v2.rs` and `v3.rs` render it).
//!
//! Paths, operation ids, tags, parameters and `x-kubernetes-action` follow upstream's API
//! installer: `list{Group}{Version}Namespaced{Kind}`, `deleteCoreV1CollectionNamespacedPod`,
//! `listCoreV1PodForAllNamespaces`, `watchAppsV1NamespacedDeploymentList`,
//! `readAppsV1NamespacedDeploymentScale`, `connectCoreV1GetNamespacedPodExec`, and so on.

use std::collections::BTreeMap;

use crate::ResourceInfo;
use crate::catalog::Gvk;
use crate::decorate::{DELETE_OPTIONS, WATCH_EVENT, list_definition_name};
use crate::parameters::{self, PRETTY, Parameter};

const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
const API_VERSIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions";
const API_GROUP_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList";
const API_GROUP: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup";

/// An HTTP method of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Put,
    Post,
    Delete,
    Patch,
    Head,
    Options,
}

impl Method {
    /// The key of the operation in a path item.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Patch => "patch",
            Method::Head => "head",
            Method::Options => "options",
        }
    }

    /// The method as it appears in connect operation ids and descriptions.
    fn title(self) -> &'static str {
        match self {
            Method::Get => "Get",
            Method::Put => "Put",
            Method::Post => "Post",
            Method::Delete => "Delete",
            Method::Patch => "Patch",
            Method::Head => "Head",
            Method::Options => "Options",
        }
    }
}

/// What an operation answers with.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// An object of this definition.
    Definition(String),
    /// Plain text or a stream (`pods/log`, `exec`, `proxy`).
    Text,
}

/// The request body of an operation.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    pub definition: String,
    pub required: bool,
    pub content_types: &'static [&'static str],
}

/// One operation of a path.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub method: Method,
    pub operation_id: String,
    pub description: String,
    pub action: Option<&'static str>,
    pub gvk: Option<Gvk>,
    pub tag: String,
    pub parameters: Vec<Parameter>,
    pub body: Option<Body>,
    pub response: Payload,
    pub statuses: &'static [(u16, &'static str)],
    pub produces: &'static [&'static str],
}

/// A path with its shared parameters and its operations.
#[derive(Debug, Clone)]
pub(crate) struct PathItem {
    pub path: String,
    pub parameters: Vec<Parameter>,
    pub operations: Vec<Operation>,
}

const READ_STATUSES: &[(u16, &str)] = &[(200, "OK"), (401, "Unauthorized")];
const REPLACE_STATUSES: &[(u16, &str)] = &[(200, "OK"), (201, "Created"), (401, "Unauthorized")];
const CREATE_STATUSES: &[(u16, &str)] = &[
    (200, "OK"),
    (201, "Created"),
    (202, "Accepted"),
    (401, "Unauthorized"),
];
const DELETE_STATUSES: &[(u16, &str)] = &[(200, "OK"), (202, "Accepted"), (401, "Unauthorized")];

const OBJECT_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
const CUSTOM_OBJECT_TYPES: &[&str] = &["application/json", "application/yaml"];
const STREAM_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];
const CUSTOM_STREAM_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/json;stream=watch",
];
const LOG_TYPES: &[&str] = &[
    "text/plain",
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
const ANY_TYPE: &[&str] = &["*/*"];
const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];
const CUSTOM_PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
];

/// The document key of a group-version: `api/v1` or `apis/apps/v1`.
pub(crate) fn group_version_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Upstream's `ToValidOperationID`: drops punctuation and camel-cases what follows it.
fn to_valid_operation_id(text: &str, capitalize_first: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut capitalize = capitalize_first;
    for (index, character) in text.chars().enumerate() {
        if character.is_alphabetic() || character == '_' || (index != 0 && character.is_numeric()) {
            if capitalize {
                out.extend(character.to_uppercase());
                capitalize = false;
            } else {
                out.push(character);
            }
        } else {
            capitalize = true;
        }
    }
    out
}

/// Go's `strings.Title` for one lower-case word: `ephemeralcontainers` -> `Ephemeralcontainers`.
fn title(word: &str) -> String {
    let mut characters = word.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// The operation id prefix and tag of a group-version: (`AppsV1`, `apps_v1`),
/// (`RbacAuthorizationV1`, `rbacAuthorization_v1`), (`CoreV1`, `core_v1`).
fn group_version_names(group: &str, version: &str) -> (String, String) {
    let group = if group.is_empty() { "core" } else { group };
    let trimmed = group.strip_suffix(".k8s.io").unwrap_or(group);
    let id = to_valid_operation_id(trimmed, true) + &to_valid_operation_id(version, true);
    let tag = format!(
        "{}_{}",
        to_valid_operation_id(trimmed, false),
        to_valid_operation_id(version, false)
    );
    (id, tag)
}

/// The names and facts shared by every operation of one resource.
struct Scope<'a> {
    resource: &'a ResourceInfo,
    builtin: bool,
    /// `/api/v1` or `/apis/apps/v1`.
    prefix: String,
    /// `CoreV1`.
    id: String,
    /// `core_v1`.
    tag: String,
    /// `Namespaced` or empty.
    namespaced: &'static str,
}

impl Scope<'_> {
    fn operation_id(&self, verb: &str, rest: &str) -> String {
        format!("{verb}{}{}", self.id, title(rest))
    }

    fn gvk(&self) -> Gvk {
        Gvk::new(
            &self.resource.group,
            &self.resource.version,
            &self.resource.kind,
        )
    }

    fn has_verb(&self, verb: &str) -> bool {
        self.resource.verbs.iter().any(|have| have == verb)
    }

    fn object_types(&self) -> &'static [&'static str] {
        if self.builtin {
            OBJECT_TYPES
        } else {
            CUSTOM_OBJECT_TYPES
        }
    }

    fn stream_types(&self) -> &'static [&'static str] {
        if self.builtin {
            STREAM_TYPES
        } else {
            CUSTOM_STREAM_TYPES
        }
    }

    fn patch_types(&self) -> &'static [&'static str] {
        if self.builtin {
            PATCH_TYPES
        } else {
            CUSTOM_PATCH_TYPES
        }
    }

    /// `/apis/apps/v1/namespaces/{namespace}/deployments` or `/api/v1/nodes`.
    fn collection_path(&self) -> String {
        if self.resource.namespaced {
            format!(
                "{}/namespaces/{{namespace}}/{}",
                self.prefix, self.resource.plural
            )
        } else {
            format!("{}/{}", self.prefix, self.resource.plural)
        }
    }

    fn watch_collection_path(&self) -> String {
        if self.resource.namespaced {
            format!(
                "{}/watch/namespaces/{{namespace}}/{}",
                self.prefix, self.resource.plural
            )
        } else {
            format!("{}/watch/{}", self.prefix, self.resource.plural)
        }
    }

    /// `[namespace]` for namespaced resources.
    fn scope_parameters(&self) -> Vec<Parameter> {
        if self.resource.namespaced {
            vec![parameters::namespace()]
        } else {
            Vec::new()
        }
    }

    fn operation(
        &self,
        method: Method,
        operation_id: String,
        description: String,
        action: &'static str,
        gvk: Gvk,
    ) -> Operation {
        Operation {
            method,
            operation_id,
            description,
            action: Some(action),
            gvk: Some(gvk),
            tag: self.tag.clone(),
            parameters: Vec::new(),
            body: None,
            response: Payload::Definition(STATUS.to_owned()),
            statuses: READ_STATUSES,
            produces: self.object_types(),
        }
    }
}

/// Builds the path items of every resource, keyed by document (`api/v1`, `apis/apps/v1`, and
/// the discovery documents `api`, `apis`, `apis/apps`). `is_builtin` tells built-in
/// definitions (protobuf, strategic merge patch) from custom ones.
pub(crate) fn build(
    resources: &[ResourceInfo],
    is_builtin: impl Fn(&str) -> bool,
) -> BTreeMap<String, Vec<PathItem>> {
    let mut documents: BTreeMap<String, Vec<PathItem>> = BTreeMap::new();
    for resource in resources {
        if resource.plural.contains('/') {
            // Subresources come through their parent's `subresources`.
            continue;
        }
        let key = group_version_key(&resource.group, &resource.version);
        let (id, tag) = group_version_names(&resource.group, &resource.version);
        let scope = Scope {
            resource,
            builtin: is_builtin(&resource.definition),
            prefix: format!("/{key}"),
            id,
            tag,
            namespaced: if resource.namespaced {
                "Namespaced"
            } else {
                ""
            },
        };
        let items = documents.entry(key).or_default();
        resource_paths(&scope, items);
        for subresource in &resource.subresources {
            subresource_paths(&scope, subresource, items);
        }
    }
    let group_versions: Vec<(String, String, String)> = resources
        .iter()
        .map(|resource| {
            (
                group_version_key(&resource.group, &resource.version),
                resource.group.clone(),
                resource.version.clone(),
            )
        })
        .collect();
    for (key, group, version) in group_versions {
        let Some(items) = documents.get_mut(&key) else {
            continue;
        };
        let root = format!("/{key}/");
        if items.iter().any(|item| item.path == root) {
            continue;
        }
        let (id, tag) = group_version_names(&group, &version);
        items.push(discovery_item(
            root,
            format!("get{id}APIResources"),
            "get available resources",
            tag,
            API_RESOURCE_LIST,
        ));
        let (group_key, group_item) = if group.is_empty() {
            (
                "api".to_owned(),
                discovery_item(
                    "/api/".to_owned(),
                    "getCoreAPIVersions".to_owned(),
                    "get available API versions",
                    "core".to_owned(),
                    API_VERSIONS,
                ),
            )
        } else {
            let trimmed = group.strip_suffix(".k8s.io").unwrap_or(&group);
            (
                format!("apis/{group}"),
                discovery_item(
                    format!("/apis/{group}/"),
                    format!("get{}APIGroup", to_valid_operation_id(trimmed, true)),
                    "get information of a group",
                    to_valid_operation_id(trimmed, false),
                    API_GROUP,
                ),
            )
        };
        documents
            .entry(group_key)
            .or_insert_with(|| vec![group_item]);
        documents.entry("apis".to_owned()).or_insert_with(|| {
            vec![discovery_item(
                "/apis/".to_owned(),
                "getAPIVersions".to_owned(),
                "get available API versions",
                "apis".to_owned(),
                API_GROUP_LIST,
            )]
        });
    }
    for items in documents.values_mut() {
        items.sort_by(|a, b| a.path.cmp(&b.path));
    }
    documents
}

fn discovery_item(
    path: String,
    operation_id: String,
    description: &str,
    tag: String,
    definition: &str,
) -> PathItem {
    PathItem {
        path,
        parameters: Vec::new(),
        operations: vec![Operation {
            method: Method::Get,
            operation_id,
            description: description.to_owned(),
            action: None,
            gvk: None,
            tag,
            parameters: Vec::new(),
            body: None,
            response: Payload::Definition(definition.to_owned()),
            statuses: READ_STATUSES,
            produces: OBJECT_TYPES,
        }],
    }
}

/// The collection, item, all-namespaces and watch paths of one resource.
fn resource_paths(scope: &Scope<'_>, items: &mut Vec<PathItem>) {
    let resource = scope.resource;
    let kind = &resource.kind;
    let ns = scope.namespaced;
    let definition = &resource.definition;
    let list_definition = list_definition_name(definition, &format!("{kind}List"));

    // The collection: list, create, deletecollection.
    let mut collection = Vec::new();
    if scope.has_verb("list") {
        let mut list = scope.operation(
            Method::Get,
            scope.operation_id("list", &format!("{ns}{kind}")),
            format!("list or watch objects of kind {kind}"),
            "list",
            scope.gvk(),
        );
        list.parameters = parameters::list();
        list.response = Payload::Definition(list_definition.clone());
        list.produces = scope.stream_types();
        collection.push(list);
    }
    if scope.has_verb("create") {
        let mut create = scope.operation(
            Method::Post,
            scope.operation_id("create", &format!("{ns}{kind}")),
            format!("create a {kind}"),
            "post",
            scope.gvk(),
        );
        create.parameters = parameters::write();
        create.body = Some(Body {
            definition: definition.clone(),
            required: true,
            content_types: ANY_TYPE,
        });
        create.response = Payload::Definition(definition.clone());
        create.statuses = CREATE_STATUSES;
        collection.push(create);
    }
    if scope.has_verb("deletecollection") {
        let mut delete = scope.operation(
            Method::Delete,
            scope.operation_id("delete", &format!("Collection{ns}{kind}")),
            format!("delete collection of {kind}"),
            "deletecollection",
            scope.gvk(),
        );
        delete.parameters = parameters::delete_collection();
        delete.body = Some(Body {
            definition: DELETE_OPTIONS.to_owned(),
            required: false,
            content_types: ANY_TYPE,
        });
        collection.push(delete);
    }
    if !collection.is_empty() {
        let mut shared = scope.scope_parameters();
        shared.push(PRETTY);
        items.push(PathItem {
            path: scope.collection_path(),
            parameters: shared,
            operations: collection,
        });
    }

    // One object: read, replace, patch, delete.
    let mut object = Vec::new();
    if scope.has_verb("get") {
        let mut read = scope.operation(
            Method::Get,
            scope.operation_id("read", &format!("{ns}{kind}")),
            format!("read the specified {kind}"),
            "get",
            scope.gvk(),
        );
        read.response = Payload::Definition(definition.clone());
        object.push(read);
    }
    if scope.has_verb("update") {
        object.push(replace(
            scope,
            "",
            &format!("the specified {kind}"),
            definition,
            scope.gvk(),
        ));
    }
    if scope.has_verb("patch") {
        object.push(patch(
            scope,
            "",
            &format!("the specified {kind}"),
            definition,
            scope.gvk(),
        ));
    }
    if scope.has_verb("delete") {
        let mut delete = scope.operation(
            Method::Delete,
            scope.operation_id("delete", &format!("{ns}{kind}")),
            format!("delete a {kind}"),
            "delete",
            scope.gvk(),
        );
        delete.parameters = parameters::delete();
        delete.body = Some(Body {
            definition: DELETE_OPTIONS.to_owned(),
            required: false,
            content_types: ANY_TYPE,
        });
        delete.statuses = DELETE_STATUSES;
        object.push(delete);
    }
    if !object.is_empty() {
        let mut shared = vec![parameters::name(kind)];
        shared.extend(scope.scope_parameters());
        shared.push(PRETTY);
        items.push(PathItem {
            path: format!("{}/{{name}}", scope.collection_path()),
            parameters: shared,
            operations: object,
        });
    }

    // Lists and watches across namespaces.
    let mut list_parameters = parameters::list();
    list_parameters.push(PRETTY);
    if resource.namespaced && scope.has_verb("list") {
        let mut list = scope.operation(
            Method::Get,
            scope.operation_id("list", &format!("{kind}ForAllNamespaces")),
            format!("list or watch objects of kind {kind}"),
            "list",
            scope.gvk(),
        );
        list.response = Payload::Definition(list_definition.clone());
        list.produces = scope.stream_types();
        items.push(PathItem {
            path: format!("{}/{}", scope.prefix, resource.plural),
            parameters: list_parameters.clone(),
            operations: vec![list],
        });
    }
    if !scope.has_verb("watch") {
        return;
    }
    let watch = |operation_id: String, description: String, action: &'static str| {
        let mut watch =
            scope.operation(Method::Get, operation_id, description, action, scope.gvk());
        watch.response = Payload::Definition(WATCH_EVENT.to_owned());
        watch.produces = scope.stream_types();
        watch
    };
    let mut shared = list_parameters.clone();
    shared.extend(scope.scope_parameters());
    items.push(PathItem {
        path: scope.watch_collection_path(),
        parameters: shared.clone(),
        operations: vec![watch(
            scope.operation_id("watch", &format!("{ns}{kind}List")),
            format!(
                "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
            ),
            "watchlist",
        )],
    });
    shared.push(parameters::name(kind));
    items.push(PathItem {
        path: format!("{}/{{name}}", scope.watch_collection_path()),
        parameters: shared,
        operations: vec![watch(
            scope.operation_id("watch", &format!("{ns}{kind}")),
            format!(
                "watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
            ),
            "watch",
        )],
    });
    if resource.namespaced {
        items.push(PathItem {
            path: format!("{}/watch/{}", scope.prefix, resource.plural),
            parameters: list_parameters,
            operations: vec![watch(
                scope.operation_id("watch", &format!("{kind}ListForAllNamespaces")),
                format!(
                    "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
                ),
                "watchlist",
            )],
        });
    }
}

/// A PUT of an object or of a subresource (`subresource` empty for the object itself).
fn replace(
    scope: &Scope<'_>,
    subresource: &str,
    what: &str,
    definition: &str,
    gvk: Gvk,
) -> Operation {
    let kind = &scope.resource.kind;
    let mut replace = scope.operation(
        Method::Put,
        scope.operation_id(
            "replace",
            &format!("{}{kind}{}", scope.namespaced, title(subresource)),
        ),
        format!("replace {what}"),
        "put",
        gvk,
    );
    replace.parameters = parameters::write();
    replace.body = Some(Body {
        definition: definition.to_owned(),
        required: true,
        content_types: ANY_TYPE,
    });
    replace.response = Payload::Definition(definition.to_owned());
    replace.statuses = REPLACE_STATUSES;
    replace
}

/// A PATCH of an object or of a subresource.
fn patch(
    scope: &Scope<'_>,
    subresource: &str,
    what: &str,
    definition: &str,
    gvk: Gvk,
) -> Operation {
    let kind = &scope.resource.kind;
    let mut patch = scope.operation(
        Method::Patch,
        scope.operation_id(
            "patch",
            &format!("{}{kind}{}", scope.namespaced, title(subresource)),
        ),
        format!("partially update {what}"),
        "patch",
        gvk,
    );
    patch.parameters = parameters::patch();
    patch.body = Some(Body {
        definition: PATCH.to_owned(),
        required: true,
        content_types: scope.patch_types(),
    });
    patch.response = Payload::Definition(definition.to_owned());
    patch.statuses = REPLACE_STATUSES;
    patch
}

/// The shapes subresources come in.
enum Shape {
    /// read / replace / patch of an object (`status`, `scale`, `ephemeralcontainers`, ...).
    Object {
        gvk: Gvk,
        definition: String,
        methods: &'static [Method],
    },
    /// create of another kind (`binding`, `eviction`, `token`).
    Create { gvk: Gvk, definition: String },
    /// `pods/log`.
    Log,
    /// `exec`, `attach`, `portforward`: streaming connections.
    Connect {
        options_kind: &'static str,
        parameters: Vec<Parameter>,
    },
    /// `pods/proxy`, `services/proxy`, `nodes/proxy`.
    Proxy,
}

const READ_REPLACE_PATCH: &[Method] = &[Method::Get, Method::Put, Method::Patch];
const CONNECT_METHODS: &[Method] = &[Method::Get, Method::Post];
const PROXY_METHODS: &[Method] = &[
    Method::Delete,
    Method::Get,
    Method::Head,
    Method::Options,
    Method::Patch,
    Method::Post,
    Method::Put,
];

fn shape(scope: &Scope<'_>, subresource: &str) -> Option<Shape> {
    let parent = || Shape::Object {
        gvk: scope.gvk(),
        definition: scope.resource.definition.clone(),
        methods: READ_REPLACE_PATCH,
    };
    Some(match subresource {
        "status" | "ephemeralcontainers" | "resize" | "approval" => parent(),
        "finalize" => Shape::Object {
            gvk: scope.gvk(),
            definition: scope.resource.definition.clone(),
            methods: &[Method::Put],
        },
        "scale" => Shape::Object {
            gvk: Gvk::new("autoscaling", "v1", "Scale"),
            definition: "io.k8s.api.autoscaling.v1.Scale".to_owned(),
            methods: READ_REPLACE_PATCH,
        },
        "binding" => Shape::Create {
            gvk: Gvk::new("", "v1", "Binding"),
            definition: "io.k8s.api.core.v1.Binding".to_owned(),
        },
        "eviction" => Shape::Create {
            gvk: Gvk::new("policy", "v1", "Eviction"),
            definition: "io.k8s.api.policy.v1.Eviction".to_owned(),
        },
        "token" => Shape::Create {
            gvk: Gvk::new("authentication.k8s.io", "v1", "TokenRequest"),
            definition: "io.k8s.api.authentication.v1.TokenRequest".to_owned(),
        },
        "log" => Shape::Log,
        "exec" => Shape::Connect {
            options_kind: "PodExecOptions",
            parameters: parameters::exec(),
        },
        "attach" => Shape::Connect {
            options_kind: "PodAttachOptions",
            parameters: parameters::attach(),
        },
        "portforward" => Shape::Connect {
            options_kind: "PodPortForwardOptions",
            parameters: parameters::port_forward(),
        },
        "proxy" => Shape::Proxy,
        _ => return None,
    })
}

/// The path items of one subresource of `scope`'s resource.
fn subresource_paths(scope: &Scope<'_>, subresource: &str, items: &mut Vec<PathItem>) {
    let Some(shape) = shape(scope, subresource) else {
        return;
    };
    let kind = &scope.resource.kind;
    let ns = scope.namespaced;
    let item_path = format!("{}/{{name}}", scope.collection_path());
    let path = format!("{item_path}/{subresource}");
    let sub = title(subresource);
    let shared = |name_kind: &str, pretty: bool| {
        let mut shared = vec![parameters::name(name_kind)];
        shared.extend(scope.scope_parameters());
        if pretty {
            shared.push(PRETTY);
        }
        shared
    };
    match shape {
        Shape::Object {
            gvk,
            definition,
            methods,
        } => {
            let what = format!("{subresource} of the specified {kind}");
            let operations = methods
                .iter()
                .map(|method| match method {
                    Method::Put => replace(scope, subresource, &what, &definition, gvk.clone()),
                    Method::Patch => patch(scope, subresource, &what, &definition, gvk.clone()),
                    _ => {
                        let mut read = scope.operation(
                            Method::Get,
                            scope.operation_id("read", &format!("{ns}{kind}{sub}")),
                            format!("read {what}"),
                            "get",
                            gvk.clone(),
                        );
                        read.response = Payload::Definition(definition.clone());
                        read
                    }
                })
                .collect();
            items.push(PathItem {
                path,
                parameters: shared(&gvk.kind, true),
                operations,
            });
        }
        Shape::Create { gvk, definition } => {
            let mut create = scope.operation(
                Method::Post,
                scope.operation_id("create", &format!("{ns}{kind}{sub}")),
                format!("create {subresource} of a {kind}"),
                "post",
                gvk.clone(),
            );
            create.parameters = parameters::write();
            create.body = Some(Body {
                definition: definition.clone(),
                required: true,
                content_types: ANY_TYPE,
            });
            create.response = Payload::Definition(definition);
            create.statuses = CREATE_STATUSES;
            items.push(PathItem {
                path,
                parameters: shared(&gvk.kind, true),
                operations: vec![create],
            });
        }
        Shape::Log => {
            let mut read = scope.operation(
                Method::Get,
                scope.operation_id("read", &format!("{ns}{kind}{sub}")),
                format!("read {subresource} of the specified {kind}"),
                "get",
                scope.gvk(),
            );
            read.response = Payload::Text;
            read.produces = LOG_TYPES;
            let mut shared = shared(kind, true);
            shared.extend(parameters::log());
            items.push(PathItem {
                path,
                parameters: shared,
                operations: vec![read],
            });
        }
        Shape::Connect {
            options_kind,
            parameters,
        } => {
            let gvk = Gvk::new(&scope.resource.group, &scope.resource.version, options_kind);
            let mut shared = shared(options_kind, false);
            shared.extend(parameters);
            items.push(PathItem {
                path,
                parameters: shared,
                operations: connect_operations(scope, CONNECT_METHODS, subresource, &gvk, ""),
            });
        }
        Shape::Proxy => {
            let options_kind = format!("{kind}ProxyOptions");
            let gvk = Gvk::new(
                &scope.resource.group,
                &scope.resource.version,
                &options_kind,
            );
            let mut shared_query = shared(&options_kind, false);
            shared_query.extend(parameters::proxy(kind));
            items.push(PathItem {
                path: path.clone(),
                parameters: shared_query,
                operations: connect_operations(scope, PROXY_METHODS, subresource, &gvk, ""),
            });
            let mut shared_path = shared(&options_kind, false);
            shared_path.push(parameters::proxy_path_segment());
            items.push(PathItem {
                path: format!("{path}/{{path}}"),
                parameters: shared_path,
                operations: connect_operations(scope, PROXY_METHODS, subresource, &gvk, "WithPath"),
            });
        }
    }
}

fn connect_operations(
    scope: &Scope<'_>,
    methods: &[Method],
    subresource: &str,
    gvk: &Gvk,
    suffix: &str,
) -> Vec<Operation> {
    let kind = &scope.resource.kind;
    methods
        .iter()
        .map(|method| {
            let mut connect = scope.operation(
                *method,
                scope.operation_id(
                    "connect",
                    &format!(
                        "{}{}{kind}{}{suffix}",
                        method.title(),
                        scope.namespaced,
                        title(subresource)
                    ),
                ),
                format!(
                    "connect {} requests to {subresource} of {kind}",
                    method.title().to_ascii_uppercase()
                ),
                "connect",
                gvk.clone(),
            );
            connect.response = Payload::Text;
            connect.produces = ANY_TYPE;
            connect
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_follow_upstream_operation_ids() {
        assert_eq!(
            group_version_names("", "v1"),
            ("CoreV1".to_owned(), "core_v1".to_owned())
        );
        assert_eq!(
            group_version_names("rbac.authorization.k8s.io", "v1"),
            (
                "RbacAuthorizationV1".to_owned(),
                "rbacAuthorization_v1".to_owned()
            )
        );
        assert_eq!(
            group_version_names("flowcontrol.apiserver.k8s.io", "v1beta3"),
            (
                "FlowcontrolApiserverV1beta3".to_owned(),
                "flowcontrolApiserver_v1beta3".to_owned()
            )
        );
    }

    #[test]
    fn subresource_words_are_title_cased_like_go() {
        assert_eq!(title("ephemeralcontainers"), "Ephemeralcontainers");
        assert_eq!(title(""), "");
    }
}
