//! NodeResourcesFit (PreFilter, Filter, Score; weight 1): a pod fits a node when its requests
//! (containers, init containers, overhead) fit the node's allocatable resources left by the
//! pods already there, and the pod count stays within `pods`; nodes are scored by the
//! LeastAllocated strategy over CPU and memory.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    Code, CycleState, FilterPlugin, Handle, NodeInfo, Plugin, PluginSet, PreFilterPlugin,
    ScorePlugin, Status,
};
use crate::plugins::resource_allocation::least_allocated;
use crate::resource::{Resource, pod_requests};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesFit";

const STATE_KEY: &str = "PreFilterNodeResourcesFit";

/// The pod's requests, computed once per cycle.
struct PreFilterState {
    requests: Resource,
    non_zero: Resource,
}

/// The plugin.
pub struct NodeResourcesFit;

/// Builds the plugin.
pub fn new(_: &Handle) -> PluginSet {
    let p = Arc::new(NodeResourcesFit);
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    }
}

/// Why the pod does not fit the node, as upstream's `fitsRequest`: `Too many pods`, then
/// `Insufficient <resource>` for each resource that is short. Empty when it fits.
pub fn insufficient_resources(requests: &Resource, node: &NodeInfo) -> Vec<String> {
    let mut reasons = Vec::new();
    if node.pods.len() as i64 + 1 > node.allocatable.allowed_pod_number {
        reasons.push("Too many pods".to_string());
    }
    let free = |name: &str| node.allocatable.get(name) - node.requested.get(name);
    for (name, want) in [
        ("cpu", requests.milli_cpu),
        ("memory", requests.memory),
        ("ephemeral-storage", requests.ephemeral_storage),
    ] {
        if want > 0 && want > free(name) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    for (name, want) in &requests.scalar {
        if *want > 0 && *want > free(name) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

impl NodeResourcesFit {
    fn requests<'a>(
        &self,
        state: &'a CycleState,
        pod: &Pod,
    ) -> std::borrow::Cow<'a, PreFilterState> {
        match state.read::<PreFilterState>(STATE_KEY) {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(PreFilterState {
                requests: pod_requests(pod, false),
                non_zero: pod_requests(pod, true),
            }),
        }
    }
}

impl Clone for PreFilterState {
    fn clone(&self) -> Self {
        PreFilterState {
            requests: self.requests.clone(),
            non_zero: self.non_zero.clone(),
        }
    }
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreFilterPlugin for NodeResourcesFit {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, _: &[Arc<NodeInfo>]) -> Status {
        state.write(
            STATE_KEY,
            PreFilterState {
                requests: pod_requests(pod, false),
                non_zero: pod_requests(pod, true),
            },
        );
        Status::success()
    }
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let reasons = insufficient_resources(&self.requests(state, pod).requests, node);
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::new(Code::Unschedulable, reasons)
        }
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let s = self.requests(state, pod);
        let used = &node.non_zero_requested;
        Ok(least_allocated(&[
            (
                used.milli_cpu + s.non_zero.milli_cpu,
                node.allocatable.milli_cpu,
                1,
            ),
            (used.memory + s.non_zero.memory, node.allocatable.memory, 1),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};

    /// Upstream's test node: 10 millicores, 20 bytes, 32 pods, 5 example.com/foo.
    fn busy(used: &[(&str, &str)]) -> NodeInfo {
        node_info(
            node(
                "n",
                &[
                    ("cpu", "10m"),
                    ("memory", "20"),
                    ("pods", "32"),
                    ("example.com/foo", "5"),
                ],
            ),
            vec![pod("existing", &[used])],
        )
    }

    fn verdict(want: &[&[(&str, &str)]], used: &[(&str, &str)]) -> Status {
        NodeResourcesFit.filter(&CycleState::default(), &pod("p", want), &busy(used))
    }

    #[test]
    fn no_resources_requested_always_fits() {
        assert!(verdict(&[], &[("cpu", "10m"), ("memory", "20")]).is_success());
    }

    #[test]
    fn too_many_resources_fails_with_every_reason() {
        let s = verdict(
            &[&[("cpu", "1m"), ("memory", "1")]],
            &[("cpu", "10m"), ("memory", "20")],
        );
        assert_eq!(s.code, Code::Unschedulable);
        assert_eq!(s.reasons, ["Insufficient cpu", "Insufficient memory"]);
    }

    #[test]
    fn too_many_resources_fails_on_one_resource() {
        let s = verdict(
            &[&[("cpu", "1m"), ("memory", "1")]],
            &[("cpu", "9m"), ("memory", "20")],
        );
        assert_eq!(s.reasons, ["Insufficient memory"]);
        assert!(
            verdict(
                &[&[("cpu", "1m"), ("memory", "1")]],
                &[("cpu", "5m"), ("memory", "5")]
            )
            .is_success()
        );
    }

    #[test]
    fn the_larger_init_container_counts() {
        let mut p = pod("p", &[&[("cpu", "1m"), ("memory", "1")]]);
        p.spec.as_mut().unwrap().init_containers = pod("i", &[&[("cpu", "3m"), ("memory", "1")]])
            .spec
            .unwrap()
            .containers
            .into();
        let s = NodeResourcesFit.filter(
            &CycleState::default(),
            &p,
            &busy(&[("cpu", "8m"), ("memory", "19")]),
        );
        assert_eq!(s.reasons, ["Insufficient cpu"]);
    }

    #[test]
    fn extended_resources_are_counted() {
        assert!(verdict(&[&[("example.com/foo", "5")]], &[]).is_success());
        let s = verdict(&[&[("example.com/foo", "6")]], &[]);
        assert_eq!(s.reasons, ["Insufficient example.com/foo"]);
        let s = verdict(&[&[("example.com/bar", "1")]], &[]);
        assert_eq!(s.reasons, ["Insufficient example.com/bar"]);
    }

    #[test]
    fn a_full_node_has_too_many_pods() {
        let n = node_info(
            node("n", &[("cpu", "1"), ("pods", "1")]),
            vec![pod("a", &[])],
        );
        let s = NodeResourcesFit.filter(&CycleState::default(), &pod("p", &[]), &n);
        assert_eq!(s.reasons, ["Too many pods"]);
    }

    #[test]
    fn least_allocated_prefers_the_emptier_node() {
        let p = pod("p", &[&[("cpu", "3000m"), ("memory", "5000")]]);
        let state = CycleState::default();
        let small = node_info(node("a", &[("cpu", "4000m"), ("memory", "10000")]), vec![]);
        let large = node_info(node("b", &[("cpu", "6000m"), ("memory", "10000")]), vec![]);
        assert_eq!(NodeResourcesFit.score(&state, &p, &small).unwrap(), 37);
        assert_eq!(NodeResourcesFit.score(&state, &p, &large).unwrap(), 50);
    }

    #[test]
    fn pods_without_requests_are_scored_with_the_defaults() {
        // 100m and 200Mi of a 1-core, 2000Mi node: cpu 90, memory 90.
        let n = node_info(node("a", &[("cpu", "1"), ("memory", "2000Mi")]), vec![]);
        let s = NodeResourcesFit.score(&CycleState::default(), &pod("p", &[&[]]), &n);
        assert_eq!(s.unwrap(), 90);
    }
}
