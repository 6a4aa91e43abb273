//! NodeUnschedulable (Filter): cordoned nodes (`spec.unschedulable`) take only pods that
//! tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Taint};

use crate::framework::{
    Code, CycleState, FilterPlugin, Handle, NodeInfo, Plugin, PluginSet, Status,
};
use crate::plugins::taint_toleration::tolerated;

/// The plugin's name.
pub const NAME: &str = "NodeUnschedulable";

/// The rejection reason.
pub const ERR_REASON: &str = "node(s) were unschedulable";

/// The plugin.
pub struct NodeUnschedulable;

/// Builds the plugin.
pub fn new(_: &Handle) -> PluginSet {
    PluginSet {
        filter: Some(Arc::new(NodeUnschedulable)),
        ..Default::default()
    }
}

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        // The summary is read first: it sits beside the resources the next filters read,
        // while the Node object is elsewhere in memory.
        if !node.summary.unschedulable {
            if !node.summary.has_node {
                return Status::new(Code::UnschedulableAndUnresolvable, ["node not found"]);
            }
            return Status::success();
        }
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default();
        if tolerated(tolerations, &taint) {
            return Status::success();
        }
        Status::new(Code::UnschedulableAndUnresolvable, [ERR_REASON])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{NodeSpec, Toleration};

    fn cordoned(unschedulable: Option<bool>) -> NodeInfo {
        let mut n = node("n", &[]);
        n.spec = Some(NodeSpec {
            unschedulable,
            ..Default::default()
        });
        node_info(n, vec![])
    }

    #[test]
    fn a_cordoned_node_rejects_pods() {
        let s = NodeUnschedulable.filter(
            &CycleState::default(),
            &pod("p", &[]),
            &cordoned(Some(true)),
        );
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), ERR_REASON);
    }

    #[test]
    fn a_schedulable_node_admits_pods() {
        for u in [None, Some(false)] {
            let s = NodeUnschedulable.filter(&CycleState::default(), &pod("p", &[]), &cordoned(u));
            assert!(s.is_success());
        }
    }

    #[test]
    fn a_node_cordoned_after_it_was_known_rejects_pods_and_admits_them_once_uncordoned() {
        let p = pod("p", &[]);
        let mut info = cordoned(None);
        let mut n = (**info.node.as_ref().unwrap()).clone();
        n.spec.as_mut().unwrap().unschedulable = Some(true);
        info.set_node(Arc::new(n.clone()));
        let s = NodeUnschedulable.filter(&CycleState::default(), &p, &info);
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        n.spec.as_mut().unwrap().unschedulable = Some(false);
        info.set_node(Arc::new(n));
        assert!(
            NodeUnschedulable
                .filter(&CycleState::default(), &p, &info)
                .is_success()
        );
    }

    #[test]
    fn a_node_known_only_by_its_pods_is_not_found() {
        let s =
            NodeUnschedulable.filter(&CycleState::default(), &pod("p", &[]), &NodeInfo::default());
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), "node not found");
    }

    #[test]
    fn a_pod_tolerating_the_unschedulable_taint_fits_a_cordoned_node() {
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().tolerations = Some(vec![Toleration {
            key: Some("node.kubernetes.io/unschedulable".into()),
            operator: Some("Exists".into()),
            effect: Some("NoSchedule".into()),
            ..Default::default()
        }]);
        let s = NodeUnschedulable.filter(&CycleState::default(), &p, &cordoned(Some(true)));
        assert!(s.is_success());
    }
}
