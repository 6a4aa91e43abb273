//! NodeName (Filter): a pod that names a node (`spec.nodeName`) fits only that node.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    Code, CycleState, FilterPlugin, Handle, NodeInfo, Plugin, PluginSet, Status,
};

/// The plugin's name.
pub const NAME: &str = "NodeName";

/// The rejection reason.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// The plugin.
pub struct NodeName;

/// Builds the plugin.
pub fn new(_: &Handle) -> PluginSet {
    PluginSet {
        filter: Some(Arc::new(NodeName)),
        ..Default::default()
    }
}

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            Some(want) if !want.is_empty() && want != node.name() => {
                Status::new(Code::UnschedulableAndUnresolvable, [ERR_REASON])
            }
            _ => Status::success(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};

    fn verdict(want: Option<&str>) -> Status {
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().node_name = want.map(Into::into);
        NodeName.filter(
            &CycleState::default(),
            &p,
            &node_info(node("foo", &[]), vec![]),
        )
    }

    #[test]
    fn no_host_specified_fits() {
        assert!(verdict(None).is_success());
    }

    #[test]
    fn host_matches_fits() {
        assert!(verdict(Some("foo")).is_success());
    }

    #[test]
    fn host_differs_is_rejected() {
        let s = verdict(Some("bar"));
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), ERR_REASON);
    }
}
