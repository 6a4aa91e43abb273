//! PodTopologySpread's PreFilter and Filter for `DoNotSchedule` constraints: PreFilter
//! counts the matching pods in every eligible domain; a node is rejected when placing the
//! pod there would make its domain's count exceed the global minimum by more than `maxSkew`
//! (the minimum counts as 0 while fewer than `minDomains` domains exist).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::PodTopologySpread;
use super::common::{Constraint, DO_NOT_SCHEDULE};
use super::counting::{DomainCounts, node_part};
use crate::framework::{Code, CycleState, FilterPlugin, NodeInfo, PreFilterPlugin, Status};
use crate::plugins::inter_pod_affinity::terms::pod_labels;
use crate::plugins::inter_pod_affinity::{remember_all_nodes, snapshot_node_if_changed};

/// The node's domain would be too crowded.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// The node lacks a constraint's topology key.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const PRE_FILTER_STATE_KEY: &str = "PreFilterPodTopologySpread";

/// What PreFilter computed for Filter.
#[derive(Clone, Debug, Default)]
pub struct PreFilterState {
    /// The `DoNotSchedule` constraints.
    pub constraints: Vec<Constraint>,
    /// Per constraint: matching pods per domain value.
    pub match_counts: Vec<Arc<DomainCounts>>,
    /// Per constraint: the global minimum (see [`PreFilterState::min_match`]), computed once.
    min_matches: Vec<i64>,
    /// Per constraint: 1 when the incoming pod matches its own selector.
    self_matches: Vec<i64>,
}

impl PreFilterState {
    /// The state for these constraints and counts.
    pub fn new(
        pod: &Pod,
        constraints: Vec<Constraint>,
        match_counts: Vec<Arc<DomainCounts>>,
    ) -> Self {
        let labels = pod_labels(pod);
        let mut s = PreFilterState {
            self_matches: constraints
                .iter()
                .map(|c| i64::from(c.selector.matches(labels)))
                .collect(),
            constraints,
            match_counts,
            min_matches: Vec::new(),
        };
        s.min_matches = (0..s.constraints.len()).map(|i| s.compute_min(i)).collect();
        s
    }

    fn compute_min(&self, i: usize) -> i64 {
        let counts = &self.match_counts[i];
        if (counts.len() as i64) < self.constraints[i].min_domains {
            return 0;
        }
        counts.values().copied().min().unwrap_or(0)
    }

    /// The global minimum for constraint `i` (0 while fewer than `minDomains` domains).
    pub fn min_match(&self, i: usize) -> i64 {
        self.min_matches[i]
    }

    /// The state as if the snapshot's `before` were `after` (the same node with pods removed
    /// by preemption or nominated pods added; upstream's PreFilterExtensions).
    fn with_node_replaced(&self, pod: &Pod, before: &NodeInfo, after: &NodeInfo) -> Self {
        // The same node, so the same domains: only the pod counts move.
        let mut counts = self.match_counts.clone();
        for (part, by) in [
            (node_part(&self.constraints, pod, before), -1),
            (node_part(&self.constraints, pod, after), 1),
        ] {
            for (i, p) in part.into_iter().enumerate() {
                if let Some((value, pods)) = p {
                    *Arc::make_mut(&mut counts[i]).entry(value).or_default() += by * pods;
                }
            }
        }
        PreFilterState::new(pod, self.constraints.clone(), counts)
    }
}

impl PodTopologySpread {
    /// Counts matching pods per eligible domain for the pod's hard constraints.
    pub fn compute_pre_filter_state(&self, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> PreFilterState {
        let constraints = self.constraints(pod, DO_NOT_SCHEDULE);
        if constraints.is_empty() {
            return PreFilterState::default();
        }
        let counts = self.tallies.counts(&constraints, pod, nodes);
        PreFilterState::new(pod, constraints, counts)
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        remember_all_nodes(state, nodes);
        let s = self.compute_pre_filter_state(pod, nodes);
        if s.constraints.is_empty() {
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        state.write(PRE_FILTER_STATE_KEY, s);
        Status::success()
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, pod: &Pod, info: &NodeInfo) -> Status {
        // The summary sits in the node info's first cache line; the Node object does not.
        if !info.summary.has_node {
            return Status::new(Code::UnschedulableAndUnresolvable, ["node not found"]);
        }
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_STATE_KEY) else {
            return Status::success();
        };
        // A copy of a snapshot node (pods removed by preemption, nominated pods added): its
        // domains count its pods as they are in the copy (upstream's PreFilterExtensions).
        let adjusted;
        let s = match snapshot_node_if_changed(state, info) {
            Some(before) => {
                adjusted = s.with_node_replaced(pod, &before, info);
                &adjusted
            }
            None => s,
        };
        for (i, c) in s.constraints.iter().enumerate() {
            // Read from the node info (the zone is kept there), not the Node object.
            let Some(value) = info.node_label(&c.topology_key) else {
                return Status::new(
                    Code::UnschedulableAndUnresolvable,
                    [ERR_REASON_NODE_LABEL_NOT_MATCH],
                );
            };
            let matched = s.match_counts[i].get(value).copied().unwrap_or(0);
            let skew = matched + s.self_matches[i] - s.min_match(i);
            if skew > c.max_skew {
                return Status::new(Code::Unschedulable, [ERR_REASON_CONSTRAINTS_NOT_MATCH]);
            }
        }
        Status::success()
    }
}
