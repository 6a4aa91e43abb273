//! Server-side apply: PATCH with `Content-Type: application/apply-patch+yaml`. The applied
//! configuration (YAML or JSON) is merged into the live object by
//! [`ferrokube_apimachinery::apply::FieldManager`], or creates the object when it does not
//! exist; field ownership conflicts answer 409 unless `force=true`.

use std::collections::HashMap;

use ferrokube_apimachinery::apply::ApplyError;
use serde_json::{Value, json};

use crate::Apiserver;
use crate::decode::{self, FieldValidation};
use crate::objects::{WriteOptions, meta_mut, meta_str};
use crate::registry::ResourceType;
use crate::status::{ApiError, StatusDetails};
use crate::strategy::cause;

/// The content type of apply patches.
pub const CONTENT_TYPE: &str = "application/apply-patch+yaml";

/// Whether a PATCH's content type is an apply patch.
pub fn is_apply(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or("").trim() == CONTENT_TYPE
}

/// 422 for `force` on a patch that is not an apply patch, as upstream validates PatchOptions.
pub fn check_force_only_on_apply(query: &HashMap<String, String>) -> Result<(), ApiError> {
    if query.contains_key("force") {
        return Err(patch_options_invalid(
            "FieldValueForbidden",
            "force",
            "Forbidden: may not be specified for non-apply patch",
        ));
    }
    Ok(())
}

fn patch_options_invalid(reason: &str, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        "meta.k8s.io",
        "PatchOptions",
        "",
        vec![cause(reason, field, message)],
    )
}

/// `force` as Go's `strconv.ParseBool` reads it.
fn parse_force(query: &HashMap<String, String>) -> Result<bool, ApiError> {
    match query.get("force").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid boolean value for force: {other:?}"
        ))),
    }
}

/// The `Status` of a failed apply: conflicts are 409 with `FieldManagerConflict` causes.
fn apply_error(e: ApplyError) -> ApiError {
    match &e {
        ApplyError::Conflicts(_) => ApiError {
            code: 409,
            reason: "Conflict",
            message: e.to_string(),
            details: Some(Box::new(StatusDetails {
                causes: e
                    .conflict_causes()
                    .into_iter()
                    .map(|(message, field)| cause("FieldManagerConflict", &field, message))
                    .collect(),
                ..Default::default()
            })),
        },
        _ => ApiError::internal(e),
    }
}

fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Second).unwrap_or(now).to_string()
}

impl Apiserver {
    /// Serves an apply patch of `name`: returns the HTTP code (201 when the apply created the
    /// object), the object and the warnings for the response.
    #[allow(clippy::too_many_arguments)] // the request's parts, each distinct
    pub async fn apply_patch(
        &self,
        r: &ResourceType,
        namespace: &str,
        name: &str,
        body: &[u8],
        query: &HashMap<String, String>,
        opts: &WriteOptions,
    ) -> Result<(u16, Value, Vec<String>), ApiError> {
        let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
            return Err(patch_options_invalid(
                "FieldValueRequired",
                "fieldManager",
                "Required value: is required for apply patch",
            ));
        };
        let force = parse_force(query)?;
        let directive = FieldValidation::parse(query.get("fieldValidation"))?;
        let mut config = decode::parse(CONTENT_TYPE, body)?;
        if !config.is_object() {
            return Err(ApiError::bad_request(
                "error decoding YAML: the apply patch must be an object",
            ));
        }
        let version = config
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if version != r.api_version() {
            return Err(ApiError::bad_request(format!(
                "Incorrect version specified in apply patch. Specified patch version: {version}, expected: {}",
                r.api_version()
            )));
        }
        decode::check_kind(r, &mut config)?;
        if config
            .pointer("/metadata/managedFields")
            .is_some_and(|m| !m.is_null())
        {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        let config_namespace = meta_str(&config, "namespace");
        if r.namespaced && !config_namespace.is_empty() && config_namespace != namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let config_rv = meta_str(&config, "resourceVersion").to_string();
        let fm = crate::managedfields::field_manager(
            &self.objects.schemas,
            r,
            opts.subresource.as_deref(),
        );
        let unknown = fm.remove_unknown_fields(&mut config);
        let warnings = decode::field_validation(directive, &unknown, &[])?;

        let mut last_err = None;
        for _attempt in 0..5 {
            let live = match self.objects.current(r, namespace, name).await {
                Ok(found) => Some(found),
                Err(e) if e.code == 404 && opts.subresource.is_none() => None,
                Err(e) => return Err(e),
            };
            let merged = fm
                .merge(live.as_ref().map(|(v, _)| v), &config, manager)
                .map_err(apply_error)?;
            let merged_name = meta_str(&merged, "name");
            if merged_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({merged_name}) does not match the name on the URL ({name})"
                )));
            }
            let mut merged = merged;
            decode::check_kind(r, &mut merged)?;
            let (merged, _) = decode::normalize(r, merged)?;
            let applied = fm
                .record_apply(
                    live.as_ref().map(|(v, _)| v),
                    merged,
                    &config,
                    manager,
                    force,
                    &now_rfc3339(),
                )
                .map_err(apply_error)?;
            let mut object = applied.object;
            let mut write = opts.clone();
            write.field_manager = manager.clone();
            write.managed_fields = Some(
                object
                    .pointer("/metadata/managedFields")
                    .cloned()
                    .unwrap_or_else(|| json!([])),
            );
            match live {
                None => match self.objects.create(r, namespace, object, &write).await {
                    Ok(created) => return Ok((201, created, warnings)),
                    // Created by someone else meanwhile: apply to theirs.
                    Err(e) if e.reason == "AlreadyExists" => last_err = Some(e),
                    Err(e) => return Err(e),
                },
                Some((live, rv)) => {
                    if config_rv.is_empty() {
                        meta_mut(&mut object)
                            .insert("resourceVersion".into(), json!(rv.to_string()));
                    }
                    match self
                        .objects
                        .update(r, namespace, name, object, &live, rv, &write)
                        .await
                    {
                        Ok(updated) => return Ok((200, updated, warnings)),
                        Err(e)
                            if e.code == 409 && e.reason == "Conflict" && config_rv.is_empty() =>
                        {
                            last_err = Some(e)
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| ApiError::conflict(r.group_resource(), name)))
    }
}
