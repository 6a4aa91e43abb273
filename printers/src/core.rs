//! Printers for the core/v1 kinds other than Pod (Namespace, Node, Service, Endpoints, ConfigMap,
//! Secret, ServiceAccount, Event, PersistentVolume(Claim), ResourceQuota, PodTemplate,
//! ComponentStatus) and for events.k8s.io/v1 Event, which upstream prints with the core columns.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::descriptions as d;
use crate::format::{
    age, at, container_cells, creation_age, format_labels, int, is_deleting, join_host_port, list,
    map_len, name, opt_text, quantity, sorted_set_join, text,
};
use crate::{AGE, Column, NAME, TablePrinter, col, wide};

// ---------------------------------------------------------------- Namespace

static NAMESPACE_COLUMNS: [Column; 3] = [
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

/// Prints core/v1 Namespaces.
pub(crate) static NAMESPACE: TablePrinter = TablePrinter::new(&NAMESPACE_COLUMNS, |obj, now| {
    vec![
        Value::from(name(obj)),
        Value::from(text(obj, &["status", "phase"])),
        creation_age(obj, now),
    ]
});

// ---------------------------------------------------------------- Node

static NODE_COLUMNS: [Column; 10] = [
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", d::NODE_INFO_KUBELET_VERSION),
    wide("Internal-IP", "string", d::NODE_STATUS_ADDRESSES),
    wide("External-IP", "string", d::NODE_STATUS_ADDRESSES),
    wide("OS-Image", "string", d::NODE_INFO_OS_IMAGE),
    wide("Kernel-Version", "string", d::NODE_INFO_KERNEL_VERSION),
    wide(
        "Container-Runtime",
        "string",
        d::NODE_INFO_CONTAINER_RUNTIME,
    ),
];

/// Prints core/v1 Nodes.
pub(crate) static NODE: TablePrinter = TablePrinter::new(&NODE_COLUMNS, node_cells);

/// `Ready`, `NotReady` or `Unknown`, then `SchedulingDisabled` when cordoned.
fn node_status(node: &Value) -> String {
    let mut status: Vec<&str> = Vec::new();
    let ready = list(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| text(c, &["type"]) == "Ready");
    match ready {
        Some(c) if text(c, &["status"]) == "True" => status.push("Ready"),
        Some(_) => status.push("NotReady"),
        None => status.push("Unknown"),
    }
    if at(node, &["spec", "unschedulable"]).as_bool() == Some(true) {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// Roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role=<role>` labels.
fn node_roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    if let Some(labels) = at(node, &["metadata", "labels"]).as_object() {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role"
                && let Some(v) = v.as_str().filter(|v| !v.is_empty())
            {
                roles.insert(v.to_string());
            }
        }
    }
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn node_address(node: &Value, type_: &str) -> String {
    list(node, &["status", "addresses"])
        .iter()
        .find(|a| text(a, &["type"]) == type_)
        .map_or_else(
            || "<none>".to_string(),
            |a| text(a, &["address"]).to_string(),
        )
}

fn or_unknown(s: &str) -> Value {
    Value::from(if s.is_empty() { "<unknown>" } else { s })
}

fn node_cells(node: &Value, now: Timestamp) -> Vec<Value> {
    let info = at(node, &["status", "nodeInfo"]);
    vec![
        Value::from(name(node)),
        Value::from(node_status(node)),
        Value::from(node_roles(node)),
        creation_age(node, now),
        Value::from(text(info, &["kubeletVersion"])),
        Value::from(node_address(node, "InternalIP")),
        Value::from(node_address(node, "ExternalIP")),
        or_unknown(text(info, &["osImage"])),
        or_unknown(text(info, &["kernelVersion"])),
        or_unknown(text(info, &["containerRuntimeVersion"])),
    ]
}

// ---------------------------------------------------------------- Service

static SERVICE_COLUMNS: [Column; 7] = [
    NAME,
    col("Type", "string", d::SERVICE_SPEC_TYPE),
    col("Cluster-IP", "string", d::SERVICE_SPEC_CLUSTER_IP),
    col("External-IP", "string", d::SERVICE_SPEC_EXTERNAL_IPS),
    col("Port(s)", "string", d::SERVICE_SPEC_PORTS),
    AGE,
    wide("Selector", "string", d::SERVICE_SPEC_SELECTOR),
];

/// Prints core/v1 Services.
pub(crate) static SERVICE: TablePrinter = TablePrinter::new(&SERVICE_COLUMNS, service_cells);

/// `loadBalancerStatusStringer` (wide, so never clipped): sorted unique IPs or hostnames.
pub(crate) fn load_balancer_addresses(status: &Value) -> String {
    sorted_set_join(list(status, &["ingress"]).iter().filter_map(|i| {
        let ip = text(i, &["ip"]);
        let host = text(i, &["hostname"]);
        if !ip.is_empty() {
            Some(ip)
        } else if !host.is_empty() {
            Some(host)
        } else {
            None
        }
    }))
}

fn service_type(svc: &Value) -> &str {
    // The API server defaults an empty type to ClusterIP.
    match text(svc, &["spec", "type"]) {
        "" => "ClusterIP",
        t => t,
    }
}

fn service_external_ip(svc: &Value) -> String {
    let external: Vec<&str> = list(svc, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match service_type(svc) {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_addresses(at(svc, &["status", "loadBalancer"]));
            if !external.is_empty() {
                let mut all: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(','));
                }
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => text(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = list(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let protocol = match text(p, &["protocol"]) {
                "" => "TCP",
                other => other,
            };
            let port = int(p, &["port"]);
            let node_port = int(p, &["nodePort"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{protocol}")
            } else {
                format!("{port}/{protocol}")
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    }
}

fn service_cells(svc: &Value, now: Timestamp) -> Vec<Value> {
    let cluster_ip = list(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| opt_text(svc, &["spec", "clusterIP"]).filter(|s| !s.is_empty()))
        .unwrap_or("<none>");
    vec![
        Value::from(name(svc)),
        Value::from(service_type(svc)),
        Value::from(cluster_ip),
        Value::from(service_external_ip(svc)),
        Value::from(service_ports(svc)),
        creation_age(svc, now),
        Value::from(format_labels(at(svc, &["spec", "selector"]))),
    ]
}

// ---------------------------------------------------------------- Endpoints

static ENDPOINTS_COLUMNS: [Column; 3] =
    [NAME, col("Endpoints", "string", d::ENDPOINTS_SUBSETS), AGE];

/// Prints core/v1 Endpoints.
pub(crate) static ENDPOINTS: TablePrinter = TablePrinter::new(&ENDPOINTS_COLUMNS, |obj, now| {
    vec![
        Value::from(name(obj)),
        Value::from(format_endpoints(obj)),
        creation_age(obj, now),
    ]
});

/// `formatEndpoints`: up to three `ip:port` pairs, then `+ N more...`.
fn format_endpoints(endpoints: &Value) -> String {
    const MAX: usize = 3;
    let subsets = list(endpoints, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut shown: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for subset in subsets {
        let addresses = list(subset, &["addresses"]);
        let ports = list(subset, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            for address in addresses {
                if shown.len() == MAX {
                    more = true;
                    break;
                }
                shown.push(text(address, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for address in addresses {
                if shown.len() == MAX {
                    more = true;
                    break;
                }
                shown.push(join_host_port(text(address, &["ip"]), int(port, &["port"])));
            }
        }
    }
    let ret = shown.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

// ---------------------------------------------------------------- ConfigMap, Secret, ServiceAccount

static CONFIG_MAP_COLUMNS: [Column; 3] = [NAME, col("Data", "string", d::CONFIG_MAP_DATA), AGE];

/// Prints core/v1 ConfigMaps: DATA counts `data` and `binaryData` keys.
pub(crate) static CONFIG_MAP: TablePrinter = TablePrinter::new(&CONFIG_MAP_COLUMNS, |obj, now| {
    vec![
        Value::from(name(obj)),
        Value::from((map_len(obj, &["data"]) + map_len(obj, &["binaryData"])) as i64),
        creation_age(obj, now),
    ]
});

static SECRET_COLUMNS: [Column; 4] = [
    NAME,
    col("Type", "string", d::SECRET_TYPE),
    col("Data", "string", d::SECRET_DATA),
    AGE,
];

/// Prints core/v1 Secrets.
pub(crate) static SECRET: TablePrinter = TablePrinter::new(&SECRET_COLUMNS, |obj, now| {
    vec![
        Value::from(name(obj)),
        Value::from(text(obj, &["type"])),
        Value::from(map_len(obj, &["data"]) as i64),
        creation_age(obj, now),
    ]
});

static SERVICE_ACCOUNT_COLUMNS: [Column; 3] = [
    NAME,
    col("Secrets", "string", d::SERVICE_ACCOUNT_SECRETS),
    AGE,
];

/// Prints core/v1 ServiceAccounts.
pub(crate) static SERVICE_ACCOUNT: TablePrinter =
    TablePrinter::new(&SERVICE_ACCOUNT_COLUMNS, |obj, now| {
        vec![
            Value::from(name(obj)),
            Value::from(list(obj, &["secrets"]).len() as i64),
            creation_age(obj, now),
        ]
    });

// ---------------------------------------------------------------- Event

static EVENT_COLUMNS: [Column; 10] = [
    col("Last Seen", "string", d::EVENT_LAST_TIMESTAMP),
    col("Type", "string", d::EVENT_TYPE),
    col("Reason", "string", d::EVENT_REASON),
    col("Object", "string", d::EVENT_INVOLVED_OBJECT),
    wide("Subobject", "string", d::OBJECT_REFERENCE_FIELD_PATH),
    wide("Source", "string", d::EVENT_SOURCE),
    col("Message", "string", d::EVENT_MESSAGE),
    wide("First Seen", "string", d::EVENT_FIRST_TIMESTAMP),
    wide("Count", "string", d::EVENT_COUNT),
    Column {
        priority: 1,
        ..NAME
    },
];

/// Prints core/v1 Events.
pub(crate) static EVENT: TablePrinter = TablePrinter::new(&EVENT_COLUMNS, event_cells);

/// Prints events.k8s.io/v1 Events with the core columns, as upstream does.
pub(crate) static EVENTS_V1_EVENT: TablePrinter = TablePrinter::new(&EVENT_COLUMNS, |obj, now| {
    event_cells(&core_event(obj), now)
});

/// Maps an events.k8s.io/v1 Event onto the core/v1 field names.
fn core_event(event: &Value) -> Value {
    let mut core = Map::new();
    let mut copy = |from: &str, to: &str| {
        if let Some(v) = event.get(from) {
            core.insert(to.to_string(), v.clone());
        }
    };
    copy("metadata", "metadata");
    copy("regarding", "involvedObject");
    copy("note", "message");
    copy("reason", "reason");
    copy("type", "type");
    copy("deprecatedSource", "source");
    copy("deprecatedFirstTimestamp", "firstTimestamp");
    copy("deprecatedLastTimestamp", "lastTimestamp");
    copy("deprecatedCount", "count");
    copy("eventTime", "eventTime");
    copy("series", "series");
    copy("reportingController", "reportingComponent");
    copy("reportingInstance", "reportingInstance");
    Value::Object(core)
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

fn event_cells(event: &Value, now: Timestamp) -> Vec<Value> {
    let first_seen = if at(event, &["firstTimestamp"]).is_null() {
        age(at(event, &["eventTime"]), now)
    } else {
        age(at(event, &["firstTimestamp"]), now)
    };
    let mut last_seen = if at(event, &["lastTimestamp"]).is_null() {
        first_seen.clone()
    } else {
        age(at(event, &["lastTimestamp"]), now)
    };
    let mut count = int(event, &["count"]);
    let series = at(event, &["series"]);
    if !series.is_null() {
        last_seen = age(at(series, &["lastObservedTime"]), now);
        count = int(series, &["count"]);
    } else if count == 0 {
        count = 1;
    }
    let kind = text(event, &["involvedObject", "kind"]).to_lowercase();
    let object_name = text(event, &["involvedObject", "name"]);
    let target = if object_name.is_empty() {
        kind
    } else {
        format!("{kind}/{object_name}")
    };
    let component = first_non_empty(
        text(event, &["source", "component"]),
        text(event, &["reportingComponent"]),
    );
    let instance = first_non_empty(
        text(event, &["source", "host"]),
        text(event, &["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        Value::from(last_seen),
        Value::from(text(event, &["type"])),
        Value::from(text(event, &["reason"])),
        Value::from(target),
        Value::from(text(event, &["involvedObject", "fieldPath"])),
        Value::from(source),
        Value::from(text(event, &["message"]).trim()),
        Value::from(first_seen),
        Value::from(count),
        Value::from(name(event)),
    ]
}

// ---------------------------------------------------------------- PersistentVolume(Claim)

static PERSISTENT_VOLUME_COLUMNS: [Column; 11] = [
    NAME,
    col("Capacity", "string", d::PV_SPEC_CAPACITY),
    col("Access Modes", "string", d::PV_SPEC_ACCESS_MODES),
    col("Reclaim Policy", "string", d::PV_SPEC_RECLAIM_POLICY),
    col("Status", "string", d::PV_STATUS_PHASE),
    col("Claim", "string", d::PV_SPEC_CLAIM_REF),
    col("StorageClass", "string", "StorageClass of the pv"),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
    ),
    col("Reason", "string", d::PV_STATUS_REASON),
    AGE,
    wide("VolumeMode", "string", d::PV_SPEC_VOLUME_MODE),
];

/// Prints core/v1 PersistentVolumes.
pub(crate) static PERSISTENT_VOLUME: TablePrinter =
    TablePrinter::new(&PERSISTENT_VOLUME_COLUMNS, persistent_volume_cells);

const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The storage class: the beta annotation wins over `spec.storageClassName`.
fn storage_class(obj: &Value) -> &str {
    opt_text(
        obj,
        &["metadata", "annotations", BETA_STORAGE_CLASS_ANNOTATION],
    )
    .unwrap_or_else(|| text(obj, &["spec", "storageClassName"]))
}

fn phase_or_terminating(obj: &Value) -> &str {
    if is_deleting(obj) {
        "Terminating"
    } else {
        text(obj, &["status", "phase"])
    }
}

fn unset_or(value: Option<&str>) -> Value {
    Value::from(value.unwrap_or("<unset>"))
}

fn persistent_volume_cells(pv: &Value, now: Timestamp) -> Vec<Value> {
    let claim = at(pv, &["spec", "claimRef"]);
    let claim = if claim.is_null() {
        String::new()
    } else {
        format!("{}/{}", text(claim, &["namespace"]), text(claim, &["name"]))
    };
    vec![
        Value::from(name(pv)),
        Value::from(quantity(at(pv, &["spec", "capacity", "storage"]))),
        Value::from(access_modes(list(pv, &["spec", "accessModes"]))),
        Value::from(text(pv, &["spec", "persistentVolumeReclaimPolicy"])),
        Value::from(phase_or_terminating(pv)),
        Value::from(claim),
        Value::from(storage_class(pv)),
        unset_or(opt_text(pv, &["spec", "volumeAttributesClassName"])),
        Value::from(text(pv, &["status", "reason"])),
        creation_age(pv, now),
        unset_or(opt_text(pv, &["spec", "volumeMode"])),
    ]
}

static PERSISTENT_VOLUME_CLAIM_COLUMNS: [Column; 9] = [
    NAME,
    col("Status", "string", d::PVC_STATUS_PHASE),
    col("Volume", "string", d::PVC_SPEC_VOLUME_NAME),
    col("Capacity", "string", d::PVC_STATUS_CAPACITY),
    col("Access Modes", "string", d::PVC_STATUS_ACCESS_MODES),
    col("StorageClass", "string", "StorageClass of the pvc"),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    wide("VolumeMode", "string", d::PVC_SPEC_VOLUME_MODE),
];

/// Prints core/v1 PersistentVolumeClaims.
pub(crate) static PERSISTENT_VOLUME_CLAIM: TablePrinter =
    TablePrinter::new(&PERSISTENT_VOLUME_CLAIM_COLUMNS, |pvc, now| {
        let volume = text(pvc, &["spec", "volumeName"]);
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                quantity(at(pvc, &["status", "capacity", "storage"])),
                access_modes(list(pvc, &["status", "accessModes"])),
            )
        };
        vec![
            Value::from(name(pvc)),
            Value::from(phase_or_terminating(pvc)),
            Value::from(volume),
            Value::from(capacity),
            Value::from(modes),
            Value::from(storage_class(pvc)),
            unset_or(opt_text(pvc, &["spec", "volumeAttributesClassName"])),
            creation_age(pvc, now),
            unset_or(opt_text(pvc, &["spec", "volumeMode"])),
        ]
    });

// ---------------------------------------------------------------- ResourceQuota

static RESOURCE_QUOTA_COLUMNS: [Column; 4] = [
    NAME,
    col(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
    ),
    col(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
    AGE,
];

/// Prints core/v1 ResourceQuotas: `resource: used/hard` pairs, `limits.*` in LIMIT.
pub(crate) static RESOURCE_QUOTA: TablePrinter =
    TablePrinter::new(&RESOURCE_QUOTA_COLUMNS, |quota, now| {
        let hard = at(quota, &["status", "hard"]);
        let used = at(quota, &["status", "used"]);
        let mut resources: Vec<&String> =
            hard.as_object().map_or(Vec::new(), |m| m.keys().collect());
        resources.sort();
        let mut requests: Vec<String> = Vec::new();
        let mut limits: Vec<String> = Vec::new();
        for resource in resources {
            let entry = format!(
                "{resource}: {}/{}",
                quantity(at(used, &[resource])),
                quantity(at(hard, &[resource]))
            );
            let pieces: Vec<&str> = resource.split('.').collect();
            if pieces.len() > 1 && pieces[0] == "limits" {
                limits.push(entry);
            } else {
                requests.push(entry);
            }
        }
        vec![
            Value::from(name(quota)),
            Value::from(requests.join(", ")),
            Value::from(limits.join(", ")),
            creation_age(quota, now),
        ]
    });

// ---------------------------------------------------------------- PodTemplate, ComponentStatus

static POD_TEMPLATE_COLUMNS: [Column; 4] = [
    NAME,
    col(
        "Containers",
        "string",
        "Names of each container in the template.",
    ),
    col(
        "Images",
        "string",
        "Images referenced by each container in the template.",
    ),
    col("Pod Labels", "string", "The labels for the pod template."),
];

/// Prints core/v1 PodTemplates.
pub(crate) static POD_TEMPLATE: TablePrinter =
    TablePrinter::new(&POD_TEMPLATE_COLUMNS, |obj, _now| {
        let (names, images) = container_cells(list(obj, &["template", "spec", "containers"]));
        vec![
            Value::from(name(obj)),
            Value::from(names),
            Value::from(images),
            Value::from(format_labels(at(obj, &["template", "metadata", "labels"]))),
        ]
    });

static COMPONENT_STATUS_COLUMNS: [Column; 4] = [
    NAME,
    col("Status", "string", "Status of the component conditions"),
    col("Message", "string", "Message of the component conditions"),
    col("Error", "string", "Error of the component conditions"),
];

/// Prints core/v1 ComponentStatuses.
pub(crate) static COMPONENT_STATUS: TablePrinter =
    TablePrinter::new(&COMPONENT_STATUS_COLUMNS, |obj, _now| {
        let healthy = list(obj, &["conditions"])
            .iter()
            .find(|c| text(c, &["type"]) == "Healthy");
        let (status, message, error) = match healthy {
            Some(c) => (
                if text(c, &["status"]) == "True" {
                    "Healthy"
                } else {
                    "Unhealthy"
                },
                text(c, &["message"]),
                text(c, &["error"]),
            ),
            None => ("Unknown", "", ""),
        };
        vec![
            Value::from(name(obj)),
            Value::from(status),
            Value::from(message),
            Value::from(error),
        ]
    });
