//! ObjectMeta validation for every resource, through the shared validators of
//! `ferrokube_apimachinery::validation`, with the name rule the resource's strategy picks.

use ferrokube_apimachinery::validation::{self as v, FieldError};
use serde_json::Value;

use super::NameRule;
use crate::registry::ResourceType;
use crate::status::StatusCause;

fn to_cause(e: &FieldError) -> StatusCause {
    StatusCause {
        reason: e.reason().to_string(),
        message: e.body(),
        field: e.field.clone(),
    }
}

/// Validates `metadata` of a new (`old` None) or updated object.
pub fn validate_object_meta(
    r: &ResourceType,
    obj: &Value,
    old: Option<&Value>,
) -> Vec<StatusCause> {
    let null = Value::Null;
    let meta = obj.get("metadata").unwrap_or(&null);
    let rule: &v::NameValidator = match r.strategy.name_rule() {
        NameRule::Subdomain => &v::name_is_dns_subdomain,
        NameRule::Label => &v::validate_namespace_name,
        NameRule::Dns1035Label => &v::name_is_dns1035_label,
        NameRule::PathSegment => &v::name_is_path_segment,
    };
    let mut errs = v::validate_object_meta(meta, r.namespaced, rule);
    if let Some(old_meta) = old.and_then(|o| o.get("metadata")) {
        errs.extend(v::validate_object_meta_update(meta, old_meta));
    }
    errs.iter().map(to_cause).collect()
}
