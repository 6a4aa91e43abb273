//! What filtering and scoring share: a pod's spread constraints compiled (selector with
//! `matchLabelKeys`, `minDomains`, node inclusion policies), the system default constraints
//! and the default selector built from the pod's Services and controller, and counting the
//! matching pods on a node.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, TopologySpreadConstraint};

use super::PodTopologySpread;
use crate::framework::PodInfo;
use crate::plugins::inter_pod_affinity::terms::{Selector, pod_labels, pod_namespace};
use crate::plugins::{node_affinity, taint_toleration};

/// `kubernetes.io/hostname`.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// `topology.kubernetes.io/zone`.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";

/// `whenUnsatisfiable: DoNotSchedule`.
pub const DO_NOT_SCHEDULE: &str = "DoNotSchedule";
/// `whenUnsatisfiable: ScheduleAnyway`.
pub const SCHEDULE_ANYWAY: &str = "ScheduleAnyway";

/// The system default constraints (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway).
pub fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    [(LABEL_HOSTNAME, 3), (LABEL_TOPOLOGY_ZONE, 5)]
        .into_iter()
        .map(|(key, skew)| TopologySpreadConstraint {
            topology_key: key.into(),
            max_skew: skew,
            when_unsatisfiable: SCHEDULE_ANYWAY.into(),
            ..Default::default()
        })
        .collect()
}

/// A spread constraint ready to evaluate.
#[derive(Clone, Debug)]
pub struct Constraint {
    /// `maxSkew`.
    pub max_skew: i64,
    /// `topologyKey`.
    pub topology_key: String,
    /// The pods that count (label selector plus `matchLabelKeys`).
    pub selector: Selector,
    /// `minDomains` (1 when unset).
    pub min_domains: i64,
    /// `nodeAffinityPolicy` is Honor (the default).
    pub honor_node_affinity: bool,
    /// `nodeTaintsPolicy` is Honor (default Ignore).
    pub honor_node_taints: bool,
}

impl Constraint {
    /// Whether the node counts for this constraint under its inclusion policies.
    pub fn includes_node(&self, pod: &Pod, node: &Node) -> bool {
        if self.honor_node_affinity && !node_affinity::required_matches(pod, node) {
            return false;
        }
        if self.honor_node_taints {
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.as_deref())
                .unwrap_or_default();
            let untolerated = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_deref())
                .unwrap_or_default()
                .iter()
                .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
                .any(|t| !taint_toleration::tolerated(tolerations, t));
            if untolerated {
                return false;
            }
        }
        true
    }
}

/// The value of `key` on the node.
pub fn node_label<'a>(node: &'a Node, key: &str) -> Option<&'a String> {
    node.metadata.labels.as_ref().and_then(|l| l.get(key))
}

/// Whether the node has every constraint's topology key.
pub fn node_has_all_topology_keys(node: &Node, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| node_label(node, &c.topology_key).is_some())
}

/// Pods in `namespace` matching `selector`, terminating ones left out (upstream's
/// `countPodsMatchSelector`).
pub fn count_pods_match_selector(pods: &[PodInfo], selector: &Selector, namespace: &str) -> i64 {
    if selector.is_empty() {
        return 0;
    }
    pods.iter()
        .filter(|p| {
            p.pod.metadata.deletion_timestamp.is_none()
                && pod_namespace(&p.pod) == namespace
                && selector.matches(pod_labels(&p.pod))
        })
        .count() as i64
}

/// Compiles the constraints with `when_unsatisfiable == action`.
pub fn filter_constraints(
    constraints: &[TopologySpreadConstraint],
    pod_labels: &BTreeMap<String, String>,
    action: &str,
) -> Vec<Constraint> {
    constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == action)
        .map(|c| {
            let mut selector = Selector::from_label_selector(c.label_selector.as_ref());
            let values: Vec<(String, String)> = c
                .match_label_keys
                .iter()
                .flatten()
                .filter_map(|k| pod_labels.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            if !values.is_empty() {
                selector = selector.with_label_values(values);
            }
            Constraint {
                max_skew: c.max_skew as i64,
                topology_key: c.topology_key.clone(),
                selector,
                min_domains: c.min_domains.unwrap_or(1) as i64,
                honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            }
        })
        .collect()
}

impl PodTopologySpread {
    /// The pod's own constraints for `action`, or the default ones when it has none.
    pub fn constraints(&self, pod: &Pod, action: &str) -> Vec<Constraint> {
        let own = pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_deref())
            .unwrap_or_default();
        if !own.is_empty() {
            return filter_constraints(own, pod_labels(pod), action);
        }
        let mut defaults = filter_constraints(&self.default_constraints, pod_labels(pod), action);
        if defaults.is_empty() {
            return defaults;
        }
        let selector = self.default_selector(pod);
        if selector.is_empty() {
            return Vec::new();
        }
        for c in &mut defaults {
            c.selector = selector.clone();
        }
        defaults
    }

    /// The labels selecting the pod's siblings: the selectors of the Services that select it
    /// and of its ReplicationController, ReplicaSet or StatefulSet (upstream's
    /// `DefaultSelector`).
    pub fn default_selector(&self, pod: &Pod) -> Selector {
        let ns = pod_namespace(pod);
        let labels = pod_labels(pod);
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        for svc in self.listers.services_in(ns) {
            let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
                continue;
            };
            if sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                set.extend(sel.clone());
            }
        }
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true));
        let Some(owner) = owner else {
            return Selector::everything().with_label_values(set);
        };
        match (owner.api_version.as_str(), owner.kind.as_str()) {
            ("v1", "ReplicationController") => {
                if let Some(rc) = self.listers.replication_controller(ns, &owner.name) {
                    set.extend(
                        rc.spec
                            .as_ref()
                            .and_then(|s| s.selector.clone())
                            .unwrap_or_default(),
                    );
                }
                Selector::everything().with_label_values(set)
            }
            ("apps/v1", "ReplicaSet") => {
                let rs = self.listers.replica_set(ns, &owner.name);
                let sel = rs
                    .as_ref()
                    .and_then(|r| r.spec.as_ref())
                    .map(|s| &s.selector);
                merge_selector(set, sel)
            }
            ("apps/v1", "StatefulSet") => {
                let ss = self.listers.stateful_set(ns, &owner.name);
                let sel = ss
                    .as_ref()
                    .and_then(|s| s.spec.as_ref())
                    .map(|s| &s.selector);
                merge_selector(set, sel)
            }
            _ => Selector::everything().with_label_values(set),
        }
    }
}

fn merge_selector(
    set: BTreeMap<String, String>,
    other: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> Selector {
    let base = Selector::everything().with_label_values(set);
    match other.map(|o| Selector::from_label_selector(Some(o))) {
        Some(Selector::Requirements(more)) => match base {
            Selector::Requirements(mut reqs) => {
                reqs.extend(more);
                Selector::Requirements(reqs)
            }
            nothing => nothing,
        },
        _ => base,
    }
}
