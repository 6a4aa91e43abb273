//! PATCH bodies by content type: JSON patch, JSON merge patch and strategic merge patch
//! (with the OpenAPI definitions as its patch schema), errors mapped to upstream's codes.

use ferrokube_apimachinery::patch::{self, OpenApiSchemas, PatchError};
use serde_json::Value;

use crate::status::ApiError;

/// The patch content types served.
pub const SUPPORTED: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

fn patch_error(e: PatchError) -> ApiError {
    match e {
        PatchError::CountJsonPatchOperations { .. } => {
            let mut err = ApiError::too_large(0);
            err.message = e.to_string();
            err
        }
        PatchError::ApplyJsonPatch(_) => {
            let mut err = ApiError::bad_request(e.to_string());
            err.code = 422;
            err.reason = "Invalid";
            err
        }
        other => ApiError::bad_request(other.to_string()),
    }
}

/// Applies a patch body of `content_type` to `doc`. Strategic merge patches need the schema
/// and the object's definition name; without one they behave as a merge patch.
pub fn apply(
    content_type: &str,
    doc: &Value,
    body: &[u8],
    schema: Option<(&OpenApiSchemas, &str)>,
) -> Result<Value, ApiError> {
    let base = content_type.split(';').next().unwrap_or("").trim();
    match base {
        "application/json-patch+json" => {
            let mut out = doc.clone();
            patch::json_patch(&mut out, body).map_err(patch_error)?;
            Ok(out)
        }
        "application/merge-patch+json" => {
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut out = doc.clone();
            patch::merge_patch(&mut out, &p);
            Ok(out)
        }
        "application/strategic-merge-patch+json" => {
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            match schema {
                Some((s, def)) => {
                    patch::strategic_merge_patch(doc.clone(), p, s, def).map_err(patch_error)
                }
                None => {
                    let mut out = doc.clone();
                    patch::merge_patch(&mut out, &p);
                    Ok(out)
                }
            }
        }
        _ => Err(ApiError::unsupported_media_type(content_type)),
    }
}
