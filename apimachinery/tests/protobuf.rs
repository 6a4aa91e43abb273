//! Kubernetes protobuf bodies decode to the JSON of the same object: each fixture is encoded
//! with the prost types of `k8s-pb` (as client-go's protobuf serializer lays it out) and
//! compared with the JSON that `k8s-openapi` prints for the same object built with its types.

use std::collections::BTreeMap;

use ferrokube_apimachinery::protobuf::{self, ProtobufError};
use k8s_openapi as oa;
use k8s_pb as pb;
use oa::apimachinery::pkg::api::resource::Quantity;
use oa::apimachinery::pkg::apis::meta::v1 as meta;
use oa::apimachinery::pkg::util::intstr::IntOrString;
use pb::apimachinery::pkg::apis::meta::v1 as pbmeta;
use prost::Message;
use serde_json::{Value, json};

/// A body as client-go sends it: the magic and a `runtime.Unknown` envelope around `object`.
fn body(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    let unknown = pb::apimachinery::pkg::runtime::Unknown {
        type_meta: Some(pb::apimachinery::pkg::runtime::TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object.encode_to_vec()),
        // Go writes its empty strings too.
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = b"k8s\0".to_vec();
    unknown.encode(&mut out).unwrap();
    out
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn timestamp(rfc3339: &str) -> oa::jiff::Timestamp {
    rfc3339.parse().unwrap()
}

fn pb_meta(name: &str, namespace: &str, labels: &[(&str, &str)]) -> pbmeta::ObjectMeta {
    pbmeta::ObjectMeta {
        name: s(name),
        namespace: s(namespace),
        labels: strings(labels),
        ..Default::default()
    }
}

fn oa_meta(name: &str, namespace: &str, labels: &[(&str, &str)]) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: (!name.is_empty()).then(|| name.to_string()),
        namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
        labels: (!labels.is_empty()).then(|| strings(labels)),
        ..Default::default()
    }
}

fn to_json(object: &impl serde::Serialize) -> Value {
    serde_json::to_value(object).unwrap()
}

#[test]
fn a_configmap_decodes_to_the_json_of_the_same_object() {
    let proto = pb::api::core::v1::ConfigMap {
        metadata: Some(pb_meta("settings", "default", &[("app", "web")])),
        data: strings(&[("a", "b"), ("empty", "")]),
        binary_data: [("blob".to_string(), vec![0u8, 159, 146, 150])].into(),
        immutable: Some(false),
    };
    let expected = oa::api::core::v1::ConfigMap {
        metadata: oa_meta("settings", "default", &[("app", "web")]),
        data: Some(strings(&[("a", "b"), ("empty", "")])),
        binary_data: Some([("blob".to_string(), oa::ByteString(vec![0, 159, 146, 150]))].into()),
        immutable: Some(false),
    };
    let got = protobuf::decode(&body("v1", "ConfigMap", &proto)).unwrap();
    assert_eq!(got, to_json(&expected));
}

#[test]
fn secret_data_is_base64_as_in_json() {
    let proto = pb::api::core::v1::Secret {
        metadata: Some(pb_meta("creds", "default", &[])),
        data: [("password".to_string(), b"s3cr3t\n".to_vec())].into(),
        string_data: strings(&[("user", "admin")]),
        r#type: s("Opaque"),
        ..Default::default()
    };
    let got = protobuf::decode(&body("v1", "Secret", &proto)).unwrap();
    assert_eq!(got["data"]["password"], "czNjcjN0Cg==");
    let expected = oa::api::core::v1::Secret {
        metadata: oa_meta("creds", "default", &[]),
        data: Some([("password".to_string(), oa::ByteString(b"s3cr3t\n".to_vec()))].into()),
        string_data: Some(strings(&[("user", "admin")])),
        type_: s("Opaque"),
        ..Default::default()
    };
    assert_eq!(got, to_json(&expected));
}

fn pb_container() -> pb::api::core::v1::Container {
    use pb::api::core::v1 as c;
    c::Container {
        name: s("web"),
        image: s("nginx:1.27"),
        args: vec!["--port".into(), "8080".into()],
        ports: vec![c::ContainerPort {
            container_port: Some(8080),
            protocol: s("TCP"),
            ..Default::default()
        }],
        env: vec![
            c::EnvVar {
                name: s("MODE"),
                value: s("prod"),
                ..Default::default()
            },
            c::EnvVar {
                name: s("LEVEL"),
                value_from: Some(c::EnvVarSource {
                    config_map_key_ref: Some(c::ConfigMapKeySelector {
                        local_object_reference: Some(c::LocalObjectReference {
                            name: s("settings"),
                        }),
                        key: s("level"),
                        optional: Some(true),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
        resources: Some(c::ResourceRequirements {
            limits: [(
                "memory".to_string(),
                pb::apimachinery::pkg::api::resource::Quantity { string: s("128Mi") },
            )]
            .into(),
            requests: [(
                "cpu".to_string(),
                pb::apimachinery::pkg::api::resource::Quantity { string: s("250m") },
            )]
            .into(),
            ..Default::default()
        }),
        readiness_probe: Some(c::Probe {
            handler: Some(c::ProbeHandler {
                http_get: Some(c::HttpGetAction {
                    path: s("/healthz"),
                    port: Some(pb::apimachinery::pkg::util::intstr::IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: s("http"),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            period_seconds: Some(5),
            ..Default::default()
        }),
        volume_mounts: vec![c::VolumeMount {
            name: s("cache"),
            mount_path: s("/cache"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn oa_container() -> oa::api::core::v1::Container {
    use oa::api::core::v1 as c;
    c::Container {
        name: "web".into(),
        image: s("nginx:1.27"),
        args: Some(vec!["--port".into(), "8080".into()]),
        ports: Some(vec![c::ContainerPort {
            container_port: 8080,
            protocol: s("TCP"),
            ..Default::default()
        }]),
        env: Some(vec![
            c::EnvVar {
                name: "MODE".into(),
                value: s("prod"),
                ..Default::default()
            },
            c::EnvVar {
                name: "LEVEL".into(),
                value_from: Some(c::EnvVarSource {
                    config_map_key_ref: Some(c::ConfigMapKeySelector {
                        name: "settings".into(),
                        key: "level".into(),
                        optional: Some(true),
                    }),
                    ..Default::default()
                }),
                value: None,
            },
        ]),
        resources: Some(c::ResourceRequirements {
            limits: Some([("memory".to_string(), Quantity("128Mi".into()))].into()),
            requests: Some([("cpu".to_string(), Quantity("250m".into()))].into()),
            ..Default::default()
        }),
        readiness_probe: Some(c::Probe {
            http_get: Some(c::HTTPGetAction {
                path: s("/healthz"),
                port: IntOrString::String("http".into()),
                ..Default::default()
            }),
            period_seconds: Some(5),
            ..Default::default()
        }),
        volume_mounts: Some(vec![c::VolumeMount {
            name: "cache".into(),
            mount_path: "/cache".into(),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

#[test]
fn a_deployment_with_quantities_int_or_strings_and_inline_structs_decodes() {
    use pb::api::apps::v1 as apps;
    use pb::api::core::v1 as core;
    let int_or_string =
        |t, i, s: Option<String>| pb::apimachinery::pkg::util::intstr::IntOrString {
            r#type: Some(t),
            int_val: Some(i),
            str_val: s,
        };
    let mut metadata = pb_meta("web", "prod", &[("app", "web")]);
    metadata.creation_timestamp = Some(pbmeta::Time {
        seconds: Some(1_704_164_645),
        nanos: Some(0),
    });
    let proto = apps::Deployment {
        metadata: Some(metadata),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(2),
            selector: Some(pbmeta::LabelSelector {
                match_labels: strings(&[("app", "web")]),
                ..Default::default()
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(pb_meta("", "", &[("app", "web")])),
                spec: Some(core::PodSpec {
                    containers: vec![pb_container()],
                    volumes: vec![core::Volume {
                        name: s("cache"),
                        volume_source: Some(core::VolumeSource {
                            empty_dir: Some(core::EmptyDirVolumeSource {
                                size_limit: Some(pb::apimachinery::pkg::api::resource::Quantity {
                                    string: s("1Gi"),
                                }),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                    }],
                    termination_grace_period_seconds: Some(30),
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: Some(int_or_string(0, 1, s(""))),
                    max_surge: Some(int_or_string(1, 0, s("25%"))),
                }),
            }),
            paused: Some(false),
            ..Default::default()
        }),
        status: None,
    };

    use oa::api::apps::v1 as oapps;
    use oa::api::core::v1 as ocore;
    let mut metadata = oa_meta("web", "prod", &[("app", "web")]);
    metadata.creation_timestamp = Some(meta::Time(timestamp("2024-01-02T03:04:05Z")));
    // Go leaves the empty `omitempty` value fields (`name: ""`, `paused: false`) out of JSON.
    let template_meta = oa_meta("", "", &[("app", "web")]);
    let expected = oapps::Deployment {
        metadata,
        spec: Some(oapps::DeploymentSpec {
            replicas: Some(2),
            selector: meta::LabelSelector {
                match_labels: Some(strings(&[("app", "web")])),
                ..Default::default()
            },
            template: ocore::PodTemplateSpec {
                metadata: Some(template_meta),
                spec: Some(ocore::PodSpec {
                    containers: vec![oa_container()],
                    volumes: Some(vec![ocore::Volume {
                        name: "cache".into(),
                        empty_dir: Some(ocore::EmptyDirVolumeSource {
                            size_limit: Some(Quantity("1Gi".into())),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    termination_grace_period_seconds: Some(30),
                    ..Default::default()
                }),
            },
            strategy: Some(oapps::DeploymentStrategy {
                type_: s("RollingUpdate"),
                rolling_update: Some(oapps::RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(1)),
                    max_surge: Some(IntOrString::String("25%".into())),
                }),
            }),
            paused: None,
            ..Default::default()
        }),
        status: None,
    };
    let got = protobuf::decode(&body("apps/v1", "Deployment", &proto)).unwrap();
    assert_eq!(got, to_json(&expected));
}

#[test]
fn zero_pointer_fields_are_kept_and_zero_omitempty_value_fields_are_left_out() {
    // Go writes every value field to protobuf, zero or not; its JSON drops the zero ones tagged
    // `omitempty` (`restartPolicy: ""` is "unset") but keeps zero pointers (`replicas: 0`).
    use pb::api::apps::v1 as apps;
    use pb::api::core::v1 as core;
    let proto = apps::Deployment {
        metadata: Some(pbmeta::ObjectMeta {
            name: s("idle"),
            namespace: s(""),
            generation: Some(0),
            ..Default::default()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            revision_history_limit: Some(0),
            min_ready_seconds: Some(0),
            paused: Some(false),
            template: Some(core::PodTemplateSpec {
                metadata: Some(Default::default()),
                spec: Some(core::PodSpec {
                    restart_policy: s(""),
                    host_network: Some(false),
                    termination_grace_period_seconds: Some(0),
                    automount_service_account_token: Some(false),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let got = protobuf::decode(&body("apps/v1", "Deployment", &proto)).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "idle"},
            "spec": {
                "replicas": 0,
                "revisionHistoryLimit": 0,
                "template": {
                    "metadata": {},
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "automountServiceAccountToken": false,
                    },
                },
            },
        })
    );
}

#[test]
fn an_empty_time_is_null_as_go_prints_a_zero_time() {
    let proto = pb::api::core::v1::Namespace {
        metadata: Some(pbmeta::ObjectMeta {
            name: s("team-a"),
            creation_timestamp: Some(pbmeta::Time::default()),
            ..Default::default()
        }),
        spec: Some(Default::default()),
        status: Some(Default::default()),
    };
    let got = protobuf::decode(&body("v1", "Namespace", &proto)).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "team-a", "creationTimestamp": null},
            "spec": {},
            "status": {},
        })
    );
}

#[test]
fn a_service_with_numeric_and_named_target_ports_decodes() {
    use pb::api::core::v1 as c;
    let port = |name: &str, port, target: pb::apimachinery::pkg::util::intstr::IntOrString| {
        c::ServicePort {
            name: s(name),
            protocol: s("TCP"),
            port: Some(port),
            target_port: Some(target),
            ..Default::default()
        }
    };
    let proto = c::Service {
        metadata: Some(pb_meta("web", "default", &[])),
        spec: Some(c::ServiceSpec {
            r#type: s("NodePort"),
            selector: strings(&[("app", "web")]),
            ports: vec![
                port(
                    "http",
                    80,
                    pb::apimachinery::pkg::util::intstr::IntOrString {
                        r#type: Some(0),
                        int_val: Some(8080),
                        str_val: s(""),
                    },
                ),
                port(
                    "metrics",
                    9090,
                    pb::apimachinery::pkg::util::intstr::IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: s("metrics"),
                    },
                ),
            ],
            ..Default::default()
        }),
        status: None,
    };
    use oa::api::core::v1 as o;
    let oport = |name: &str, port, target| o::ServicePort {
        name: s(name),
        protocol: s("TCP"),
        port,
        target_port: Some(target),
        ..Default::default()
    };
    let expected = o::Service {
        metadata: oa_meta("web", "default", &[]),
        spec: Some(o::ServiceSpec {
            type_: s("NodePort"),
            selector: Some(strings(&[("app", "web")])),
            ports: Some(vec![
                oport("http", 80, IntOrString::Int(8080)),
                oport("metrics", 9090, IntOrString::String("metrics".into())),
            ]),
            ..Default::default()
        }),
        status: None,
    };
    let got = protobuf::decode(&body("v1", "Service", &proto)).unwrap();
    assert_eq!(got, to_json(&expected));
}

#[test]
fn micro_times_and_int64s_of_an_event_decode() {
    use pb::api::events::v1 as ev;
    let proto = ev::Event {
        metadata: Some(pb_meta("web.1", "default", &[])),
        event_time: Some(pbmeta::MicroTime {
            seconds: Some(1_700_000_000),
            nanos: Some(123_456_789),
        }),
        reason: s("Started"),
        reporting_controller: s("kubelet"),
        reporting_instance: s("node-1"),
        action: s("Start"),
        r#type: s("Normal"),
        deprecated_count: Some(3),
        series: Some(ev::EventSeries {
            count: Some(4),
            last_observed_time: Some(pbmeta::MicroTime {
                seconds: Some(1_700_000_060),
                nanos: Some(0),
            }),
        }),
        ..Default::default()
    };
    let got = protobuf::decode(&body("events.k8s.io/v1", "Event", &proto)).unwrap();
    let expected = oa::api::events::v1::Event {
        metadata: oa_meta("web.1", "default", &[]),
        event_time: Some(meta::MicroTime(timestamp("2023-11-14T22:13:20.123456Z"))),
        reason: s("Started"),
        reporting_controller: s("kubelet"),
        reporting_instance: s("node-1"),
        action: s("Start"),
        type_: s("Normal"),
        deprecated_count: Some(3),
        series: Some(oa::api::events::v1::EventSeries {
            count: 4,
            last_observed_time: meta::MicroTime(timestamp("2023-11-14T22:14:20Z")),
        }),
        ..Default::default()
    };
    assert_eq!(got, to_json(&expected));
    assert_eq!(got["eventTime"], "2023-11-14T22:13:20.123456Z");
}

#[test]
fn a_crd_schema_decodes_schema_or_bool_or_array_and_raw_json() {
    use pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as x;
    let string_prop = x::JsonSchemaProps {
        r#type: s("string"),
        ..Default::default()
    };
    let schema = x::JsonSchemaProps {
        r#type: s("object"),
        properties: [
            ("name".to_string(), string_prop.clone()),
            (
                "size".to_string(),
                x::JsonSchemaProps {
                    r#type: s("integer"),
                    minimum: Some(1.0),
                    default: Some(x::Json {
                        raw: Some(b"3".to_vec()),
                    }),
                    ..Default::default()
                },
            ),
        ]
        .into(),
        additional_properties: Some(Box::new(x::JsonSchemaPropsOrBool {
            allows: Some(true),
            schema: Some(Box::new(string_prop.clone())),
        })),
        required: vec!["name".into()],
        x_kubernetes_preserve_unknown_fields: Some(true),
        ..Default::default()
    };
    let got = protobuf::decode_message(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
        &schema.encode_to_vec(),
    )
    .unwrap();
    assert_eq!(
        got,
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "size": {"type": "integer", "minimum": 1.0, "default": 3},
            },
            "additionalProperties": {"type": "string"},
            "required": ["name"],
            "x-kubernetes-preserve-unknown-fields": true,
        })
    );

    let allows_only = x::JsonSchemaProps {
        additional_properties: Some(Box::new(x::JsonSchemaPropsOrBool {
            allows: Some(false),
            schema: None,
        })),
        items: Some(Box::new(x::JsonSchemaPropsOrArray {
            schema: None,
            j_son_schemas: vec![string_prop.clone(), string_prop],
        })),
        ..Default::default()
    };
    let got = protobuf::decode_message(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
        &allows_only.encode_to_vec(),
    )
    .unwrap();
    assert_eq!(
        got,
        json!({
            "additionalProperties": false,
            "items": [{"type": "string"}, {"type": "string"}],
        })
    );
}

#[test]
fn managed_fields_carry_their_fields_v1_as_json() {
    let proto = pb::api::core::v1::ConfigMap {
        metadata: Some(pbmeta::ObjectMeta {
            name: s("settings"),
            managed_fields: vec![pbmeta::ManagedFieldsEntry {
                manager: s("kubectl"),
                operation: s("Apply"),
                api_version: s("v1"),
                time: Some(pbmeta::Time {
                    seconds: Some(0),
                    nanos: Some(0),
                }),
                fields_type: s("FieldsV1"),
                fields_v1: Some(pbmeta::FieldsV1 {
                    raw: Some(br#"{"f:data":{"f:a":{}}}"#.to_vec()),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let got = protobuf::decode(&body("v1", "ConfigMap", &proto)).unwrap();
    assert_eq!(
        got["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": "1970-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}},
        }])
    );
}

#[test]
fn a_raw_extension_holds_json_or_a_nested_protobuf_object() {
    let pod = pb::api::core::v1::Pod {
        metadata: Some(pb_meta("p", "default", &[])),
        ..Default::default()
    };
    for raw in [
        br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"}}"#
            .to_vec(),
        body("v1", "Pod", &pod),
    ] {
        let revision = pb::api::apps::v1::ControllerRevision {
            metadata: Some(pb_meta("web-1", "default", &[])),
            data: Some(pb::apimachinery::pkg::runtime::RawExtension { raw: Some(raw) }),
            revision: Some(1),
        };
        let got = protobuf::decode(&body("apps/v1", "ControllerRevision", &revision)).unwrap();
        assert_eq!(
            got["data"],
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}})
        );
        assert_eq!(got["revision"], 1);
    }
}

#[test]
fn delete_options_decode_in_any_group_version() {
    let proto = pbmeta::DeleteOptions {
        grace_period_seconds: Some(0),
        propagation_policy: s("Foreground"),
        dry_run: vec!["All".into()],
        ..Default::default()
    };
    for api_version in ["v1", "apps/v1", "meta.k8s.io/v1"] {
        let got = protobuf::decode(&body(api_version, "DeleteOptions", &proto)).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": api_version,
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "propagationPolicy": "Foreground",
                "dryRun": ["All"],
            })
        );
    }
}

#[test]
fn packed_and_unpacked_repeated_integers_decode_alike() {
    // PodSecurityContext.supplementalGroups is `repeated int64` field 4; fsGroup is field 5.
    let unpacked = [0x20, 0x01, 0x20, 0x96, 0x01, 0x28, 0x00];
    let packed = [0x22, 0x03, 0x01, 0x96, 0x01, 0x28, 0x00];
    for bytes in [&unpacked[..], &packed[..]] {
        let got = protobuf::decode_message("io.k8s.api.core.v1.PodSecurityContext", bytes).unwrap();
        assert_eq!(got, json!({"supplementalGroups": [1, 150], "fsGroup": 0}));
    }
}

#[test]
fn negative_numbers_and_unknown_fields_decode_as_go_does() {
    // ContainerPort.containerPort (field 3, int32) = -1 as a ten-byte varint, then an unknown
    // field 99 (a string) that is skipped.
    let mut bytes = vec![0x18];
    bytes.extend([0xff; 9]);
    bytes.push(0x01);
    bytes.extend([0x9a, 0x06, 0x01, b'x']);
    let got = protobuf::decode_message("io.k8s.api.core.v1.ContainerPort", &bytes).unwrap();
    assert_eq!(got, json!({"containerPort": -1}));
}

#[test]
fn durations_decode_to_go_duration_strings() {
    let d = pbmeta::Duration {
        duration: Some(90_000_000_000),
    };
    let got = protobuf::decode_message(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Duration",
        &d.encode_to_vec(),
    )
    .unwrap();
    assert_eq!(got, "1m30s");
}

#[test]
fn a_body_without_the_magic_is_refused() {
    let err = protobuf::decode(br#"{"kind":"ConfigMap"}"#).unwrap_err();
    assert!(matches!(err, ProtobufError::BadMagic));
    assert_eq!(
        err.to_string(),
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    );
}

#[test]
fn a_truncated_body_is_refused() {
    let proto = pb::api::core::v1::ConfigMap {
        metadata: Some(pb_meta("settings", "default", &[])),
        data: strings(&[("a", "b")]),
        ..Default::default()
    };
    let full = body("v1", "ConfigMap", &proto);
    let err = protobuf::decode(&full[..full.len() - 3]).unwrap_err();
    assert!(matches!(err, ProtobufError::Truncated(_)), "{err}");
    assert!(err.to_string().starts_with("truncated protobuf message"));
}

#[test]
fn an_unknown_kind_is_refused_by_name() {
    let err = protobuf::decode(&body("v1", "Gadget", &pbmeta::Status::default())).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"no kind "Gadget" is registered for version "v1""#
    );
    let err = protobuf::decode(&body("v1", "", &pbmeta::Status::default())).unwrap_err();
    assert!(matches!(err, ProtobufError::MissingKind), "{err}");
}

#[test]
fn a_wire_type_the_schema_does_not_allow_is_refused() {
    // ConfigMap.immutable (field 4, bool) sent as a length-delimited field.
    let err =
        protobuf::decode_message("io.k8s.api.core.v1.ConfigMap", &[0x22, 0x01, 0x01]).unwrap_err();
    assert!(
        matches!(err, ProtobufError::WireType { tag: 4, .. }),
        "{err}"
    );
}

#[test]
fn absurdly_deep_nesting_is_refused() {
    use pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as x;
    let mut schema = x::JsonSchemaProps::default();
    for _ in 0..200 {
        schema = x::JsonSchemaProps {
            not: Some(Box::new(schema)),
            ..Default::default()
        };
    }
    let err = protobuf::decode_message(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
        &schema.encode_to_vec(),
    )
    .unwrap_err();
    assert!(matches!(err, ProtobufError::TooDeep), "{err}");
}

#[test]
fn the_kinds_clients_send_have_messages() {
    for kind in [
        ("v1", "Pod"),
        ("apps/v1", "StatefulSet"),
        ("batch/v1", "CronJob"),
        ("policy/v1", "Eviction"),
        ("autoscaling/v1", "Scale"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("apiregistration.k8s.io/v1", "APIService"),
    ] {
        let m = protobuf::message_for_kind(kind.0, kind.1)
            .unwrap_or_else(|| panic!("{kind:?} has no message"));
        assert!(m.name.ends_with(kind.1));
    }
}
