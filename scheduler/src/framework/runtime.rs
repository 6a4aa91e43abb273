//! A profile's plugins assembled and run in upstream's order: PreEnqueue, PreFilter, Filter
//! (stopping at the first rejection per node, visiting nodes round-robin and stopping once
//! enough feasible ones are found), PostFilter, PreScore, Score + NormalizeScore × weight,
//! host selection, Reserve, Permit and Bind.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use k8s_openapi::api::core::v1::Pod;
use tracing::debug;

use super::fit_error::FitError;
use super::*;
use crate::Error;

/// Each rejected node's status, by node name.
pub type NodeToStatus = HashMap<String, Status>;

/// Where the pod should go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleResult {
    /// The chosen node.
    pub suggested_host: String,
    /// How many nodes were filtered.
    pub evaluated_nodes: usize,
    /// How many of them fit.
    pub feasible_nodes: usize,
}

/// One profile's plugins, ready to run.
pub struct Framework {
    /// The scheduler name this profile serves.
    pub scheduler_name: String,
    pre_enqueue: Vec<Arc<dyn PreEnqueuePlugin>>,
    pre_filter: Vec<Arc<dyn PreFilterPlugin>>,
    filter: Vec<Arc<dyn FilterPlugin>>,
    post_filter: Vec<Arc<dyn PostFilterPlugin>>,
    pre_score: Vec<Arc<dyn PreScorePlugin>>,
    score: Vec<(Arc<dyn ScorePlugin>, i64)>,
    reserve: Vec<Arc<dyn ReservePlugin>>,
    permit: Vec<Arc<dyn PermitPlugin>>,
    bind: Vec<Arc<dyn BindPlugin>>,
    /// `percentageOfNodesToScore` (0: upstream's adaptive default).
    pub percentage_of_nodes_to_score: u32,
    next_start_node_index: AtomicUsize,
}

/// How many feasible nodes to look for among `num_all_nodes`, as upstream's
/// `numFeasibleNodesToFind` (at least 100; adaptive 50% - 1% per 125 nodes, at least 5%).
pub fn num_feasible_nodes_to_find(percentage: u32, num_all_nodes: usize) -> usize {
    const MIN_FEASIBLE: usize = 100;
    if num_all_nodes < MIN_FEASIBLE || percentage >= 100 {
        return num_all_nodes;
    }
    let pct = if percentage == 0 {
        (50 - (num_all_nodes / 125) as i64).max(5) as usize
    } else {
        percentage as usize
    };
    (num_all_nodes * pct / 100).max(MIN_FEASIBLE)
}

impl Framework {
    /// Builds the profile's plugins from the registry.
    pub fn new(registry: &Registry, profile: &Profile, handle: &Handle) -> Result<Self, Error> {
        let mut fw = Framework {
            scheduler_name: profile.scheduler_name.clone(),
            pre_enqueue: vec![],
            pre_filter: vec![],
            filter: vec![],
            post_filter: vec![],
            pre_score: vec![],
            score: vec![],
            reserve: vec![],
            permit: vec![],
            bind: vec![],
            percentage_of_nodes_to_score: 0,
            next_start_node_index: AtomicUsize::new(0),
        };
        for enabled in &profile.plugins {
            let factory = registry.get(enabled.name.as_str()).ok_or_else(|| {
                Error::BuildProfile(format!("plugin {:?} does not exist", enabled.name))
            })?;
            let set = factory(handle);
            fw.pre_enqueue.extend(set.pre_enqueue);
            fw.pre_filter.extend(set.pre_filter);
            fw.filter.extend(set.filter);
            fw.post_filter.extend(set.post_filter);
            fw.pre_score.extend(set.pre_score);
            fw.score
                .extend(set.score.map(|s| (s, enabled.weight.max(1))));
            fw.reserve.extend(set.reserve);
            fw.permit.extend(set.permit);
            fw.bind.extend(set.bind);
        }
        if fw.bind.is_empty() {
            return Err(Error::BuildProfile(
                "at least one bind plugin is needed".into(),
            ));
        }
        Ok(fw)
    }

    /// Whether the pod may enter the active queue.
    pub fn run_pre_enqueue(&self, pod: &Pod) -> Status {
        for p in &self.pre_enqueue {
            let s = p.pre_enqueue(pod);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// PreFilter: success, or the rejection of every node.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Status {
        for p in &self.pre_filter {
            let s = p.pre_filter(state, pod, nodes);
            match s.code {
                Code::Success => {}
                Code::Skip => state.skip_filter.push(p.name()),
                _ => return s.with_plugin(p.name()),
            }
        }
        Status::success()
    }

    /// Filter on one node: the first rejection, else success.
    pub fn run_filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        for p in &self.filter {
            if state.skip_filter.contains(&p.name()) {
                continue;
            }
            let s = p.filter(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Filters the nodes round-robin until enough fit; the feasible nodes and the statuses of
    /// the rejected ones.
    pub fn find_nodes_that_fit(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> (Vec<Arc<NodeInfo>>, NodeToStatus) {
        let mut feasible = Vec::new();
        let mut statuses = NodeToStatus::new();
        if nodes.is_empty() {
            return (feasible, statuses);
        }
        let want = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, nodes.len());
        let start = self.next_start_node_index.load(Ordering::Relaxed) % nodes.len();
        let mut processed = 0;
        for i in 0..nodes.len() {
            let node = &nodes[(start + i) % nodes.len()];
            processed += 1;
            let s = self.run_filter(state, pod, node);
            if s.is_success() {
                feasible.push(node.clone());
                if feasible.len() >= want {
                    break;
                }
            } else {
                statuses.insert(node.name().to_string(), s);
            }
        }
        self.next_start_node_index
            .store((start + processed) % nodes.len(), Ordering::Relaxed);
        (feasible, statuses)
    }

    /// PostFilter plugins in order until one nominates a node; their messages otherwise.
    pub fn run_post_filter(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        statuses: &NodeToStatus,
    ) -> (Option<String>, Option<String>) {
        let mut messages = Vec::new();
        for p in &self.post_filter {
            let (nominated, s) = p.post_filter(state, pod, nodes, statuses, self);
            if nominated.is_some() {
                return (nominated, None);
            }
            if !s.reasons.is_empty() {
                messages.push(s.message());
            }
        }
        (None, (!messages.is_empty()).then(|| messages.join(" ")))
    }

    /// PreScore, Score, NormalizeScore and weights: each feasible node's total score.
    pub fn prioritize(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Result<Vec<NodeScore>, Status> {
        for p in &self.pre_score {
            let s = p.pre_score(state, pod, nodes);
            match s.code {
                Code::Success => {}
                Code::Skip => state.skip_score.push(p.name()),
                _ => return Err(s.with_plugin(p.name())),
            }
        }
        let mut totals: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.name().to_string(),
                score: 0,
            })
            .collect();
        for (p, weight) in &self.score {
            if state.skip_score.contains(&p.name()) {
                continue;
            }
            let mut scores = Vec::with_capacity(nodes.len());
            for n in nodes {
                let score = p
                    .score(state, pod, n)
                    .map_err(|s| s.with_plugin(p.name()))?;
                scores.push(NodeScore {
                    name: n.name().to_string(),
                    score,
                });
            }
            let s = p.normalize(state, pod, &mut scores);
            if !s.is_success() {
                return Err(s.with_plugin(p.name()));
            }
            for (total, s) in totals.iter_mut().zip(&scores) {
                total.score += s.score * weight;
            }
        }
        Ok(totals)
    }

    /// The highest-scoring node, ties broken at random (reservoir sampling, as upstream).
    pub fn select_host(scores: &[NodeScore]) -> Option<String> {
        let mut best: Option<&NodeScore> = None;
        let mut ties = 0u32;
        for s in scores {
            match best {
                Some(b) if s.score < b.score => {}
                Some(b) if s.score == b.score => {
                    ties += 1;
                    if rand::random_range(0..ties) == 0 {
                        best = Some(s);
                    }
                }
                _ => {
                    best = Some(s);
                    ties = 1;
                }
            }
        }
        best.map(|b| b.name.clone())
    }

    /// The scheduling algorithm: PreFilter, Filter, PostFilter on failure, then scoring.
    pub fn schedule(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Result<ScheduleResult, Box<FitError>> {
        let mut fit = FitError {
            num_all_nodes: nodes.len(),
            ..Default::default()
        };
        if nodes.is_empty() {
            return Err(Box::new(fit));
        }
        let pre = self.run_pre_filter(state, pod, nodes);
        let (feasible, statuses) = if pre.is_success() {
            self.find_nodes_that_fit(state, pod, nodes)
        } else {
            fit.pre_filter_msg = Some(pre.message());
            let statuses = nodes
                .iter()
                .map(|n| (n.name().to_string(), pre.clone()))
                .collect();
            (Vec::new(), statuses)
        };
        if feasible.is_empty() {
            if pre.code != Code::UnschedulableAndUnresolvable {
                let (nominated, msg) = self.run_post_filter(state, pod, nodes, &statuses);
                fit.nominated_node = nominated;
                fit.post_filter_msg = msg;
            }
            fit.statuses = statuses;
            return Err(Box::new(fit));
        }
        let evaluated = feasible.len() + statuses.len();
        if feasible.len() == 1 {
            return Ok(ScheduleResult {
                suggested_host: feasible[0].name().to_string(),
                evaluated_nodes: evaluated,
                feasible_nodes: 1,
            });
        }
        let scores = match self.prioritize(state, pod, &feasible) {
            Ok(s) => s,
            Err(s) => {
                debug!(plugin = s.plugin, reason = %s.message(), "scoring failed");
                fit.statuses = statuses;
                fit.error = Some(s.message());
                return Err(Box::new(fit));
            }
        };
        Ok(ScheduleResult {
            suggested_host: Framework::select_host(&scores).unwrap_or_default(),
            evaluated_nodes: evaluated,
            feasible_nodes: feasible.len(),
        })
    }

    /// Reserve, undoing earlier reservations when one fails.
    pub fn run_reserve(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for (i, p) in self.reserve.iter().enumerate() {
            let s = p.reserve(state, pod, node);
            if !s.is_success() {
                for q in self.reserve[..i].iter().rev() {
                    q.unreserve(state, pod, node);
                }
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Unreserve, in reverse order.
    pub fn run_unreserve(&self, state: &CycleState, pod: &Pod, node: &str) {
        for p in self.reserve.iter().rev() {
            p.unreserve(state, pod, node);
        }
    }

    /// Permit: the first non-success (a Wait counts as a rejection for now).
    pub fn run_permit(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.permit {
            let s = p.permit(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Bind: binders in order until one does not skip.
    pub async fn run_bind(&self, pod: &Pod, node: &str) -> Status {
        for p in &self.bind {
            let s = p.bind(pod, node).await;
            if s.code != Code::Skip {
                return s.with_plugin(p.name());
            }
        }
        Status::new(Code::Error, ["no bind plugin bound the pod"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};
    use crate::plugins::{default_profile, registry};

    fn framework() -> Framework {
        Framework::new(
            &registry(),
            &default_profile("default-scheduler"),
            &Handle::default(),
        )
        .unwrap()
    }

    fn nodes(specs: &[(&str, &str)]) -> Vec<Arc<NodeInfo>> {
        specs
            .iter()
            .map(|(name, cpu)| {
                Arc::new(node_info(
                    node(name, &[("cpu", cpu), ("memory", "8Gi"), ("pods", "110")]),
                    vec![],
                ))
            })
            .collect()
    }

    #[test]
    fn upstream_adaptive_percentage_of_nodes_to_score() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        assert_eq!(num_feasible_nodes_to_find(0, 6000), 300);
        assert_eq!(num_feasible_nodes_to_find(10, 500), 100);
        assert_eq!(num_feasible_nodes_to_find(100, 5000), 5000);
    }

    #[test]
    fn the_pod_goes_to_the_node_with_the_most_room() {
        let fw = framework();
        let p = pod("p", &[&[("cpu", "1"), ("memory", "1Gi")]]);
        let result = fw
            .schedule(
                &mut CycleState::default(),
                &p,
                &nodes(&[("a", "2"), ("b", "8"), ("c", "500m")]),
            )
            .unwrap();
        assert_eq!(result.suggested_host, "b");
        assert_eq!(result.feasible_nodes, 2);
        assert_eq!(result.evaluated_nodes, 3);
    }

    #[test]
    fn no_fitting_node_explains_itself() {
        let fw = framework();
        let p = pod("p", &[&[("cpu", "4")]]);
        let err = fw
            .schedule(
                &mut CycleState::default(),
                &p,
                &nodes(&[("a", "2"), ("b", "1")]),
            )
            .unwrap_err();
        assert_eq!(
            err.message(),
            "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn an_unknown_plugin_is_refused() {
        let mut profile = default_profile("x");
        profile.plugins.push(EnabledPlugin {
            name: "Frobnicate".into(),
            weight: 1,
        });
        let err = Framework::new(&registry(), &profile, &Handle::default())
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "build profile: plugin \"Frobnicate\" does not exist"
        );
    }
}
