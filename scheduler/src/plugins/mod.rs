//! The default plugins, each in its own file, with upstream's names, semantics and weights,
//! and [`registry`] / [`default_profile`] that put them together.

pub mod default_binder;
pub mod default_preemption;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod resource_allocation;
pub mod scheduling_gates;
pub mod taint_toleration;
pub mod volume_binding;
pub mod volume_restrictions;

#[cfg(test)]
pub(crate) mod testing;

use crate::framework::{EnabledPlugin, MAX_NODE_SCORE, NodeScore, Profile, Registry};

/// Every plugin this scheduler knows, by name.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.insert(scheduling_gates::NAME, scheduling_gates::new);
    r.insert(node_unschedulable::NAME, node_unschedulable::new);
    r.insert(node_name::NAME, node_name::new);
    r.insert(taint_toleration::NAME, taint_toleration::new);
    r.insert(node_affinity::NAME, node_affinity::new);
    r.insert(node_ports::NAME, node_ports::new);
    r.insert(node_resources_fit::NAME, node_resources_fit::new);
    r.insert(volume_restrictions::NAME, volume_restrictions::new);
    r.insert(volume_binding::NAME, volume_binding::new);
    r.insert(pod_topology_spread::NAME, pod_topology_spread::new);
    r.insert(inter_pod_affinity::NAME, inter_pod_affinity::new);
    r.insert(default_preemption::NAME, default_preemption::new);
    r.insert(
        node_resources_balanced_allocation::NAME,
        node_resources_balanced_allocation::new,
    );
    r.insert(image_locality::NAME, image_locality::new);
    r.insert(default_binder::NAME, default_binder::new);
    r
}

/// Upstream's default profile (the plugins implemented so far), in upstream's order with
/// upstream's score weights.
pub fn default_profile(scheduler_name: &str) -> Profile {
    let plugin = |name: &str, weight: i64| EnabledPlugin {
        name: name.into(),
        weight,
    };
    Profile {
        scheduler_name: scheduler_name.into(),
        plugins: vec![
            plugin(scheduling_gates::NAME, 0),
            plugin(node_unschedulable::NAME, 0),
            plugin(node_name::NAME, 0),
            plugin(taint_toleration::NAME, 3),
            plugin(node_affinity::NAME, 2),
            plugin(node_ports::NAME, 0),
            plugin(node_resources_fit::NAME, 1),
            plugin(volume_restrictions::NAME, 0),
            plugin(volume_binding::NAME, 0),
            plugin(pod_topology_spread::NAME, 2),
            plugin(inter_pod_affinity::NAME, 2),
            plugin(default_preemption::NAME, 0),
            plugin(node_resources_balanced_allocation::NAME, 1),
            plugin(image_locality::NAME, 1),
            plugin(default_binder::NAME, 0),
        ],
        ..Default::default()
    }
}

/// Upstream's `DefaultNormalizeScore`: scales scores so the highest becomes `MAX_NODE_SCORE`;
/// `reverse` turns the highest into 0 (for "fewer is better" counts).
pub fn default_normalize_score(reverse: bool, scores: &mut [NodeScore<'_>]) {
    let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
    if max == 0 {
        if reverse {
            for s in scores.iter_mut() {
                s.score = MAX_NODE_SCORE;
            }
        }
        return;
    }
    for s in scores.iter_mut() {
        let mut score = MAX_NODE_SCORE * s.score / max;
        if reverse {
            score = MAX_NODE_SCORE - score;
        }
        s.score = score;
    }
}
