//! What a strategic merge patch needs to know about a type: the patch strategy and merge key of
//! each property and the schema of its value, read from OpenAPI definitions.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::index::PropertyIndex;
use crate::extensions::{self, PropertyExtensions};

/// Answers, for a property of a definition, its patch metadata and the schema of its value.
pub trait PatchSchema {
    /// Looks `property` (a JSON name) of `definition` up; `None` when either is unknown.
    fn property(&self, definition: &str, property: &str) -> Option<PropertyPatchMeta<'_>>;
}

/// The patch metadata of one property, and what its value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PropertyPatchMeta<'a> {
    /// `x-kubernetes-patch-strategy`, e.g. "merge" or "merge,retainKeys".
    pub patch_strategy: Option<&'a str>,
    /// `x-kubernetes-patch-merge-key`, e.g. "name".
    pub patch_merge_key: Option<&'a str>,
    /// What the property's value is.
    pub value: ValueSchema<'a>,
}

/// The schema of a property's value, as far as a strategic merge patch cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueSchema<'a> {
    /// Nothing known: merged like a JSON merge patch, lists replaced.
    #[default]
    Unknown,
    /// An object described by this definition.
    Definition(&'a str),
    /// A list whose items are described by this definition (`None`: primitives or unknown).
    List(Option<&'a str>),
    /// A map (`additionalProperties`) whose values are described by this definition.
    Map(Option<&'a str>),
}

/// A [`PatchSchema`] over OpenAPI definitions (`definitions` of OpenAPI v2,
/// `components.schemas` of v3, or `$defs` of a JSON schema), keyed by definition name.
///
/// Extensions are read from each property's `x-kubernetes-patch-strategy` and
/// `x-kubernetes-patch-merge-key`; a property that has neither falls back to the built-in
/// [`extensions`] table, so undecorated schemars output of k8s-openapi works too. `$ref`s
/// resolve by their last path segment, through `allOf` / `anyOf` / `oneOf` wrappers.
/// Declared properties are resolved once, on the first lookup, and memoized.
#[derive(Debug, Clone, Default)]
pub struct OpenApiSchemas {
    definitions: Map<String, Value>,
    index: OnceLock<PropertyIndex>,
}

impl OpenApiSchemas {
    /// Wraps a map from definition name to JSON schema.
    pub fn new(definitions: Map<String, Value>) -> Self {
        Self {
            definitions,
            index: OnceLock::new(),
        }
    }

    /// Looks `property` of `definition` up like [`PatchSchema::property`], and also returns
    /// its entry in the built-in [`extensions`] table.
    pub fn property_with_extensions(
        &self,
        definition: &str,
        property: &str,
    ) -> Option<(PropertyPatchMeta<'_>, Option<&'static PropertyExtensions>)> {
        if let Some(found) = self.index().property(definition, property) {
            return Some(found);
        }
        let meta = self.uncached_property(definition, property)?;
        Some((meta, extensions::property(definition, property)))
    }

    /// The `x-kubernetes-map-type` upstream puts on `definition` itself, as
    /// [`extensions::definition_struct_type`] answers it (memoized).
    pub fn definition_struct_type(&self, definition: &str) -> Option<&'static str> {
        self.index()
            .struct_type(definition)
            .unwrap_or_else(|| extensions::definition_struct_type(definition))
    }

    /// The memo of declared properties, built on first use.
    fn index(&self) -> &PropertyIndex {
        self.index.get_or_init(|| {
            PropertyIndex::build(
                &self.definitions,
                |schema| {
                    self.object_schema(schema)
                        .and_then(|found| found.get("properties"))
                        .and_then(Value::as_object)
                },
                |definition, property| self.uncached_property(definition, property),
            )
        })
    }

    /// The definitions this schema looks properties up in.
    pub fn definitions(&self) -> &Map<String, Value> {
        &self.definitions
    }
}

impl From<Map<String, Value>> for OpenApiSchemas {
    fn from(definitions: Map<String, Value>) -> Self {
        Self::new(definitions)
    }
}

impl PatchSchema for OpenApiSchemas {
    fn property(&self, definition: &str, property: &str) -> Option<PropertyPatchMeta<'_>> {
        if let Some((meta, _)) = self.index().property(definition, property) {
            return Some(meta);
        }
        self.uncached_property(definition, property)
    }
}

impl OpenApiSchemas {
    /// Resolves `property` of `definition` from the JSON schemas and the extensions table.
    fn uncached_property(&self, definition: &str, property: &str) -> Option<PropertyPatchMeta<'_>> {
        let builtin = extensions::property(definition, property);
        let from_builtin = |value| PropertyPatchMeta {
            patch_strategy: builtin.and_then(|found| found.patch_strategy),
            patch_merge_key: builtin.and_then(|found| found.patch_merge_key),
            value,
        };
        let Some(schema) = self
            .definitions
            .get(definition)
            .and_then(|found| self.object_schema(found))
            .and_then(|found| found.get("properties"))
            .and_then(|properties| properties.get(property))
        else {
            return builtin.map(|_| from_builtin(ValueSchema::Unknown));
        };
        let value = value_schema(schema);
        let patch_strategy = schema
            .get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str);
        let patch_merge_key = schema
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str);
        if patch_strategy.is_none() && patch_merge_key.is_none() {
            return Some(from_builtin(value));
        }
        Some(PropertyPatchMeta {
            patch_strategy,
            patch_merge_key,
            value,
        })
    }
}

impl OpenApiSchemas {
    /// Follows a definition that is itself only a `$ref` / `allOf` wrapper to the object schema.
    fn object_schema<'s>(&'s self, schema: &'s Value) -> Option<&'s Value> {
        let mut current = schema;
        for _ in 0..8 {
            if current.get("properties").is_some() {
                return Some(current);
            }
            let next = referenced_definition(current)?;
            current = self.definitions.get(next)?;
        }
        None
    }
}

/// What a property schema says its value is.
fn value_schema(schema: &Value) -> ValueSchema<'_> {
    if let Some(name) = referenced_definition(schema) {
        return ValueSchema::Definition(name);
    }
    let schema = nullable_variant(schema).unwrap_or(schema);
    if let Some(items) = schema.get("items") {
        return ValueSchema::List(referenced_definition(items));
    }
    if schema.get("type").and_then(Value::as_str) == Some("array") {
        return ValueSchema::List(None);
    }
    match schema.get("additionalProperties") {
        Some(values @ Value::Object(_)) => ValueSchema::Map(referenced_definition(values)),
        Some(Value::Bool(true)) => ValueSchema::Map(None),
        _ => ValueSchema::Unknown,
    }
}

/// The definition a schema refers to: `$ref` itself, or through a one-variant `allOf` or a
/// nullable `anyOf` / `oneOf` (`[{$ref}, {type: null}]`).
fn referenced_definition(schema: &Value) -> Option<&str> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return definition_name(reference);
    }
    if let Some([only]) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return referenced_definition(only);
    }
    nullable_variant(schema).and_then(referenced_definition)
}

/// The one non-null variant of an `anyOf` / `oneOf`, if that is all there is.
fn nullable_variant(schema: &Value) -> Option<&Value> {
    let variants = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))?
        .as_array()?;
    let mut not_null = variants
        .iter()
        .filter(|variant| variant.get("type").and_then(Value::as_str) != Some("null"));
    let only = not_null.next()?;
    not_null.next().is_none().then_some(only)
}

/// The last path segment of a `$ref` (`#/definitions/X`, `#/components/schemas/X`,
/// `#/$defs/X`); names in k8s-openapi never need JSON pointer escapes.
fn definition_name(reference: &str) -> Option<&str> {
    reference.rsplit('/').next().filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> OpenApiSchemas {
        let definitions = json!({
            "io.k8s.api.core.v1.PodSpec": {
                "type": "object",
                "properties": {
                    "containers": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
                    },
                    "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
                    "affinity": {"allOf": [{"$ref": "#/definitions/io.k8s.api.core.v1.Affinity"}]},
                    "volumes": {
                        "type": "array",
                        "items": {"$ref": "#/$defs/io.k8s.api.core.v1.Volume"},
                        "x-kubernetes-patch-strategy": "replace"
                    }
                }
            }
        });
        OpenApiSchemas::new(definitions.as_object().unwrap().clone())
    }

    #[test]
    fn undecorated_properties_fall_back_to_the_builtin_table() {
        let schemas = schemas();
        let meta = schemas
            .property("io.k8s.api.core.v1.PodSpec", "containers")
            .unwrap();
        assert_eq!(meta.patch_strategy, Some("merge"));
        assert_eq!(meta.patch_merge_key, Some("name"));
        assert_eq!(
            meta.value,
            ValueSchema::List(Some("io.k8s.api.core.v1.Container"))
        );
    }

    #[test]
    fn decorated_properties_win_over_the_builtin_table() {
        let schemas = schemas();
        let meta = schemas
            .property("io.k8s.api.core.v1.PodSpec", "volumes")
            .unwrap();
        assert_eq!(meta.patch_strategy, Some("replace"));
        assert_eq!(meta.patch_merge_key, None);
    }

    #[test]
    fn references_resolve_through_all_of_and_maps_are_recognised() {
        let schemas = schemas();
        let affinity = schemas
            .property("io.k8s.api.core.v1.PodSpec", "affinity")
            .unwrap();
        assert_eq!(
            affinity.value,
            ValueSchema::Definition("io.k8s.api.core.v1.Affinity")
        );
        let selector = schemas
            .property("io.k8s.api.core.v1.PodSpec", "nodeSelector")
            .unwrap();
        assert_eq!(selector.value, ValueSchema::Map(None));
    }

    #[test]
    fn unknown_definitions_still_answer_from_the_builtin_table() {
        let schemas = schemas();
        let meta = schemas
            .property("io.k8s.api.core.v1.Container", "env")
            .unwrap();
        assert_eq!(meta.patch_merge_key, Some("name"));
        assert_eq!(meta.value, ValueSchema::Unknown);
        assert!(
            schemas
                .property("io.k8s.api.core.v1.Container", "image")
                .is_none()
        );
    }

    #[test]
    fn repeated_lookups_answer_the_same_with_the_builtin_extensions() {
        let schemas = schemas();
        let first = schemas.property("io.k8s.api.core.v1.PodSpec", "containers");
        let (again, extensions) = schemas
            .property_with_extensions("io.k8s.api.core.v1.PodSpec", "containers")
            .unwrap();
        assert_eq!(first, Some(again));
        assert_eq!(extensions.and_then(|e| e.patch_merge_key), Some("name"));
        assert!(
            schemas
                .property_with_extensions("io.k8s.api.core.v1.PodSpec", "nope")
                .is_none()
        );
        assert_eq!(
            schemas.definition_struct_type("io.k8s.api.core.v1.LocalObjectReference"),
            Some("atomic")
        );
        assert_eq!(
            schemas.definition_struct_type("io.k8s.api.core.v1.PodSpec"),
            None
        );
    }
}
