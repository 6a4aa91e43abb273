//! Matching pods per topology domain, kept from one scheduling cycle to the next: a
//! [`Tally`] remembers, per position in the snapshot, the node generation it counted and that
//! node's part, so a cycle recounts only the nodes whose generation changed (a pod bound,
//! assumed or removed) instead of scanning every pod in the cluster. Tallies are keyed by
//! everything the counts depend on (namespace, selectors, topology keys, node inclusion
//! inputs), so pods of one workload share one.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, Weak};

use k8s_openapi::api::core::v1::Pod;

use super::common::{
    Constraint, count_pods_match_selector, node_has_all_topology_keys, node_label,
};
use crate::framework::NodeInfo;
use crate::plugins::inter_pod_affinity::terms::pod_namespace;

/// Matching pods per domain value of one constraint; a domain is present while an eligible
/// node has that value (with 0 when no pod matches there).
pub type DomainCounts = HashMap<String, i64>;

/// One node's part in the counts: per constraint, its domain value and how many of its pods
/// match (None where the node is not eligible); empty when the node lacks a topology key.
pub type NodePart = Vec<Option<(String, i64)>>;

/// The node's part for `pod`'s constraints (upstream's per-node step of PreFilter).
pub fn node_part(constraints: &[Constraint], pod: &Pod, info: &NodeInfo) -> NodePart {
    let Some(node) = info.node.as_deref() else {
        return Vec::new();
    };
    if !node_has_all_topology_keys(node, constraints) {
        return Vec::new();
    }
    let ns = pod_namespace(pod);
    constraints
        .iter()
        .map(|c| {
            if !c.includes_node(pod, node) {
                return None;
            }
            let value = node_label(node, &c.topology_key)
                .cloned()
                .unwrap_or_default();
            Some((
                value,
                count_pods_match_selector(&info.pods, &c.selector, ns),
            ))
        })
        .collect()
}

/// The counts of one set of constraints, maintained node by node.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Per constraint: matching pods per domain (shared with the cycles that read them).
    pub counts: Vec<Arc<DomainCounts>>,
    /// Per constraint: eligible nodes per domain.
    nodes: Vec<HashMap<String, usize>>,
    /// Per snapshot position: the node info counted there (weakly held, so an unchanged
    /// snapshot entry is recognised by its address without reading it), its generation and
    /// its part.
    seen: Vec<(Weak<NodeInfo>, u64, NodePart)>,
}

impl Tally {
    /// Empty counts for `constraints` constraints.
    pub fn new(constraints: usize) -> Self {
        Tally {
            counts: vec![Arc::default(); constraints],
            nodes: vec![HashMap::new(); constraints],
            seen: Vec::new(),
        }
    }

    /// Adds (`by` = 1) or takes away (-1) one node's part.
    pub fn apply(&mut self, part: &NodePart, by: i64) {
        for (i, p) in part.iter().enumerate() {
            let Some((value, pods)) = p else {
                continue;
            };
            let nodes = match self.nodes[i].get_mut(value) {
                Some(n) => n,
                None => self.nodes[i].entry(value.clone()).or_default(),
            };
            if by > 0 {
                *nodes += 1;
            } else {
                *nodes = nodes.saturating_sub(1);
            }
            let left = *nodes;
            let counts = Arc::make_mut(&mut self.counts[i]);
            if left == 0 {
                self.nodes[i].remove(value);
                counts.remove(value);
            } else if let Some(c) = counts.get_mut(value) {
                *c += by * pods;
            } else {
                counts.insert(value.clone(), by * pods);
            }
        }
    }

    /// Brings the counts in step with `nodes`, recounting the nodes whose generation is not
    /// the one counted at their position.
    pub fn update(&mut self, constraints: &[Constraint], pod: &Pod, nodes: &[Arc<NodeInfo>]) {
        for (i, info) in nodes.iter().enumerate() {
            // The same allocation is the same node info: a weak pointer keeps its address
            // from being reused, and a changed node info is a new allocation.
            if self
                .seen
                .get(i)
                .is_some_and(|(w, _, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(info)))
            {
                continue;
            }
            let generation = info.generation;
            if generation != 0 && self.seen.get(i).is_some_and(|(_, g, _)| *g == generation) {
                self.seen[i].0 = Arc::downgrade(info);
                continue;
            }
            let part = node_part(constraints, pod, info);
            self.apply(&part, 1);
            let entry = (Arc::downgrade(info), generation, part);
            if i < self.seen.len() {
                let (_, _, old) = std::mem::replace(&mut self.seen[i], entry);
                self.apply(&old, -1);
            } else {
                self.seen.push(entry);
            }
        }
        if self.seen.len() > nodes.len() {
            let gone: Vec<_> = self.seen.drain(nodes.len()..).collect();
            for (_, _, old) in gone {
                self.apply(&old, -1);
            }
        }
    }
}

/// How many tallies are kept (most recently used first).
const KEPT_TALLIES: usize = 4;

/// The tallies of recently scheduled constraint sets.
#[derive(Default)]
pub struct Tallies {
    recent: Mutex<Vec<(String, Tally)>>,
}

impl Tallies {
    /// The counts of `constraints` for `pod` over `nodes`, reusing the tally of the last cycle
    /// that had the same counting inputs.
    pub fn counts(
        &self,
        constraints: &[Constraint],
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Vec<Arc<DomainCounts>> {
        let key = tally_key(constraints, pod);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let mut entry = match recent.iter().position(|(k, _)| *k == key) {
            Some(i) => recent.remove(i),
            None => (key, Tally::new(constraints.len())),
        };
        entry.1.update(constraints, pod, nodes);
        let counts = entry.1.counts.clone();
        recent.insert(0, entry);
        recent.truncate(KEPT_TALLIES);
        counts
    }
}

/// Everything a node's part depends on besides the node: the pod's namespace, each
/// constraint's selector, topology key and inclusion policies, and the pod's required node
/// affinity and tolerations where a policy honours them.
fn tally_key(constraints: &[Constraint], pod: &Pod) -> String {
    let mut key = pod_namespace(pod).to_string();
    for c in constraints {
        let _ = write!(
            key,
            "\u{0}{:?}\u{0}{}\u{0}{}{}",
            c.selector, c.topology_key, c.honor_node_affinity, c.honor_node_taints
        );
    }
    let spec = pod.spec.as_ref();
    if constraints.iter().any(|c| c.honor_node_affinity) {
        let required = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let _ = write!(
            key,
            "\u{0}{:?}\u{0}{:?}",
            spec.and_then(|s| s.node_selector.as_ref()),
            required
        );
    }
    if constraints.iter().any(|c| c.honor_node_taints) {
        let _ = write!(key, "\u{0}{:?}", spec.and_then(|s| s.tolerations.as_ref()));
    }
    key
}
