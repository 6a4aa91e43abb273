//! Strategic merge patch: maps, the `$patch` / `$retainKeys` / `$setElementOrder` /
//! `$deleteFromPrimitiveList` directives, and the walk through the schema. Lists are merged in
//! `list.rs`.

use serde_json::{Map, Value};

use super::PatchError;
use super::go_format::{go_string, go_type, go_value};
use super::list;
use super::schema::{PatchSchema, PropertyPatchMeta, ValueSchema};

pub(super) const DIRECTIVE_MARKER: &str = "$patch";
pub(super) const DELETE_DIRECTIVE: &str = "delete";
pub(super) const REPLACE_DIRECTIVE: &str = "replace";
pub(super) const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_STRATEGY: &str = "retainKeys";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

/// The Go type upstream names when it expects an object.
pub(super) const GO_MAP: &str = "map[string]interface {}";
/// The Go type upstream names when it expects a list.
pub(super) const GO_LIST: &str = "[]interface {}";

/// Applies a strategic merge patch (`application/strategic-merge-patch+json`) to `doc`, an
/// object of the type `root_definition` names in `schema` (e.g. `io.k8s.api.apps.v1.Deployment`),
/// and returns the patched object.
///
/// Both `doc` and `patch` must be JSON objects (`null` counts as `{}`). Where the schema knows
/// nothing (an unknown definition or property), the patch behaves like a JSON merge patch whose
/// lists replace. As upstream, directives inside values that are added or replaced whole are
/// kept; decoding into the typed object drops them.
pub fn strategic_merge_patch(
    doc: Value,
    patch: Value,
    schema: &dyn PatchSchema,
    root_definition: &str,
) -> Result<Value, PatchError> {
    let original = into_object(doc)?;
    let patch = into_object(patch)?;
    let merger = Merger { schema };
    merger
        .merge_map(original, patch, Node::Definition(root_definition))
        .map(Value::Object)
}

fn into_object(value: Value) -> Result<Map<String, Value>, PatchError> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(PatchError::DecodeDocument),
    }
}

/// Where in the schema a map being merged sits.
#[derive(Debug, Clone, Copy)]
pub(super) enum Node<'a> {
    /// Nothing known.
    Unknown,
    /// An object of this definition.
    Definition(&'a str),
    /// A map whose values are objects of this definition (or unknown).
    Map(Option<&'a str>),
}

impl<'a> Node<'a> {
    /// The node of an object-valued property.
    fn object(value: ValueSchema<'a>) -> Self {
        match value {
            ValueSchema::Definition(name) => Node::Definition(name),
            ValueSchema::Map(values) => Node::Map(values),
            ValueSchema::List(_) | ValueSchema::Unknown => Node::Unknown,
        }
    }

    /// The node of the items of a list-valued property (a property declared as one object
    /// describes the items when the document holds a list, as upstream's pointer fields do).
    fn items(value: ValueSchema<'a>) -> Self {
        match value {
            ValueSchema::List(Some(name)) | ValueSchema::Definition(name) => Node::Definition(name),
            _ => Node::Unknown,
        }
    }
}

/// The strategic merge of one patch, walking `schema`.
pub(super) struct Merger<'a> {
    schema: &'a dyn PatchSchema,
}

impl<'a> Merger<'a> {
    /// The patch metadata of `key` in the map at `node`.
    fn lookup(&self, node: Node<'a>, key: &str) -> PropertyPatchMeta<'a> {
        match node {
            Node::Unknown => PropertyPatchMeta::default(),
            Node::Definition(definition) => {
                self.schema.property(definition, key).unwrap_or_default()
            }
            Node::Map(values) => PropertyPatchMeta {
                value: values.map_or(ValueSchema::Unknown, ValueSchema::Definition),
                ..PropertyPatchMeta::default()
            },
        }
    }

    /// Merges `patch` into `original`, both maps at `node`.
    pub(super) fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        node: Node<'a>,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
            return match directive.as_str() {
                Some(REPLACE_DIRECTIVE) => {
                    patch.remove(DIRECTIVE_MARKER);
                    Ok(patch)
                }
                Some(DELETE_DIRECTIVE) => Ok(Map::new()),
                _ => Err(PatchError::ReadDirective {
                    directive: go_string(directive),
                    map: go_value(&Value::Object(patch.clone())),
                }),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_element_orders(&mut original, &mut patch, node)?;

        for (key, patch_value) in patch {
            let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
                let field = field_of_directive(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)
                    .ok_or(PatchError::ReadDeleteFromPrimitiveList)?;
                (field.to_owned(), true)
            } else {
                (key, false)
            };
            if patch_value.is_null() {
                original.remove(&key);
                continue;
            }
            let Some(slot) = original.get_mut(&key) else {
                if !is_delete_list {
                    replace_with_patch(&mut original, key, patch_value);
                }
                continue;
            };
            match (std::mem::take(slot), patch_value) {
                (Value::Object(current), Value::Object(patch_map)) => {
                    let meta = self.lookup(node, &key);
                    let strategy = patch_strategy(meta.patch_strategy)?;
                    *slot = if strategy == REPLACE_DIRECTIVE {
                        Value::Object(patch_map)
                    } else {
                        Value::Object(self.merge_map(
                            current,
                            patch_map,
                            Node::object(meta.value),
                        )?)
                    };
                }
                (Value::Array(current), Value::Array(patch_list)) => {
                    let meta = self.lookup(node, &key);
                    let strategy = patch_strategy(meta.patch_strategy)?;
                    *slot = Value::Array(self.merge_list_by_strategy(
                        current,
                        patch_list,
                        Node::items(meta.value),
                        strategy,
                        meta.patch_merge_key.unwrap_or(""),
                        is_delete_list,
                    )?);
                }
                (current, patch_value) if same_json_type(&current, &patch_value) => {
                    // Two scalars of one type: the patch's value wins.
                    *slot = patch_value;
                }
                (current, patch_value) => {
                    if is_delete_list {
                        *slot = current;
                    } else {
                        replace_with_patch(&mut original, key, patch_value);
                    }
                }
            }
        }
        Ok(original)
    }

    /// Merges a list field as its patch strategy says: merged when the strategy is `merge` (or
    /// for a `$deleteFromPrimitiveList`), replaced by the patch otherwise.
    pub(super) fn merge_list_by_strategy(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        items: Node<'a>,
        strategy: &str,
        merge_key: &str,
        is_delete_list: bool,
    ) -> Result<Vec<Value>, PatchError> {
        self.merge_list_with_live_view(
            original,
            patch,
            items,
            strategy,
            merge_key,
            is_delete_list,
            None,
        )
    }

    /// [`Self::merge_list_by_strategy`], also giving the live list's order as upstream sees it
    /// afterwards (see [`list::merge_list`]).
    #[allow(clippy::too_many_arguments)]
    fn merge_list_with_live_view(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        items: Node<'a>,
        strategy: &str,
        merge_key: &str,
        is_delete_list: bool,
        live_view: Option<&mut Vec<Value>>,
    ) -> Result<Vec<Value>, PatchError> {
        if strategy == MERGE_DIRECTIVE || is_delete_list {
            list::merge_list(
                self,
                original,
                patch,
                items,
                merge_key,
                is_delete_list,
                live_view,
            )
        } else {
            Ok(patch)
        }
    }

    /// Handles every `$setElementOrder/<field>` of `patch`: merges the field's list and orders
    /// it as the directive says (then the patch's order, then the live object's order).
    fn merge_element_orders(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        node: Node<'a>,
    ) -> Result<(), PatchError> {
        let keys: Vec<String> = patch
            .keys()
            .filter(|key| key.starts_with(SET_ELEMENT_ORDER_PREFIX))
            .cloned()
            .collect();
        for key in keys {
            let order = match patch.remove(&key) {
                Some(Value::Array(order)) => order,
                Some(other) => {
                    return Err(PatchError::CheckValueType {
                        expected: GO_LIST,
                        actual: go_type(&other).to_owned(),
                    });
                }
                None => continue,
            };
            let field = field_of_directive(&key, SET_ELEMENT_ORDER_PREFIX)
                .ok_or(PatchError::ReadSetElementOrder)?
                .to_owned();
            let original_list = take_list(original, &field)?;
            let patch_list = take_list(patch, &field)?;
            let meta = self.lookup(node, &field);
            let strategy = patch_strategy(meta.patch_strategy)?;
            let merge_key = meta.patch_merge_key.unwrap_or("");
            list::check_order_of_patch_list(
                patch_list.as_deref().unwrap_or(&[]),
                &order,
                merge_key,
            )?;
            let kind = list::element_kind(&[
                original_list.as_deref().unwrap_or(&[]),
                patch_list.as_deref().unwrap_or(&[]),
            ]);
            let mut server_keys = match &kind {
                Ok(kind) => list::live_order_keys(
                    original_list.as_deref().unwrap_or(&[]),
                    merge_key,
                    *kind,
                )?,
                Err(_) => Vec::new(),
            };
            let merged = match (original_list, patch_list) {
                (Some(original_list), None) => original_list,
                (None, Some(patch_list)) => patch_list
                    .into_iter()
                    .filter_map(remove_directives)
                    .collect(),
                (Some(original_list), Some(patch_list)) => self.merge_list_with_live_view(
                    original_list,
                    patch_list,
                    Node::items(meta.value),
                    strategy,
                    merge_key,
                    false,
                    Some(&mut server_keys),
                )?,
                (None, None) => continue,
            };
            let kind = kind?;
            let ordered =
                list::order_by_element_order(merged, &order, &server_keys, merge_key, kind)?;
            original.insert(field, Value::Array(ordered));
        }
        Ok(())
    }
}

/// Takes the list at `key` out of `map`; an error when the value is not a list.
fn take_list(map: &mut Map<String, Value>, key: &str) -> Result<Option<Vec<Value>>, PatchError> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list)),
        Some(other) => Err(PatchError::CheckValueType {
            expected: GO_LIST,
            actual: go_type(&other).to_owned(),
        }),
    }
}

/// Sets `key` to the patch's value, nulls and directive-carrying maps dropped.
fn replace_with_patch(original: &mut Map<String, Value>, key: String, mut patch_value: Value) {
    discard_null_values(&mut patch_value);
    match remove_directives(patch_value) {
        Some(value) => {
            original.insert(key, value);
        }
        None => {
            original.remove(&key);
        }
    }
}

/// Whether two values have one JSON type (what Go's `reflect.TypeOf` compares).
fn same_json_type(left: &Value, right: &Value) -> bool {
    std::mem::discriminant(left) == std::mem::discriminant(right)
}

/// The field a `<prefix>/<field>` directive key names.
fn field_of_directive<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    match key.split_once('/') {
        Some((found, field)) if found == prefix => Some(field),
        _ => None,
    }
}

/// The patch strategy other than `retainKeys` ("" when none), from e.g. "merge,retainKeys".
pub(super) fn patch_strategy(strategy: Option<&str>) -> Result<&str, PatchError> {
    let Some(strategy) = strategy else {
        return Ok("");
    };
    let strategies: Vec<&str> = strategy.split(',').collect();
    match strategies.as_slice() {
        [RETAIN_KEYS_STRATEGY] => Ok(""),
        [single] => Ok(single),
        [RETAIN_KEYS_STRATEGY, other] | [other, RETAIN_KEYS_STRATEGY] => Ok(other),
        _ => Err(PatchError::ReadPatchStrategy(format!(
            "[{}]",
            strategies.join(" ")
        ))),
    }
}

/// Applies a `$retainKeys` directive: drops the fields of `original` it does not list, after
/// checking that the patch sets no field it does not list.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retained) = retain else {
        return Err(PatchError::ReadRetainKeys);
    };
    let is_retained = |key: &str| retained.iter().any(|kept| kept.as_str() == Some(key));
    let patch_sets_other_field = patch.iter().any(|(key, value)| {
        !value.is_null()
            && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            && !key.starts_with(SET_ELEMENT_ORDER_PREFIX)
            && !is_retained(key)
    });
    if patch_sets_other_field {
        return Err(PatchError::ReadRetainKeys);
    }
    original.retain(|key, _| is_retained(key));
    Ok(())
}

/// Drops maps that carry a `$patch` directive, at any depth; `None` when `value` is one.
pub(super) fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            Some(Value::Object(
                map.into_iter()
                    .filter_map(|(key, value)| remove_directives(value).map(|kept| (key, kept)))
                    .collect(),
            ))
        }
        Value::Array(values) => Some(Value::Array(
            values.into_iter().filter_map(remove_directives).collect(),
        )),
        scalar => Some(scalar),
    }
}

/// Drops `null` map values at any depth (a patch's nulls mean "delete", which is moot for a
/// value the original does not have).
fn discard_null_values(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, value| !value.is_null());
            map.values_mut().for_each(discard_null_values);
        }
        Value::Array(values) => values.iter_mut().for_each(discard_null_values),
        _ => {}
    }
}
