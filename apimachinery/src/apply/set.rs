//! Field sets: the tree of paths a manager owns, with set algebra and the FieldsV1 encoding.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::ApplyError;
use super::path::{Path, PathElement};

/// A set of paths, stored as a tree: the elements that are members at this level, and the
/// sets under each element that has members below it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds `path` (the empty path, the object itself, is never a member).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            // Elements are cloned only when new at their level.
            [last] => {
                if !self.members.contains(last) {
                    self.members.insert(last.clone());
                }
            }
            [first, rest @ ..] => match self.children.get_mut(first) {
                Some(child) => child.insert(rest),
                None => {
                    let mut child = FieldSet::new();
                    child.insert(rest);
                    self.children.insert(first.clone(), child);
                }
            },
        }
    }

    /// Whether `path` is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Whether `element` is a member here or has members below it.
    pub fn touches(&self, element: &PathElement) -> bool {
        self.members.contains(element) || self.children.get(element).is_some_and(|c| !c.is_empty())
    }

    /// Whether `element` is a member at this level.
    pub fn has_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// The set below `element`, if any.
    pub fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    /// The elements that are members here or have members below, in upstream order.
    pub fn elements(&self) -> Vec<PathElement> {
        let all: BTreeSet<&PathElement> = self.members.iter().chain(self.children.keys()).collect();
        all.into_iter().cloned().collect()
    }

    /// Drops the member `path` (not what is below it), pruning levels left empty.
    pub fn remove(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(child) = self.children.get_mut(first) {
                    child.remove(rest);
                    if child.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Drops `element` and everything below it.
    pub fn remove_subtree(&mut self, element: &PathElement) {
        self.members.remove(element);
        self.children.remove(element);
    }

    /// Keeps only `element` and everything below it.
    pub fn retain_subtree(&mut self, element: &PathElement) {
        self.members.retain(|m| m == element);
        self.children.retain(|k, _| k == element);
    }

    /// The paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (element, child) in &other.children {
            let merged = match out.children.get(element) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(element.clone(), merged);
        }
        out.prune_empty();
        out
    }

    /// The paths of this set that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            let rest = match other.children.get(element) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            out.children.insert(element.clone(), rest);
        }
        out.prune_empty();
        out
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            if let Some(theirs) = other.children.get(element) {
                out.children
                    .insert(element.clone(), child.intersection(theirs));
            }
        }
        out.prune_empty();
        out
    }

    fn prune_empty(&mut self) {
        self.children.retain(|_, child| !child.is_empty());
    }

    /// Every member path, in upstream's iteration order (members of a level before the
    /// levels below it).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for member in &self.members {
            let mut path = prefix.clone();
            path.push(member.clone());
            out.push(path);
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The FieldsV1 form: `{"f:spec": {"f:replicas": {}}, "f:data": {".": {}, "f:a": {}}}`.
    pub fn to_fields_v1(&self) -> Value {
        self.encode(false)
    }

    fn encode(&self, include_self: bool) -> Value {
        let mut out = Map::new();
        if include_self {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        let elements: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for element in elements {
            let value = match self.children.get(element) {
                Some(child) if !child.is_empty() => child.encode(self.members.contains(element)),
                _ => Value::Object(Map::new()),
            };
            out.insert(element.to_fields_v1_key(), value);
        }
        Value::Object(out)
    }

    /// Parses the FieldsV1 form.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, ApplyError> {
        let Value::Object(map) = value else {
            return Err(ApplyError::DecodeFieldsV1(format!(
                "expected an object, got {value}"
            )));
        };
        let mut out = FieldSet::new();
        for (key, child) in map {
            if key == "." {
                continue;
            }
            let element = PathElement::from_fields_v1_key(key)?;
            let Value::Object(inner) = child else {
                return Err(ApplyError::DecodeFieldsV1(format!(
                    "expected an object under {key}"
                )));
            };
            if inner.is_empty() || inner.contains_key(".") {
                out.members.insert(element.clone());
            }
            if inner.keys().any(|k| k != ".") {
                out.children
                    .insert(element, FieldSet::from_fields_v1(child)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.into())
    }

    #[test]
    fn fields_v1_round_trips_with_self_markers() {
        let encoded = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}},
            "f:finalizers": {"v:\"a\"": {}}
        });
        let set = FieldSet::from_fields_v1(&encoded).unwrap();
        assert!(set.has(&[f("metadata"), f("labels")]));
        assert!(set.has(&[f("metadata"), f("labels"), f("app")]));
        assert!(!set.has(&[f("metadata")]));
        assert_eq!(set.to_fields_v1(), encoded);
    }

    #[test]
    fn difference_and_intersection_work_per_level() {
        let mut a = FieldSet::new();
        a.insert(&[f("spec"), f("replicas")]);
        a.insert(&[f("spec"), f("paused")]);
        let mut b = FieldSet::new();
        b.insert(&[f("spec"), f("replicas")]);
        b.insert(&[f("data")]);
        let mut only_paused = FieldSet::new();
        only_paused.insert(&[f("spec"), f("paused")]);
        assert_eq!(a.difference(&b), only_paused);
        let mut only_replicas = FieldSet::new();
        only_replicas.insert(&[f("spec"), f("replicas")]);
        assert_eq!(a.intersection(&b), only_replicas);
        assert_eq!(a.union(&b).paths().len(), 3);
        assert!(a.difference(&a).is_empty());
    }

    #[test]
    fn paths_list_members_before_deeper_levels() {
        let mut set = FieldSet::new();
        set.insert(&[f("spec"), f("template"), f("x")]);
        set.insert(&[f("spec"), f("replicas")]);
        let printed: Vec<String> = set
            .paths()
            .iter()
            .map(|p| super::super::path::path_string(p))
            .collect();
        assert_eq!(printed, vec![".spec.replicas", ".spec.template.x"]);
    }
}
