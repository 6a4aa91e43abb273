//! A memo of [`OpenApiSchemas`](super::OpenApiSchemas) property lookups: every definition's
//! properties resolved once (through `$ref` / `allOf` wrappers and the built-in extensions
//! table) into hash maps keyed by name, so the hot paths (managedFields on every write,
//! strategic merge patches) answer a field with two hash lookups instead of walking JSON.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{PropertyPatchMeta, ValueSchema};
use crate::extensions::{self, PropertyExtensions};

/// The resolved properties of every definition of a schema set.
#[derive(Debug, Clone, Default)]
pub(super) struct PropertyIndex {
    definitions: HashMap<Box<str>, DefinitionIndex>,
}

/// One definition's resolved properties.
#[derive(Debug, Clone, Default)]
struct DefinitionIndex {
    struct_type: Option<&'static str>,
    properties: HashMap<Box<str>, ResolvedProperty>,
}

/// One property's patch metadata, value schema and built-in extensions, owned.
#[derive(Debug, Clone)]
struct ResolvedProperty {
    patch_strategy: Option<Box<str>>,
    patch_merge_key: Option<Box<str>>,
    value: OwnedValueSchema,
    extensions: Option<&'static PropertyExtensions>,
}

/// An owned [`ValueSchema`].
#[derive(Debug, Clone)]
enum OwnedValueSchema {
    Unknown,
    Definition(Box<str>),
    List(Option<Box<str>>),
    Map(Option<Box<str>>),
}

impl PropertyIndex {
    /// Resolves every declared property of every definition with `resolve` (the uncached
    /// lookup), keeping its answer.
    pub(super) fn build<'s>(
        definitions: &'s Map<String, Value>,
        properties_of: impl Fn(&'s Value) -> Option<&'s Map<String, Value>>,
        resolve: impl Fn(&str, &str) -> Option<PropertyPatchMeta<'s>>,
    ) -> Self {
        let definitions = definitions
            .iter()
            .filter_map(|(name, schema)| {
                let properties = properties_of(schema)?
                    .keys()
                    .filter_map(|property| {
                        let meta = resolve(name, property)?;
                        let resolved = ResolvedProperty {
                            patch_strategy: meta.patch_strategy.map(Box::from),
                            patch_merge_key: meta.patch_merge_key.map(Box::from),
                            value: OwnedValueSchema::from(meta.value),
                            extensions: extensions::property(name, property),
                        };
                        Some((Box::from(property.as_str()), resolved))
                    })
                    .collect();
                let index = DefinitionIndex {
                    struct_type: extensions::definition_struct_type(name),
                    properties,
                };
                Some((Box::from(name.as_str()), index))
            })
            .collect();
        Self { definitions }
    }

    /// The memoized `x-kubernetes-map-type` of `definition` itself; `None` when the definition
    /// is not indexed (the caller then asks the extensions table).
    pub(super) fn struct_type(&self, definition: &str) -> Option<Option<&'static str>> {
        self.definitions
            .get(definition)
            .map(|found| found.struct_type)
    }

    /// The memoized answer for `property` of `definition`: its patch metadata and built-in
    /// extensions; `None` when the definition does not declare it.
    pub(super) fn property(
        &self,
        definition: &str,
        property: &str,
    ) -> Option<(PropertyPatchMeta<'_>, Option<&'static PropertyExtensions>)> {
        let resolved = self.definitions.get(definition)?.properties.get(property)?;
        let meta = PropertyPatchMeta {
            patch_strategy: resolved.patch_strategy.as_deref(),
            patch_merge_key: resolved.patch_merge_key.as_deref(),
            value: resolved.value.borrowed(),
        };
        Some((meta, resolved.extensions))
    }
}

impl From<ValueSchema<'_>> for OwnedValueSchema {
    fn from(value: ValueSchema<'_>) -> Self {
        match value {
            ValueSchema::Unknown => Self::Unknown,
            ValueSchema::Definition(name) => Self::Definition(name.into()),
            ValueSchema::List(items) => Self::List(items.map(Box::from)),
            ValueSchema::Map(values) => Self::Map(values.map(Box::from)),
        }
    }
}

impl OwnedValueSchema {
    fn borrowed(&self) -> ValueSchema<'_> {
        match self {
            Self::Unknown => ValueSchema::Unknown,
            Self::Definition(name) => ValueSchema::Definition(name),
            Self::List(items) => ValueSchema::List(items.as_deref()),
            Self::Map(values) => ValueSchema::Map(values.as_deref()),
        }
    }
}
