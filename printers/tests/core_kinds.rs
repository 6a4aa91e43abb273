//! Cells of the core/v1 printers for realistic objects, checked against upstream's output.

use ferrokube_printers::printer_for;
use jiff::Timestamp;
use serde_json::{Value, json};

fn now() -> Timestamp {
    "2026-01-10T12:00:00Z".parse().unwrap()
}

fn cells(group: &str, kind: &str, obj: Value) -> Vec<Value> {
    let printer = printer_for(group, kind);
    let cells = printer.cells(&obj, now());
    assert_eq!(
        cells.len(),
        printer.columns().len(),
        "{kind}: one cell per column"
    );
    cells
}

fn column_names(group: &str, kind: &str) -> Vec<&'static str> {
    printer_for(group, kind)
        .columns()
        .iter()
        .map(|c| c.name)
        .collect()
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": "2026-01-08T09:00:00Z"})
}

#[test]
fn a_namespace_shows_its_phase_and_age() {
    let ns = json!({"metadata": meta("team-a"), "status": {"phase": "Active"}});
    assert_eq!(
        cells("", "Namespace", ns),
        vec![json!("team-a"), json!("Active"), json!("2d3h")]
    );
}

#[test]
fn a_ready_control_plane_node_lists_roles_and_wide_details() {
    let node = json!({
        "metadata": {"name": "cp-1", "creationTimestamp": "2026-01-10T11:00:00Z", "labels": {
            "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "",
            "kubernetes.io/hostname": "cp-1"}},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "cp-1"}, {"type": "InternalIP", "address": "192.168.1.10"}],
            "nodeInfo": {"kubeletVersion": "v1.33.1+ferrokube", "osImage": "Debian GNU/Linux 12",
                "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.6.20"}
        }
    });
    assert_eq!(
        cells("", "Node", node),
        vec![
            json!("cp-1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,etcd"),
            json!("60m"),
            json!("v1.33.1+ferrokube"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("Debian GNU/Linux 12"),
            json!("6.1.0"),
            json!("containerd://1.6.20"),
        ]
    );
    assert_eq!(
        column_names("", "Node"),
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
}

#[test]
fn node_status_is_not_ready_or_unknown_without_a_true_ready_condition() {
    let with =
        |conditions: Value| json!({"metadata": meta("n"), "status": {"conditions": conditions}});
    assert_eq!(
        cells(
            "",
            "Node",
            with(json!([{"type": "Ready", "status": "Unknown"}]))
        )[1],
        json!("NotReady")
    );
    assert_eq!(cells("", "Node", with(json!([])))[1], json!("Unknown"));
    let n = cells("", "Node", with(json!([])));
    assert_eq!(n[2], json!("<none>"));
    assert_eq!(n[7], json!("<unknown>"));
}

#[test]
fn services_show_type_ips_and_ports_as_upstream() {
    let cluster_ip = json!({
        "metadata": meta("web"),
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "selector": {"app": "web", "tier": "front"}}
    });
    assert_eq!(
        cells("", "Service", cluster_ip),
        vec![
            json!("web"),
            json!("ClusterIP"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("80/TCP,53/UDP"),
            json!("2d3h"),
            json!("app=web,tier=front")
        ]
    );
    let node_port = json!({"metadata": meta("np"), "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.11"],
        "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}});
    let np = cells("", "Service", node_port);
    assert_eq!(np[4], json!("80:30080/TCP"));
    assert_eq!(np[6], json!("<none>"));
    let pending = json!({"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"],
        "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}});
    assert_eq!(cells("", "Service", pending)[3], json!("<pending>"));
    let assigned = json!({"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"],
        "externalIPs": ["1.1.1.1"]},
        "status": {"loadBalancer": {"ingress": [{"ip": "3.3.3.3"}, {"hostname": "lb.example.com"}, {"ip": "2.2.2.2"}]}}});
    let lb = cells("", "Service", assigned);
    assert_eq!(lb[3], json!("2.2.2.2,3.3.3.3,lb.example.com,1.1.1.1"));
    assert_eq!(lb[4], json!("<none>"));
    let external_name = json!({"metadata": meta("ext"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
    let ext = cells("", "Service", external_name);
    assert_eq!(ext[2], json!("<none>"));
    assert_eq!(ext[3], json!("db.example.com"));
    let headless = json!({"metadata": meta("h"), "spec": {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}});
    assert_eq!(cells("", "Service", headless)[2], json!("None"));
}

#[test]
fn endpoints_show_three_addresses_then_a_count_of_the_rest() {
    let ep = json!({"metadata": meta("web"), "subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 8080}, {"port": 9090}]},
    ]});
    assert_eq!(
        cells("", "Endpoints", ep)[1],
        json!("10.0.0.1:8080,10.0.0.2:8080,10.0.0.1:9090 + 1 more...")
    );
    let headless = json!({"metadata": meta("h"), "subsets": [{"addresses": [{"ip": "fd00::1"}]}]});
    assert_eq!(cells("", "Endpoints", headless)[1], json!("fd00::1"));
    let v6 = json!({"metadata": meta("v6"), "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
    assert_eq!(cells("", "Endpoints", v6)[1], json!("[fd00::1]:80"));
    assert_eq!(
        cells("", "Endpoints", json!({"metadata": meta("none")}))[1],
        json!("<none>")
    );
}

#[test]
fn config_maps_secrets_and_service_accounts_count_their_entries() {
    let cm =
        json!({"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    assert_eq!(cells("", "ConfigMap", cm)[1], json!(3));
    let secret = json!({"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
    assert_eq!(
        cells("", "Secret", secret),
        vec![
            json!("tls"),
            json!("kubernetes.io/tls"),
            json!(2),
            json!("2d3h")
        ]
    );
    let sa = json!({"metadata": meta("default")});
    assert_eq!(cells("", "ServiceAccount", sa)[1], json!(0));
}

#[test]
fn a_core_event_prints_last_seen_object_and_source() {
    let event = json!({
        "metadata": {"name": "web-0.17a", "namespace": "default", "creationTimestamp": "2026-01-10T11:00:00Z"},
        "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{web}"},
        "reason": "Pulled", "type": "Normal", "message": "  Container image already present  \n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-01-10T11:00:00Z", "lastTimestamp": "2026-01-10T11:57:00Z", "count": 4
    });
    assert_eq!(
        cells("", "Event", event),
        vec![
            json!("3m"),
            json!("Normal"),
            json!("Pulled"),
            json!("pod/web-0"),
            json!("spec.containers{web}"),
            json!("kubelet, node-1"),
            json!("Container image already present"),
            json!("60m"),
            json!(4),
            json!("web-0.17a"),
        ]
    );
    assert_eq!(
        column_names("", "Event"),
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    let name_column = printer_for("", "Event").columns()[9];
    assert_eq!((name_column.format, name_column.priority), ("name", 1));
}

#[test]
fn a_new_style_event_uses_event_time_series_and_reporting_controller() {
    let event = json!({
        "metadata": meta("e1"),
        "involvedObject": {"kind": "Node"},
        "reason": "Scheduled", "type": "Normal", "message": "ok",
        "eventTime": "2026-01-10T11:50:00.000000Z",
        "series": {"count": 7, "lastObservedTime": "2026-01-10T11:59:30.000000Z"},
        "reportingComponent": "default-scheduler", "reportingInstance": "sched-1"
    });
    let c = cells("", "Event", event);
    assert_eq!(c[0], json!("30s"));
    assert_eq!(c[3], json!("node"));
    assert_eq!(c[5], json!("default-scheduler, sched-1"));
    assert_eq!(c[7], json!("10m"));
    assert_eq!(c[8], json!(7));
}

#[test]
fn an_events_v1_event_prints_like_its_core_counterpart() {
    let event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta("e2"),
        "regarding": {"kind": "Deployment", "name": "web"}, "reason": "ScalingReplicaSet",
        "type": "Normal", "note": "Scaled up replica set web-5d to 3",
        "eventTime": "2026-01-10T11:58:00.000000Z", "reportingController": "deployment-controller",
        "reportingInstance": ""
    });
    let c = cells("events.k8s.io", "Event", event);
    assert_eq!(c[0], json!("2m"));
    assert_eq!(c[3], json!("deployment/web"));
    assert_eq!(c[5], json!("deployment-controller"));
    assert_eq!(c[6], json!("Scaled up replica set web-5d to 3"));
    assert_eq!(c[8], json!(1));
}

#[test]
fn persistent_volumes_show_capacity_modes_and_claim() {
    let pv = json!({
        "metadata": {"name": "pv-1", "creationTimestamp": "2026-01-10T11:00:00Z"},
        "spec": {"capacity": {"storage": "10240Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
            "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}
    });
    assert_eq!(
        cells("", "PersistentVolume", pv),
        vec![
            json!("pv-1"),
            json!("10Gi"),
            json!("RWO,RWX"),
            json!("Retain"),
            json!("Bound"),
            json!("default/data"),
            json!("fast"),
            json!("<unset>"),
            json!(""),
            json!("60m"),
            json!("Filesystem"),
        ]
    );
}

#[test]
fn a_bound_claim_shows_its_volume_and_a_pending_one_does_not() {
    let bound = json!({
        "metadata": {"name": "data", "creationTimestamp": "2026-01-10T11:00:00Z",
            "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
        "spec": {"volumeName": "pv-1", "storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"]}
    });
    assert_eq!(
        cells("", "PersistentVolumeClaim", bound),
        vec![
            json!("data"),
            json!("Bound"),
            json!("pv-1"),
            json!("10Gi"),
            json!("RWO"),
            json!("legacy"),
            json!("<unset>"),
            json!("60m"),
            json!("<unset>"),
        ]
    );
    let mut pending = json!({"metadata": meta("p"), "spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}});
    pending["metadata"]["deletionTimestamp"] = json!("2026-01-10T11:59:00Z");
    let c = cells("", "PersistentVolumeClaim", pending);
    assert_eq!(
        (&c[1], &c[2], &c[3], &c[4]),
        (&json!("Terminating"), &json!(""), &json!(""), &json!(""))
    );
}

#[test]
fn a_resource_quota_splits_requests_and_limits() {
    let quota = json!({
        "metadata": meta("compute"),
        "status": {
            "hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2000m"},
            "used": {"pods": "3", "requests.cpu": "500m", "limits.memory": "1024Mi"}
        }
    });
    assert_eq!(
        cells("", "ResourceQuota", quota),
        vec![
            json!("compute"),
            json!("pods: 3/10, requests.cpu: 500m/1"),
            json!("limits.cpu: 0/2, limits.memory: 1Gi/2Gi"),
            json!("2d3h"),
        ]
    );
}

#[test]
fn a_replication_controller_shows_replicas_and_its_map_selector() {
    let rc = json!({
        "metadata": meta("legacy"),
        "spec": {"replicas": 3, "selector": {"app": "legacy"},
            "template": {"spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "nginx"}]}}},
        "status": {"replicas": 3, "readyReplicas": 2}
    });
    assert_eq!(
        cells("", "ReplicationController", rc),
        vec![
            json!("legacy"),
            json!(3),
            json!(3),
            json!(2),
            json!("2d3h"),
            json!("a,b"),
            json!("busybox,nginx"),
            json!("app=legacy"),
        ]
    );
}

#[test]
fn limit_ranges_roles_and_custom_resources_use_the_default_table() {
    for (group, kind) in [
        ("", "LimitRange"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("example.com", "Widget"),
    ] {
        assert_eq!(column_names(group, kind), ["Name", "Created At"]);
    }
    let lr =
        json!({"metadata": {"name": "limits", "creationTimestamp": "2026-01-08T09:00:00.123Z"}});
    assert_eq!(
        cells("", "LimitRange", lr),
        vec![json!("limits"), json!("2026-01-08T09:00:00Z")]
    );
    assert_eq!(
        cells("example.com", "Widget", json!({"metadata": {"name": "w"}}))[1],
        json!("0001-01-01T00:00:00Z")
    );
    assert_eq!(printer_for("", "LimitRange").columns()[1].type_, "date");
}

#[test]
fn an_object_without_a_creation_timestamp_has_unknown_age() {
    let ns = json!({"metadata": {"name": "x"}, "status": {"phase": "Terminating"}});
    assert_eq!(cells("core", "Namespace", ns)[2], json!("<unknown>"));
}
