//! JSON patch (RFC 6902) and JSON merge patch (RFC 7386).

use ferrokube_apimachinery::patch::{
    MAX_JSON_PATCH_OPERATIONS, PatchError, json_patch, merge_patch,
};
use serde_json::json;

#[test]
fn json_patch_applies_its_operations_in_order() {
    let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}});
    let patch = br#"[
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "copy", "from": "/spec/replicas", "path": "/spec/wanted"}
    ]"#;
    json_patch(&mut doc, patch).unwrap();
    assert_eq!(
        doc,
        json!({"metadata": {"labels": {"b": "2"}}, "spec": {"replicas": 3, "wanted": 3}})
    );
}

#[test]
fn a_failed_test_operation_leaves_the_document_untouched() {
    let mut doc = json!({"spec": {"replicas": 1}});
    let patch = br#"[
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "test", "path": "/spec/replicas", "value": 2}
    ]"#;
    let error = json_patch(&mut doc, patch).unwrap_err();
    assert_eq!(
        error.to_string(),
        "testing value /spec/replicas failed: test failed"
    );
    assert_eq!(doc, json!({"spec": {"replicas": 1}}));
}

#[test]
fn removing_a_missing_path_is_worded_as_upstream() {
    let mut doc = json!({"spec": {}});
    let error = json_patch(&mut doc, br#"[{"op": "remove", "path": "/spec/x"}]"#).unwrap_err();
    assert_eq!(
        error.to_string(),
        "remove operation does not apply: doc is missing path: \"/spec/x\": missing value"
    );
}

#[test]
fn a_patch_that_is_not_a_list_of_operations_does_not_decode() {
    let mut doc = json!({});
    let error = json_patch(&mut doc, br#"{"op": "add"}"#).unwrap_err();
    assert!(matches!(error, PatchError::DecodeJsonPatch(_)));
}

#[test]
fn too_many_operations_are_refused() {
    let operation = r#"{"op": "test", "path": "", "value": {}}"#;
    let patch = format!(
        "[{}]",
        vec![operation; MAX_JSON_PATCH_OPERATIONS + 1].join(",")
    );
    let error = json_patch(&mut json!({}), patch.as_bytes()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "The allowed maximum operations in a JSON patch is 10000, got 10001"
    );
}

#[test]
fn merge_patch_merges_objects_deletes_nulls_and_replaces_lists() {
    let mut doc = json!({"a": {"b": 1, "c": 2}, "list": [1, 2], "keep": true});
    merge_patch(
        &mut doc,
        &json!({"a": {"c": null, "d": {"e": null, "f": 3}}, "list": [3]}),
    );
    assert_eq!(
        doc,
        json!({"a": {"b": 1, "d": {"f": 3}}, "list": [3], "keep": true})
    );
}
