//! JSON merge patch (RFC 7386): objects merged recursively, `null` deletes, anything else
//! replaces.

use serde_json::Value;

/// Applies a JSON merge patch (`application/merge-patch+json`) to `doc`. A patch that is not an
/// object replaces the whole document; lists are always replaced.
pub fn merge_patch(doc: &mut Value, patch: &Value) {
    json_patch::merge(doc, patch);
}
