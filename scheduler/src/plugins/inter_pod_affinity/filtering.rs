//! InterPodAffinity's PreFilter and Filter: counts, per topology domain, the existing pods
//! matching the incoming pod's required affinity and anti-affinity terms and the existing
//! pods whose required anti-affinity matches the incoming pod; a node is rejected when its
//! domains break any of the three rules.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use tracing::debug;

use super::index::AffinityIndex;
use super::terms::{AffinityTerm, PodTerms, namespace_labels, pod_matches_all_terms};
use super::{
    InterPodAffinity, nodes_with_required_anti_affinity, remember_all_nodes,
    snapshot_node_if_changed,
};
use crate::framework::{Code, CycleState, FilterPlugin, NodeInfo, PreFilterPlugin, Status};
use crate::snapshot;

/// The pod's required affinity is not satisfied on the node.
pub const ERR_REASON_AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
/// The pod's required anti-affinity is broken on the node.
pub const ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't match pod anti-affinity rules";
/// An existing pod's required anti-affinity would be broken.
pub const ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

const PRE_FILTER_STATE_KEY: &str = "PreFilterInterPodAffinity";

/// Matching pods per topology key, per value (nested so lookups borrow the node's label
/// strings instead of building a key).
pub type TopologyCounts = HashMap<String, HashMap<String, i64>>;

/// The count for (`key`, `value`), 0 when none.
pub fn topology_count(counts: &TopologyCounts, key: &str, value: &str) -> i64 {
    counts
        .get(key)
        .and_then(|m| m.get(value))
        .copied()
        .unwrap_or(0)
}

/// Drops the zero counts (and keys left without any).
fn drop_zero_counts(counts: &mut TopologyCounts) {
    counts.retain(|_, m| {
        m.retain(|_, n| *n != 0);
        !m.is_empty()
    });
}

/// What PreFilter computed for Filter.
#[derive(Debug, Default)]
pub struct PreFilterState {
    /// The incoming pod's required terms (namespace selectors resolved).
    pub affinity: Vec<AffinityTerm>,
    /// The incoming pod's required anti-affinity terms.
    pub anti_affinity: Vec<AffinityTerm>,
    /// Existing pods matching all required affinity terms, per domain.
    pub affinity_counts: TopologyCounts,
    /// Existing pods matching a required anti-affinity term, per domain.
    pub anti_affinity_counts: TopologyCounts,
    /// Existing pods whose required anti-affinity matches the incoming pod, per domain.
    pub existing_anti_affinity_counts: TopologyCounts,
    /// Whether the incoming pod matches all of its own affinity terms.
    pub matches_own_affinity: bool,
    /// The labels of the incoming pod's namespace.
    pub namespace_labels: std::collections::BTreeMap<String, String>,
}

fn node_label<'a>(node: &'a Node, key: &str) -> Option<&'a String> {
    node.metadata.labels.as_ref().and_then(|l| l.get(key))
}

/// Adds `by` to the count of the node's domain for `key`; allocates only for a domain seen
/// for the first time.
fn add(counts: &mut TopologyCounts, node: &Node, key: &str, by: i64) {
    if by == 0 {
        return;
    }
    let Some(v) = node_label(node, key) else {
        return;
    };
    if !counts.contains_key(key) {
        counts.insert(key.to_string(), HashMap::new());
    }
    let Some(per_value) = counts.get_mut(key) else {
        return;
    };
    match per_value.get_mut(v.as_str()) {
        Some(n) => *n += by,
        None => {
            per_value.insert(v.clone(), by);
        }
    }
}

/// Adds `by` to the count of the node's domain in `per_value` (the counts of `key`): one
/// hash and one allocation for a new domain, as the index's nodes mostly are.
fn add_value(per_value: &mut HashMap<String, i64>, node: &Node, key: &str, by: i64) {
    if by == 0 {
        return;
    }
    if let Some(v) = node_label(node, key) {
        *per_value.entry(v.clone()).or_default() += by;
    }
}

impl InterPodAffinity {
    /// Computes the PreFilter state for `pod` over every node.
    pub fn compute_pre_filter_state(&self, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> PreFilterState {
        let with_anti_affinity: Vec<_> = nodes
            .iter()
            .filter(|n| n.pods_with_required_anti_affinity > 0)
            .cloned()
            .collect();
        self.pre_filter_state(pod, nodes, &with_anti_affinity, None)
    }

    /// The PreFilter state over `nodes`, of which `with_anti_affinity` hold pods with
    /// required anti-affinity: when the incoming pod has no required terms of its own only
    /// those can reject it (upstream's `HavePodsWithRequiredAntiAffinityList`).
    fn pre_filter_state(
        &self,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        with_anti_affinity: &[Arc<NodeInfo>],
        index: Option<&AffinityIndex>,
    ) -> PreFilterState {
        let terms = PodTerms::of(pod);
        let mut s = PreFilterState {
            affinity: terms.required_affinity,
            anti_affinity: terms.required_anti_affinity,
            ..Default::default()
        };
        for t in s.affinity.iter_mut().chain(s.anti_affinity.iter_mut()) {
            t.merge_selected_namespaces(&self.listers);
        }
        s.matches_own_affinity = pod_matches_all_terms(&s.affinity, pod);
        s.namespace_labels = namespace_labels(&self.listers, super::terms::pod_namespace(pod));
        let incoming = !s.affinity.is_empty() || !s.anti_affinity.is_empty();
        match index {
            Some(index) => s.count_with_index(pod, nodes, index),
            None => {
                for info in if incoming { nodes } else { with_anti_affinity } {
                    s.count_node(pod, info, 1);
                }
            }
        }
        s.drop_zero_counts();
        s
    }
}

impl PreFilterState {
    fn drop_zero_counts(&mut self) {
        drop_zero_counts(&mut self.affinity_counts);
        drop_zero_counts(&mut self.anti_affinity_counts);
        drop_zero_counts(&mut self.existing_anti_affinity_counts);
    }

    /// The counts from the snapshot's index: each distinct required anti-affinity term of
    /// the existing pods is matched against the incoming pod once, and the incoming pod's
    /// terms look only at the pods carrying a label value they ask for (every pod of `nodes`
    /// for a term without an `In` requirement).
    fn count_with_index(&mut self, pod: &Pod, nodes: &[Arc<NodeInfo>], index: &AffinityIndex) {
        for (t, per_node) in index.anti_affinity_terms() {
            if t.matches(pod, Some(&self.namespace_labels)) {
                let per_value = self
                    .existing_anti_affinity_counts
                    .entry(t.topology_key.clone())
                    .or_default();
                for n in per_node {
                    add_value(per_value, &n.node, &t.topology_key, n.pods);
                }
            }
        }
        let every_pod = || {
            nodes.iter().filter_map(|info| {
                let node = info.node.as_deref()?;
                Some(info.pods.iter().map(move |p| (node, &*p.pod)))
            })
        };
        for t in &self.anti_affinity {
            match index.candidates(t) {
                Some(candidates) => {
                    let per_value = self
                        .anti_affinity_counts
                        .entry(t.topology_key.clone())
                        .or_default();
                    for c in candidates {
                        let n = c.pods.iter().filter(|p| t.matches(p, None)).count();
                        add_value(per_value, &c.node, &t.topology_key, n as i64);
                    }
                }
                None => {
                    for (node, existing) in every_pod().flatten() {
                        if t.matches(existing, None) {
                            add(&mut self.anti_affinity_counts, node, &t.topology_key, 1);
                        }
                    }
                }
            }
        }
        if self.affinity.is_empty() {
            return;
        }
        let affinity = &self.affinity;
        let counts = &mut self.affinity_counts;
        let mut count = |node: &Node, n: usize| {
            for t in affinity {
                add(counts, node, &t.topology_key, n as i64);
            }
        };
        match affinity.iter().find_map(|t| index.candidates(t)) {
            Some(candidates) => {
                for c in candidates {
                    let n = c
                        .pods
                        .iter()
                        .filter(|p| pod_matches_all_terms(affinity, p))
                        .count();
                    count(&c.node, n);
                }
            }
            None => {
                for (node, existing) in every_pod().flatten() {
                    if pod_matches_all_terms(affinity, existing) {
                        count(node, 1);
                    }
                }
            }
        }
    }

    /// Adds (`by` = 1) or takes away (-1) what the pods on one node contribute to the counts.
    fn count_node(&mut self, pod: &Pod, info: &NodeInfo, by: i64) {
        let Some(node) = info.node.as_deref() else {
            return;
        };
        let incoming = !self.affinity.is_empty() || !self.anti_affinity.is_empty();
        if !incoming && info.pods_with_required_anti_affinity == 0 {
            return;
        }
        for existing_info in &info.pods {
            let existing = &*existing_info.pod;
            if let Some(terms) = &existing_info.terms {
                for t in &terms.required_anti_affinity {
                    if t.matches(pod, Some(&self.namespace_labels)) {
                        add(
                            &mut self.existing_anti_affinity_counts,
                            node,
                            &t.topology_key,
                            by,
                        );
                    }
                }
            }
            if !incoming {
                continue;
            }
            if pod_matches_all_terms(&self.affinity, existing) {
                for t in &self.affinity {
                    add(&mut self.affinity_counts, node, &t.topology_key, by);
                }
            }
            for t in &self.anti_affinity {
                if t.matches(existing, None) {
                    add(&mut self.anti_affinity_counts, node, &t.topology_key, by);
                }
            }
        }
    }

    /// The state as if the snapshot's `before` were `after` (the same node with pods removed
    /// by preemption or nominated pods added; upstream's PreFilterExtensions).
    fn with_node_replaced(&self, pod: &Pod, before: &NodeInfo, after: &NodeInfo) -> Self {
        let mut s = PreFilterState {
            affinity: self.affinity.clone(),
            anti_affinity: self.anti_affinity.clone(),
            affinity_counts: self.affinity_counts.clone(),
            anti_affinity_counts: self.anti_affinity_counts.clone(),
            existing_anti_affinity_counts: self.existing_anti_affinity_counts.clone(),
            matches_own_affinity: self.matches_own_affinity,
            namespace_labels: self.namespace_labels.clone(),
        };
        s.count_node(pod, before, -1);
        s.count_node(pod, after, 1);
        s.drop_zero_counts();
        s
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        remember_all_nodes(state, nodes);
        let with_anti_affinity = nodes_with_required_anti_affinity(state, nodes);
        let index = snapshot::of_cycle(state).map(|s| s.affinity_index.as_ref());
        let s = self.pre_filter_state(pod, nodes, &with_anti_affinity, index);
        if s.existing_anti_affinity_counts.is_empty()
            && s.affinity.is_empty()
            && s.anti_affinity.is_empty()
        {
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        state.write(PRE_FILTER_STATE_KEY, s);
        Status::success()
    }
}

/// Whether the node's domains hold pods matching every required affinity term (or the pod
/// is the first of a group that selects itself).
fn satisfies_pod_affinity(s: &PreFilterState, node: &Node) -> bool {
    let mut pods_exist = true;
    for t in &s.affinity {
        let Some(v) = node_label(node, &t.topology_key) else {
            return false;
        };
        if topology_count(&s.affinity_counts, &t.topology_key, v) <= 0 {
            pods_exist = false;
        }
    }
    // The first pod of a series with affinity to itself may go anywhere that has the
    // topology labels, as long as no other pod matches its terms yet.
    pods_exist || (s.affinity_counts.is_empty() && s.matches_own_affinity)
}

fn satisfies_pod_anti_affinity(s: &PreFilterState, node: &Node) -> bool {
    if s.anti_affinity_counts.is_empty() {
        return true;
    }
    s.anti_affinity.iter().all(|t| {
        node_label(node, &t.topology_key)
            .is_none_or(|v| topology_count(&s.anti_affinity_counts, &t.topology_key, v) <= 0)
    })
}

fn satisfies_existing_pods_anti_affinity(s: &PreFilterState, node: &Node) -> bool {
    if s.existing_anti_affinity_counts.is_empty() {
        return true;
    }
    // Upstream walks the node's labels; walking the (few) counted keys instead finds the
    // same (key, value) pairs.
    s.existing_anti_affinity_counts
        .iter()
        .all(|(k, per_value)| {
            node_label(node, k).is_none_or(|v| per_value.get(v.as_str()).is_none_or(|n| *n <= 0))
        })
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &Pod, info: &NodeInfo) -> Status {
        let Some(node) = info.node.as_deref() else {
            return Status::new(Code::UnschedulableAndUnresolvable, ["node not found"]);
        };
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_STATE_KEY) else {
            debug!("no InterPodAffinity PreFilter state; nothing to check");
            return Status::success();
        };
        let adjusted;
        let s = match snapshot_node_if_changed(state, info) {
            Some(before) => {
                adjusted = s.with_node_replaced(pod, &before, info);
                &adjusted
            }
            None => s,
        };
        if !satisfies_pod_affinity(s, node) {
            return Status::new(
                Code::UnschedulableAndUnresolvable,
                [ERR_REASON_AFFINITY_RULES_NOT_MATCH],
            );
        }
        if !satisfies_pod_anti_affinity(s, node) {
            return Status::new(
                Code::Unschedulable,
                [ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH],
            );
        }
        if !satisfies_existing_pods_anti_affinity(s, node) {
            return Status::new(
                Code::Unschedulable,
                [ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH],
            );
        }
        Status::success()
    }
}
