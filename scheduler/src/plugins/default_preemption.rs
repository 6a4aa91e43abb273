//! DefaultPreemption (PostFilter), the diagnosis half: when no node fits, it works out for
//! each node whether evicting lower-priority pods could help and reports it in upstream's
//! words (`preemption: 0/3 nodes are available: 1 No preemption victims found for incoming
//! pod, 2 Preemption is not helpful for scheduling.`). Evicting victims and nominating a node
//! are not implemented yet: a node where removing every lower-priority pod would make room is
//! reported as `No preemption victims found for incoming pod` as well.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    Code, CycleState, FitError, Framework, Handle, NodeInfo, NodeToStatus, Plugin, PluginSet,
    PostFilterPlugin, Status, pod_key,
};

/// The plugin's name.
pub const NAME: &str = "DefaultPreemption";

/// A node where preemption cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// A node without lower-priority pods to evict.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// The plugin.
pub struct DefaultPreemption;

/// Builds the plugin.
pub fn new(_: &Handle) -> PluginSet {
    PluginSet {
        post_filter: Some(Arc::new(DefaultPreemption)),
        ..Default::default()
    }
}

/// A pod's priority (`spec.priority`, 0 when unset).
pub fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl DefaultPreemption {
    /// Why preempting on this node would not schedule the pod.
    fn node_status(
        &self,
        state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        status: Option<&Status>,
        framework: &Framework,
    ) -> Status {
        if status.is_none_or(|s| s.code == Code::UnschedulableAndUnresolvable) {
            return Status::new(Code::UnschedulableAndUnresolvable, [NOT_HELPFUL]);
        }
        let mine = priority(pod);
        let victims: Vec<String> = node
            .pods
            .iter()
            .filter(|p| priority(&p.pod) < mine)
            .map(|p| p.key())
            .collect();
        if victims.is_empty() {
            return Status::new(Code::UnschedulableAndUnresolvable, [NO_VICTIMS]);
        }
        let mut without = node.clone();
        for v in &victims {
            without.remove_pod(v);
        }
        let s = framework.run_filter(state, pod, &without);
        if s.is_success() {
            // A candidate: eviction is not implemented yet.
            Status::new(Code::UnschedulableAndUnresolvable, [NO_VICTIMS])
        } else {
            s
        }
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        statuses: &NodeToStatus,
        framework: &Framework,
    ) -> (Option<String>, Status) {
        let policy = pod
            .spec
            .as_ref()
            .and_then(|s| s.preemption_policy.as_deref());
        if policy == Some("Never") {
            return (
                None,
                Status::new(
                    Code::Unschedulable,
                    ["preemption: not eligible due to preemptionPolicy=Never."],
                ),
            );
        }
        let per_node: NodeToStatus = nodes
            .iter()
            .map(|n| {
                let s = self.node_status(state, pod, n, statuses.get(n.name()), framework);
                (n.name().to_string(), s)
            })
            .collect();
        let fit = FitError {
            num_all_nodes: nodes.len(),
            statuses: per_node,
            ..Default::default()
        };
        tracing::debug!(pod = %pod_key(pod), "no preemption candidates");
        (
            None,
            Status::new(
                Code::Unschedulable,
                [format!("preemption: {}", fit.message())],
            ),
        )
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

    #[test]
    fn unresolvable_nodes_are_not_helped_and_full_nodes_have_no_victims() {
        let fw = framework();
        let p = pod("p", &[&[("cpu", "2")]]);
        let nodes: Vec<Arc<NodeInfo>> = ["a", "b", "c"]
            .iter()
            .map(|n| Arc::new(node_info(node(n, &[("cpu", "1"), ("pods", "10")]), vec![])))
            .collect();
        let mut statuses = NodeToStatus::new();
        statuses.insert(
            "a".into(),
            Status::new(Code::Unschedulable, ["Insufficient cpu"]),
        );
        for n in ["b", "c"] {
            statuses.insert(
                n.into(),
                Status::new(Code::UnschedulableAndUnresolvable, ["x"]),
            );
        }
        let (nominated, s) =
            DefaultPreemption.post_filter(&CycleState::default(), &p, &nodes, &statuses, &fw);
        assert_eq!(nominated, None);
        assert_eq!(
            s.message(),
            "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn a_pod_that_never_preempts_says_so() {
        let fw = framework();
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
        let (_, s) = DefaultPreemption.post_filter(
            &CycleState::default(),
            &p,
            &[],
            &NodeToStatus::new(),
            &fw,
        );
        assert_eq!(
            s.message(),
            "preemption: not eligible due to preemptionPolicy=Never."
        );
    }

    #[test]
    fn a_node_still_short_after_evicting_everyone_reports_the_filter_reason() {
        let fw = framework();
        let mut p = pod("p", &[&[("cpu", "2")]]);
        p.spec.as_mut().unwrap().priority = Some(10);
        let n = Arc::new(node_info(
            node("a", &[("cpu", "1"), ("pods", "10")]),
            vec![pod("low", &[&[("cpu", "1")]])],
        ));
        let mut statuses = NodeToStatus::new();
        statuses.insert(
            "a".into(),
            Status::new(Code::Unschedulable, ["Insufficient cpu"]),
        );
        let (_, s) =
            DefaultPreemption.post_filter(&CycleState::default(), &p, &[n], &statuses, &fw);
        assert_eq!(
            s.message(),
            "preemption: 0/1 nodes are available: 1 Insufficient cpu."
        );
    }
}
