//! PodTopologySpread's PreFilter and Filter for `DoNotSchedule` constraints: PreFilter
//! counts the matching pods in every eligible domain; a node is rejected when placing the
//! pod there would make its domain's count exceed the global minimum by more than `maxSkew`
//! (the minimum counts as 0 while fewer than `minDomains` domains exist).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::PodTopologySpread;
use super::common::{
    Constraint, DO_NOT_SCHEDULE, count_pods_match_selector, node_has_all_topology_keys, node_label,
};
use crate::framework::{Code, CycleState, FilterPlugin, NodeInfo, PreFilterPlugin, Status};
use crate::plugins::inter_pod_affinity::terms::{pod_labels, pod_namespace};
use crate::plugins::inter_pod_affinity::{remember_all_nodes, snapshot_node_if_changed};

/// The node's domain would be too crowded.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// The node lacks a constraint's topology key.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const PRE_FILTER_STATE_KEY: &str = "PreFilterPodTopologySpread";

/// What PreFilter computed for Filter.
#[derive(Debug, Default)]
pub struct PreFilterState {
    /// The `DoNotSchedule` constraints.
    pub constraints: Vec<Constraint>,
    /// Per constraint: matching pods per domain value.
    pub match_counts: Vec<HashMap<String, i64>>,
}

impl PreFilterState {
    /// The global minimum for constraint `i` (0 while fewer than `minDomains` domains).
    pub fn min_match(&self, i: usize) -> i64 {
        let counts = &self.match_counts[i];
        if (counts.len() as i64) < self.constraints[i].min_domains {
            return 0;
        }
        counts.values().copied().min().unwrap_or(0)
    }
}

impl PodTopologySpread {
    /// Counts matching pods per eligible domain for the pod's hard constraints.
    pub fn compute_pre_filter_state(&self, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> PreFilterState {
        let constraints = self.constraints(pod, DO_NOT_SCHEDULE);
        let mut s = PreFilterState {
            match_counts: vec![HashMap::new(); constraints.len()],
            constraints,
        };
        for info in nodes {
            s.count_node(pod, info, 1);
        }
        s
    }
}

impl PreFilterState {
    /// Adds (`by` = 1) or takes away (-1) the matching pods of one node in its domains.
    fn count_node(&mut self, pod: &Pod, info: &NodeInfo, by: i64) {
        let Some(node) = info.node.as_deref() else {
            return;
        };
        if !node_has_all_topology_keys(node, &self.constraints) {
            return;
        }
        let ns = pod_namespace(pod);
        for (i, c) in self.constraints.iter().enumerate() {
            if !c.includes_node(pod, node) {
                continue;
            }
            let value = node_label(node, &c.topology_key)
                .cloned()
                .unwrap_or_default();
            let count = count_pods_match_selector(&info.pods, &c.selector, ns);
            *self.match_counts[i].entry(value).or_default() += by * count;
        }
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
        let Some(node) = info.node.as_deref() else {
            return Status::new(Code::UnschedulableAndUnresolvable, ["node not found"]);
        };
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_STATE_KEY) else {
            return Status::success();
        };
        // A copy of a snapshot node (pods removed by preemption, nominated pods added): its
        // domains count its pods as they are in the copy (upstream's PreFilterExtensions).
        let adjusted;
        let s = match snapshot_node_if_changed(state, info) {
            Some(before) => {
                let mut copy = PreFilterState {
                    constraints: s.constraints.clone(),
                    match_counts: s.match_counts.clone(),
                };
                copy.count_node(pod, &before, -1);
                copy.count_node(pod, info, 1);
                adjusted = copy;
                &adjusted
            }
            None => s,
        };
        let labels = pod_labels(pod);
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node_label(node, &c.topology_key) else {
                return Status::new(
                    Code::UnschedulableAndUnresolvable,
                    [ERR_REASON_NODE_LABEL_NOT_MATCH],
                );
            };
            let self_match = i64::from(c.selector.matches(labels));
            let matched = s.match_counts[i].get(value).copied().unwrap_or(0);
            let skew = matched + self_match - s.min_match(i);
            if skew > c.max_skew {
                return Status::new(Code::Unschedulable, [ERR_REASON_CONSTRAINTS_NOT_MATCH]);
            }
        }
        Status::success()
    }
}
