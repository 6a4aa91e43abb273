//! The assembled `meta.k8s.io/v1` Table: column definitions, rows and embedded objects.

use ferrokube_printers::{
    IncludeObject, PrintError, TableOptions, partial_object_metadata, table, table_with_options,
};
use jiff::Timestamp;
use serde_json::{Value, json};

fn now() -> Timestamp {
    "2026-01-10T12:00:00Z".parse().unwrap()
}

fn pod(name: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": "u-1", "resourceVersion": "42",
            "labels": {"app": "web"}, "creationTimestamp": "2026-01-10T11:59:00Z"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": phase}
    })
}

#[test]
fn a_pod_table_has_upstream_column_definitions_and_metadata_objects() {
    let (a, b) = (pod("a", "Running"), pod("b", "Succeeded"));
    let t = table("", "Pod", &[&a, &b], now(), IncludeObject::Metadata);
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], json!({}));
    let columns = t["columnDefinitions"].as_array().unwrap();
    let names: Vec<&str> = columns
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(columns[0]["format"], "name");
    assert_eq!(columns[0]["type"], "string");
    assert_eq!(columns[0]["priority"], 0);
    assert_eq!(columns[5]["priority"], 1);
    assert!(
        columns[0]["description"]
            .as_str()
            .unwrap()
            .starts_with("Name must be unique within a namespace.")
    );
    let rows = t["rows"].as_array().unwrap();
    assert_eq!(
        rows[0]["cells"],
        json!([
            "a", "0/1", "Running", "0", "60s", "<none>", "<none>", "<none>", "<none>"
        ])
    );
    assert!(rows[0].get("conditions").is_none());
    assert_eq!(
        rows[1]["conditions"][0],
        json!({"type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully."})
    );
    assert_eq!(
        rows[0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": a["metadata"].clone()})
    );
}

#[test]
fn include_object_none_omits_the_object_and_object_embeds_it_whole() {
    let a = pod("a", "Running");
    let none = table("", "Pod", &[&a], now(), IncludeObject::None);
    assert!(none["rows"][0].get("object").is_none());
    let whole = table("", "Pod", &[&a], now(), IncludeObject::Object);
    assert_eq!(whole["rows"][0]["object"], a);
}

#[test]
fn include_object_parses_from_the_query_parameter() {
    assert_eq!("None".parse(), Ok(IncludeObject::None));
    assert_eq!("".parse(), Ok(IncludeObject::Metadata));
    assert_eq!("Metadata".parse(), Ok(IncludeObject::Metadata));
    assert_eq!("Object".parse(), Ok(IncludeObject::Object));
    assert_eq!(
        "object".parse::<IncludeObject>(),
        Err(PrintError::ParseIncludeObject("object".to_string()))
    );
    assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
}

#[test]
fn list_metadata_and_no_headers_are_carried_into_the_table() {
    let a = pod("a", "Running");
    let t = table_with_options(
        "",
        "Pod",
        &[&a],
        now(),
        &TableOptions {
            no_headers: true,
            resource_version: Some("1234".to_string()),
            continue_token: Some("tok".to_string()),
            remaining_item_count: Some(7),
            ..TableOptions::default()
        },
    );
    assert_eq!(
        t["metadata"],
        json!({"resourceVersion": "1234", "continue": "tok", "remainingItemCount": 7})
    );
    assert_eq!(t["columnDefinitions"], json!([]));
    assert_eq!(t["rows"].as_array().unwrap().len(), 1);
}

#[test]
fn an_empty_list_still_has_columns_and_no_rows() {
    let t = table("apps", "Deployment", &[], now(), IncludeObject::Metadata);
    assert_eq!(t["rows"], json!([]));
    assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 8);
}

#[test]
fn an_unknown_kind_gets_the_name_and_created_at_table() {
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1", "creationTimestamp": "2026-01-09T08:07:06Z"}});
    let t = table(
        "example.com",
        "Widget",
        &[&widget],
        now(),
        IncludeObject::Metadata,
    );
    assert_eq!(
        t["columnDefinitions"][1],
        json!({"name": "Created At", "type": "date", "format": "",
            "description": t["columnDefinitions"][1]["description"].clone(), "priority": 0})
    );
    assert_eq!(t["rows"][0]["cells"], json!(["w1", "2026-01-09T08:07:06Z"]));
}

#[test]
fn partial_object_metadata_of_an_object_without_metadata_is_empty() {
    assert_eq!(
        partial_object_metadata(&json!({})),
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {}})
    );
}
