//! Cells of the networking, discovery, RBAC, coordination, scheduling and storage printers.

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

fn meta(name: &str) -> Value {
    json!({"name": name, "creationTimestamp": "2026-01-10T11:59:15Z"})
}

#[test]
fn an_ingress_shows_class_hosts_address_and_ports() {
    let ing = json!({"metadata": meta("web"), "spec": {"ingressClassName": "ferrokube",
            "rules": [{"host": "a.example.com"}, {}, {"host": "b.example.com"}, {"host": "c.example.com"}, {"host": "d.example.com"}],
            "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.50"}, {"hostname": "a-very-long-load-balancer.example.com"}]}}});
    assert_eq!(
        cells("networking.k8s.io", "Ingress", ing),
        vec![
            json!("web"),
            json!("ferrokube"),
            json!("a.example.com,b.example.com,c.example.com + 2 more..."),
            json!("192.168.1.50,a-very-long-load-balancer.example.com"),
            json!("80, 443"),
            json!("45s"),
        ]
    );
    let bare = json!({"metadata": meta("bare"), "spec": {"defaultBackend": {}}});
    let c = cells("networking.k8s.io", "Ingress", bare);
    assert_eq!(
        (&c[1], &c[2], &c[3], &c[4]),
        (&json!("<none>"), &json!("*"), &json!(""), &json!("80"))
    );
}

#[test]
fn an_ingress_class_names_its_parameters() {
    let class = json!({"metadata": meta("ferrokube"), "spec": {"controller": "ferrokube.io/ingress",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
    assert_eq!(
        cells("networking.k8s.io", "IngressClass", class),
        vec![
            json!("ferrokube"),
            json!("ferrokube.io/ingress"),
            json!("IngressParameters.k8s.example.com/external-lb"),
            json!("45s"),
        ]
    );
}

#[test]
fn a_network_policy_shows_its_pod_selector() {
    let np =
        json!({"metadata": meta("deny"), "spec": {"podSelector": {"matchLabels": {"role": "db"}}}});
    assert_eq!(
        cells("networking.k8s.io", "NetworkPolicy", np)[1],
        json!("role=db")
    );
    let all = json!({"metadata": meta("all"), "spec": {"podSelector": {}}});
    assert_eq!(
        cells("networking.k8s.io", "NetworkPolicy", all)[1],
        json!("<none>")
    );
}

#[test]
fn an_endpoint_slice_lists_ports_and_addresses() {
    let slice = json!({"metadata": meta("web-abc"), "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80}, {"name": "metrics"}, {}, {"port": 9000}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]});
    assert_eq!(
        cells("discovery.k8s.io", "EndpointSlice", slice),
        vec![
            json!("web-abc"),
            json!("IPv4"),
            json!("80,metrics,* + 1 more..."),
            json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."),
            json!("45s"),
        ]
    );
    let empty = json!({"metadata": meta("e"), "addressType": "IPv6"});
    let c = cells("discovery.k8s.io", "EndpointSlice", empty);
    assert_eq!((&c[2], &c[3]), (&json!("<unset>"), &json!("<unset>")));
}

#[test]
fn a_lease_shows_its_holder() {
    let lease = json!({"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "cp-1_4f2"}});
    assert_eq!(
        cells("coordination.k8s.io", "Lease", lease),
        vec![json!("kube-scheduler"), json!("cp-1_4f2"), json!("45s")]
    );
}

#[test]
fn bindings_show_their_role_and_subjects_by_kind() {
    let binding = json!({"metadata": meta("admins"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [
            {"kind": "User", "name": "alice"}, {"kind": "Group", "name": "ops"},
            {"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}, {"kind": "User", "name": "bob"}]});
    let expected = vec![
        json!("admins"),
        json!("ClusterRole/admin"),
        json!("45s"),
        json!("alice, bob"),
        json!("ops"),
        json!("ci/deployer"),
    ];
    assert_eq!(
        cells("rbac.authorization.k8s.io", "RoleBinding", binding.clone()),
        expected
    );
    assert_eq!(
        cells("rbac.authorization.k8s.io", "ClusterRoleBinding", binding),
        expected
    );
}

#[test]
fn a_priority_class_shows_value_default_and_preemption() {
    let pc = json!({"metadata": meta("system-node-critical"), "value": 2000001000,
        "globalDefault": false, "preemptionPolicy": "PreemptLowerPriority"});
    assert_eq!(
        cells("scheduling.k8s.io", "PriorityClass", pc),
        vec![
            json!("system-node-critical"),
            json!(2000001000),
            json!(false),
            json!("45s"),
            json!("PreemptLowerPriority"),
        ]
    );
}

#[test]
fn the_default_storage_class_is_marked_and_unset_fields_show_their_defaults() {
    let sc = json!({"metadata": {"name": "local-path", "creationTimestamp": "2026-01-10T11:59:15Z",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path"});
    assert_eq!(
        cells("storage.k8s.io", "StorageClass", sc),
        vec![
            json!("local-path (default)"),
            json!("rancher.io/local-path"),
            json!("Delete"),
            json!("Immediate"),
            json!(false),
            json!("45s"),
        ]
    );
}

#[test]
fn a_certificate_signing_request_summarises_its_conditions() {
    let csr = json!({"metadata": meta("node-csr"), "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet",
        "username": "system:node:n1", "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}});
    assert_eq!(
        cells("certificates.k8s.io", "CertificateSigningRequest", csr),
        vec![
            json!("node-csr"),
            json!("45s"),
            json!("kubernetes.io/kube-apiserver-client-kubelet"),
            json!("system:node:n1"),
            json!("24h"),
            json!("Approved,Issued"),
        ]
    );
}
