//! The pure planning half of an EndpointSlice sync, as upstream's `endpointslice` reconciler:
//! from a Service, its pods and the slices that exist, decide which slices to create, update
//! and delete. Existing slices keep the endpoints they hold (updated in place when an
//! endpoint changed); new endpoints first fill slices that are being rewritten anyway, then
//! the one unchanged slice they fit best, and only then new slices, so churn rewrites few
//! slices. Creates turn into updates of slices that would otherwise be deleted.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;

use super::util;
use crate::endpoint::LABEL_HEADLESS;
use crate::pod_util;

/// `kubernetes.io/service-name`: the Service a slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

/// `endpointslice.kubernetes.io/managed-by`: who writes a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";

/// The [`LABEL_MANAGED_BY`] value of slices this controller writes.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

/// The zone label on nodes that endpoints report.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";

/// The slices one sync writes.
#[derive(Debug, Default)]
pub struct Plan {
    /// New slices (named by `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Changed slices, with the resourceVersion they were read at.
    pub update: Vec<EndpointSlice>,
    /// Slices no longer needed.
    pub delete: Vec<EndpointSlice>,
    /// Pods skipped because their node is not known (the sync is retried).
    pub skipped: Vec<String>,
}

/// An endpoint's identity within a slice set: addresses, hostname and target (upstream's
/// endpoint hash).
type EndpointKey = (Vec<String>, String, String, String);

fn endpoint_key(e: &Endpoint) -> EndpointKey {
    let mut addresses = e.addresses.clone();
    addresses.sort();
    let r = e.target_ref.clone().unwrap_or_default();
    (
        addresses,
        e.hostname.clone().unwrap_or_default(),
        r.namespace.unwrap_or_default(),
        r.name.unwrap_or_default(),
    )
}

/// A set of ports, order-independent (upstream's `PortMapKey`).
type PortMapKey = Vec<(String, i32, String, String)>;

fn port_map_key(ports: &[EndpointPort]) -> PortMapKey {
    let mut key: PortMapKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or_default(),
                p.protocol.clone().unwrap_or_default(),
                p.app_protocol.clone().unwrap_or_default(),
            )
        })
        .collect();
    key.sort();
    key
}

/// The address types (`IPv4`, `IPv6`) the Service's slices carry.
pub fn address_types(svc: &Service) -> BTreeSet<&'static str> {
    let spec = svc.spec.clone().unwrap_or_default();
    let families = spec.ip_families.unwrap_or_default();
    if !families.is_empty() {
        return families
            .iter()
            .filter_map(|f| match f.as_str() {
                "IPv4" => Some("IPv4"),
                "IPv6" => Some("IPv6"),
                _ => None,
            })
            .collect();
    }
    match spec.cluster_ip.as_deref() {
        Some(ip) if !ip.is_empty() && ip != "None" => {
            BTreeSet::from([if util::is_ipv6(ip) { "IPv6" } else { "IPv4" }])
        }
        _ => BTreeSet::from(["IPv4", "IPv6"]),
    }
}

/// The endpoint ports of `pod` for `svc` (named target ports resolved per pod); a headless
/// Service may have none.
pub fn endpoint_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    ports
        .iter()
        .filter_map(|p| {
            util::find_port(pod, p).map(|n| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(n),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect()
}

/// Upstream's `podToEndpoint`: the pod's addresses of `address_type`, its conditions
/// (`ready` is never true while terminating unless `publishNotReadyAddresses`), node, zone,
/// hostname and target.
pub fn pod_to_endpoint(
    pod: &Pod,
    node: Option<&Node>,
    svc: &Service,
    address_type: &str,
) -> Endpoint {
    let serving = pod_util::is_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let spec = pod.spec.as_ref();
    Endpoint {
        addresses: util::pod_ips(pod)
            .into_iter()
            .filter(|ip| util::is_ipv6(ip) == (address_type == "IPv6"))
            .map(String::from)
            .collect(),
        conditions: Some(EndpointConditions {
            ready: Some(publish || (serving && !terminating)),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        node_name: spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        zone: node
            .and_then(|n| n.labels().get(LABEL_TOPOLOGY_ZONE).cloned())
            .filter(|z| !z.is_empty()),
        hostname: util::should_set_hostname(pod, svc)
            .then(|| spec.and_then(|s| s.hostname.clone()))
            .flatten(),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.namespace(),
            name: Some(pod.name_any()),
            uid: pod.uid(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Upstream's `setEndpointSliceLabels`: the Service's labels (minus reserved keys), the
/// headless label, the service-name and managed-by labels; and whether they differ from what
/// the slice has.
pub fn slice_labels(
    existing: Option<&BTreeMap<String, String>>,
    svc: &Service,
) -> (BTreeMap<String, String>, bool) {
    let reserved =
        |k: &str| k == LABEL_SERVICE_NAME || k == LABEL_MANAGED_BY || k == LABEL_HEADLESS;
    let mut labels: BTreeMap<String, String> = svc
        .labels()
        .iter()
        .filter(|(k, _)| !reserved(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !util::is_service_ip_set(svc) {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels.insert(LABEL_SERVICE_NAME.into(), svc.name_any());
    labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
    let changed = existing != Some(&labels);
    (labels, changed)
}

/// Whether the slice's controller owner is this Service (same UID).
pub fn owned_by(slice: &EndpointSlice, svc: &Service) -> bool {
    slice
        .owner_references()
        .iter()
        .any(|r| r.kind == "Service" && r.api_version == "v1" && Some(&r.uid) == svc.uid().as_ref())
}

/// A new, empty slice for the Service with these ports.
pub fn new_slice(svc: &Service, ports: &[EndpointPort], address_type: &str) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", svc.name_any())),
            namespace: svc.namespace(),
            labels: Some(slice_labels(None, svc).0),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Service".into(),
                name: svc.name_any(),
                uid: svc.uid().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        address_type: address_type.into(),
        ports: Some(ports.to_vec()),
        endpoints: Vec::new(),
    }
}

/// Plans one sync: `existing` are the Service's slices (by the managed-by and service-name
/// labels, none being deleted); `node` looks up a pod's node.
pub fn plan(
    svc: &Service,
    pods: &[&Pod],
    node: impl Fn(&str) -> Option<std::sync::Arc<Node>>,
    existing: &[&EndpointSlice],
    max_per_slice: usize,
) -> Plan {
    let types = address_types(svc);
    let mut plan = Plan::default();
    let mut by_type: BTreeMap<&str, Vec<&EndpointSlice>> = BTreeMap::new();
    let mut unsupported = Vec::new();
    for s in existing {
        if types.contains(s.address_type.as_str()) {
            by_type.entry(s.address_type.as_str()).or_default().push(s);
        } else {
            unsupported.push((*s).clone());
        }
    }
    for t in &types {
        let slices = by_type.remove(t).unwrap_or_default();
        by_address_type(svc, pods, &node, &slices, t, max_per_slice, &mut plan);
    }
    plan.delete.extend(unsupported);
    plan
}

/// Upstream's `reconcileByAddressType` followed by the create-to-update step of `finalize`.
fn by_address_type(
    svc: &Service,
    pods: &[&Pod],
    node: &impl Fn(&str) -> Option<std::sync::Arc<Node>>,
    existing: &[&EndpointSlice],
    address_type: &str,
    max: usize,
    out: &mut Plan,
) {
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let mut create = Vec::new();
    let mut update = Vec::new();
    let mut delete = Vec::new();
    let mut existing_by_ports: BTreeMap<PortMapKey, Vec<&EndpointSlice>> = BTreeMap::new();
    for s in existing {
        if owned_by(s, svc) {
            existing_by_ports
                .entry(port_map_key(s.ports.as_deref().unwrap_or_default()))
                .or_default()
                .push(s);
        } else {
            delete.push((*s).clone());
        }
    }
    let mut desired: BTreeMap<PortMapKey, (Vec<EndpointPort>, BTreeMap<EndpointKey, Endpoint>)> =
        BTreeMap::new();
    for pod in pods {
        if !util::should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = endpoint_ports(svc, pod);
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let found = node(&node_name);
        if found.is_none() && !publish {
            out.skipped.push(format!(
                "skipping Pod {} for Service {}: node {node_name:?} not found",
                pod.name_any(),
                pod_util::key(&svc.metadata)
            ));
            continue;
        }
        let endpoint = pod_to_endpoint(pod, found.as_deref(), svc, address_type);
        if endpoint.addresses.is_empty() {
            continue;
        }
        let entry = desired
            .entry(port_map_key(&ports))
            .or_insert_with(|| (ports, BTreeMap::new()));
        entry.1.insert(endpoint_key(&endpoint), endpoint);
    }
    for (key, (ports, set)) in desired.iter_mut() {
        let slices = existing_by_ports.remove(key).unwrap_or_default();
        by_port_mapping(
            svc,
            &slices,
            set,
            ports,
            address_type,
            max,
            &mut create,
            &mut update,
            &mut delete,
        );
    }
    // Port sets no pod has any more.
    for (_, slices) in existing_by_ports {
        delete.extend(slices.into_iter().cloned());
    }
    // When no slice would be left, keep (or create) an empty placeholder.
    if existing.len() == delete.len() && create.is_empty() {
        let placeholder = new_slice(svc, &[], address_type);
        let is_placeholder = |s: &EndpointSlice| {
            s.endpoints.is_empty()
                && s.ports.as_deref().unwrap_or_default().is_empty()
                && s.address_type == address_type
                && owned_by(s, svc)
                && s.metadata.labels == placeholder.metadata.labels
        };
        if delete.len() == 1 && is_placeholder(&delete[0]) {
            delete.clear();
        } else {
            create.push(placeholder);
        }
    }
    // finalize: a create reuses a slice that would be deleted.
    let mut i = 0;
    while i < delete.len() && !create.is_empty() {
        if delete[i].address_type == address_type && owned_by(&delete[i], svc) {
            let gone = delete.remove(i);
            let mut slice = create.pop().unwrap_or_default();
            slice.metadata.name = gone.metadata.name.clone();
            slice.metadata.generate_name = None;
            slice.metadata.resource_version = gone.metadata.resource_version.clone();
            slice.metadata.annotations = gone.metadata.annotations.clone();
            update.push(slice);
        } else {
            i += 1;
        }
    }
    out.create.extend(create);
    out.update.extend(update);
    out.delete.extend(delete);
}

fn pop_first(set: &mut BTreeMap<EndpointKey, Endpoint>) -> Option<Endpoint> {
    set.pop_first().map(|(_, e)| e)
}

/// Upstream's `reconcileByPortMapping` for one set of ports.
#[allow(clippy::too_many_arguments)]
fn by_port_mapping(
    svc: &Service,
    existing: &[&EndpointSlice],
    desired: &mut BTreeMap<EndpointKey, Endpoint>,
    ports: &[EndpointPort],
    address_type: &str,
    max: usize,
    create: &mut Vec<EndpointSlice>,
    update: &mut Vec<EndpointSlice>,
    delete: &mut Vec<EndpointSlice>,
) {
    let mut to_update: Vec<EndpointSlice> = Vec::new();
    let mut unchanged: Vec<EndpointSlice> = Vec::new();
    // 1. Keep desired endpoints where they are; drop the rest.
    for slice in existing {
        let mut kept = Vec::new();
        let mut endpoint_updated = false;
        for e in &slice.endpoints {
            if let Some(want) = desired.remove(&endpoint_key(e)) {
                if !endpoints_equal(&want, e) {
                    endpoint_updated = true;
                }
                kept.push(want);
            }
        }
        let (labels, labels_changed) = slice_labels(slice.metadata.labels.as_ref(), svc);
        if endpoint_updated || kept.len() != slice.endpoints.len() {
            if kept.is_empty() {
                delete.push((*slice).clone());
            } else {
                let mut s = (*slice).clone();
                s.endpoints = kept;
                s.metadata.labels = Some(labels);
                to_update.push(s);
            }
        } else if labels_changed {
            let mut s = (*slice).clone();
            s.metadata.labels = Some(labels);
            to_update.push(s);
        } else {
            unchanged.push((*slice).clone());
        }
    }
    // 2. Fill the slices being rewritten anyway, fullest first.
    if !desired.is_empty() {
        to_update.sort_by_key(|s| std::cmp::Reverse(s.endpoints.len()));
        for s in &mut to_update {
            while s.endpoints.len() < max {
                let Some(e) = pop_first(desired) else { break };
                s.endpoints.push(e);
            }
        }
    }
    // 3. Fit the rest into the unchanged slice with the closest free space, else new slices.
    while !desired.is_empty() {
        let mut slice = None;
        if desired.len() < max {
            slice = slice_to_fill(&unchanged, desired.len(), max).map(|i| unchanged.remove(i));
        }
        let mut slice = slice.unwrap_or_else(|| new_slice(svc, ports, address_type));
        while slice.endpoints.len() < max {
            let Some(e) = pop_first(desired) else { break };
            slice.endpoints.push(e);
        }
        if slice.metadata.name.is_some() {
            to_update.push(slice);
        } else {
            create.push(slice);
        }
    }
    update.extend(to_update);
}

/// Upstream's `getSliceToFill`: the slice whose free space is closest to (at least) `n`.
fn slice_to_fill(slices: &[EndpointSlice], n: usize, max: usize) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, s) in slices.iter().enumerate() {
        let used = n + s.endpoints.len();
        if used <= max {
            let diff = max - used;
            if best.is_none_or(|(_, d)| diff < d) {
                best = Some((i, diff));
                if diff == 0 {
                    break;
                }
            }
        }
    }
    best.map(|(i, _)| i)
}

/// Endpoints equal, ignoring the pod's resourceVersion in the target reference.
fn endpoints_equal(a: &Endpoint, b: &Endpoint) -> bool {
    let strip = |e: &Endpoint| {
        let mut e = e.clone();
        if let Some(r) = e.target_ref.as_mut() {
            r.resource_version = None;
        }
        e
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn svc() -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10",
                "ipFamilies": ["IPv4"],
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]},
        }))
        .unwrap()
    }

    fn pod(i: usize) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{i}"), "namespace": "default", "uid": format!("pod-{i}"),
                "labels": {"app": "web"}},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIPs": [{"ip": format!("10.1.{}.{}", i / 250, i % 250)}],
                "conditions": [{"type": "Ready", "status": "True"}]},
        }))
        .unwrap()
    }

    fn node(_: &str) -> Option<Arc<Node>> {
        Some(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "node-a",
                "labels": {LABEL_TOPOLOGY_ZONE: "zone-1"}}}))
            .unwrap(),
        ))
    }

    /// Applies a plan the way the API server would, naming created slices.
    fn apply(existing: Vec<EndpointSlice>, plan: Plan, next: &mut usize) -> Vec<EndpointSlice> {
        let gone: BTreeSet<_> = plan
            .delete
            .iter()
            .chain(&plan.update)
            .map(|s| s.metadata.name.clone())
            .collect();
        let mut out: Vec<EndpointSlice> = existing
            .into_iter()
            .filter(|s| !gone.contains(&s.metadata.name))
            .collect();
        out.extend(plan.update);
        for mut s in plan.create {
            *next += 1;
            s.metadata.name = Some(format!("web-{next}"));
            out.push(s);
        }
        out
    }

    fn sizes(slices: &[EndpointSlice]) -> Vec<usize> {
        let mut v: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
        v.sort();
        v
    }

    #[test]
    fn two_hundred_fifty_pods_make_three_slices_of_at_most_one_hundred() {
        let pods: Vec<Pod> = (0..250).map(pod).collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let plan = plan(&svc(), &refs, node, &[], 100);
        assert_eq!(plan.create.len(), 3);
        assert!(plan.update.is_empty() && plan.delete.is_empty());
        assert_eq!(sizes(&plan.create), [50, 100, 100]);
        let e = &plan.create[0].endpoints[0];
        assert_eq!(e.zone.as_deref(), Some("zone-1"));
        assert_eq!(e.conditions.as_ref().unwrap().ready, Some(true));
        let labels = plan.create[0].metadata.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_SERVICE_NAME], "web");
        assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY);
    }

    #[test]
    fn a_steady_state_writes_nothing_and_one_new_pod_rewrites_one_slice() {
        let mut next = 0;
        let pods: Vec<Pod> = (0..250).map(pod).collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let slices = apply(vec![], plan(&svc(), &refs, node, &[], 100), &mut next);
        let existing: Vec<&EndpointSlice> = slices.iter().collect();
        let again = plan(&svc(), &refs, node, &existing, 100);
        assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty());

        let pods: Vec<Pod> = (0..251).map(pod).collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let more = plan(&svc(), &refs, node, &existing, 100);
        assert!(more.create.is_empty() && more.delete.is_empty());
        assert_eq!(more.update.len(), 1);
        assert_eq!(more.update[0].endpoints.len(), 51);
    }

    #[test]
    fn removing_a_pod_rewrites_only_its_slice() {
        let mut next = 0;
        let pods: Vec<Pod> = (0..250).map(pod).collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let slices = apply(vec![], plan(&svc(), &refs, node, &[], 100), &mut next);
        let existing: Vec<&EndpointSlice> = slices.iter().collect();
        let fewer: Vec<&Pod> = refs[1..].to_vec();
        let p = plan(&svc(), &fewer, node, &existing, 100);
        assert_eq!(p.update.len(), 1);
        assert!(p.create.is_empty() && p.delete.is_empty());
        let total: usize = apply(slices, p, &mut next)
            .iter()
            .map(|s| s.endpoints.len())
            .sum();
        assert_eq!(total, 249);
    }

    #[test]
    fn a_service_without_pods_gets_one_placeholder_slice() {
        let p = plan(&svc(), &[], node, &[], 100);
        assert_eq!(p.create.len(), 1);
        assert!(p.create[0].endpoints.is_empty());
        let mut next = 0;
        let slices = apply(vec![], p, &mut next);
        let existing: Vec<&EndpointSlice> = slices.iter().collect();
        let again = plan(&svc(), &[], node, &existing, 100);
        assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty());
    }

    #[test]
    fn a_pod_on_an_unknown_node_is_skipped() {
        let pods = [pod(0)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let p = plan(&svc(), &refs, |_| None, &[], 100);
        assert_eq!(p.skipped.len(), 1);
        assert!(p.create[0].endpoints.is_empty());
    }
}
