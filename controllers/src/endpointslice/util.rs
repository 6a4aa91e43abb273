//! Pod and Service facts shared by the Endpoints and EndpointSlice controllers, as upstream's
//! `k8s.io/endpointslice/util`: which pods become endpoints, named target ports, hostnames,
//! which Services a pod change concerns, and the `last-change-trigger-time` tracker.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use crate::pod_util;

/// Upstream's `ShouldPodBeInEndpoints`: not terminal, has an IP, and (unless
/// `include_terminating`) not being deleted.
pub fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let phase = pod_util::phase(pod);
    if phase == "Succeeded" || phase == "Failed" {
        return false;
    }
    if pod_ips(pod).is_empty() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// The pod's IPs: `status.podIPs`, else `status.podIP`.
pub fn pod_ips(pod: &Pod) -> Vec<&str> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let ips: Vec<&str> = status
        .pod_ips
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|p| p.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .collect();
    if !ips.is_empty() {
        return ips;
    }
    status
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .into_iter()
        .collect()
}

/// Whether `ip` is an IPv6 address.
pub fn is_ipv6(ip: &str) -> bool {
    matches!(ip.parse::<IpAddr>(), Ok(IpAddr::V6(_)))
}

/// Upstream's `ShouldSetHostname`: the pod names a hostname and its subdomain is this
/// Service, in the same namespace.
pub fn should_set_hostname(pod: &Pod, svc: &Service) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.hostname.as_deref().is_some_and(|h| !h.is_empty())
        && spec.subdomain.as_deref() == Some(svc.name_any().as_str())
        && pod.namespace() == svc.namespace()
}

/// Upstream's `IsServiceIPSet`: the Service has a ClusterIP (it is not headless).
pub fn is_service_ip_set(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty() && ip != "None")
}

/// Whether the Service is headless (`clusterIP: None`).
pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

fn protocol(p: Option<&str>) -> &str {
    p.unwrap_or("TCP")
}

fn restartable(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Upstream's `podutil.FindPort`: a numeric `targetPort` as is; a named one looked up in the
/// pod's containers (and sidecar init containers) with the Service port's protocol.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    match port.target_port.as_ref() {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let spec = pod.spec.as_ref()?;
            let sidecars = spec.init_containers.as_deref().unwrap_or_default();
            spec.containers
                .iter()
                .chain(sidecars.iter().filter(|c| restartable(c)))
                .flat_map(|c| c.ports.as_deref().unwrap_or_default())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && protocol(p.protocol.as_deref()) == protocol(port.protocol.as_deref())
                })
                .map(|p| p.container_port)
        }
    }
}

/// The Service's pod selector; None for a selectorless Service.
pub fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec.as_ref().and_then(|s| s.selector.as_ref())
}

/// Whether the selector map selects these labels.
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Whether this controller manages endpoints for the Service: it has a selector and is not
/// `ExternalName`.
pub fn wants_endpoints(svc: &Service) -> bool {
    let external = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName");
    !external && selector(svc).is_some()
}

/// `namespace/name` of every Service in `svcs` whose selector selects `pod` (upstream's
/// `GetPodServiceMemberships`).
pub fn pod_service_memberships<'a>(
    svcs: impl IntoIterator<Item = &'a Service>,
    pod: &Pod,
) -> BTreeSet<String> {
    let ns = pod.namespace();
    svcs.into_iter()
        .filter(|s| s.namespace() == ns)
        .filter(|s| selector(s).is_some_and(|sel| selects(sel, pod.labels())))
        .map(|s| pod_util::key(&s.metadata))
        .collect()
}

/// Upstream's `podEndpointsChanged`: (endpoint-relevant fields changed, labels changed).
pub fn pod_endpoints_changed(old: &Pod, new: &Pod) -> (bool, bool) {
    let labels_changed = old.labels() != new.labels();
    let changed = old.metadata.deletion_timestamp != new.metadata.deletion_timestamp
        || pod_util::is_ready(old) != pod_util::is_ready(new)
        || pod_ips(old) != pod_ips(new)
        || pod_util::phase(old) != pod_util::phase(new);
    (changed, labels_changed)
}

/// Upstream's `GetServicesToUpdateOnPodChange`: the Service keys a pod update concerns.
pub fn services_to_update_on_pod_change<'a>(
    svcs: impl IntoIterator<Item = &'a Service> + Clone,
    old: &Pod,
    new: &Pod,
) -> BTreeSet<String> {
    if old.resource_version() == new.resource_version() {
        return BTreeSet::new();
    }
    let (pod_changed, labels_changed) = pod_endpoints_changed(old, new);
    if !pod_changed && !labels_changed {
        return BTreeSet::new();
    }
    let now = pod_service_memberships(svcs.clone(), new);
    if !labels_changed {
        return now;
    }
    let before = pod_service_memberships(svcs, old);
    if pod_changed {
        before.union(&now).cloned().collect()
    } else {
        before.symmetric_difference(&now).cloned().collect()
    }
}

/// Upstream's `TriggerTimeTracker`: per Service, the trigger times seen at the last sync, so a
/// sync can report the earliest change it is the first to reflect
/// (`endpoints.kubernetes.io/last-change-trigger-time`).
#[derive(Default)]
pub struct TriggerTimeTracker {
    state: Mutex<HashMap<String, ServiceTriggers>>,
}

#[derive(Default)]
struct ServiceTriggers {
    service: Option<Timestamp>,
    pods: HashMap<String, Timestamp>,
}

/// A pod's trigger time: when its Ready condition last changed.
fn pod_trigger_time(pod: &Pod) -> Option<Timestamp> {
    pod_util::ready_condition(pod)
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl TriggerTimeTracker {
    /// The earliest trigger time (pod readiness change, Service creation) not seen at the
    /// previous sync of `key`; records the current ones.
    pub fn compute(&self, key: &str, svc: &Service, pods: &[&Pod]) -> Option<Timestamp> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let entry = state.entry(key.to_string()).or_default();
        let mut min = None;
        let mut seen = HashMap::new();
        for pod in pods {
            let Some(t) = pod_trigger_time(pod) else {
                continue;
            };
            let name = pod.name_any();
            if entry.pods.get(&name) != Some(&t) {
                min = earliest(min, Some(t));
            }
            seen.insert(name, t);
        }
        let created = svc.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if created != entry.service {
            min = earliest(min, created);
        }
        entry.service = created;
        entry.pods = seen;
        min
    }

    /// Forgets a deleted Service.
    pub fn delete_service(&self, key: &str) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn svc_port(v: serde_json::Value) -> ServicePort {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_named_target_port_resolves_per_pod_and_protocol() {
        let p = pod(json!({"metadata": {"name": "a"}, "spec": {
            "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080},
                {"name": "dns", "containerPort": 53, "protocol": "UDP"},
            ]}],
            "initContainers": [{"name": "side", "restartPolicy": "Always",
                "ports": [{"name": "metrics", "containerPort": 9090}]}],
        }}));
        let named = |n: &str, proto: &str| {
            svc_port(json!({"port": 80, "targetPort": n, "protocol": proto}))
        };
        assert_eq!(find_port(&p, &named("http", "TCP")), Some(8080));
        assert_eq!(find_port(&p, &named("dns", "UDP")), Some(53));
        assert_eq!(find_port(&p, &named("dns", "TCP")), None);
        assert_eq!(find_port(&p, &named("metrics", "TCP")), Some(9090));
        assert_eq!(
            find_port(&p, &svc_port(json!({"port": 80, "targetPort": 81}))),
            Some(81)
        );
        assert_eq!(find_port(&p, &svc_port(json!({"port": 80}))), Some(80));
    }

    #[test]
    fn terminal_or_ipless_pods_are_not_endpoints() {
        let running = pod(json!({"status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]}}));
        assert!(should_pod_be_in_endpoints(&running, false));
        let done = pod(json!({"status": {"phase": "Succeeded", "podIP": "10.0.0.1"}}));
        assert!(!should_pod_be_in_endpoints(&done, true));
        assert!(!should_pod_be_in_endpoints(
            &pod(json!({"status": {}})),
            true
        ));
        let deleting = pod(
            json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"},
            "status": {"podIP": "10.0.0.1"}}),
        );
        assert!(!should_pod_be_in_endpoints(&deleting, false));
        assert!(should_pod_be_in_endpoints(&deleting, true));
    }

    #[test]
    fn the_trigger_time_is_the_earliest_unseen_change() {
        let tracker = TriggerTimeTracker::default();
        let svc: Service = serde_json::from_value(json!({"metadata": {
            "name": "s", "creationTimestamp": "2024-01-01T00:00:05Z"}}))
        .unwrap();
        let ready_at = |name: &str, t: &str| {
            pod(json!({"metadata": {"name": name}, "status": {
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": t}]}}))
        };
        let a = ready_at("a", "2024-01-01T00:00:10Z");
        let first = tracker.compute("ns/s", &svc, &[&a]).unwrap();
        assert_eq!(first.to_string(), "2024-01-01T00:00:05Z");
        assert_eq!(tracker.compute("ns/s", &svc, &[&a]), None);
        let b = ready_at("b", "2024-01-01T00:00:20Z");
        let next = tracker.compute("ns/s", &svc, &[&a, &b]).unwrap();
        assert_eq!(next.to_string(), "2024-01-01T00:00:20Z");
    }
}
