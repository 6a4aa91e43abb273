//! What the scheduler knows about one node: the Node, the pods bound (or assumed) to it, and
//! the resources and host ports they take.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::plugins::inter_pod_affinity::terms::PodTerms;
use crate::plugins::pod_topology_spread::common::LABEL_TOPOLOGY_ZONE as ZONE_LABEL;
use crate::resource::{Resource, pod_requests};

/// A pod as the node accounts for it.
#[derive(Clone, Debug)]
pub struct PodInfo {
    /// The pod.
    pub pod: Arc<Pod>,
    /// Its requests.
    pub requests: Resource,
    /// Its requests with the scoring defaults for missing CPU / memory.
    pub non_zero_requests: Resource,
    /// Its pod affinity and anti-affinity terms, compiled once (None when it has none), as
    /// upstream's `PodInfo` keeps them.
    pub terms: Option<Arc<PodTerms>>,
}

impl PodInfo {
    /// Computes a pod's requests once.
    pub fn new(pod: Arc<Pod>) -> Self {
        PodInfo {
            requests: pod_requests(&pod, false),
            non_zero_requests: pod_requests(&pod, true),
            terms: has_affinity(&pod).then(|| Arc::new(PodTerms::of(&pod))),
            pod,
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        pod_key(&self.pod)
    }
}

/// `namespace/name` of a pod.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// A host port in use: (host IP, protocol, port).
pub type HostPort = (String, String, i32);

/// One node and what runs on it.
///
/// Laid out in declaration order and aligned to a cache line, with what the per-node filters
/// and scores read on every cycle in the first two lines: the non-zero requests, the summary
/// of the Node, the pod count, the zone, then the numbers of the requests and of the
/// allocatable resources (each [`Resource`] keeps its numbers before its map of extended resources). A
/// visit of a node thus touches two adjacent cache lines of this struct and not the Node
/// object, and [`NodeInfo::touch`] can fetch both ahead of the filters.
#[repr(C, align(64))]
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    /// The CPU and memory requests with scoring defaults (upstream's `NonZeroRequested`).
    pub non_zero_requested: NonZeroRequested,
    /// What filters and scores ask of the Node on every cycle, derived when it is set.
    pub summary: NodeSummary,
    /// How many pods are bound or assumed to it (`pods.len()`, kept beside the resources).
    pod_count: u32,
    /// The Node's `topology.kubernetes.io/zone` label, kept here so spreading across zones
    /// does not read the Node object for every node it visits.
    zone: Option<Arc<str>>,
    /// The sum of the pods' requests (`allowed_pod_number` holds the pod count).
    pub requested: Resource,
    /// The node's allocatable resources.
    pub allocatable: Resource,
    /// Pods bound or assumed to it.
    pub pods: Vec<PodInfo>,
    /// The Node's name, kept here so naming a node does not read the Node object.
    node_name: String,
    /// The Node (None while only pods naming it are known).
    pub node: Option<Arc<Node>>,
    /// Host ports the pods use.
    pub used_ports: HashSet<HostPort>,
    /// How many of the pods have required pod anti-affinity terms (upstream's
    /// `PodsWithRequiredAntiAffinity`), so InterPodAffinity can skip nodes without any.
    pub pods_with_required_anti_affinity: usize,
    /// How many of the pods have pod affinity or anti-affinity of any kind (upstream's
    /// `PodsWithAffinity`), so InterPodAffinity scoring can skip nodes without any.
    pub pods_with_affinity: usize,
    /// Changes on every change of the node or its pods (upstream's `Generation`): two node
    /// infos with the same generation hold the same node and pods, so plugins may reuse what
    /// they computed for one of them.
    pub generation: u64,
}

/// The CPU and memory the pods of a node request, with upstream's defaults for containers
/// that request none: what scoring reads (upstream's `NonZeroRequested`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonZeroRequested {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
}

impl NonZeroRequested {
    fn add(&mut self, r: &Resource) {
        self.milli_cpu += r.milli_cpu;
        self.memory += r.memory;
    }

    fn sub(&mut self, r: &Resource) {
        self.milli_cpu -= r.milli_cpu;
        self.memory -= r.memory;
    }
}

/// Facts about a Node that the filters and scores check for every node they visit, kept
/// beside the resources so checking them does not read the Node object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeSummary {
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// Whether `spec.taints` has a `NoSchedule` or `NoExecute` taint.
    pub has_filter_taints: bool,
    /// Whether `spec.taints` has a `PreferNoSchedule` taint.
    pub has_prefer_no_schedule_taints: bool,
    /// Whether the Node object is known (false while only pods naming it are).
    pub has_node: bool,
}

impl NodeSummary {
    /// The summary of `node`.
    pub fn of(node: &Node) -> Self {
        let spec = node.spec.as_ref();
        let taints = spec.and_then(|s| s.taints.as_deref()).unwrap_or_default();
        NodeSummary {
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            has_filter_taints: taints
                .iter()
                .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute"),
            has_prefer_no_schedule_taints: taints.iter().any(|t| t.effect == "PreferNoSchedule"),
            has_node: true,
        }
    }
}

/// The source of [`NodeInfo::generation`]: one counter for every node, so a generation is
/// never reused, not even by a copy changed in a different way.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// The generation the next change of any node info will get: every node info changed from
/// now on has a generation at least this.
pub fn next_node_generation() -> u64 {
    NEXT_GENERATION.load(Ordering::Relaxed)
}

impl NodeInfo {
    /// A node with no pods.
    pub fn new(node: Arc<Node>) -> Self {
        let mut n = NodeInfo::default();
        n.set_node(node);
        n
    }

    /// Replaces the Node object.
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
            .map(Resource::from_list)
            .unwrap_or_default();
        self.summary = NodeSummary::of(&node);
        let zone = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(ZONE_LABEL));
        if self.zone.as_deref() != zone.map(String::as_str) {
            self.zone = zone.map(|z| Arc::from(z.as_str()));
        }
        if self.node_name.as_str() != node.metadata.name.as_deref().unwrap_or_default() {
            self.node_name = node.metadata.name.clone().unwrap_or_default();
        }
        self.node = Some(node);
        self.generation = next_generation();
    }

    /// Drops the Node object (it was deleted; pods naming it may still be known).
    pub fn clear_node(&mut self) {
        self.node = None;
        self.summary = NodeSummary::default();
        self.zone = None;
        self.generation = next_generation();
    }

    /// How many pods are bound or assumed to the node.
    pub fn pod_count(&self) -> usize {
        self.pod_count as usize
    }

    /// Reads one word of each of the two cache lines the filters and scores read, so a
    /// loop of these over many nodes fetches their lines at once rather than one node at a
    /// time as the filters reach each (the node infos are spread over the heap).
    pub fn touch(&self) -> i64 {
        self.non_zero_requested.milli_cpu ^ self.allocatable.milli_cpu
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        if self.summary.has_node {
            &self.node_name
        } else {
            ""
        }
    }

    /// The value of the Node's label `key`, read from the copy kept here for the zone label.
    pub fn node_label(&self, key: &str) -> Option<&str> {
        if key == ZONE_LABEL {
            return self.zone.as_deref();
        }
        self.node
            .as_deref()?
            .metadata
            .labels
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }

    /// Accounts for a pod.
    pub fn add_pod(&mut self, info: PodInfo) {
        self.requested.add(&info.requests);
        self.non_zero_requested.add(&info.non_zero_requests);
        self.requested.allowed_pod_number += 1;
        self.pod_count += 1;
        for p in host_ports(&info.pod) {
            self.used_ports.insert(p);
        }
        if has_required_anti_affinity(&info.pod) {
            self.pods_with_required_anti_affinity += 1;
        }
        if has_affinity(&info.pod) {
            self.pods_with_affinity += 1;
        }
        self.pods.push(info);
        self.generation = next_generation();
    }

    /// Stops accounting for the pod with this key; whether it was there.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.key() == key) else {
            return false;
        };
        let info = self.pods.swap_remove(i);
        self.requested.sub(&info.requests);
        self.non_zero_requested.sub(&info.non_zero_requests);
        self.requested.allowed_pod_number -= 1;
        self.pod_count -= 1;
        if has_required_anti_affinity(&info.pod) {
            self.pods_with_required_anti_affinity -= 1;
        }
        if has_affinity(&info.pod) {
            self.pods_with_affinity -= 1;
        }
        self.generation = next_generation();
        self.used_ports = self.pods.iter().flat_map(|p| host_ports(&p.pod)).collect();
        true
    }
}

/// The host ports a pod asks for (`hostPort` > 0), with upstream's defaults (IP `0.0.0.0`,
/// protocol `TCP`).
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|p| *p > 0)?;
            let ip = p
                .host_ip
                .clone()
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| "0.0.0.0".into());
            let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            Some((ip, proto, port))
        })
        .collect()
}

/// Whether `pod` has pod affinity or pod anti-affinity (required or preferred).
pub fn has_affinity(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
}

/// Whether `pod` has required pod anti-affinity terms.
pub fn has_required_anti_affinity(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_some_and(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    #[test]
    fn what_the_filters_and_scores_read_of_a_node_sits_in_its_first_two_cache_lines() {
        assert_eq!(std::mem::align_of::<NodeInfo>(), 64);
        let numbers = offset_of!(Resource, allowed_pod_number) + 8;
        let ends = [
            offset_of!(NodeInfo, non_zero_requested) + std::mem::size_of::<NonZeroRequested>(),
            offset_of!(NodeInfo, summary) + std::mem::size_of::<NodeSummary>(),
            offset_of!(NodeInfo, pod_count) + 4,
            offset_of!(NodeInfo, zone) + std::mem::size_of::<Option<Arc<str>>>(),
            offset_of!(NodeInfo, requested) + numbers,
            offset_of!(NodeInfo, allocatable) + numbers,
        ];
        for end in ends {
            assert!(end <= 128, "a hot field ends at byte {end}");
        }
        assert!(offset_of!(NodeInfo, non_zero_requested) < 64);
        assert!(offset_of!(NodeInfo, allocatable) >= 64);
    }

    #[test]
    fn the_pod_count_follows_the_pods() {
        let mut n = NodeInfo::default();
        let pod = |name: &str| {
            let mut p = Pod::default();
            p.metadata.name = Some(name.into());
            p.metadata.namespace = Some("default".into());
            PodInfo::new(Arc::new(p))
        };
        n.add_pod(pod("a"));
        n.add_pod(pod("b"));
        assert_eq!(n.pod_count(), 2);
        assert!(n.remove_pod("default/a"));
        assert!(!n.remove_pod("default/a"));
        assert_eq!(n.pod_count(), n.pods.len());
    }
}
