//! NodeResourcesBalancedAllocation (PreScore, Score; weight 1): favours nodes whose CPU and
//! memory would be used in equal shares after placing the pod. Best-effort pods (no requests)
//! skip it, as upstream does since 1.32.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    Code, CycleState, Handle, NodeInfo, Plugin, PluginSet, PreScorePlugin, ScorePlugin, Status,
};
use crate::plugins::resource_allocation::balanced_resource_score;
use crate::resource::{Resource, pod_requests};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesBalancedAllocation";

const STATE_KEY: &str = "PreScoreNodeResourcesBalancedAllocation";

/// The plugin.
pub struct BalancedAllocation;

/// Builds the plugin.
pub fn new(_: &Handle) -> PluginSet {
    let p = Arc::new(BalancedAllocation);
    PluginSet {
        pre_score: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreScorePlugin for BalancedAllocation {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, _: &[Arc<NodeInfo>]) -> Status {
        let requests = pod_requests(pod, false);
        if requests.milli_cpu == 0 && requests.memory == 0 {
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        state.write(STATE_KEY, requests);
        Status::success()
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let computed;
        let r = match state.read::<Resource>(STATE_KEY) {
            Some(r) => r,
            None => {
                computed = pod_requests(pod, false);
                &computed
            }
        };
        Ok(balanced_resource_score(&[
            (
                node.requested.milli_cpu + r.milli_cpu,
                node.allocatable.milli_cpu,
            ),
            (node.requested.memory + r.memory, node.allocatable.memory),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};

    #[test]
    fn nodes_left_balanced_score_higher() {
        let p = pod("p", &[&[("cpu", "3000m"), ("memory", "5000")]]);
        let mut state = CycleState::default();
        assert!(
            BalancedAllocation
                .pre_score(&mut state, &p, &[])
                .is_success()
        );
        let a = node_info(node("a", &[("cpu", "4000m"), ("memory", "10000")]), vec![]);
        let b = node_info(node("b", &[("cpu", "6000m"), ("memory", "10000")]), vec![]);
        assert_eq!(BalancedAllocation.score(&state, &p, &a).unwrap(), 87);
        assert_eq!(BalancedAllocation.score(&state, &p, &b).unwrap(), 100);
    }

    #[test]
    fn existing_pods_count() {
        // Upstream: 3000m/5000 requested on (10000m, 20000) with 3000m/0 and 3000m/5000 there.
        let p = pod("p", &[&[("cpu", "3000m"), ("memory", "5000")]]);
        let n = node_info(
            node("a", &[("cpu", "10000m"), ("memory", "20000")]),
            vec![
                pod("x", &[&[("cpu", "3000m"), ("memory", "0")]]),
                pod("y", &[&[("cpu", "3000m"), ("memory", "5000")]]),
            ],
        );
        // cpu 9000/10000 = 0.9, memory 10000/20000 = 0.5: std 0.2 -> 80
        assert_eq!(
            BalancedAllocation
                .score(&CycleState::default(), &p, &n)
                .unwrap(),
            80
        );
    }

    #[test]
    fn best_effort_pods_skip_it() {
        let s = BalancedAllocation.pre_score(&mut CycleState::default(), &pod("p", &[&[]]), &[]);
        assert_eq!(s.code, Code::Skip);
    }
}
