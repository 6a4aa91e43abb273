//! The documents hold the facts kubectl reads from them.

mod common;

use ferrokube_openapi::{OpenApi, OpenApiError, ResourceInfo};
use serde_json::{Map, Value, json};

fn handful() -> OpenApi {
    OpenApi::new(&common::handful(), Map::new()).expect("the documents build")
}

fn v3(api: &OpenApi, path: &str) -> Value {
    let (bytes, _) = api
        .v3(path)
        .unwrap_or_else(|| panic!("no v3 document {path}"));
    serde_json::from_slice(bytes).expect("the v3 document is JSON")
}

fn v2(api: &OpenApi) -> Value {
    serde_json::from_slice(api.v2()).expect("the v2 document is JSON")
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

/// kubectl's QueryParamVerifierV3: the first PATCH operation tagged with the GVK decides.
fn patch_supports(document: &Value, gvk: &Value, parameter: &str) -> bool {
    let paths = document["paths"].as_object().expect("paths");
    for item in paths.values() {
        let Some(patch) = item.get("patch") else {
            continue;
        };
        if patch.get("x-kubernetes-group-version-kind") != Some(gvk) {
            continue;
        }
        return patch["parameters"]
            .as_array()
            .is_some_and(|parameters| parameters.iter().any(|p| p["name"] == parameter));
    }
    false
}

fn all_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                if let ("$ref", Some(reference)) = (key.as_str(), child.as_str()) {
                    out.push(reference.to_owned());
                } else {
                    all_refs(child, out);
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|child| all_refs(child, out)),
        _ => {}
    }
}

#[test]
fn the_pod_definition_carries_its_group_version_kind() {
    let api = handful();
    let core = v3(&api, "api/v1");
    let pod = &core["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([gvk("", "v1", "Pod")])
    );
    let swagger = v2(&api);
    assert_eq!(
        swagger["definitions"]["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"],
        json!([gvk("", "v1", "Pod")])
    );
    assert_eq!(
        swagger["definitions"]["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"],
        json!([gvk("", "v1", "PodList")])
    );
}

#[test]
fn pod_spec_containers_merge_by_name() {
    let api = handful();
    let core = v3(&api, "api/v1");
    let containers =
        &core["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    let swagger = v2(&api);
    assert_eq!(
        swagger["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["x-kubernetes-patch-merge-key"],
        "name"
    );
}

#[test]
fn the_apps_v1_document_offers_field_validation_on_the_deployment_patch() {
    let api = handful();
    let apps = v3(&api, "apis/apps/v1");
    let deployment = gvk("apps", "v1", "Deployment");
    assert!(patch_supports(&apps, &deployment, "fieldValidation"));
    let patch = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert!(
        patch["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_some()
    );
    // Only this group-version's paths are in the document.
    let paths = apps["paths"].as_object().expect("paths");
    assert!(paths.keys().all(|path| path.starts_with("/apis/apps/v1/")));
}

#[test]
fn every_ref_in_each_v3_document_resolves_inside_it() {
    let api = OpenApi::new(&common::full(), Map::new()).expect("the documents build");
    let mut checked = 0;
    for path in api.v3_paths() {
        let document = v3(&api, path);
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("components.schemas");
        let mut refs = Vec::new();
        all_refs(&document, &mut refs);
        for reference in refs {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{path}: {reference} is not a component ref"));
            assert!(
                schemas.contains_key(name),
                "{path}: {reference} does not resolve"
            );
            checked += 1;
        }
        assert_eq!(document["openapi"], "3.0.0");
    }
    assert!(checked > 1000, "only {checked} refs checked");
}

#[test]
fn v2_is_swagger_2_0_and_its_refs_resolve() {
    let api = OpenApi::new(&common::full(), Map::new()).expect("the documents build");
    let swagger = v2(&api);
    assert_eq!(swagger["swagger"], "2.0");
    assert!(
        swagger["info"]["version"]
            .as_str()
            .is_some_and(|version| version.starts_with("v1.33."))
    );
    let definitions = swagger["definitions"].as_object().expect("definitions");
    let mut refs = Vec::new();
    all_refs(&swagger, &mut refs);
    for reference in refs {
        let name = reference
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("{reference} is not a definitions ref"));
        assert!(
            definitions.contains_key(name),
            "{reference} does not resolve"
        );
    }
    for meta in [
        "DeleteOptions",
        "Status",
        "WatchEvent",
        "APIResourceList",
        "ObjectMeta",
    ] {
        let name = format!("io.k8s.apimachinery.pkg.apis.meta.v1.{meta}");
        assert!(definitions.contains_key(&name), "{name} is missing");
    }
    let delete_options = &definitions["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]["x-kubernetes-group-version-kind"];
    assert!(
        delete_options
            .as_array()
            .is_some_and(|gvks| gvks.contains(&gvk("apps", "v1", "DeleteOptions")))
    );
}

#[test]
fn the_v3_index_points_at_each_document_by_its_hash() {
    let api = handful();
    let index = api.v3_index();
    let paths = index["paths"].as_object().expect("paths");
    for key in [
        "api/v1",
        "apis/apps/v1",
        "apis/rbac.authorization.k8s.io/v1",
    ] {
        let (_, hash) = api.v3(key).expect("a document");
        assert_eq!(
            paths[key]["serverRelativeURL"],
            format!("/openapi/v3/{key}?hash={hash}")
        );
        assert_eq!(hash.len(), 128);
    }
    let (core, core_hash) = api.v3("api/v1").expect("core");
    let (apps, apps_hash) = api.v3("/apis/apps/v1").expect("apps");
    assert_ne!(core, apps);
    assert_ne!(core_hash, apps_hash);
    assert!(api.v3("apis/batch/v1").is_none());
}

#[test]
fn operations_are_named_as_upstream_names_them() {
    let api = handful();
    let core = v3(&api, "api/v1");
    let operation = |path: &str, method: &str| {
        core["paths"][path][method]["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("no {method} {path}"))
            .to_owned()
    };
    assert_eq!(
        operation("/api/v1/namespaces/{namespace}/pods", "get"),
        "listCoreV1NamespacedPod"
    );
    assert_eq!(
        operation("/api/v1/namespaces/{namespace}/pods", "delete"),
        "deleteCoreV1CollectionNamespacedPod"
    );
    assert_eq!(
        operation("/api/v1/pods", "get"),
        "listCoreV1PodForAllNamespaces"
    );
    assert_eq!(
        operation("/api/v1/watch/pods", "get"),
        "watchCoreV1PodListForAllNamespaces"
    );
    assert_eq!(
        operation("/api/v1/namespaces/{namespace}/pods/{name}/exec", "post"),
        "connectCoreV1PostNamespacedPodExec"
    );
    assert_eq!(
        operation(
            "/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}",
            "get"
        ),
        "connectCoreV1GetNamespacedPodProxyWithPath"
    );
    assert_eq!(operation("/api/v1/nodes/{name}", "get"), "readCoreV1Node");
    assert_eq!(
        operation("/api/v1/namespaces/{name}/finalize", "put"),
        "replaceCoreV1NamespaceFinalize"
    );
    assert_eq!(
        operation(
            "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            "post"
        ),
        "createCoreV1NamespacedServiceAccountToken"
    );
    let eviction = &core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"];
    assert_eq!(
        eviction["x-kubernetes-group-version-kind"],
        gvk("policy", "v1", "Eviction")
    );

    let apps = v3(&api, "apis/apps/v1");
    let scale = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(
        scale["get"]["operationId"],
        "readAppsV1NamespacedDeploymentScale"
    );
    assert_eq!(
        scale["patch"]["x-kubernetes-group-version-kind"],
        gvk("autoscaling", "v1", "Scale")
    );

    let rbac = v3(&api, "apis/rbac.authorization.k8s.io/v1");
    let roles = &rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles"];
    assert_eq!(
        roles["get"]["operationId"],
        "listRbacAuthorizationV1NamespacedRole"
    );
    assert_eq!(roles["get"]["tags"], json!(["rbacAuthorization_v1"]));
}

#[test]
fn explain_finds_the_kind_of_a_resource_path_among_the_schemas() {
    // kubectl explain: the GVK of the list path's GET, then the schema carrying that GVK.
    let api = handful();
    let apps = v3(&api, "apis/apps/v1");
    let found = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"]["x-kubernetes-group-version-kind"];
    assert_eq!(found, &gvk("apps", "v1", "Deployment"));
    let carriers: Vec<&String> = apps["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .iter()
        .filter(|(_, schema)| {
            schema["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|gvks| gvks.contains(found))
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(carriers, ["io.k8s.api.apps.v1.Deployment"]);
    // A field with a description keeps it next to the referenced type.
    let spec =
        &apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"];
    assert_eq!(
        spec["allOf"],
        json!([{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}])
    );
    assert!(spec["description"].is_string());
}

#[test]
fn int_or_string_and_quantity_take_upstream_shapes() {
    let api = handful();
    let apps = v3(&api, "apis/apps/v1");
    let int_or_string =
        &apps["components"]["schemas"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(
        int_or_string["oneOf"],
        json!([{"type": "integer"}, {"type": "string"}])
    );
    assert!(int_or_string.get("type").is_none());
    let swagger = v2(&api);
    let quantity = &swagger["definitions"]["io.k8s.apimachinery.pkg.api.resource.Quantity"];
    assert_eq!(quantity["type"], "string");
    assert!(quantity.get("x-kubernetes-int-or-string").is_none());
}

#[test]
fn kinds_do_not_require_metadata() {
    let api = handful();
    let swagger = v2(&api);
    let pod = &swagger["definitions"]["io.k8s.api.core.v1.Pod"];
    assert!(pod.get("required").is_none(), "{}", pod["required"]);
}

#[test]
fn a_custom_resource_gets_its_kind_list_and_paths_without_strategic_merge() {
    let mut extra = Map::new();
    extra.insert(
        "com.example.v1.Widget".to_owned(),
        json!({
            "type": "object",
            "properties": {
                "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
            },
        }),
    );
    let mut resources = common::handful();
    resources.push(common::resource(
        "example.com",
        "v1",
        "Widget",
        "widgets",
        true,
        &["status"],
        "com.example.v1.Widget",
    ));
    let api = OpenApi::new(&resources, extra).expect("the documents build");
    let widgets = v3(&api, "apis/example.com/v1");
    let schemas = &widgets["components"]["schemas"];
    assert_eq!(
        schemas["com.example.v1.Widget"]["x-kubernetes-group-version-kind"],
        json!([gvk("example.com", "v1", "Widget")])
    );
    assert_eq!(
        schemas["com.example.v1.WidgetList"]["x-kubernetes-group-version-kind"],
        json!([gvk("example.com", "v1", "WidgetList")])
    );
    assert!(
        schemas
            .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
            .is_some()
    );
    let patch =
        &widgets["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    assert_eq!(patch["operationId"], "patchExampleComV1NamespacedWidget");
    let content = patch["requestBody"]["content"]
        .as_object()
        .expect("content");
    assert!(content.contains_key("application/merge-patch+json"));
    assert!(!content.contains_key("application/strategic-merge-patch+json"));
    assert!(patch_supports(
        &widgets,
        &gvk("example.com", "v1", "Widget"),
        "fieldValidation"
    ));
}

#[test]
fn a_resource_with_an_unknown_definition_is_refused() {
    let resources = vec![ResourceInfo {
        definition: "io.k8s.api.core.v1.Nonexistent".to_owned(),
        ..common::handful().remove(0)
    }];
    let error = OpenApi::new(&resources, Map::new()).expect_err("an unknown definition");
    assert!(
        matches!(error, OpenApiError::ResolveDefinition { .. }),
        "{error}"
    );
}

#[test]
fn verbs_decide_which_operations_exist() {
    let mut pods = common::handful().remove(0);
    pods.verbs = vec!["get".to_owned(), "list".to_owned()];
    pods.subresources.clear();
    let api = OpenApi::new(&[pods], Map::new()).expect("the documents build");
    let core = v3(&api, "api/v1");
    let item = &core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"];
    assert!(item.get("get").is_some());
    assert!(item.get("patch").is_none());
    assert!(item.get("delete").is_none());
    assert!(core["paths"].get("/api/v1/watch/pods").is_none());
    assert!(!patch_supports(
        &core,
        &gvk("", "v1", "Pod"),
        "fieldValidation"
    ));
}
