//! The OpenAPI documents of the Ferrokube API server: `/openapi/v2` (Swagger 2.0) and
//! `/openapi/v3` (an index plus one OpenAPI 3.0 document per group-version).
//!
//! The entry point is [`OpenApi::new`]: it generates every built-in schema from k8s-openapi's
//! schemars impls, adds the Kubernetes vendor extensions kubectl relies on
//! (`x-kubernetes-group-version-kind`, patch merge keys and strategies, list and map types),
//! builds the REST paths of the served resources the way upstream's API installer names them,
//! and serializes everything once; the server then hands out the bytes with
//! [`OpenApi::v2`], [`OpenApi::v3_index`] and [`OpenApi::v3`].

mod catalog;
mod decorate;
mod parameters;
mod paths;
mod v2;
mod v3;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, Gvk};

/// The `info.version` of the documents: the Kubernetes API version served.
pub const INFO_VERSION: &str = "v1.33.0";

/// One served resource, as the API server's registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
    /// Plural resource name used in paths, e.g. `pods`.
    pub plural: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Discovery verbs: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`.
    pub verbs: Vec<String>,
    /// Subresource names, e.g. `status`, `scale`, `log`, `exec`.
    pub subresources: Vec<String>,
    /// The OpenAPI definition name of the kind, e.g. `io.k8s.api.core.v1.Pod`.
    pub definition: String,
}

/// Why the documents could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    /// A resource names a definition that is neither built in nor among the extra definitions.
    #[error(
        "resolve the definition {definition} of {plural}.{group}/{version}: no such definition"
    )]
    ResolveDefinition {
        /// The resource's group.
        group: String,
        /// The resource's version.
        version: String,
        /// The resource's plural.
        plural: String,
        /// The missing definition.
        definition: String,
    },
    /// A document failed to serialize.
    #[error("serialize the {document} document: {source}")]
    Serialize {
        /// `v2` or the group-version key of a v3 document.
        document: String,
        /// The serializer's error.
        source: serde_json::Error,
    },
}

/// One pre-serialized document and its content hash.
#[derive(Debug, Clone)]
struct Document {
    bytes: Bytes,
    hash: String,
}

impl Document {
    fn new(bytes: Vec<u8>) -> Self {
        let hash = content_hash(&bytes);
        Document {
            bytes: Bytes::from(bytes),
            hash,
        }
    }
}

/// The OpenAPI documents of a set of served resources, built once and served as bytes.
#[derive(Debug, Clone)]
pub struct OpenApi {
    v2: Document,
    v3: BTreeMap<String, Document>,
}

impl OpenApi {
    /// Builds every document for `resources`. `extra_definitions` adds schemas (CustomResource
    /// kinds) in Swagger 2.0 form: `$ref`s point at `#/definitions/<name>`; a resource whose
    /// `definition` is among them gets its `x-kubernetes-group-version-kind` and list kind
    /// added here.
    pub fn new(
        resources: &[ResourceInfo],
        extra_definitions: Map<String, Value>,
    ) -> Result<Self, OpenApiError> {
        let mut catalog = Catalog::builtin();
        let mut definitions = catalog.take_definitions();
        let builtin: HashSet<String> = definitions.keys().cloned().collect();

        let mut group_versions: BTreeSet<(String, String)> = catalog
            .kinds
            .iter()
            .map(|kind| (kind.gvk.group.clone(), kind.gvk.version.clone()))
            .collect();
        group_versions.extend(
            resources
                .iter()
                .map(|resource| (resource.group.clone(), resource.version.clone())),
        );
        decorate::builtin(&mut definitions, &catalog.kinds, &group_versions);
        definitions.extend(extra_definitions);

        for resource in resources.iter().filter(|r| !r.plural.contains('/')) {
            let gvk = Gvk::new(&resource.group, &resource.version, &resource.kind);
            let Some(definition) = definitions.get_mut(&resource.definition) else {
                return Err(OpenApiError::ResolveDefinition {
                    group: resource.group.clone(),
                    version: resource.version.clone(),
                    plural: resource.plural.clone(),
                    definition: resource.definition.clone(),
                });
            };
            decorate::add_gvk(definition, &gvk);
            if resource.verbs.iter().any(|verb| verb == "list") {
                decorate::add_list_kind(
                    &mut definitions,
                    &resource.definition,
                    &gvk,
                    &format!("{}List", resource.kind),
                );
            }
        }

        let documents = paths::build(resources, |definition| builtin.contains(definition));
        let v3 = v3_documents(&documents, &definitions)?;
        let v2 = v2::document(&documents, definitions, INFO_VERSION);
        let v2 = serde_json::to_vec(&v2).map_err(|source| OpenApiError::Serialize {
            document: "v2".to_owned(),
            source,
        })?;
        Ok(OpenApi {
            v2: Document::new(v2),
            v3,
        })
    }

    /// The Swagger 2.0 document served at `/openapi/v2` (JSON).
    pub fn v2(&self) -> &Bytes {
        &self.v2.bytes
    }

    /// The content hash of the `/openapi/v2` document, for its `ETag`.
    pub fn v2_hash(&self) -> &str {
        &self.v2.hash
    }

    /// The `/openapi/v3` index: every document's path with its `serverRelativeURL`
    /// (`/openapi/v3/api/v1?hash=<HASH>`).
    pub fn v3_index(&self) -> Value {
        let paths: Map<String, Value> = self
            .v3
            .iter()
            .map(|(key, document)| {
                (
                    key.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", document.hash)}),
                )
            })
            .collect();
        json!({ "paths": paths })
    }

    /// The OpenAPI 3.0 document of one group-version (`api/v1`, `apis/apps/v1`; also the
    /// discovery documents `api`, `apis`, `apis/<group>`) and its content hash.
    pub fn v3(&self, path: &str) -> Option<(&Bytes, &str)> {
        let path = path.trim_matches('/');
        self.v3
            .get(path)
            .map(|document| (&document.bytes, document.hash.as_str()))
    }

    /// The keys of the v3 documents, in order.
    pub fn v3_paths(&self) -> impl Iterator<Item = &str> {
        self.v3.keys().map(String::as_str)
    }
}

/// Builds the v3 document of every group-version, converting and serializing each schema
/// at most once.
fn v3_documents(
    documents: &BTreeMap<String, Vec<paths::PathItem>>,
    definitions: &Map<String, Value>,
) -> Result<BTreeMap<String, Document>, OpenApiError> {
    let direct: HashMap<String, Vec<String>> = definitions
        .iter()
        .map(|(name, schema)| {
            let mut references = Vec::new();
            v3::references(schema, &mut references);
            (name.clone(), references)
        })
        .collect();
    let mut serialized: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = BTreeMap::new();
    for (key, items) in documents {
        let serialize_error = |source| OpenApiError::Serialize {
            document: key.clone(),
            source,
        };
        let paths_value = v3::paths(items);
        let mut roots = Vec::new();
        collect_component_refs(&paths_value, &mut roots);
        let needed = v3::closure(roots, &direct);
        for name in &needed {
            if !serialized.contains_key(name) {
                let schema = v3::schema(name, &definitions[name.as_str()]);
                let bytes = serde_json::to_vec(&schema).map_err(serialize_error)?;
                serialized.insert(name.clone(), bytes);
            }
        }
        let paths_bytes = serde_json::to_vec(&paths_value).map_err(serialize_error)?;
        let bytes = v3::assemble(
            needed
                .iter()
                .map(|name| (name.as_str(), serialized[name].as_slice())),
            &paths_bytes,
            INFO_VERSION,
        )
        .map_err(serialize_error)?;
        out.insert(key.clone(), Document::new(bytes));
    }
    Ok(out)
}

/// The definitions the v3 paths name (`#/components/schemas/<name>`).
fn collect_component_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                if key == "$ref" {
                    if let Some(name) = child
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    {
                        out.push(name.to_owned());
                    }
                } else {
                    collect_component_refs(child, out);
                }
            }
        }
        Value::Array(values) => values
            .iter()
            .for_each(|child| collect_component_refs(child, out)),
        _ => {}
    }
}

/// Upstream's document hash: SHA-512 of the content, upper-case hex.
fn content_hash(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, bytes);
    digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}
