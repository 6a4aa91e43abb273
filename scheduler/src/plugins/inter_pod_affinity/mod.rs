//! InterPodAffinity (PreFilter, Filter, PreScore, Score; weight 2): required pod affinity
//! and anti-affinity of the incoming pod, the required anti-affinity of the pods already
//! running (in [`filtering`]), and preferred terms of both sides plus existing pods' required
//! affinity at `hardPodAffinityWeight` (in [`scoring`]), with upstream's semantics.

pub mod filtering;
pub mod index;
pub mod scoring;
pub mod terms;

use std::borrow::Cow;
use std::sync::Arc;

use crate::framework::{CycleState, Handle, NodeInfo, Plugin, PluginSet};
use crate::listers::Listers;
use crate::snapshot;

/// The plugin's name.
pub const NAME: &str = "InterPodAffinity";

/// Upstream's default `hardPodAffinityWeight`.
pub const DEFAULT_HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// The plugin.
pub struct InterPodAffinity {
    /// Namespaces for `namespaceSelector`.
    pub listers: Listers,
    /// The score an existing pod's required affinity term adds when the incoming pod matches.
    pub hard_pod_affinity_weight: i64,
}

/// Builds the plugin.
pub fn new(handle: &Handle) -> PluginSet {
    let p = Arc::new(InterPodAffinity {
        listers: handle.listers.clone(),
        hard_pod_affinity_weight: handle
            .plugin_args(NAME)
            .and_then(|a| a.get("hardPodAffinityWeight"))
            .and_then(|w| w.as_i64())
            .unwrap_or(DEFAULT_HARD_POD_AFFINITY_WEIGHT),
    });
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p.clone()),
        pre_score: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// Keeps a snapshot of `nodes` in the cycle state for the plugins that need the whole
/// cluster again at PreScore (which only sees the feasible nodes), unless the scheduler
/// already put its snapshot there.
pub(crate) fn remember_all_nodes(state: &mut CycleState, nodes: &[Arc<NodeInfo>]) {
    snapshot::remember_nodes(state, nodes);
}

/// The snapshot's version of `node` when `node` is not that very object (a copy with pods
/// removed by preemption or nominated pods added), so filters can adjust their PreFilter
/// counts for it; None when it is the snapshot's own node info or unknown.
pub(crate) fn snapshot_node_if_changed(
    state: &CycleState,
    node: &NodeInfo,
) -> Option<Arc<NodeInfo>> {
    let all = snapshot::of_cycle(state)?;
    // Not changed since the snapshot was taken: the snapshot's own node (or an unchanged
    // copy of it).
    if node.generation != 0 && node.generation < all.next_generation {
        return None;
    }
    let found = all.get(node.name())?.clone();
    (!std::ptr::eq(&*found, node)).then_some(found)
}

/// The snapshot's nodes kept by [`remember_all_nodes`], else `fallback`.
pub(crate) fn all_nodes<'a>(
    state: &'a CycleState,
    fallback: &'a [Arc<NodeInfo>],
) -> &'a [Arc<NodeInfo>] {
    snapshot::of_cycle(state)
        .map(|s| s.nodes.as_slice())
        .unwrap_or(fallback)
}

/// The nodes holding pods with pod affinity or anti-affinity: the snapshot's list, else
/// those of `fallback`.
pub(crate) fn nodes_with_affinity<'a>(
    state: &'a CycleState,
    fallback: &'a [Arc<NodeInfo>],
) -> Cow<'a, [Arc<NodeInfo>]> {
    listed_or_filtered(
        state,
        fallback,
        |s| &s.have_pods_with_affinity,
        snapshot::with_affinity,
    )
}

/// The nodes holding pods with required pod anti-affinity: the snapshot's list, else those
/// of `fallback`.
pub(crate) fn nodes_with_required_anti_affinity<'a>(
    state: &'a CycleState,
    fallback: &'a [Arc<NodeInfo>],
) -> Cow<'a, [Arc<NodeInfo>]> {
    listed_or_filtered(
        state,
        fallback,
        |s| &s.have_pods_with_required_anti_affinity,
        snapshot::with_required_anti_affinity,
    )
}

/// The cycle snapshot's `listed` nodes, else the nodes of `fallback` that `keep` selects
/// (the same rule the snapshot builds its list with).
fn listed_or_filtered<'a>(
    state: &'a CycleState,
    fallback: &'a [Arc<NodeInfo>],
    listed: fn(&snapshot::Snapshot) -> &Vec<Arc<NodeInfo>>,
    keep: fn(&NodeInfo) -> bool,
) -> Cow<'a, [Arc<NodeInfo>]> {
    match snapshot::of_cycle(state) {
        Some(s) => listed(s).as_slice().into(),
        None => fallback
            .iter()
            .filter(|n| keep(n))
            .cloned()
            .collect::<Vec<_>>()
            .into(),
    }
}

#[cfg(test)]
mod tests;
