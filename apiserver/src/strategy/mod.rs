//! Per-resource behaviour: defaulting, validation, what a create or an update may change
//! (status resets, generation), and the fields a field selector may use. Split by resource
//! family; [`DEFAULT`] serves resources with no special rules.

mod defaults;
mod meta;
pub mod pod;
mod service;
mod simple;
mod workloads;

use serde_json::Value;

use crate::status::StatusCause;

pub use meta::validate_object_meta;
pub use pod::POD;
pub use service::SERVICE;
pub use simple::{DEFAULT, EVENT, NAMESPACE, NODE, RBAC, SECRET};
pub use workloads::{CRONJOB, DAEMONSET, DEPLOYMENT, JOB, REPLICASET, STATEFULSET};

/// How names of a resource are validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most resources).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
    /// RFC 1035 label (services).
    Dns1035Label,
    /// Any name that is a valid path segment (RBAC objects, ...).
    PathSegment,
}

/// The hooks that make a resource behave as upstream's registry strategy does.
pub trait Strategy: Sync {
    /// How `metadata.name` is validated.
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }

    /// Fills defaulted fields (called on create and update, before validation).
    fn default(&self, _obj: &mut Value) {}

    /// Adjusts a new object before it is stored (status reset, derived fields).
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Adjusts an updated object before it is stored (e.g. keeps fields users may not change).
    fn prepare_for_update(&self, _obj: &mut Value, _old: &Value) {}

    /// Type-specific validation of a new object (metadata is validated for every type).
    fn validate(&self, _obj: &Value) -> Vec<StatusCause> {
        Vec::new()
    }

    /// Type-specific validation of an update (immutable fields and the like).
    fn validate_update(&self, obj: &Value, _old: &Value) -> Vec<StatusCause> {
        self.validate(obj)
    }

    /// The field-selector fields besides `metadata.name` and `metadata.namespace`.
    fn field_labels(&self) -> &'static [&'static str] {
        &[]
    }

    /// The value of a selectable field of `obj` (only called for [`Strategy::field_labels`]).
    fn field_value(&self, _obj: &Value, _field: &str) -> Option<String> {
        None
    }
}

/// Reads a string at a dotted path of a JSON object (`spec.nodeName`).
pub fn str_at<'a>(obj: &'a Value, path: &str) -> Option<&'a str> {
    at(obj, path).and_then(Value::as_str)
}

/// Reads the value at a dotted path of a JSON object.
pub fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |v, k| v.get(k))
}

/// A `StatusCause` for a field error, with upstream's reason names.
pub fn cause(reason: &str, field: &str, message: impl Into<String>) -> StatusCause {
    StatusCause {
        reason: reason.to_string(),
        message: message.into(),
        field: field.to_string(),
    }
}

/// `Required value` cause.
pub fn required(field: &str) -> StatusCause {
    cause("FieldValueRequired", field, "Required value")
}

/// `Invalid value: <v>: <detail>` cause.
pub fn invalid(field: &str, value: &Value, detail: &str) -> StatusCause {
    cause(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {}: {detail}", display_value(value)),
    )
}

/// `field is immutable` cause as upstream words it.
pub fn immutable(field: &str, value: &Value) -> StatusCause {
    cause(
        "FieldValueInvalid",
        field,
        format!(
            "Invalid value: {}: field is immutable",
            display_value(value)
        ),
    )
}

fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Sets `obj[key] = value` when absent or null; returns the (now present) value.
pub fn set_default<'a>(obj: &'a mut Value, key: &str, value: Value) -> &'a mut Value {
    if !obj.is_object() {
        *obj = Value::Object(Default::default());
    }
    let map = obj.as_object_mut().expect("object");
    let slot = map.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = value;
    }
    slot
}
