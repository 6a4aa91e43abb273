//! InterPodAffinity (PreFilter, Filter, PreScore, Score; weight 2): required pod affinity
//! and anti-affinity of the incoming pod, the required anti-affinity of the pods already
//! running (in [`filtering`]), and preferred terms of both sides plus existing pods' required
//! affinity at `hardPodAffinityWeight` (in [`scoring`]), with upstream's semantics.

pub mod filtering;
pub mod scoring;
pub mod terms;

use std::sync::Arc;

use crate::framework::{CycleState, Handle, NodeInfo, Plugin, PluginSet};
use crate::listers::Listers;

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

const ALL_NODES_KEY: &str = "AllNodes";

/// Every node of the cycle's snapshot, kept by the PreFilter of the plugins that need the
/// whole cluster again at PreScore (which only sees the feasible nodes).
/// Every node info changed after it was taken has a generation at or above `next_generation`.
struct AllNodes {
    nodes: Vec<Arc<NodeInfo>>,
    next_generation: u64,
}

/// Keeps the snapshot's nodes in the cycle state (once per cycle).
pub(crate) fn remember_all_nodes(state: &mut CycleState, nodes: &[Arc<NodeInfo>]) {
    if state.read::<AllNodes>(ALL_NODES_KEY).is_none() {
        state.write(
            ALL_NODES_KEY,
            AllNodes {
                nodes: nodes.to_vec(),
                next_generation: crate::framework::next_node_generation(),
            },
        );
    }
}

/// The snapshot's version of `node` when `node` is not that very object (a copy with pods
/// removed by preemption or nominated pods added), so filters can adjust their PreFilter
/// counts for it; None when it is the snapshot's own node info or unknown.
pub(crate) fn snapshot_node_if_changed(
    state: &CycleState,
    node: &NodeInfo,
) -> Option<Arc<NodeInfo>> {
    let all = state.read::<AllNodes>(ALL_NODES_KEY)?;
    // Not changed since the snapshot was taken: the snapshot's own node (or an unchanged
    // copy of it).
    if node.generation != 0 && node.generation < all.next_generation {
        return None;
    }
    let name = node.name();
    let found = match all.nodes.binary_search_by(|n| n.name().cmp(name)) {
        Ok(i) => all.nodes[i].clone(),
        Err(_) => all.nodes.iter().find(|n| n.name() == name)?.clone(),
    };
    (!std::ptr::eq(&*found, node)).then_some(found)
}

/// The snapshot's nodes kept by [`remember_all_nodes`], else `fallback`.
pub(crate) fn all_nodes<'a>(
    state: &'a CycleState,
    fallback: &'a [Arc<NodeInfo>],
) -> &'a [Arc<NodeInfo>] {
    state
        .read::<AllNodes>(ALL_NODES_KEY)
        .map(|a| a.nodes.as_slice())
        .unwrap_or(fallback)
}

#[cfg(test)]
mod tests;
