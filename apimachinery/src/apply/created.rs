//! The fields a create owns, written straight in the FieldsV1 encoding.
//!
//! A create that carries no `managedFields` of its own gives its manager every field of the
//! new object: exactly what [`compare`](super::walk::compare) against an empty object finds
//! added, which [`FieldSet::to_fields_v1`](super::FieldSet::to_fields_v1) then encodes. This
//! walk produces that encoding in one pass over the object, without the comparison and
//! without the intermediate [`FieldSet`](super::FieldSet); the unit tests in `tests.rs` hold
//! it to the general path.
//!
//! What the comparison adds, and so what this walk owns:
//! - every leaf (scalars, atomic objects and lists, values of non-granular types), but no
//!   `null`;
//! - every granular map and granular list, with its entries and items;
//! - every list item (its key, value or index), with what is below it;
//! - a struct reached through a field only through what is below it (upstream's empty
//!   object a create starts from already holds those).

use serde_json::{Map, Value};

use super::ApplyError;
use super::path::{PathElement, path_string};
use super::typed::{ListType, Type, Typer, item_element};

/// The FieldsV1 key of the self marker.
const SELF: &str = ".";

/// The FieldsV1 value of one element: `{}` for a member without children, the children (with
/// a `.` marker when the element is a member too) otherwise; None when the element owns
/// nothing.
fn node(member: bool, children: Map<String, Value>) -> Option<Value> {
    match (member, children.is_empty()) {
        (false, true) => None,
        (true, true) => Some(Value::Object(Map::new())),
        (false, false) => Some(Value::Object(children)),
        (true, false) => {
            let mut children = children;
            children.insert(SELF.into(), Value::Object(Map::new()));
            Some(Value::Object(children))
        }
    }
}

/// Drops an element's own membership from its FieldsV1 value, keeping what is below it (what
/// [`FieldSet::remove`](super::FieldSet::remove) does to one path); None if nothing is left.
pub(crate) fn demote(value: Value) -> Option<Value> {
    match value {
        Value::Object(mut children) => {
            children.remove(SELF);
            (!children.is_empty()).then_some(Value::Object(children))
        }
        other => Some(other),
    }
}

/// Where the walk is: the path so far, kept only to name an item in an error.
pub(crate) struct Walk<'t, 'a> {
    typer: &'t Typer<'a>,
    path: Vec<PathElement>,
}

impl<'t, 'a> Walk<'t, 'a> {
    /// A walk over values typed by `typer`.
    pub(crate) fn new(typer: &'t Typer<'a>) -> Self {
        Walk {
            typer,
            path: Vec::new(),
        }
    }

    /// The FieldsV1 value of `value` of type `ty`, reached through a field when `by_field`.
    fn element(
        &mut self,
        value: &Value,
        ty: Type<'a>,
        by_field: bool,
    ) -> Result<Option<Value>, ApplyError> {
        match value {
            Value::Null => Ok(None),
            Value::Object(map) if ty.is_granular_object() => {
                let children = self.fields(map, ty, &[])?;
                let struct_by_field = by_field && matches!(ty, Type::Struct(_));
                Ok(node(!struct_by_field, children))
            }
            Value::Array(items) if ty.is_granular_list() => {
                let children = self.items(items, ty)?;
                Ok(node(true, children))
            }
            _ => Ok(Some(Value::Object(Map::new()))),
        }
    }

    /// The FieldsV1 children of a granular object: one `f:` key per field that owns
    /// something, the fields named in `skip` left out.
    pub(crate) fn fields(
        &mut self,
        map: &Map<String, Value>,
        ty: Type<'a>,
        skip: &[&str],
    ) -> Result<Map<String, Value>, ApplyError> {
        let mut out = Map::new();
        for (name, child) in map {
            if child.is_null() || skip.contains(&name.as_str()) {
                continue;
            }
            if let Some(encoded) = self.field(name, child, ty)? {
                out.insert(format!("f:{name}"), encoded);
            }
        }
        Ok(out)
    }

    /// The FieldsV1 value of field `name` (holding `child`) of an object of type `parent`.
    pub(crate) fn field(
        &mut self,
        name: &str,
        child: &Value,
        parent: Type<'a>,
    ) -> Result<Option<Value>, ApplyError> {
        let (child_ty, _) = self.typer.field(parent, name);
        // Only containers can fail (a map-list item without its key), and only they need
        // the path for the error.
        if !(child.is_object() || child.is_array()) {
            return self.element(child, child_ty, true);
        }
        self.path.push(PathElement::Field(name.to_string()));
        let encoded = self.element(child, child_ty, true);
        self.path.pop();
        encoded
    }

    /// The FieldsV1 children of a granular list: one key per distinct item (the first of
    /// duplicates wins, as the comparison indexes them).
    fn items(&mut self, items: &[Value], ty: Type<'a>) -> Result<Map<String, Value>, ApplyError> {
        let list = match ty {
            Type::List(list, _) => list,
            _ => ListType::Atomic,
        };
        let item_ty = self.typer.item(ty);
        let mut seen: Vec<PathElement> = Vec::with_capacity(items.len());
        let mut out = Map::new();
        for (index, item) in items.iter().enumerate() {
            let element = item_element(list, index, item).map_err(|e| self.at(e))?;
            if seen.contains(&element) {
                continue;
            }
            let key = element.to_fields_v1_key();
            self.path.push(element);
            let encoded = self.element(item, item_ty, false);
            let element = self.path.pop().expect("pushed above");
            if let Some(encoded) = encoded? {
                out.insert(key, encoded);
            }
            seen.push(element);
        }
        Ok(out)
    }

    fn at(&self, e: ApplyError) -> ApplyError {
        match e {
            ApplyError::ReadListItem(message) => {
                ApplyError::ReadListItem(format!("{}: {message}", path_string(&self.path)))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_member_with_children_carries_the_self_marker_and_loses_it_when_demoted() {
        let mut children = Map::new();
        children.insert("f:a".into(), json!({}));
        let encoded = node(true, children.clone()).unwrap();
        assert_eq!(encoded, json!({".": {}, "f:a": {}}));
        assert_eq!(demote(encoded), Some(json!({"f:a": {}})));
        assert_eq!(demote(json!({})), None);
        assert_eq!(node(false, Map::new()), None);
        assert_eq!(node(false, children), Some(json!({"f:a": {}})));
    }
}
