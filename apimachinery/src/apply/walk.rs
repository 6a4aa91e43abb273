//! Walks over values guided by their [`Type`]: the field set a value sets, the comparison of
//! two versions, the merge of an applied configuration into a live object, and the removal of
//! items no manager owns any more.

use serde_json::{Map, Value};

use super::ApplyError;
use super::path::{Path, PathElement};
use super::set::FieldSet;
use super::typed::{ListType, Type, Typer, item_element};

/// The paths set by `value` (upstream's `ToFieldSet`): every leaf, every item of a granular
/// list, every entry of a map, and every empty or null field.
pub fn to_field_set(
    typer: &Typer<'_>,
    value: &Value,
    ty: Type<'_>,
) -> Result<FieldSet, ApplyError> {
    let mut out = FieldSet::new();
    collect(typer, value, ty, &mut Vec::new(), &mut out)?;
    Ok(out)
}

fn list_type(ty: Type<'_>) -> ListType {
    match ty {
        Type::List(list, _) => list,
        _ => ListType::Atomic,
    }
}

fn collect(
    typer: &Typer<'_>,
    value: &Value,
    ty: Type<'_>,
    path: &mut Path,
    out: &mut FieldSet,
) -> Result<(), ApplyError> {
    match value {
        Value::Null => {}
        Value::Object(map) if ty.is_granular_object() => {
            for (name, child) in map {
                let (child_ty, declared) = typer.field(ty, name);
                path.push(PathElement::Field(name.clone()));
                collect(typer, child, child_ty, path, out)?;
                let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                if empty || !declared {
                    out.insert(path);
                }
                path.pop();
            }
        }
        Value::Array(items) if ty.is_granular_list() => {
            let item_ty = typer.item(ty);
            for (index, item) in items.iter().enumerate() {
                path.push(item_element(list_type(ty), index, item).map_err(|e| at(path, e))?);
                collect(typer, item, item_ty, path, out)?;
                out.insert(path);
                path.pop();
            }
        }
        _ => out.insert(path),
    }
    Ok(())
}

fn at(path: &[PathElement], e: ApplyError) -> ApplyError {
    match e {
        ApplyError::ReadListItem(message) => {
            ApplyError::ReadListItem(format!("{}: {message}", super::path::path_string(path)))
        }
        other => other,
    }
}

/// What changed between two versions of an object (upstream's `typed.Comparison`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Paths present only in the new version (granular objects and items included).
    pub added: FieldSet,
    /// Leaves whose value changed.
    pub modified: FieldSet,
    /// Paths present only in the old version.
    pub removed: FieldSet,
}

impl Comparison {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    /// Applies `f` to each of the three sets.
    pub fn map(self, f: impl Fn(FieldSet) -> FieldSet) -> Comparison {
        Comparison {
            added: f(self.added),
            modified: f(self.modified),
            removed: f(self.removed),
        }
    }
}

/// Compares `old` with `new`. `creating` leaves out struct fields the new version adds (in
/// upstream the empty object a create starts from already holds them).
pub fn compare(
    typer: &Typer<'_>,
    old: &Value,
    new: &Value,
    ty: Type<'_>,
    creating: bool,
) -> Result<Comparison, ApplyError> {
    let mut out = Comparison::default();
    let mut walker = Compare {
        typer,
        creating,
        out: &mut out,
    };
    walker.walk(Some(old), Some(new), ty, &mut Vec::new())?;
    Ok(out)
}

struct Compare<'t, 'a> {
    typer: &'t Typer<'a>,
    creating: bool,
    out: &'t mut Comparison,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Shape {
    Object,
    List,
    Leaf,
}

fn shape(value: &Value, ty: Type<'_>) -> Shape {
    match value {
        Value::Object(_) if ty.is_granular_object() => Shape::Object,
        Value::Array(_) if ty.is_granular_list() => Shape::List,
        _ => Shape::Leaf,
    }
}

/// The items of a granular list by path element (the first of duplicates wins).
fn index_items(list: ListType, items: &[Value]) -> Result<Vec<(PathElement, &Value)>, ApplyError> {
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let element = item_element(list, index, item)?;
        if !out.iter().any(|(e, _)| *e == element) {
            out.push((element, item));
        }
    }
    Ok(out)
}

impl<'a> Compare<'_, 'a> {
    fn walk(
        &mut self,
        old: Option<&Value>,
        new: Option<&Value>,
        ty: Type<'a>,
        path: &mut Path,
    ) -> Result<(), ApplyError> {
        let old = old.filter(|v| !v.is_null());
        let new = new.filter(|v| !v.is_null());
        let shapes = (old.map(|v| shape(v, ty)), new.map(|v| shape(v, ty)));
        let container = match shapes {
            (None, None) => return Ok(()),
            (Some(a), Some(b)) if a == b && a != Shape::Leaf => a,
            (Some(a), None) | (None, Some(a)) if a != Shape::Leaf => a,
            _ => {
                match (old, new) {
                    (None, Some(_)) => self.out.added.insert(path),
                    (Some(_), None) => self.out.removed.insert(path),
                    (Some(a), Some(b)) if a != b => self.out.modified.insert(path),
                    _ => {}
                }
                return Ok(());
            }
        };
        if container == Shape::Object {
            let empty = Map::new();
            let old_map = old.and_then(Value::as_object).unwrap_or(&empty);
            let new_map = new.and_then(Value::as_object).unwrap_or(&empty);
            let mut names: Vec<&String> = old_map.keys().chain(new_map.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let (child_ty, _) = self.typer.field(ty, name);
                path.push(PathElement::Field(name.clone()));
                self.walk(old_map.get(name), new_map.get(name), child_ty, path)?;
                path.pop();
            }
        } else {
            let list = list_type(ty);
            let item_ty = self.typer.item(ty);
            let none: Vec<Value> = Vec::new();
            let old_items = index_items(list, old.and_then(Value::as_array).unwrap_or(&none))?;
            let new_items = index_items(list, new.and_then(Value::as_array).unwrap_or(&none))?;
            for (element, old_item) in &old_items {
                let new_item = new_items
                    .iter()
                    .find(|(e, _)| e == element)
                    .map(|(_, v)| *v);
                path.push(element.clone());
                self.walk(Some(old_item), new_item, item_ty, path)?;
                path.pop();
            }
            for (element, new_item) in &new_items {
                if !old_items.iter().any(|(e, _)| e == element) {
                    path.push(element.clone());
                    self.walk(None, Some(new_item), item_ty, path)?;
                    path.pop();
                }
            }
        }
        if !path.is_empty() {
            let struct_field =
                matches!(ty, Type::Struct(_)) && matches!(path.last(), Some(PathElement::Field(_)));
            if old.is_none() && !(self.creating && struct_field) {
                self.out.added.insert(path);
            } else if new.is_none() {
                self.out.removed.insert(path);
            }
        }
        Ok(())
    }
}

/// Merges `config` into `live`: objects field by field, granular lists item by item (in
/// upstream's order), everything else replaced by the configuration. A `null` in the
/// configuration removes the field.
pub fn merge(
    typer: &Typer<'_>,
    live: &Value,
    config: &Value,
    ty: Type<'_>,
) -> Result<Value, ApplyError> {
    match (shape(live, ty), shape(config, ty)) {
        (Shape::Object, Shape::Object) => {
            let (Value::Object(live_map), Value::Object(config_map)) = (live, config) else {
                return Ok(config.clone());
            };
            let mut out = live_map.clone();
            for (name, child) in config_map {
                if child.is_null() {
                    out.remove(name);
                    continue;
                }
                let (child_ty, _) = typer.field(ty, name);
                let merged = match live_map.get(name) {
                    Some(current) => merge(typer, current, child, child_ty)?,
                    None => child.clone(),
                };
                out.insert(name.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        (Shape::List, Shape::List) => {
            let (Value::Array(live_items), Value::Array(config_items)) = (live, config) else {
                return Ok(config.clone());
            };
            merge_list(typer, live_items, config_items, ty).map(Value::Array)
        }
        _ => Ok(config.clone()),
    }
}

/// Merges two granular lists as structured-merge-diff orders them: items in both keep the
/// configuration's order, live-only items stay where they were relative to them.
fn merge_list(
    typer: &Typer<'_>,
    live: &[Value],
    config: &[Value],
    ty: Type<'_>,
) -> Result<Vec<Value>, ApplyError> {
    let list = list_type(ty);
    let item_ty = typer.item(ty);
    let lhs: Vec<PathElement> = live
        .iter()
        .enumerate()
        .map(|(i, v)| item_element(list, i, v))
        .collect::<Result<_, _>>()?;
    let rhs: Vec<PathElement> = config
        .iter()
        .enumerate()
        .map(|(i, v)| item_element(list, i, v))
        .collect::<Result<_, _>>()?;
    let find = |elements: &[PathElement], element: &PathElement| {
        elements.iter().position(|e| e == element)
    };
    let mut shared: std::collections::VecDeque<&PathElement> =
        rhs.iter().filter(|e| find(&lhs, e).is_some()).collect();
    let mut next_shared = shared.pop_front();
    let mut merged_rhs: Vec<&PathElement> = Vec::new();
    let mut out = Vec::with_capacity(live.len().max(config.len()));
    let merge_item = |element: &PathElement| -> Result<Value, ApplyError> {
        let r = &config[find(&rhs, element).unwrap_or_default()];
        match find(&lhs, element) {
            Some(l) => merge(typer, &live[l], r, item_ty),
            None => Ok(r.clone()),
        }
    };
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let element = &lhs[li];
            if *element == rhs[ri] {
                merged_rhs.push(element);
                out.push(merge_item(element)?);
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if find(&rhs, element).is_some() && next_shared.is_some_and(|n| n != element) {
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let element = &lhs[li];
            if find(&rhs, element).is_none() {
                out.push(live[li].clone());
                li += 1;
                continue;
            } else if merged_rhs.contains(&element) {
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let element = &rhs[ri];
            merged_rhs.push(element);
            out.push(merge_item(element)?);
            ri += 1;
            if next_shared.is_some_and(|n| n == element) {
                next_shared = shared.pop_front();
            }
        }
    }
    Ok(out)
}

/// The child of a granular object or list named by `element`.
fn child_mut<'v>(
    value: &'v mut Value,
    element: &PathElement,
    ty: Type<'_>,
) -> Option<&'v mut Value> {
    match (value, element) {
        (Value::Object(map), PathElement::Field(name)) => map.get_mut(name),
        (Value::Array(items), element) => {
            let list = list_type(ty);
            let index = items
                .iter()
                .enumerate()
                .position(|(i, item)| item_element(list, i, item).ok().as_ref() == Some(element))?;
            items.get_mut(index)
        }
        _ => None,
    }
}

/// Removes the child of a granular object or list named by `element`.
fn remove_child(value: &mut Value, element: &PathElement, ty: Type<'_>) {
    match (value, element) {
        (Value::Object(map), PathElement::Field(name)) => {
            map.remove(name);
        }
        (Value::Array(items), element) => {
            let list = list_type(ty);
            let mut index = 0;
            items.retain(|item| {
                let keep = item_element(list, index, item).ok().as_ref() != Some(element);
                index += 1;
                keep
            });
        }
        _ => {}
    }
}

fn child_type<'a>(typer: &Typer<'a>, ty: Type<'a>, element: &PathElement) -> Type<'a> {
    match element {
        PathElement::Field(name) => typer.field(ty, name).0,
        _ => typer.item(ty),
    }
}

/// Removes from `value` what a manager owned last time (`last`) and nobody owns now
/// (`kept`): an element no path of `kept` touches goes with everything below it.
pub fn prune(typer: &Typer<'_>, value: &mut Value, ty: Type<'_>, last: &FieldSet, kept: &FieldSet) {
    let empty = FieldSet::new();
    for element in last.elements() {
        if !kept.touches(&element) {
            remove_child(value, &element, ty);
            continue;
        }
        if let Some(last_child) = last.child(&element) {
            let child_ty = child_type(typer, ty, &element);
            if let Some(child) = child_mut(value, &element, ty) {
                prune(
                    typer,
                    child,
                    child_ty,
                    last_child,
                    kept.child(&element).unwrap_or(&empty),
                );
            }
        }
    }
}

/// Removes the fields of known structs that their definition does not declare, returning
/// their paths as upstream names unknown fields (`spec.foo`, `spec.containers[0].bar`).
pub fn remove_unknown_fields(typer: &Typer<'_>, value: &mut Value, ty: Type<'_>) -> Vec<String> {
    let mut out = Vec::new();
    unknown(typer, value, ty, &mut String::new(), &mut out);
    out
}

fn unknown(
    typer: &Typer<'_>,
    value: &mut Value,
    ty: Type<'_>,
    path: &mut String,
    out: &mut Vec<String>,
) {
    match value {
        Value::Object(map) if ty.is_granular_object() => {
            let checked = matches!(ty, Type::Struct(d) if typer.has_properties(d));
            let mut drop = Vec::new();
            for (name, child) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                let (child_ty, declared) = typer.field(ty, name);
                if checked && !declared {
                    out.push(path.clone());
                    drop.push(name.clone());
                } else {
                    unknown(typer, child, child_ty, path, out);
                }
                path.truncate(len);
            }
            for name in drop {
                map.remove(&name);
            }
        }
        Value::Array(items) => {
            let item_ty = match ty {
                Type::List(..) => typer.item(ty),
                _ => return,
            };
            for (index, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                unknown(typer, item, item_ty, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}
