//! What users see about a scheduling attempt: the `Scheduled` event ("Successfully assigned
//! ns/pod to node"), and on failure the `FailedScheduling` event plus the pod's
//! `PodScheduled=False` condition with reason `Unschedulable` (or `SchedulerError`) and the
//! same message.

use ferrokube_controllers::events::{EventType, Recorder};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams};
use tracing::debug;

use crate::framework::pod_key;

/// `PodScheduled` condition reason when no node fits.
pub const REASON_UNSCHEDULABLE: &str = "Unschedulable";
/// `PodScheduled` condition reason for internal errors.
pub const REASON_SCHEDULER_ERROR: &str = "SchedulerError";

/// The `Scheduled` event's message.
pub fn scheduled_message(pod: &Pod, node: &str) -> String {
    format!("Successfully assigned {} to {node}", pod_key(pod))
}

/// Records that the pod was bound.
pub fn scheduled(recorder: &Recorder, pod: &Pod, node: &str) {
    recorder.publish(
        pod,
        EventType::Normal,
        "Scheduled",
        scheduled_message(pod, node),
    );
}

/// Whether the pod already carries this PodScheduled=False condition.
fn has_condition(pod: &Pod, reason: &str, message: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some(reason)
                && c.message.as_deref() == Some(message)
        })
}

/// Records a failed attempt: the `FailedScheduling` event and the PodScheduled condition
/// (and `nominatedNodeName` when preemption chose one).
pub async fn failed(
    client: &kube::Client,
    recorder: &Recorder,
    pod: &Pod,
    reason: &str,
    message: &str,
    nominated_node: Option<&str>,
) {
    recorder.publish(
        pod,
        EventType::Warning,
        "FailedScheduling",
        message.to_string(),
    );
    if has_condition(pod, reason, message) && nominated_node.is_none() {
        return;
    }
    let mut status = serde_json::json!({
        "conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": null,
            "lastTransitionTime": Timestamp::now().to_string(),
        }]
    });
    if let Some(node) = nominated_node {
        status["nominatedNodeName"] = node.into();
    }
    let api: Api<Pod> = Api::namespaced(
        client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let patch = serde_json::json!({ "status": status });
    if let Err(e) = api
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        debug!(pod = %pod_key(pod), error = %e, "could not update the PodScheduled condition");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;

    #[test]
    fn the_scheduled_message_names_the_pod_and_node() {
        assert_eq!(
            scheduled_message(&pod("web", &[]), "node-1"),
            "Successfully assigned default/web to node-1"
        );
    }
}
