//! Zone health, as upstream's `ComputeZoneState` and the eviction-rate functions: how many of
//! a zone's nodes are not Ready decides whether the zone is Normal, PartiallyDisrupted or
//! FullyDisrupted, and that state decides how fast the zone's nodes may be tainted for
//! eviction. Pure arithmetic.

use k8s_openapi::api::core::v1::{Node, NodeCondition};

/// The label naming a node's zone.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// The label naming a node's region.
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";
const LABEL_ZONE_BETA: &str = "failure-domain.beta.kubernetes.io/zone";
const LABEL_REGION_BETA: &str = "failure-domain.beta.kubernetes.io/region";

/// A zone's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneState {
    /// First seen, not yet judged.
    Initial,
    /// Few nodes are not Ready: evict at `--node-eviction-rate`.
    Normal,
    /// At least `--unhealthy-zone-threshold` of the zone (and more than 2 nodes) is not Ready.
    PartialDisruption,
    /// No node of the zone is Ready.
    FullDisruption,
}

/// The settings the zone arithmetic needs (the flags of the same names).
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    /// `--node-eviction-rate` (nodes per second, 0.1).
    pub eviction_qps: f64,
    /// `--secondary-node-eviction-rate` (0.01).
    pub secondary_eviction_qps: f64,
    /// `--unhealthy-zone-threshold` (0.55).
    pub unhealthy_zone_threshold: f64,
    /// `--large-cluster-size-threshold` (50).
    pub large_cluster_size_threshold: usize,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            eviction_qps: 0.1,
            secondary_eviction_qps: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_size_threshold: 50,
        }
    }
}

/// A node's zone key, as upstream's `GetZoneKey`: `region:\0:zone`, or "" with neither label.
pub fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let get = |a: &str, b: &str| {
        labels
            .and_then(|l| l.get(a).or_else(|| l.get(b)))
            .cloned()
            .unwrap_or_default()
    };
    let region = get(LABEL_REGION, LABEL_REGION_BETA);
    let zone = get(LABEL_ZONE, LABEL_ZONE_BETA);
    if region.is_empty() && zone.is_empty() {
        return String::new();
    }
    format!("{region}:\x00:{zone}")
}

/// The zone's state from its nodes' Ready conditions (None: the node has none yet), with the
/// number of nodes not Ready.
pub fn compute_zone_state(ready: &[Option<&NodeCondition>], rates: &Rates) -> (usize, ZoneState) {
    let ready_nodes = ready
        .iter()
        .filter(|c| c.is_some_and(|c| c.status == "True"))
        .count();
    let not_ready = ready.len() - ready_nodes;
    let state = if ready_nodes == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2
        && not_ready as f64 / (not_ready + ready_nodes) as f64 >= rates.unhealthy_zone_threshold
    {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    };
    (not_ready, state)
}

/// The tainting rate (nodes per second) for a zone of `zone_size` nodes in `state`: the
/// secondary rate for a partially disrupted large zone, nothing for a small one, the normal
/// rate otherwise (a fully disrupted zone among healthy ones is evicted normally; a cluster
/// whose zones are all fully disrupted stops evicting altogether, see the controller).
pub fn zone_qps(state: ZoneState, zone_size: usize, rates: &Rates) -> f64 {
    match state {
        ZoneState::PartialDisruption if zone_size > rates.large_cluster_size_threshold => {
            rates.secondary_eviction_qps
        }
        ZoneState::PartialDisruption => 0.0,
        ZoneState::Initial | ZoneState::Normal | ZoneState::FullDisruption => rates.eviction_qps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(status: &str) -> NodeCondition {
        NodeCondition {
            type_: "Ready".into(),
            status: status.into(),
            ..Default::default()
        }
    }

    fn state(ready: usize, not_ready: usize) -> ZoneState {
        let (t, f) = (cond("True"), cond("Unknown"));
        let mut all: Vec<Option<&NodeCondition>> = vec![Some(&t); ready];
        all.extend(vec![Some(&f); not_ready]);
        compute_zone_state(&all, &Rates::default()).1
    }

    #[test]
    fn a_zone_with_no_ready_node_is_fully_disrupted() {
        assert_eq!(state(0, 1), ZoneState::FullDisruption);
        assert_eq!(state(0, 3), ZoneState::FullDisruption);
        assert_eq!(state(0, 0), ZoneState::Normal);
    }

    #[test]
    fn more_than_two_and_at_least_55_percent_not_ready_is_a_partial_disruption() {
        assert_eq!(state(2, 3), ZoneState::PartialDisruption);
        assert_eq!(state(1, 2), ZoneState::Normal, "two nodes are never enough");
        assert_eq!(
            state(3, 3),
            ZoneState::Normal,
            "50 % is under the threshold"
        );
        assert_eq!(state(10, 1), ZoneState::Normal);
    }

    #[test]
    fn a_node_without_a_ready_condition_counts_as_not_ready() {
        let t = cond("True");
        let (n, s) = compute_zone_state(&[Some(&t), None], &Rates::default());
        assert_eq!((n, s), (1, ZoneState::Normal));
    }

    #[test]
    fn partially_disrupted_small_zones_stop_evicting_and_large_ones_slow_down() {
        let r = Rates::default();
        assert_eq!(zone_qps(ZoneState::PartialDisruption, 10, &r), 0.0);
        assert_eq!(zone_qps(ZoneState::PartialDisruption, 51, &r), 0.01);
        assert_eq!(zone_qps(ZoneState::Normal, 3, &r), 0.1);
        assert_eq!(zone_qps(ZoneState::FullDisruption, 3, &r), 0.1);
    }

    #[test]
    fn zone_keys_join_region_and_zone() {
        let node: Node = serde_json::from_value(serde_json::json!({"metadata": {"name": "n",
            "labels": {"topology.kubernetes.io/zone": "a", "topology.kubernetes.io/region": "r"}}}))
        .unwrap();
        assert_eq!(zone_key(&node), "r:\x00:a");
        assert_eq!(zone_key(&Node::default()), "");
    }
}
