//! JSON patch (RFC 6902) with upstream's operation limit and error messages.

use json_patch::{Patch, PatchErrorKind, PatchOperation};
use serde_json::Value;

use super::PatchError;

/// The most operations the API server accepts in one JSON patch (upstream's
/// `maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Applies a JSON patch (`application/json-patch+json`) to `doc`, all operations or none: on
/// error `doc` is left as it was. `test` operations that fail are errors.
pub fn json_patch(doc: &mut Value, patch: &[u8]) -> Result<(), PatchError> {
    let operations: Patch = serde_json::from_slice(patch)
        .map_err(|error| PatchError::DecodeJsonPatch(error.to_string()))?;
    if operations.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::CountJsonPatchOperations {
            max: MAX_JSON_PATCH_OPERATIONS,
            got: operations.len(),
        });
    }
    json_patch::patch(doc, &operations).map_err(|error| {
        let operation = &operations[error.operation];
        PatchError::ApplyJsonPatch(describe_failure(operation, &error.kind))
    })
}

/// Words a failed operation as upstream's JSON patch library does.
fn describe_failure(operation: &PatchOperation, kind: &PatchErrorKind) -> String {
    match (operation, kind) {
        (PatchOperation::Test(test), PatchErrorKind::TestFailed) => {
            format!("testing value {} failed: test failed", test.path)
        }
        (PatchOperation::Test(test), _) => format!(
            "test operation does not apply: is missing path: {}: missing value",
            test.path
        ),
        (PatchOperation::Add(add), _) => format!(
            "add operation does not apply: doc is missing path: \"{}\": missing value",
            add.path
        ),
        (PatchOperation::Remove(remove), _) => format!(
            "remove operation does not apply: doc is missing path: \"{}\": missing value",
            remove.path
        ),
        (PatchOperation::Replace(replace), _) => format!(
            "replace operation does not apply: doc is missing key: {}: missing value",
            replace.path
        ),
        (PatchOperation::Move(moved), PatchErrorKind::InvalidFromPointer) => format!(
            "move operation does not apply: doc is missing from path: {}: missing value",
            moved.from
        ),
        (PatchOperation::Move(moved), PatchErrorKind::InvalidPointer) => format!(
            "move operation does not apply: doc is missing destination path: {}: missing value",
            moved.path
        ),
        (PatchOperation::Copy(copied), PatchErrorKind::InvalidFromPointer) => format!(
            "copy operation does not apply: doc is missing from path: {}: missing value",
            copied.from
        ),
        (PatchOperation::Copy(copied), PatchErrorKind::InvalidPointer) => format!(
            "copy operation does not apply: doc is missing destination path: {}: missing value",
            copied.path
        ),
        (_, other) => other.to_string(),
    }
}
