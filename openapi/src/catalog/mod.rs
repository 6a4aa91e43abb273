//! Phase one: the schemas of every built-in type, generated from k8s-openapi's schemars impls.

mod builtin;

use k8s_openapi::{ListableResource, Resource};
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value};

/// Where the generator points `$ref`s: the Swagger 2.0 layout. The OpenAPI 3 documents rewrite
/// this prefix to `#/components/schemas/`.
pub(crate) const DEFINITIONS_REF: &str = "#/definitions/";

/// A group, version and kind, as `x-kubernetes-group-version-kind` spells it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub(crate) fn new(group: &str, version: &str, kind: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    /// The `{group, kind, version}` object of the extension.
    pub(crate) fn to_json(&self) -> Value {
        serde_json::json!({"group": self.group, "kind": self.kind, "version": self.version})
    }
}

/// A top-level kind found in the catalog.
#[derive(Debug, Clone)]
pub(crate) struct CatalogKind {
    /// The definition name, e.g. `io.k8s.api.core.v1.Pod`.
    pub definition: String,
    pub gvk: Gvk,
    /// The list kind (`PodList`) when the kind is listable.
    pub list_kind: Option<&'static str>,
}

/// Every built-in definition by name, and the kinds among them.
pub(crate) struct Catalog {
    generator: SchemaGenerator,
    pub kinds: Vec<CatalogKind>,
}

impl Catalog {
    /// Generates the schema of every built-in type.
    pub(crate) fn builtin() -> Self {
        let settings = SchemaSettings::draft07().with(|settings| {
            settings.definitions_path = "/definitions".into();
            settings.meta_schema = None;
            settings.transforms.clear();
        });
        let mut catalog = Catalog {
            generator: settings.into_generator(),
            kinds: Vec::new(),
        };
        builtin::register_all(&mut catalog);
        catalog
    }

    /// Takes the generated definitions out of the catalog.
    pub(crate) fn take_definitions(&mut self) -> Map<String, Value> {
        self.generator.take_definitions(false)
    }

    /// Registers a type that only appears inside kinds.
    fn schema<T: JsonSchema>(&mut self) {
        self.generator.subschema_for::<T>();
    }

    /// Registers a kind without a list kind (e.g. `Scale`, `Status`).
    fn kind<T: JsonSchema + Resource>(&mut self) {
        self.generator.subschema_for::<T>();
        self.kinds.push(CatalogKind {
            definition: T::schema_name().into_owned(),
            gvk: Gvk::new(T::GROUP, T::VERSION, T::KIND),
            list_kind: None,
        });
    }

    /// Registers a kind that has a list kind (e.g. `Pod` and `PodList`).
    fn listable<T: JsonSchema + ListableResource>(&mut self) {
        self.generator.subschema_for::<T>();
        self.kinds.push(CatalogKind {
            definition: T::schema_name().into_owned(),
            gvk: Gvk::new(T::GROUP, T::VERSION, T::KIND),
            list_kind: Some(T::LIST_KIND),
        });
    }
}
