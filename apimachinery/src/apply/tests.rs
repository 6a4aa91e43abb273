//! Server-side apply on built-in types, with k8s-openapi's schemars definitions as schema.

use serde_json::{Value, json};

use super::*;
use crate::patch::OpenApiSchemas;

const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";
const CONFIGMAP: &str = "io.k8s.api.core.v1.ConfigMap";

fn schemas() -> OpenApiSchemas {
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<k8s_openapi::api::apps::v1::Deployment>();
    generator.subschema_for::<k8s_openapi::api::core::v1::ConfigMap>();
    generator.subschema_for::<k8s_openapi::api::core::v1::Pod>();
    generator.subschema_for::<k8s_openapi::api::core::v1::Event>();
    generator.subschema_for::<k8s_openapi::api::events::v1::Event>();
    let mut definitions = generator.take_definitions(true);
    // A custom resource: a map of structs, a keyed list, a set and preserved unknown fields.
    definitions.insert(
        WIDGET.into(),
        json!({"type": "object", "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/components/schemas/example.com.v1.WidgetSpec"},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }}),
    );
    definitions.insert(
        "example.com.v1.WidgetSpec".into(),
        json!({"type": "object", "properties": {
            "parts": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/example.com.v1.Part"}},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/example.com.v1.Part"},
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
            "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-patch-strategy": "merge"},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }}),
    );
    definitions.insert(
        "example.com.v1.Part".into(),
        json!({"type": "object", "properties": {
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
        }}),
    );
    OpenApiSchemas::new(definitions)
}

const POD: &str = "io.k8s.api.core.v1.Pod";
const WIDGET: &str = "example.com.v1.Widget";

fn deployments(schemas: &OpenApiSchemas) -> FieldManager<'_> {
    FieldManager::new(schemas, DEPLOYMENT, "apps/v1", None, true)
}

fn config(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]}
            }
        }
    })
}

/// Applies `config` as `manager` to `live`, as the API server does (no decoding step).
fn apply(
    fm: &FieldManager<'_>,
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
) -> Result<Applied, ApplyError> {
    let merged = fm.merge(live, config, manager)?;
    fm.record_apply(live, merged, config, manager, force, "2025-01-01T00:00:00Z")
}

fn entries(object: &Value) -> Vec<ManagedFieldsEntry> {
    decode(object.pointer("/metadata/managedFields")).unwrap()
}

fn fields_of(object: &Value, manager: &str) -> Value {
    object["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == manager)
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn an_applied_configuration_owns_exactly_what_it_sets_in_the_upstream_encoding() {
    let schemas = schemas();
    let fm = deployments(&schemas);
    let applied = apply(&fm, None, &config(2, "nginx"), "kubectl", false).unwrap();
    assert_eq!(
        fields_of(&applied.object, "kubectl"),
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {},
                            "f:containerPort": {}
                        }}
                    }}}
                }
            }
        })
    );
    let entry = &applied.object["metadata"]["managedFields"][0];
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["apiVersion"], "apps/v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert!(applied.changed);
}

#[test]
fn a_create_owns_new_maps_and_items_with_their_self_marker() {
    let schemas = schemas();
    let fm = FieldManager::new(&schemas, CONFIGMAP, "v1", None, false);
    let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
    fm.update(None, &mut object, "creator", "2025-01-01T00:00:00Z")
        .unwrap();
    assert_eq!(
        fields_of(&object, "creator"),
        json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}})
    );
}

#[test]
fn an_update_takes_the_fields_it_changes_from_other_managers() {
    let schemas = schemas();
    let fm = deployments(&schemas);
    let live = apply(&fm, None, &config(2, "nginx"), "kubectl", false)
        .unwrap()
        .object;
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    let scale = FieldManager::new(&schemas, DEPLOYMENT, "apps/v1", Some("scale"), true);
    scale
        .update(Some(&live), &mut scaled, "kubectl", "2025-01-01T00:00:01Z")
        .unwrap();
    let all = entries(&scaled);
    let applier = all
        .iter()
        .find(|e| e.operation == Operation::Apply)
        .unwrap();
    let scaler = all
        .iter()
        .find(|e| e.operation == Operation::Update)
        .unwrap();
    let replicas = [
        PathElement::Field("spec".into()),
        PathElement::Field("replicas".into()),
    ];
    assert!(!applier.fields.has(&replicas));
    assert!(scaler.fields.has(&replicas));
    assert_eq!(scaler.subresource, "scale");
    assert_eq!(scaler.fields.paths().len(), 1);
}

#[test]
fn applying_a_different_value_to_anothers_field_conflicts_and_force_takes_it() {
    let schemas = schemas();
    let fm = deployments(&schemas);
    let live = apply(&fm, None, &config(2, "nginx"), "kubectl", false)
        .unwrap()
        .object;
    let err = apply(&fm, Some(&live), &config(3, "nginx"), "other", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
    );
    assert_eq!(
        err.conflict_causes(),
        vec![(
            "conflict with \"kubectl\"".to_string(),
            ".spec.replicas".to_string()
        )]
    );

    let forced = apply(&fm, Some(&live), &config(3, "nginx"), "other", true).unwrap();
    assert_eq!(forced.object["spec"]["replicas"], 3);
    let replicas = [
        PathElement::Field("spec".into()),
        PathElement::Field("replicas".into()),
    ];
    for entry in entries(&forced.object) {
        assert_eq!(
            entry.fields.has(&replicas),
            entry.manager == "other",
            "{entry:?}"
        );
    }
}

#[test]
fn several_conflicts_are_listed_per_manager_on_their_own_lines() {
    let schemas = schemas();
    let fm = deployments(&schemas);
    let live = apply(&fm, None, &config(2, "nginx"), "kubectl", false)
        .unwrap()
        .object;
    let mut updated = live.clone();
    updated["spec"]["paused"] = json!(true);
    let main = deployments(&schemas);
    main.update(Some(&live), &mut updated, "editor", "2025-01-01T00:00:01Z")
        .unwrap();
    let mut other = config(3, "httpd");
    other["spec"]["paused"] = json!(false);
    let err = apply(&fm, Some(&updated), &other, "other", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 3 conflicts: conflicts with \"editor\" using apps/v1:\n- .spec.paused\nconflicts with \"kubectl\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"
    );
}

#[test]
fn the_same_value_is_shared_without_conflict() {
    let schemas = schemas();
    let fm = deployments(&schemas);
    let live = apply(&fm, None, &config(2, "nginx"), "kubectl", false)
        .unwrap()
        .object;
    let shared = apply(&fm, Some(&live), &config(2, "nginx"), "other", false).unwrap();
    assert!(!shared.changed);
    let replicas = [
        PathElement::Field("spec".into()),
        PathElement::Field("replicas".into()),
    ];
    let owners: Vec<String> = entries(&shared.object)
        .into_iter()
        .filter(|e| e.fields.has(&replicas))
        .map(|e| e.manager)
        .collect();
    assert_eq!(owners, vec!["kubectl", "other"]);
}

#[test]
fn reapplying_the_same_configuration_changes_nothing() {
    let schemas = schemas();
    let fm = deployments(&schemas);
    let first = apply(&fm, None, &config(2, "nginx"), "kubectl", false).unwrap();
    let merged = fm
        .merge(Some(&first.object), &config(2, "nginx"), "kubectl")
        .unwrap();
    let again = fm
        .record_apply(
            Some(&first.object),
            merged,
            &config(2, "nginx"),
            "kubectl",
            false,
            "2030-01-01T00:00:00Z",
        )
        .unwrap();
    assert!(!again.changed);
    assert_eq!(
        again.object, first.object,
        "the time of the entry is kept too"
    );
}

#[test]
fn a_field_left_out_of_the_configuration_is_removed_unless_another_manager_owns_it() {
    let schemas = schemas();
    let fm = deployments(&schemas);
    let mut with_annotations = config(2, "nginx");
    with_annotations["metadata"]["annotations"] = json!({"a": "1", "b": "2"});
    let live = apply(&fm, None, &with_annotations, "kubectl", false)
        .unwrap()
        .object;
    let only_b = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "annotations": {"b": "2"}}});
    let live = apply(&fm, Some(&live), &only_b, "other", false)
        .unwrap()
        .object;

    let without = apply(&fm, Some(&live), &config(2, "nginx"), "kubectl", false)
        .unwrap()
        .object;
    assert_eq!(without["metadata"]["annotations"], json!({"b": "2"}));
    assert_eq!(without["spec"]["replicas"], 2);

    let mut no_replicas = config(2, "nginx");
    no_replicas["spec"]
        .as_object_mut()
        .unwrap()
        .remove("replicas");
    let pruned = apply(&fm, Some(&without), &no_replicas, "kubectl", false)
        .unwrap()
        .object;
    assert!(pruned["spec"].get("replicas").is_none(), "{pruned}");
}

#[test]
fn map_list_items_merge_by_key_and_keep_items_the_configuration_does_not_name() {
    let schemas = schemas();
    let typer = Typer::new(&schemas);
    let ty = typer.definition("io.k8s.api.core.v1.PodSpec");
    let live = json!({"containers": [
        {"name": "a", "image": "a:1"},
        {"name": "b", "image": "b:1"},
        {"name": "c", "image": "c:1"}
    ], "nodeSelector": {"x": "1"}});
    let config = json!({"containers": [
        {"name": "c", "image": "c:2"},
        {"name": "a", "image": "a:2"},
        {"name": "d", "image": "d:1"}
    ], "nodeSelector": {"y": "2"}});
    let merged = merge(&typer, &live, &config, ty).unwrap();
    let names: Vec<(&str, &str)> = merged["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["image"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![("b", "b:1"), ("c", "c:2"), ("a", "a:2"), ("d", "d:1")]
    );
    assert_eq!(
        merged["nodeSelector"],
        json!({"y": "2"}),
        "nodeSelector is an atomic map"
    );
}

#[test]
fn atomic_structs_and_lists_are_replaced_and_owned_whole() {
    let schemas = schemas();
    let typer = Typer::new(&schemas);
    let ty = typer.definition("io.k8s.api.apps.v1.DeploymentSpec");
    let live = json!({"selector": {"matchLabels": {"a": "1"}}, "template": {"spec": {"containers": [{"name": "x", "command": ["a", "b"]}]}}});
    let config = json!({"selector": {"matchLabels": {"b": "2"}}, "template": {"spec": {"containers": [{"name": "x", "command": ["c"]}]}}});
    let merged = merge(&typer, &live, &config, ty).unwrap();
    assert_eq!(merged["selector"], json!({"matchLabels": {"b": "2"}}));
    assert_eq!(
        merged["template"]["spec"]["containers"][0]["command"],
        json!(["c"])
    );
    let set = to_field_set(&typer, &config, ty).unwrap();
    assert_eq!(
        set.to_fields_v1(),
        json!({"f:selector": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"x\"}": {".": {}, "f:command": {}, "f:name": {}}}}}})
    );
}

#[test]
fn set_lists_are_owned_value_by_value() {
    let schemas = schemas();
    let typer = Typer::new(&schemas);
    let ty = typer.definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    let set = to_field_set(&typer, &json!({"finalizers": ["a", "b"]}), ty).unwrap();
    assert_eq!(
        set.to_fields_v1(),
        json!({"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}})
    );
    let merged = merge(
        &typer,
        &json!({"finalizers": ["x", "a"]}),
        &json!({"finalizers": ["a", "b"]}),
        ty,
    )
    .unwrap();
    assert_eq!(merged["finalizers"], json!(["x", "a", "b"]));
}

#[test]
fn unknown_fields_of_the_configuration_are_reported_and_dropped() {
    let schemas = schemas();
    let fm = deployments(&schemas);
    let mut config = config(1, "nginx");
    config["spec"]["bogus"] = json!(1);
    config["spec"]["template"]["spec"]["containers"][0]["nope"] = json!(true);
    let unknown = fm.remove_unknown_fields(&mut config);
    assert_eq!(
        unknown,
        vec!["spec.bogus", "spec.template.spec.containers[0].nope"]
    );
    assert!(config["spec"].get("bogus").is_none());
}

#[test]
fn a_map_list_item_without_its_key_is_an_error() {
    let schemas = schemas();
    let fm = deployments(&schemas);
    let mut bad = config(1, "nginx");
    bad["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let err = apply(&fm, None, &bad, "kubectl", false).unwrap_err();
    assert!(
        err.to_string()
            .contains("associative list with keys has an element that omits key field \"name\""),
        "{err}"
    );
}

#[test]
fn leaving_out_every_owned_metadata_field_keeps_the_metadata() {
    let schemas = schemas();
    let fm = FieldManager::new(&schemas, CONFIGMAP, "v1", None, false);
    let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
    let live = apply(&fm, None, &first, "kubectl", false).unwrap().object;
    let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
    let after = apply(&fm, Some(&live), &second, "kubectl", false)
        .unwrap()
        .object;
    assert_eq!(after["metadata"]["name"], "a");
    assert!(
        after["metadata"]
            .get("labels")
            .is_none_or(|l| l == &json!({})),
        "{after}"
    );
}

/// Records a create of `object` through `fm` both ways, the direct path and the comparison
/// with an empty object, and asserts the two objects come out byte for byte the same.
fn assert_create_matches_comparison(fm: &FieldManager<'_>, object: &Value) -> Value {
    let (mut direct, mut compared) = (object.clone(), object.clone());
    let now = "2025-01-01T00:00:00Z";
    let direct_result = fm.update(None, &mut direct, "creator", now);
    let compared_result = fm.update_by_comparison(None, &mut compared, "creator", now);
    assert_eq!(direct_result.is_ok(), compared_result.is_ok(), "{object}");
    assert_eq!(
        serde_json::to_string(&direct).unwrap(),
        serde_json::to_string(&compared).unwrap(),
        "for {object}"
    );
    direct
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-0", "namespace": "default", "uid": "u-1", "generateName": "web-",
            "creationTimestamp": "2025-01-01T00:00:00Z", "resourceVersion": "7", "generation": 1,
            "labels": {"app": "web", "tier": ""}, "annotations": {},
            "finalizers": ["a", "b", "a"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                "uid": "rs-1", "controller": true}],
            "managedFields": []
        },
        "spec": {
            "containers": [
                {"name": "web", "image": "nginx", "args": ["-g", "daemon off;"],
                    "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP", "name": "dns"}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}, "limits": {}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "web", "image": "duplicate"},
                {"name": "sidecar", "image": "busybox", "env": [], "securityContext": null}
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "nodeSelector": {"disk": "ssd"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
            "schedulerName": "default-scheduler",
            "priority": 0,
            "unknownField": {"nested": [1, 2]}
        },
        "status": {"phase": "Pending", "qosClass": "Burstable",
            "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": null}]}
    })
}

#[test]
fn a_create_owns_every_field_of_a_pod_as_the_comparison_with_an_empty_pod_finds() {
    let schemas = schemas();
    let object = pod();
    // The main resource (status has its own subresource), the status subresource, and another
    // subresource, which owns everything.
    for subresource in [None, Some("status"), Some("ephemeralcontainers")] {
        let fm = FieldManager::new(&schemas, POD, "v1", subresource, true);
        let created = assert_create_matches_comparison(&fm, &object);
        assert_eq!(
            created["metadata"]["managedFields"][0]["manager"],
            "creator"
        );
    }
    let fm = FieldManager::new(&schemas, POD, "v1", None, true);
    let created = assert_create_matches_comparison(&fm, &object);
    let fields = fields_of(&created, "creator");
    assert_eq!(
        fields["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"],
        json!({".": {}, "f:containerPort": {}})
    );
    assert!(fields.get("f:status").is_none());
    assert!(fields["f:metadata"].get("f:name").is_none());
}

#[test]
fn a_create_owns_every_field_of_an_event_as_the_comparison_finds() {
    let schemas = schemas();
    let core = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web-0.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0", "uid": "u-1"},
        "reason": "Scheduled", "message": "Successfully assigned default/web-0 to node-1",
        "source": {"component": "default-scheduler"}, "type": "Normal", "count": 1,
        "firstTimestamp": null, "reportingComponent": "default-scheduler", "reportingInstance": ""
    });
    let fm = FieldManager::new(&schemas, "io.k8s.api.core.v1.Event", "v1", None, false);
    assert_create_matches_comparison(&fm, &core);
    let events = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web-0.1", "namespace": "default"},
        "eventTime": "2025-01-01T00:00:00.000000Z", "action": "Binding", "reason": "Scheduled",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web-0", "uid": "u-1"},
        "note": "Successfully assigned default/web-0 to node-1", "type": "Normal",
        "reportingController": "default-scheduler", "reportingInstance": "default-scheduler-x"
    });
    let fm = FieldManager::new(
        &schemas,
        "io.k8s.api.events.v1.Event",
        "events.k8s.io/v1",
        None,
        false,
    );
    assert_create_matches_comparison(&fm, &events);
}

#[test]
fn a_create_owns_every_field_of_a_configmap_as_the_comparison_finds() {
    let schemas = schemas();
    let fm = FieldManager::new(&schemas, CONFIGMAP, "v1", None, false);
    for object in [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v", "empty": ""}, "binaryData": {}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": null, "immutable": false}),
        // Nothing to own: the entry is left out.
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "3"}}),
        json!({"kind": "ConfigMap"}),
        json!({"metadata": "not an object", "data": {"k": "v"}}),
        json!({"metadata": {"name": {"nested": "odd"}, "uid": {}}, "data": {"k": "v"}}),
    ] {
        assert_create_matches_comparison(&fm, &object);
    }
    let mut nothing = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
    fm.update(None, &mut nothing, "creator", "2025-01-01T00:00:00Z")
        .unwrap();
    assert!(nothing["metadata"].get("managedFields").is_none());
}

#[test]
fn a_create_owns_unknown_and_preserved_fields_as_the_comparison_finds() {
    let schemas = schemas();
    let widget = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "labels": {"a": "b"}},
        "spec": {
            "parts": {"left": {"name": "l", "size": 1, "labels": {"x": "y"}}, "right": {}, "none": null},
            "items": [{"name": "one", "size": 1}, {"name": "two"}, {"name": "one", "size": 9}],
            "tags": ["x", "y", "x"],
            "extra": {"anything": {"deep": [{"a": 1}], "empty": {}, "nothing": null}},
            "undeclared": {"a": [1, {"b": 2}]}
        },
        "status": {"ready": true, "counts": {"a": 1}},
        "topLevelUnknown": [1, 2]
    });
    for subresource in [None, Some("status")] {
        for status_subresource in [false, true] {
            let fm = FieldManager::new(
                &schemas,
                WIDGET,
                "example.com/v1",
                subresource,
                status_subresource,
            );
            assert_create_matches_comparison(&fm, &widget);
        }
    }
    // A type the schemas do not know at all: everything deduced.
    let fm = FieldManager::new(
        &schemas,
        "example.com.v1.Unknown",
        "example.com/v1",
        None,
        false,
    );
    assert_create_matches_comparison(&fm, &widget);
}

#[test]
fn a_create_with_a_keyed_item_missing_its_key_records_nothing_either_way() {
    let schemas = schemas();
    let mut object = pod();
    object["spec"]["containers"][2]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let fm = FieldManager::new(&schemas, POD, "v1", None, true);
    let mut direct = object.clone();
    assert!(
        fm.update(None, &mut direct, "creator", "2025-01-01T00:00:00Z")
            .is_err()
    );
    assert_eq!(direct, object);
    // Even in a part this endpoint does not own.
    let mut object = pod();
    object["status"]["conditions"] = json!([{"status": "True"}]);
    assert_create_matches_comparison(&fm, &object);
    assert!(
        fm.update(None, &mut object.clone(), "creator", "2025-01-01T00:00:00Z")
            .is_err()
    );
}

#[test]
fn a_create_that_brings_managed_fields_keeps_using_the_comparison() {
    let schemas = schemas();
    let fm = FieldManager::new(&schemas, CONFIGMAP, "v1", None, false);
    let requested = json!([{"manager": "other", "operation": "Update", "apiVersion": "v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:gone": {}}}}]);
    let mut object = json!({"metadata": {"name": "a", "managedFields": requested}, "data": {"k": "v", "j": "w"}});
    fm.update(None, &mut object, "creator", "2025-01-01T00:00:00Z")
        .unwrap();
    // The requested entry keeps what the new object does not set.
    let entries = entries(&object);
    assert_eq!(entries.len(), 2, "{object}");
    assert_eq!(
        fields_of(&object, "other"),
        json!({"f:data": {"f:gone": {}}})
    );
}
