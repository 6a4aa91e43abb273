//! Strategic merge patch on upstream's own cases (k8s.io/apimachinery strategicpatch tests),
//! against a schema shaped like upstream's `MergeItem` test type.

use ferrokube_apimachinery::patch::{OpenApiSchemas, PatchError, strategic_merge_patch};
use serde_json::{Value, json};

/// Upstream's `MergeItem`: lists merged by name, primitive lists merged as sets, a
/// `retainKeys` map and a `replace` field.
fn merge_item_schemas() -> OpenApiSchemas {
    let item = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let definitions = json!({
        "mergeItem": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "value": {"type": "string"},
                "other": {"type": "string"},
                "mergingList": {
                    "type": "array",
                    "items": {"allOf": [item("mergeItem")]},
                    "x-kubernetes-patch-merge-key": "name",
                    "x-kubernetes-patch-strategy": "merge"
                },
                "nonMergingList": {"type": "array", "items": item("mergeItem")},
                "mergingIntList": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "x-kubernetes-patch-strategy": "merge"
                },
                "nonMergingIntList": {"type": "array", "items": {"type": "integer"}},
                "simpleMap": {"type": "object", "additionalProperties": {"type": "string"}},
                "replacingItem": {"x-kubernetes-patch-strategy": "replace"},
                "retainKeysMap": {
                    "allOf": [item("retainKeysMergeItem")],
                    "x-kubernetes-patch-strategy": "retainKeys"
                },
                "retainKeysMergingList": {
                    "type": "array",
                    "items": item("mergeItem"),
                    "x-kubernetes-patch-merge-key": "name",
                    "x-kubernetes-patch-strategy": "merge,retainKeys"
                }
            }
        },
        "retainKeysMergeItem": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "value": {"type": "string"},
                "simpleMap": {"type": "object", "additionalProperties": {"type": "string"}},
                "mergingIntList": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "x-kubernetes-patch-strategy": "merge"
                },
                "mergingList": {
                    "type": "array",
                    "items": item("mergeItem"),
                    "x-kubernetes-patch-merge-key": "name",
                    "x-kubernetes-patch-strategy": "merge"
                }
            }
        }
    });
    OpenApiSchemas::new(definitions.as_object().unwrap().clone())
}

fn apply(original: Value, patch: Value) -> Result<Value, PatchError> {
    strategic_merge_patch(original, patch, &merge_item_schemas(), "mergeItem")
}

#[test]
fn a_merging_list_merges_items_by_their_merge_key() {
    let result = apply(
        json!({"mergingList": [{"name": "1", "value": "1"}, {"name": "2", "value": "2"}]}),
        json!({"mergingList": [{"name": "2", "value": "b", "other": "x"}, {"name": "3"}]}),
    )
    .unwrap();
    assert_eq!(
        result,
        json!({"mergingList": [
            {"name": "1", "value": "1"},
            {"name": "2", "value": "b", "other": "x"},
            {"name": "3"}
        ]})
    );
}

#[test]
fn a_non_merging_list_is_replaced() {
    let result = apply(
        json!({"nonMergingList": [{"name": "1"}, {"name": "2"}]}),
        json!({"nonMergingList": [{"name": "3"}]}),
    )
    .unwrap();
    assert_eq!(result, json!({"nonMergingList": [{"name": "3"}]}));
}

#[test]
fn a_delete_directive_in_a_list_removes_the_item_with_that_key() {
    let result = apply(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}, {"name": "3"}]}),
        json!({"mergingList": [{"name": "2", "$patch": "delete"}]}),
    )
    .unwrap();
    assert_eq!(
        result,
        json!({"mergingList": [{"name": "1"}, {"name": "3"}]})
    );
}

#[test]
fn a_replace_directive_in_a_list_makes_the_patch_list_the_whole_list() {
    let result = apply(
        json!({"mergingList": [{"name": "1", "value": "a"}, {"name": "2"}]}),
        json!({"mergingList": [{"name": "3"}, {"$patch": "replace"}]}),
    )
    .unwrap();
    assert_eq!(result, json!({"mergingList": [{"name": "3"}]}));
}

#[test]
fn a_replace_directive_in_a_map_replaces_the_map() {
    let result = apply(
        json!({"simpleMap": {"a": "1", "b": "2"}, "name": "x"}),
        json!({"simpleMap": {"$patch": "replace", "c": "3"}}),
    )
    .unwrap();
    assert_eq!(result, json!({"simpleMap": {"c": "3"}, "name": "x"}));
}

#[test]
fn a_delete_directive_in_a_map_empties_the_map() {
    let result = apply(
        json!({"simpleMap": {"a": "1"}, "name": "x"}),
        json!({"simpleMap": {"$patch": "delete"}}),
    )
    .unwrap();
    assert_eq!(result, json!({"simpleMap": {}, "name": "x"}));
}

#[test]
fn a_merge_directive_is_refused_as_upstream_refuses_it() {
    let in_map = apply(json!({"simpleMap": {"a": "1"}}), json!({"$patch": "merge"}));
    assert_eq!(
        in_map.unwrap_err().to_string(),
        "unknown patch type: merge in map: map[$patch:merge]"
    );
    let in_list = apply(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": [{"$patch": "merge"}]}),
    );
    assert_eq!(
        in_list.unwrap_err().to_string(),
        "merging lists cannot yet be specified in the patch"
    );
}

#[test]
fn null_deletes_a_field_and_nested_nulls_of_new_fields_are_dropped() {
    let result = apply(
        json!({"name": "1", "value": "1", "simpleMap": {"a": "1"}}),
        json!({"value": null, "other": {"kept": "x", "dropped": null}, "simpleMap": {"a": null}}),
    )
    .unwrap();
    assert_eq!(
        result,
        json!({"name": "1", "other": {"kept": "x"}, "simpleMap": {}})
    );
}

#[test]
fn a_merging_list_of_primitives_is_merged_as_a_set() {
    let result = apply(
        json!({"mergingIntList": [1, 2]}),
        json!({"mergingIntList": [2, 3]}),
    )
    .unwrap();
    assert_eq!(result, json!({"mergingIntList": [1, 2, 3]}));
}

#[test]
fn a_non_merging_list_of_primitives_is_replaced() {
    let result = apply(
        json!({"nonMergingIntList": [1, 2]}),
        json!({"nonMergingIntList": [2, 3]}),
    )
    .unwrap();
    assert_eq!(result, json!({"nonMergingIntList": [2, 3]}));
}

#[test]
fn delete_from_primitive_list_removes_those_values() {
    let result = apply(
        json!({"mergingIntList": [1, 2, 3]}),
        json!({
            "$setElementOrder/mergingIntList": [1, 2],
            "$deleteFromPrimitiveList/mergingIntList": [3]
        }),
    )
    .unwrap();
    assert_eq!(result, json!({"mergingIntList": [1, 2]}));
}

#[test]
fn set_element_order_orders_the_merged_list() {
    let result = apply(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}, {"name": "3"}]}),
        json!({
            "$setElementOrder/mergingList": [{"name": "3"}, {"name": "1"}, {"name": "2"}],
            "mergingList": [{"name": "3", "value": "c"}]
        }),
    )
    .unwrap();
    assert_eq!(
        result,
        json!({"mergingList": [{"name": "3", "value": "c"}, {"name": "1"}, {"name": "2"}]})
    );
}

#[test]
fn set_element_order_keeps_live_only_items_near_their_live_neighbours() {
    // Upstream's "add map and delete map from merging list" (three-way) case.
    let result = apply(
        json!({"mergingList": [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}]}),
        json!({
            "$setElementOrder/mergingList": [{"name": 2}, {"name": 3}],
            "mergingList": [{"name": 3}, {"$patch": "delete", "name": 1}]
        }),
    )
    .unwrap();
    assert_eq!(
        result,
        json!({"mergingList": [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}]})
    );
}

#[test]
fn a_patch_list_out_of_set_element_order_is_an_error() {
    let error = apply(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
        json!({
            "$setElementOrder/mergingList": [{"name": "1"}, {"name": "2"}],
            "mergingList": [{"name": "2"}, {"name": "1"}]
        }),
    )
    .unwrap_err();
    assert!(matches!(error, PatchError::CheckSetElementOrder { .. }));
    assert!(
        error
            .to_string()
            .starts_with("The order in patch list:\n[map[name:2] map[name:1]]\n doesn't match")
    );
}

#[test]
fn retain_keys_clears_the_fields_it_does_not_list() {
    let result = apply(
        json!({"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"a": "1"}}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "simpleMap"], "simpleMap": {"b": "2"}}}),
    )
    .unwrap();
    assert_eq!(
        result,
        json!({"retainKeysMap": {"name": "foo", "simpleMap": {"a": "1", "b": "2"}}})
    );
}

#[test]
fn retain_keys_refuses_a_patch_that_sets_an_unlisted_field() {
    let error = apply(
        json!({"retainKeysMap": {"name": "foo"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name"], "value": "x"}}),
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "invalid patch format of retainKeys");
}

#[test]
fn a_merge_list_item_without_its_merge_key_is_an_error_worded_as_upstream() {
    let error = apply(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": [{"value": "2", "other": "x"}]}),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "map: map[other:x value:2] does not contain declared merge key: name"
    );
}

#[test]
fn a_field_with_the_replace_strategy_is_replaced_whole() {
    let result = apply(
        json!({"replacingItem": {"a": 1, "b": 2}}),
        json!({"replacingItem": {"c": 3}}),
    )
    .unwrap();
    assert_eq!(result, json!({"replacingItem": {"c": 3}}));
}

#[test]
fn an_unknown_type_behaves_like_a_merge_patch_with_lists_replaced() {
    let result = strategic_merge_patch(
        json!({"spec": {"items": [{"name": "a"}, {"name": "b"}], "keep": 1, "drop": 2}}),
        json!({"spec": {"items": [{"name": "c"}], "drop": null}}),
        &merge_item_schemas(),
        "example.com.v1.Widget",
    )
    .unwrap();
    assert_eq!(
        result,
        json!({"spec": {"items": [{"name": "c"}], "keep": 1}})
    );
}

#[test]
fn a_patch_that_is_not_an_object_is_an_invalid_document() {
    let error = apply(json!({}), json!([1])).unwrap_err();
    assert_eq!(error.to_string(), "invalid JSON document");
}

#[test]
fn mixed_item_types_in_a_merged_list_are_an_error() {
    let error = apply(
        json!({"mergingIntList": [1, 2]}),
        json!({"mergingIntList": ["a"]}),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "list element types are not identical: [[1 2] [a]]"
    );
}
