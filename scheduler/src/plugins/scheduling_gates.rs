//! SchedulingGates (PreEnqueue): a pod with `spec.schedulingGates` stays out of the active
//! queue until every gate is removed.

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{Code, Handle, Plugin, PluginSet, PreEnqueuePlugin, Status};
use std::sync::Arc;

/// The plugin's name.
pub const NAME: &str = "SchedulingGates";

/// The plugin.
pub struct SchedulingGates;

/// Builds the plugin.
pub fn new(_: &Handle) -> PluginSet {
    PluginSet {
        pre_enqueue: Some(Arc::new(SchedulingGates)),
        ..Default::default()
    }
}

impl Plugin for SchedulingGates {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreEnqueuePlugin for SchedulingGates {
    fn pre_enqueue(&self, pod: &Pod) -> Status {
        let gates: Vec<&str> = pod
            .spec
            .iter()
            .flat_map(|s| s.scheduling_gates.iter().flatten())
            .map(|g| g.name.as_str())
            .collect();
        if gates.is_empty() {
            return Status::success();
        }
        Status::new(
            Code::UnschedulableAndUnresolvable,
            [format!(
                "waiting for scheduling gates: [{}]",
                gates.join(" ")
            )],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;
    use k8s_openapi::api::core::v1::PodSchedulingGate;

    #[test]
    fn a_pod_without_gates_enters_the_queue() {
        assert!(SchedulingGates.pre_enqueue(&pod("p", &[])).is_success());
    }

    #[test]
    fn a_gated_pod_waits_naming_its_gates() {
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().scheduling_gates = Some(vec![
            PodSchedulingGate { name: "foo".into() },
            PodSchedulingGate { name: "bar".into() },
        ]);
        let s = SchedulingGates.pre_enqueue(&p);
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), "waiting for scheduling gates: [foo bar]");
    }
}
