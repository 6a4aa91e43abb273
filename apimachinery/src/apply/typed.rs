//! The structure server-side apply sees in a type: which objects are structs (declared
//! fields), which are granular maps, which lists are `map` / `set` / `atomic`, and what is a
//! leaf. Read from the OpenAPI definitions through [`OpenApiSchemas`] and from the built-in
//! [`extensions`](crate::extensions) table (`x-kubernetes-list-type`, `-list-map-keys`, `-map-type`).

use serde_json::Value;

use super::ApplyError;
use super::path::PathElement;
use crate::extensions::PropertyExtensions;
use crate::patch::{OpenApiSchemas, ValueSchema};

/// How a list's items are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Items are scalars identified by their value.
    Set,
    /// Items are objects identified by these key fields.
    Map(&'static [&'static str]),
}

/// The apply-relevant shape of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type<'a> {
    /// An object with declared fields, described by this definition.
    Struct(&'a str),
    /// A map whose entries are owned one by one; values described by the definition, if any.
    Map(Option<&'a str>),
    /// A list and the definition of its items, if any.
    List(ListType, Option<&'a str>),
    /// Replaced and owned as a whole (`x-kubernetes-map-type: atomic`, atomic lists).
    Atomic,
    /// Nothing known: objects are granular maps, lists atomic, the rest leaves.
    Deduced,
}

impl Type<'_> {
    /// Whether an object value of this type is merged and owned field by field.
    pub fn is_granular_object(&self) -> bool {
        matches!(self, Type::Struct(_) | Type::Map(_) | Type::Deduced)
    }

    /// Whether an array value of this type is merged and owned item by item.
    pub fn is_granular_list(&self) -> bool {
        matches!(self, Type::List(ListType::Set | ListType::Map(_), _))
    }
}

/// Answers the [`Type`] of fields and items, from OpenAPI definitions.
#[derive(Clone, Copy)]
pub struct Typer<'a> {
    schemas: &'a OpenApiSchemas,
}

impl<'a> Typer<'a> {
    /// A typer over `schemas`.
    pub fn new(schemas: &'a OpenApiSchemas) -> Self {
        Self { schemas }
    }

    /// The type of an object described by `definition`.
    pub fn definition(&self, definition: &'a str) -> Type<'a> {
        if self.schemas.definition_struct_type(definition) == Some("atomic") {
            Type::Atomic
        } else {
            Type::Struct(definition)
        }
    }

    /// Whether `definition` is known and lists its properties (so other fields are unknown).
    pub fn has_properties(&self, definition: &str) -> bool {
        self.schemas
            .definitions()
            .get(definition)
            .is_some_and(|d| d.get("properties").is_some_and(Value::is_object))
    }

    /// The type of field `name` of a value of type `parent`, and whether the field is declared
    /// (a struct property) rather than a map entry or an unknown field.
    pub fn field(&self, parent: Type<'a>, name: &str) -> (Type<'a>, bool) {
        match parent {
            Type::Struct(definition) => {
                let Some((meta, ext)) = self.schemas.property_with_extensions(definition, name)
                else {
                    return (Type::Deduced, false);
                };
                let atomic_map = ext.and_then(|e| e.map_type) == Some("atomic");
                let ty = match meta.value {
                    ValueSchema::Definition(_) | ValueSchema::Map(_) if atomic_map => Type::Atomic,
                    ValueSchema::Definition(d) => self.definition(d),
                    ValueSchema::Map(values) => Type::Map(values),
                    ValueSchema::List(items) => {
                        Type::List(list_type(ext, meta.patch_strategy), items)
                    }
                    ValueSchema::Unknown => match ext {
                        Some(e) if e.list_type.is_some() => {
                            Type::List(list_type(ext, meta.patch_strategy), None)
                        }
                        _ if atomic_map => Type::Atomic,
                        _ => Type::Deduced,
                    },
                };
                (ty, true)
            }
            Type::Map(Some(values)) => (self.definition(values), false),
            _ => (Type::Deduced, false),
        }
    }

    /// The type of the items of a list of type `list`.
    pub fn item(&self, list: Type<'a>) -> Type<'a> {
        match list {
            Type::List(_, Some(items)) => self.definition(items),
            _ => Type::Deduced,
        }
    }
}

/// A list's type from its extensions, falling back (as upstream's schema conversion does) to
/// the patch strategy: `merge` with a merge key is a `map` list, `merge` without one a `set`.
fn list_type(ext: Option<&'static PropertyExtensions>, patch_strategy: Option<&str>) -> ListType {
    match ext.and_then(|e| e.list_type) {
        Some("map") => ListType::Map(ext.map(|e| e.list_map_keys).unwrap_or_default()),
        Some("set") => ListType::Set,
        Some(_) => ListType::Atomic,
        None if patch_strategy.is_some_and(|s| s.split(',').any(|p| p == "merge")) => {
            match ext.and_then(|e| e.patch_merge_key.as_ref()) {
                Some(key) => ListType::Map(std::slice::from_ref(key)),
                None => ListType::Set,
            }
        }
        None => ListType::Atomic,
    }
}

/// The default of a list-map key an item may omit (upstream's schema defaults).
fn key_default(key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::String("TCP".into()))
}

/// The path element naming item `index` of a list of type `list`.
pub fn item_element(list: ListType, index: usize, item: &Value) -> Result<PathElement, ApplyError> {
    match list {
        ListType::Atomic => Ok(PathElement::Index(index)),
        ListType::Set => Ok(PathElement::Value(item.clone())),
        ListType::Map(keys) => {
            let Value::Object(object) = item else {
                return Err(ApplyError::ReadListItem(
                    "associative list with keys may not have non-map elements".into(),
                ));
            };
            let mut fields = Vec::with_capacity(keys.len());
            for key in keys {
                match object.get(*key).cloned().or_else(|| key_default(key)) {
                    Some(value) => fields.push((key.to_string(), value)),
                    None => {
                        return Err(ApplyError::ReadListItem(format!(
                            "element {index}: associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                        )));
                    }
                }
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
    }
}
