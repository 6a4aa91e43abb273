//! The Node's status as upstream's kubelet reports it (`nodestatus/setters.go`): capacity and
//! allocatable, addresses, `nodeInfo`, the daemon endpoint, and the MemoryPressure,
//! DiskPressure, PIDPressure and Ready conditions with their upstream reasons and messages;
//! plus the loop that re-posts it every `nodeStatusUpdateFrequency` when something changed or
//! `nodeStatusReportFrequency` has passed.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::{Patch, PatchParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::NodeContext;
use crate::Error;

/// The kubelet version nodes report.
pub const KUBELET_VERSION: &str = "v1.33.0-ferrokube";

/// The node conditions, in upstream's order: (type, reason, message) while healthy.
const CONDITIONS: &[(&str, &str, &str)] = &[
    (
        "MemoryPressure",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    (
        "DiskPressure",
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
    ),
    (
        "PIDPressure",
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
    ),
    ("Ready", "KubeletReady", "kubelet is posting ready status"),
];

/// The conditions of a healthy node, heartbeat `now`, keeping transition times from `old`.
pub fn conditions(old: &[NodeCondition], now: Timestamp) -> Vec<NodeCondition> {
    CONDITIONS
        .iter()
        .map(|(type_, reason, message)| {
            let status = if *type_ == "Ready" { "True" } else { "False" };
            let transition = old
                .iter()
                .find(|c| c.type_ == *type_ && c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or(Time(now));
            NodeCondition {
                type_: type_.to_string(),
                status: status.to_string(),
                reason: Some(reason.to_string()),
                message: Some(message.to_string()),
                last_heartbeat_time: Some(Time(now)),
                last_transition_time: Some(transition),
            }
        })
        .collect()
}

/// The node's full status at `now`.
pub fn node_status(ctx: &NodeContext, old: &[NodeCondition], now: Timestamp) -> NodeStatus {
    let resources: std::collections::BTreeMap<String, Quantity> = ctx
        .capacity
        .iter()
        .map(|(k, v)| (k.clone(), Quantity(v.clone())))
        .collect();
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(conditions(old, now)),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: ctx.host_ip.clone(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: ctx.node_name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: ctx.kubelet_port,
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: ctx.host.arch.clone(),
            boot_id: ctx.host.boot_id.clone(),
            container_runtime_version: ctx.runtime_version.clone(),
            kernel_version: ctx.host.kernel_version.clone(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.into(),
            machine_id: ctx.host.machine_id.clone(),
            operating_system: "linux".into(),
            os_image: ctx.host.os_image.clone(),
            system_uuid: ctx.host.system_uuid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Posts the node's status through `nodes/status`; returns the conditions written.
pub async fn post(ctx: &NodeContext, old: &[NodeCondition]) -> Result<Vec<NodeCondition>, Error> {
    let mut status = node_status(ctx, old, Timestamp::now());
    let conditions = status.conditions.clone().unwrap_or_default();
    // As upstream: the largest images first, at most 50 (`nodeStatusMaxImages`).
    if let Ok(mut images) = ctx.runtime.list_images().await
        && !images.is_empty()
    {
        images.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));
        images.truncate(50);
        status.images = Some(
            images
                .into_iter()
                .map(|i| k8s_openapi::api::core::v1::ContainerImage {
                    names: Some(i.names),
                    size_bytes: Some(i.size_bytes),
                })
                .collect(),
        );
    }
    let api: Api<k8s_openapi::api::core::v1::Node> = Api::all(ctx.client.clone());
    let patch = serde_json::json!({ "status": status });
    api.patch_status(
        &ctx.node_name,
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::UpdateNodeStatus)?;
    Ok(conditions)
}

/// Re-posts the status every `update` when `report` has passed since the last post, until
/// `stop` turns true. (Nothing but the heartbeat changes on a simulated node.)
pub async fn keep_fresh(
    ctx: &NodeContext,
    mut conditions: Vec<NodeCondition>,
    update: Duration,
    report: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last = Instant::now();
    let mut tick = tokio::time::interval(update);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        if last.elapsed() < report {
            continue;
        }
        match post(ctx, &conditions).await {
            Ok(c) => {
                conditions = c;
                last = Instant::now();
                debug!(node = %ctx.node_name, "node status posted");
            }
            Err(e) => warn!(node = %ctx.node_name, error = %e, "posting node status failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_node_is_ready_without_pressure() {
        let now = Timestamp::from_second(100).unwrap();
        let c = conditions(&[], now);
        let summary: Vec<(&str, &str, &str)> = c
            .iter()
            .map(|c| {
                (
                    c.type_.as_str(),
                    c.status.as_str(),
                    c.reason.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                ("PIDPressure", "False", "KubeletHasSufficientPID"),
                ("Ready", "True", "KubeletReady"),
            ]
        );
        assert_eq!(
            c[3].message.as_deref(),
            Some("kubelet is posting ready status")
        );
    }

    #[test]
    fn heartbeats_move_but_transitions_stay() {
        let first = conditions(&[], Timestamp::from_second(100).unwrap());
        let later = Timestamp::from_second(200).unwrap();
        let second = conditions(&first, later);
        assert_eq!(second[3].last_heartbeat_time, Some(Time(later)));
        assert_eq!(
            second[3].last_transition_time,
            first[3].last_transition_time
        );
    }
}
