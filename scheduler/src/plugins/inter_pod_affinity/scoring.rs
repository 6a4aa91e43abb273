//! InterPodAffinity's PreScore, Score and NormalizeScore: every existing pod adds (or, for
//! anti-affinity, subtracts) term weights to the topology domain of its node — the incoming
//! pod's preferred terms that match it, and its own preferred terms and required affinity
//! terms (at `hardPodAffinityWeight`) that match the incoming pod; a node scores the sum over
//! its domains, scaled min..max to 0..100.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::terms::{AffinityTerm, PodTerms, WeightedAffinityTerm, namespace_labels, pod_namespace};
use super::{InterPodAffinity, all_nodes, nodes_with_affinity};
use crate::framework::{
    Code, CycleState, MAX_NODE_SCORE, NodeInfo, NodeScore, PreScorePlugin, ScorePlugin, Status,
};

const PRE_SCORE_STATE_KEY: &str = "PreScoreInterPodAffinity";

/// Score per topology key, per value.
pub type TopologyScore = HashMap<String, HashMap<String, i64>>;

struct PreScoreState {
    topology_score: TopologyScore,
}

fn add_term(
    scores: &mut TopologyScore,
    term: &AffinityTerm,
    weight: i64,
    pod: &Pod,
    ns_labels: Option<&std::collections::BTreeMap<String, String>>,
    node: &Node,
    multiplier: i64,
) {
    if !term.matches(pod, ns_labels) {
        return;
    }
    if let Some(v) = node
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(&term.topology_key))
    {
        *scores
            .entry(term.topology_key.clone())
            .or_default()
            .entry(v.clone())
            .or_default() += weight * multiplier;
    }
}

fn add_terms(
    scores: &mut TopologyScore,
    terms: &[WeightedAffinityTerm],
    pod: &Pod,
    ns_labels: Option<&std::collections::BTreeMap<String, String>>,
    node: &Node,
    multiplier: i64,
) {
    for t in terms {
        add_term(scores, &t.term, t.weight, pod, ns_labels, node, multiplier);
    }
}

impl InterPodAffinity {
    /// The per-domain scores for `pod` over every node (upstream's PreScore).
    pub fn compute_topology_score(&self, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> TopologyScore {
        let with_affinity: Vec<_> = nodes
            .iter()
            .filter(|n| n.pods_with_affinity > 0)
            .cloned()
            .collect();
        self.topology_score(pod, nodes, &with_affinity)
    }

    /// The per-domain scores over `nodes`, of which `with_affinity` hold pods with affinity:
    /// unless the incoming pod has preferred terms only those count (upstream's
    /// `HavePodsWithAffinityList`).
    fn topology_score(
        &self,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        with_affinity: &[Arc<NodeInfo>],
    ) -> TopologyScore {
        let mut incoming = PodTerms::of(pod);
        let has_constraints =
            !incoming.preferred_affinity.is_empty() || !incoming.preferred_anti_affinity.is_empty();
        for t in incoming
            .preferred_affinity
            .iter_mut()
            .chain(incoming.preferred_anti_affinity.iter_mut())
        {
            t.term.merge_selected_namespaces(&self.listers);
        }
        let ns_labels = namespace_labels(&self.listers, pod_namespace(pod));
        let mut scores = TopologyScore::new();
        for info in if has_constraints {
            nodes
        } else {
            with_affinity
        } {
            // Unless the pod has preferred terms, only pods with affinity of their own count.
            if !has_constraints && info.pods_with_affinity == 0 {
                continue;
            }
            let Some(node) = info.node.as_deref() else {
                continue;
            };
            if node.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
                continue;
            }
            for existing_info in &info.pods {
                let existing = &*existing_info.pod;
                let existing_has_affinity = existing_info.terms.is_some();
                if !has_constraints && !existing_has_affinity {
                    continue;
                }
                add_terms(
                    &mut scores,
                    &incoming.preferred_affinity,
                    existing,
                    None,
                    node,
                    1,
                );
                add_terms(
                    &mut scores,
                    &incoming.preferred_anti_affinity,
                    existing,
                    None,
                    node,
                    -1,
                );
                let Some(theirs) = existing_info.terms.as_deref() else {
                    continue;
                };
                if self.hard_pod_affinity_weight > 0 {
                    for t in &theirs.required_affinity {
                        add_term(
                            &mut scores,
                            t,
                            self.hard_pod_affinity_weight,
                            pod,
                            Some(&ns_labels),
                            node,
                            1,
                        );
                    }
                }
                add_terms(
                    &mut scores,
                    &theirs.preferred_affinity,
                    pod,
                    Some(&ns_labels),
                    node,
                    1,
                );
                add_terms(
                    &mut scores,
                    &theirs.preferred_anti_affinity,
                    pod,
                    Some(&ns_labels),
                    node,
                    -1,
                );
            }
        }
        scores
    }
}

/// Upstream's NormalizeScore: min..max scaled to 0..MAX_NODE_SCORE (all 0 when equal).
pub fn normalize_min_max(scores: &mut [NodeScore<'_>]) {
    let (Some(min), Some(max)) = (
        scores.iter().map(|s| s.score).min(),
        scores.iter().map(|s| s.score).max(),
    ) else {
        return;
    };
    let diff = max - min;
    for s in scores.iter_mut() {
        s.score = if diff > 0 {
            (MAX_NODE_SCORE as f64 * ((s.score - min) as f64 / diff as f64)) as i64
        } else {
            0
        };
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        if nodes.is_empty() {
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        let with_affinity = nodes_with_affinity(state, nodes);
        let topology_score = self.topology_score(pod, all_nodes(state, nodes), &with_affinity);
        if topology_score.is_empty() {
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        state.write(PRE_SCORE_STATE_KEY, PreScoreState { topology_score });
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &Pod, info: &NodeInfo) -> Result<i64, Status> {
        let (Some(s), Some(node)) = (
            state.read::<PreScoreState>(PRE_SCORE_STATE_KEY),
            info.node.as_deref(),
        ) else {
            return Ok(0);
        };
        let labels = node.metadata.labels.as_ref();
        Ok(s.topology_score
            .iter()
            .filter_map(|(key, values)| labels.and_then(|l| l.get(key)).and_then(|v| values.get(v)))
            .sum())
    }

    fn normalize(&self, state: &CycleState, _pod: &Pod, scores: &mut [NodeScore<'_>]) -> Status {
        if state
            .read::<PreScoreState>(PRE_SCORE_STATE_KEY)
            .is_none_or(|s| s.topology_score.is_empty())
        {
            return Status::success();
        }
        normalize_min_max(scores);
        Status::success()
    }
}
