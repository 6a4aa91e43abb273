//! `metadata.managedFields`: decoding and encoding the entries, and the two ways a write
//! changes them — an Update takes the fields it changed from everyone else, an Apply owns
//! exactly what its configuration sets and may conflict with other managers.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::created;
use super::path::{PathElement, path_string};
use super::set::FieldSet;
use super::typed::{Type, Typer};
use super::walk::{self, Comparison};
use super::{ApplyError, Conflict};
use crate::patch::OpenApiSchemas;

/// `managedFields[].operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedFieldsEntry {
    /// The field manager's name.
    pub manager: String,
    /// How it wrote.
    pub operation: Operation,
    /// The API version its field set is expressed in.
    pub api_version: String,
    /// When it last changed the object (RFC 3339), if known.
    pub time: Option<String>,
    /// The subresource it wrote through ("" for the main resource).
    pub subresource: String,
    /// The fields it owns.
    pub fields: FieldSet,
}

impl ManagedFieldsEntry {
    /// Upstream's manager identifier: the entry as JSON without fields and time (and without
    /// the API version for appliers), e.g. `{"manager":"kubectl","operation":"Apply"}`.
    pub fn identifier(&self) -> String {
        let mut out = format!(
            "{{\"manager\":{},\"operation\":{}",
            Value::String(self.manager.clone()),
            Value::String(self.operation.as_str().into())
        );
        if self.operation == Operation::Update && !self.api_version.is_empty() {
            out.push_str(&format!(
                ",\"apiVersion\":{}",
                Value::String(self.api_version.clone())
            ));
        }
        if !self.subresource.is_empty() {
            out.push_str(&format!(
                ",\"subresource\":{}",
                Value::String(self.subresource.clone())
            ));
        }
        out.push('}');
        out
    }

    /// How upstream names this manager in conflict messages: `"kubectl" using apps/v1`,
    /// `"kubectl" with subresource "scale" using apps/v1`, `"other-applier"`.
    pub fn describe(&self) -> String {
        let mut out = Value::String(self.manager.clone()).to_string();
        if !self.subresource.is_empty() {
            out.push_str(&format!(
                " with subresource {}",
                Value::String(self.subresource.clone())
            ));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    fn to_json(&self) -> Value {
        self.to_json_with(self.fields.to_fields_v1())
    }

    /// The entry as JSON with `fields_v1` as its field set, already encoded.
    fn to_json_with(&self, fields_v1: Value) -> Value {
        let mut out = Map::new();
        out.insert("manager".into(), Value::String(self.manager.clone()));
        out.insert(
            "operation".into(),
            Value::String(self.operation.as_str().into()),
        );
        out.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        out.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        out.insert("fieldsV1".into(), fields_v1);
        if let Some(time) = &self.time {
            out.insert("time".into(), Value::String(time.clone()));
        }
        if !self.subresource.is_empty() {
            out.insert(
                "subresource".into(),
                Value::String(self.subresource.clone()),
            );
        }
        Value::Object(out)
    }

    fn from_json(value: &Value) -> Result<Self, ApplyError> {
        let text = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let operation = match text("operation").as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            other => {
                return Err(ApplyError::DecodeFieldsV1(format!(
                    "unknown managedFields operation {other:?}"
                )));
            }
        };
        let fields = match value.get("fieldsV1") {
            Some(v) if !v.is_null() => FieldSet::from_fields_v1(v)?,
            _ => FieldSet::new(),
        };
        Ok(ManagedFieldsEntry {
            manager: text("manager"),
            operation,
            api_version: text("apiVersion"),
            time: value.get("time").and_then(Value::as_str).map(String::from),
            subresource: text("subresource"),
            fields,
        })
    }
}

/// Decodes `metadata.managedFields` (absent means none); a later entry with the identifier
/// of an earlier one replaces it.
pub fn decode(managed_fields: Option<&Value>) -> Result<Vec<ManagedFieldsEntry>, ApplyError> {
    let mut out: Vec<ManagedFieldsEntry> = Vec::new();
    for entry in managed_fields
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let entry = ManagedFieldsEntry::from_json(entry)?;
        let id = entry.identifier();
        out.retain(|e| e.identifier() != id);
        out.push(entry);
    }
    Ok(out)
}

/// Encodes entries as upstream orders them: Apply before Update, then by time, manager, API
/// version and subresource; entries that own nothing are left out.
pub fn encode(entries: &[ManagedFieldsEntry]) -> Value {
    let mut sorted: Vec<&ManagedFieldsEntry> =
        entries.iter().filter(|e| !e.fields.is_empty()).collect();
    sorted.sort_by(|a, b| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| a.time.cmp(&b.time))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    Value::Array(
        sorted
            .into_iter()
            .map(ManagedFieldsEntry::to_json)
            .collect(),
    )
}

/// Metadata fields no manager owns (upstream's stripped set).
const STRIPPED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// Which part of an object an endpoint's writes own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Everything (the resource has no status subresource, or another subresource).
    All,
    /// All but `status` (the main resource when there is a status subresource).
    AllButStatus,
    /// Only `status` (the status subresource).
    Status,
}

/// Field ownership for one resource and endpoint: records Update and Apply operations in
/// `metadata.managedFields` and merges applied configurations.
pub struct FieldManager<'a> {
    typer: Typer<'a>,
    root: Type<'a>,
    api_version: String,
    subresource: String,
    scope: Scope,
}

/// The result of [`FieldManager::apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The merged object, its `metadata.managedFields` set.
    pub object: Value,
    /// Whether anything but `managedFields` differs from the live object.
    pub changed: bool,
}

fn metadata(value: &Value) -> Option<&Map<String, Value>> {
    value.get("metadata").and_then(Value::as_object)
}

fn set_managed_fields(object: &mut Value, entries: &[ManagedFieldsEntry]) {
    set_encoded_managed_fields(object, encode(entries));
}

/// Sets `metadata.managedFields` to `encoded` entries (removed when there are none).
fn set_encoded_managed_fields(object: &mut Value, encoded: Value) {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    if let Some(meta) = object["metadata"].as_object_mut() {
        if encoded.as_array().is_some_and(Vec::is_empty) {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), encoded);
        }
    }
}

/// `value` without `metadata.managedFields` and `metadata.resourceVersion`.
fn without_bookkeeping(value: &Value) -> Value {
    let mut copy = value.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    copy
}

/// `metadata` and the metadata fields no manager owns.
fn stripped_metadata() -> FieldSet {
    let meta = PathElement::Field("metadata".into());
    let mut stripped = FieldSet::new();
    stripped.insert(std::slice::from_ref(&meta));
    for name in STRIPPED_METADATA {
        stripped.insert(&[meta.clone(), PathElement::Field((*name).into())]);
    }
    stripped
}

/// Removes `metadata` itself and the metadata fields no manager owns, in place.
fn strip_metadata(set: &mut FieldSet) {
    let meta = PathElement::Field("metadata".into());
    for name in STRIPPED_METADATA {
        set.remove(&[meta.clone(), PathElement::Field((*name).into())]);
    }
    set.remove(std::slice::from_ref(&meta));
}

/// Takes `managedFields` and `resourceVersion` out of `value`, to be put back with [`restore`].
fn take_bookkeeping(value: &mut Value) -> (Option<Value>, Option<Value>) {
    match value.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(meta) => (meta.remove("managedFields"), meta.remove("resourceVersion")),
        None => (None, None),
    }
}

fn restore(value: &mut Value, saved: (Option<Value>, Option<Value>)) {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(mf) = saved.0 {
            meta.insert("managedFields".into(), mf);
        }
        if let Some(rv) = saved.1 {
            meta.insert("resourceVersion".into(), rv);
        }
    }
}

impl<'a> FieldManager<'a> {
    /// A field manager for objects of `definition` served as `api_version`, written through
    /// `subresource` (None: the main resource); `status_subresource` says whether the
    /// resource has one (then the main resource does not own `status`).
    pub fn new(
        schemas: &'a OpenApiSchemas,
        definition: &'a str,
        api_version: &str,
        subresource: Option<&str>,
        status_subresource: bool,
    ) -> Self {
        let typer = Typer::new(schemas);
        let scope = match subresource {
            Some("status") => Scope::Status,
            None if status_subresource => Scope::AllButStatus,
            _ => Scope::All,
        };
        FieldManager {
            typer,
            root: typer.definition(definition),
            api_version: api_version.to_string(),
            subresource: subresource.unwrap_or("").to_string(),
            scope,
        }
    }

    /// Drops the paths this endpoint never owns.
    fn filter(&self, mut set: FieldSet) -> FieldSet {
        for name in ["apiVersion", "kind"] {
            set.remove_subtree(&PathElement::Field(name.into()));
        }
        strip_metadata(&mut set);
        let status = PathElement::Field("status".into());
        match self.scope {
            Scope::All => {}
            Scope::AllButStatus => set.remove_subtree(&status),
            Scope::Status => set.retain_subtree(&status),
        }
        set
    }

    fn compare(
        &self,
        old: &Value,
        new: &mut Value,
        creating: bool,
    ) -> Result<Comparison, ApplyError> {
        // `new` is compared without its bookkeeping fields, taken out and put back rather
        // than copying the whole object.
        // `old` keeps its own: `managedFields` (an atomic list) and `resourceVersion` are
        // leaves whose paths the filter strips, so comparing them changes nothing but costs a
        // copy of the object less.
        let saved = take_bookkeeping(new);
        let empty = Value::Object(Default::default());
        let old = if creating { &empty } else { old };
        let result = walk::compare(&self.typer, old, new, self.root, creating);
        restore(new, saved);
        Ok(result?.map(|set| self.filter(set)))
    }

    /// The fields an applied configuration sets, as this endpoint owns them.
    pub fn applied_fields(&self, config: &Value) -> Result<FieldSet, ApplyError> {
        Ok(self.filter(walk::to_field_set(&self.typer, config, self.root)?))
    }

    /// Removes the fields of `config` that its type does not declare; returns their paths.
    pub fn remove_unknown_fields(&self, config: &mut Value) -> Vec<String> {
        walk::remove_unknown_fields(&self.typer, config, self.root)
    }

    /// Records an Update by `manager` at `now`: `new` replaces `old` (None: a create).
    /// The fields it added or changed become the manager's and leave every other manager;
    /// removed fields leave everyone. `new`'s own `managedFields` are used when it carries
    /// some (a client may rewrite them), else `old`'s.
    pub fn update(
        &self,
        old: Option<&Value>,
        new: &mut Value,
        manager: &str,
        now: &str,
    ) -> Result<(), ApplyError> {
        let requested = metadata(new)
            .and_then(|m| m.get("managedFields"))
            .filter(|m| m.as_array().is_some_and(|a| !a.is_empty()));
        if old.is_none() && requested.is_none() {
            return self.record_create(new, manager, now);
        }
        self.update_by_comparison(old, new, manager, now)
    }

    /// [`FieldManager::update`] for a create that brings no `managedFields`: every field of
    /// the new object becomes the manager's, written straight as FieldsV1 (see
    /// [`created`](super::created)) rather than compared with an empty object.
    fn record_create(&self, new: &mut Value, manager: &str, now: &str) -> Result<(), ApplyError> {
        let fields = self.created_fields(new)?;
        let mut entries = Vec::new();
        if !fields.is_empty() {
            let mine = self.updater(manager, now);
            entries.push(mine.to_json_with(Value::Object(fields)));
        }
        set_encoded_managed_fields(new, Value::Array(entries));
        Ok(())
    }

    /// The FieldsV1 of everything `new` sets, as this endpoint owns it: what
    /// [`FieldManager::compare`] finds added to an empty object, filtered and encoded. Like
    /// the comparison, it fails on a map-list item without its key anywhere in the object,
    /// the parts this endpoint does not own included.
    fn created_fields(&self, new: &Value) -> Result<Map<String, Value>, ApplyError> {
        let mut out = Map::new();
        let Value::Object(object) = new else {
            return Ok(out);
        };
        if !self.root.is_granular_object() {
            return Ok(out);
        }
        let mut walk = created::Walk::new(&self.typer);
        for (name, child) in object {
            if child.is_null() {
                continue;
            }
            let owned = match name.as_str() {
                "apiVersion" | "kind" => false,
                "status" => self.scope != Scope::AllButStatus,
                _ => self.scope != Scope::Status,
            };
            let encoded = match (name.as_str(), child) {
                ("metadata", Value::Object(meta)) => {
                    let (ty, _) = self.typer.field(self.root, name);
                    if ty.is_granular_object() {
                        // The bookkeeping fields are not compared; the rest of the stripped
                        // ones are owned by no one, though what is below them may be.
                        let mut children =
                            walk.fields(meta, ty, &["managedFields", "resourceVersion"])?;
                        for stripped in STRIPPED_METADATA {
                            let key = format!("f:{stripped}");
                            if let Some(encoded) = children.remove(&key).and_then(created::demote) {
                                children.insert(key, encoded);
                            }
                        }
                        (!children.is_empty()).then_some(Value::Object(children))
                    } else {
                        // A leaf: `metadata` itself, which no one owns.
                        None
                    }
                }
                // Not an object: a leaf, which the filter drops as it drops `metadata`.
                ("metadata", _) => walk
                    .field(name, child, self.root)?
                    .and_then(created::demote),
                _ => walk.field(name, child, self.root)?,
            };
            if let Some(encoded) = encoded.filter(|_| owned) {
                out.insert(format!("f:{name}"), encoded);
            }
        }
        Ok(out)
    }

    /// [`FieldManager::update`] by comparing `old` (None: an empty object) with `new`.
    pub(crate) fn update_by_comparison(
        &self,
        old: Option<&Value>,
        new: &mut Value,
        manager: &str,
        now: &str,
    ) -> Result<(), ApplyError> {
        let requested = metadata(new)
            .and_then(|m| m.get("managedFields"))
            .filter(|m| m.as_array().is_some_and(|a| !a.is_empty()));
        let mut entries = match requested {
            Some(mf) if self.subresource.is_empty() => decode(Some(mf))
                .or_else(|_| decode(old.and_then(metadata).and_then(|m| m.get("managedFields"))))?,
            _ => decode(old.and_then(metadata).and_then(|m| m.get("managedFields")))?,
        };
        let empty = json!({});
        let Comparison {
            added,
            modified,
            removed,
        } = self.compare(old.unwrap_or(&empty), new, old.is_none())?;
        let changed = if modified.is_empty() {
            added
        } else {
            modified.union(&added)
        };
        let mut mine = self.updater(manager, now);
        let id = mine.identifier();
        let mut previous = None;
        for entry in &mut entries {
            entry.fields = entry.fields.difference(&changed).difference(&removed);
            if entry.identifier() == id {
                previous = Some(entry.fields.clone());
            }
        }
        if !changed.is_empty() {
            entries.retain(|e| e.identifier() != id);
            mine.fields = match previous {
                Some(previous) => changed.union(&previous),
                None => changed,
            };
            entries.push(mine);
        }
        set_managed_fields(new, &entries);
        Ok(())
    }

    /// Merges an applied configuration into `live` (None: the object does not exist yet),
    /// removing what `manager` applied before, omits now and no one else owns. The result
    /// still has to be decoded (and defaulted) before [`FieldManager::record_apply`].
    pub fn merge(
        &self,
        live: Option<&Value>,
        config: &Value,
        manager: &str,
    ) -> Result<Value, ApplyError> {
        let empty = json!({});
        let live = live.unwrap_or(&empty);
        let entries = decode(metadata(live).and_then(|m| m.get("managedFields")))?;
        let mut merged = walk::merge(&self.typer, &without_bookkeeping(live), config, self.root)?;
        let id = self.applier(manager).identifier();
        if let Some(last) = entries.iter().find(|e| e.identifier() == id) {
            // What nobody owns but every object keeps (its name, ...) is never pruned.
            let mut kept = self.applied_fields(config)?.union(&stripped_metadata());
            for other in entries.iter().filter(|e| e.identifier() != id) {
                kept = kept.union(&other.fields);
            }
            walk::prune(&self.typer, &mut merged, self.root, &last.fields, &kept);
        }
        Ok(merged)
    }

    /// An empty Update entry of `manager` at `now` through this endpoint.
    fn updater(&self, manager: &str, now: &str) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: self.api_version.clone(),
            time: Some(now.to_string()),
            subresource: self.subresource.clone(),
            fields: FieldSet::new(),
        }
    }

    fn applier(&self, manager: &str) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: manager.to_string(),
            operation: Operation::Apply,
            api_version: self.api_version.clone(),
            time: None,
            subresource: self.subresource.clone(),
            fields: FieldSet::new(),
        }
    }

    /// Records an Apply by `manager` of `config`, which turned `live` (None: absent) into
    /// `merged`. Fields it changes that other managers own are conflicts: an error unless
    /// `force`, in which case they change hands. Sets `merged`'s `managedFields`.
    pub fn record_apply(
        &self,
        live: Option<&Value>,
        mut merged: Value,
        config: &Value,
        manager: &str,
        force: bool,
        now: &str,
    ) -> Result<Applied, ApplyError> {
        let empty = json!({});
        let live_value = live.unwrap_or(&empty);
        let mut entries = decode(metadata(live_value).and_then(|m| m.get("managedFields")))?;
        let comparison = self.compare(live_value, &mut merged, live.is_none())?;
        let changed_fields = comparison.modified.union(&comparison.added);
        let mut mine = self.applier(manager);
        let id = mine.identifier();
        let mut conflicts = Vec::new();
        for entry in entries.iter().filter(|e| e.identifier() != id) {
            for path in entry.fields.intersection(&changed_fields).paths() {
                conflicts.push(Conflict {
                    identifier: entry.identifier(),
                    manager: entry.describe(),
                    path: path_string(&path),
                });
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(ApplyError::Conflicts(conflicts));
        }
        let changed = without_bookkeeping(live_value) != without_bookkeeping(&merged);
        let previous = entries.iter().find(|e| e.identifier() == id).cloned();
        for entry in entries.iter_mut().filter(|e| e.identifier() != id) {
            entry.fields = entry
                .fields
                .difference(&changed_fields)
                .difference(&comparison.removed);
        }
        entries.retain(|e| e.identifier() != id);
        mine.fields = self.applied_fields(config)?;
        mine.time = match previous {
            Some(previous) if !changed && previous.time.is_some() => previous.time,
            _ => Some(now.to_string()),
        };
        entries.push(mine);
        let mut object = merged;
        set_managed_fields(&mut object, &entries);
        Ok(Applied { object, changed })
    }
}

/// Orders conflicts as upstream prints them: by manager identifier, paths in set order.
pub(crate) fn conflict_order(a: &Conflict, b: &Conflict) -> Ordering {
    a.identifier.cmp(&b.identifier)
}
