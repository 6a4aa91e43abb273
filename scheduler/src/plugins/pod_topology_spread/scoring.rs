//! PodTopologySpread's PreScore, Score and NormalizeScore for `ScheduleAnyway` constraints
//! (and the system defaults): a node scores the matching pods in its domains, each constraint
//! weighted by the log of its domain count; fewer is better after normalisation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::PodTopologySpread;
use super::common::{
    Constraint, LABEL_HOSTNAME, SCHEDULE_ANYWAY, count_pods_match_selector,
    node_has_all_topology_keys, node_label,
};
use super::spread::{score_for_count, topology_normalizing_weight};
use crate::framework::{
    Code, CycleState, NodeInfo, NodeScore, PreScorePlugin, ScorePlugin, Status,
};
use crate::plugins::inter_pod_affinity::all_nodes;
use crate::plugins::inter_pod_affinity::terms::pod_namespace;

const PRE_SCORE_STATE_KEY: &str = "PreScorePodTopologySpread";

/// What PreScore computed for Score.
#[derive(Debug, Default)]
pub struct PreScoreState {
    /// The soft constraints.
    pub constraints: Vec<Constraint>,
    /// Feasible nodes lacking a topology key; they score 0.
    pub ignored_nodes: HashSet<String>,
    /// Per constraint: matching pods per domain value (hostname constraints count per node
    /// at Score).
    pub counts: Vec<HashMap<String, i64>>,
    /// Per constraint: the log weight of its number of domains.
    pub weights: Vec<f64>,
}

impl PodTopologySpread {
    /// The PreScore state for `pod` over the feasible nodes and every node.
    pub fn compute_pre_score_state(
        &self,
        pod: &Pod,
        feasible: &[Arc<NodeInfo>],
        all: &[Arc<NodeInfo>],
    ) -> PreScoreState {
        let constraints = self.constraints(pod, SCHEDULE_ANYWAY);
        let mut s = PreScoreState {
            counts: vec![HashMap::new(); constraints.len()],
            ..Default::default()
        };
        if constraints.is_empty() {
            return s;
        }
        let own = pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|c| !c.is_empty());
        let require_all = own || !self.system_defaulted;
        let mut sizes = vec![0usize; constraints.len()];
        for info in feasible {
            let Some(node) = info.node.as_deref() else {
                continue;
            };
            if require_all && !node_has_all_topology_keys(node, &constraints) {
                s.ignored_nodes.insert(info.name().to_string());
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == LABEL_HOSTNAME {
                    continue;
                }
                let value = node_label(node, &c.topology_key)
                    .cloned()
                    .unwrap_or_default();
                if let std::collections::hash_map::Entry::Vacant(e) = s.counts[i].entry(value) {
                    e.insert(0);
                    sizes[i] += 1;
                }
            }
        }
        s.weights = constraints
            .iter()
            .zip(&sizes)
            .map(|(c, &size)| {
                let size = if c.topology_key == LABEL_HOSTNAME {
                    feasible.len() - s.ignored_nodes.len()
                } else {
                    size
                };
                topology_normalizing_weight(size)
            })
            .collect();
        let ns = pod_namespace(pod);
        for info in all {
            let Some(node) = info.node.as_deref() else {
                continue;
            };
            if require_all && !node_has_all_topology_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.includes_node(pod, node) {
                    continue;
                }
                let value = node_label(node, &c.topology_key)
                    .cloned()
                    .unwrap_or_default();
                if let Some(count) = s.counts[i].get_mut(&value) {
                    *count += count_pods_match_selector(&info.pods, &c.selector, ns);
                }
            }
        }
        s.constraints = constraints;
        s
    }
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        let all = all_nodes(state, nodes);
        if nodes.is_empty() || all.is_empty() {
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        let s = self.compute_pre_score_state(pod, nodes, all);
        if s.constraints.is_empty() {
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        state.write(PRE_SCORE_STATE_KEY, s);
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, pod: &Pod, info: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_STATE_KEY) else {
            return Ok(0);
        };
        if !info.summary.has_node {
            return Ok(0);
        }
        if s.ignored_nodes.contains(info.name()) {
            return Ok(0);
        }
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            // Read from the node info (the zone is kept there), not the Node object.
            let Some(value) = info.node_label(&c.topology_key) else {
                continue;
            };
            let count = if c.topology_key == LABEL_HOSTNAME {
                count_pods_match_selector(&info.pods, &c.selector, pod_namespace(pod))
            } else {
                s.counts[i].get(value).copied().unwrap_or(0)
            };
            score += score_for_count(count, c.max_skew, s.weights[i]);
        }
        Ok(score.round() as i64)
    }

    fn normalize(&self, state: &CycleState, _pod: &Pod, scores: &mut [NodeScore<'_>]) -> Status {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_STATE_KEY) else {
            return Status::success();
        };
        let ignored: Vec<bool> = scores
            .iter()
            .map(|n| s.ignored_nodes.contains(n.name))
            .collect();
        super::spread::normalize(scores, &ignored);
        Status::success()
    }
}
