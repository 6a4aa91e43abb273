//! Node health (upstream's `tryUpdateNodeHealth`): when the controller last saw a sign of life
//! from each node — a new Lease `renewTime` or a new Ready `lastHeartbeatTime` — and, once that
//! is older than the grace period, the node's conditions set to Unknown; plus
//! `MarkPodsNotReady` for the pods of a node that stopped being Ready.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use tokio::time::Instant;

use crate::events::{EventType, Recorder};
use crate::{api_message, is_not_found};

/// The conditions set to Unknown when the kubelet goes quiet.
pub const MONITORED_CONDITIONS: &[&str] =
    &["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What the controller remembers about one node's heartbeats.
#[derive(Clone, Debug)]
pub struct NodeHealth {
    /// When the controller last saw the node alive.
    pub probe: Instant,
    /// When the controller saw the Ready condition last change.
    pub ready_transition: Instant,
    heartbeat: Option<Time>,
    transition: Option<Time>,
    renew: Option<MicroTime>,
}

/// The node's Ready condition.
pub fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
}

/// Records the latest signs of life of `node` (and its `lease`) in `health`; returns the grace
/// period that applies and whether the node has been silent longer than that at `now`.
pub fn observe(
    health: &mut HashMap<String, NodeHealth>,
    node: &Node,
    lease: Option<&Lease>,
    grace: Duration,
    startup_grace: Duration,
    now: Instant,
) -> (Duration, bool) {
    let ready = ready_condition(node);
    let grace = if ready.is_some() {
        grace
    } else {
        startup_grace
    };
    let heartbeat = ready.and_then(|c| c.last_heartbeat_time.clone());
    let transition = ready.and_then(|c| c.last_transition_time.clone());
    let entry = health.entry(node.name_any()).or_insert_with(|| NodeHealth {
        probe: now,
        ready_transition: now,
        heartbeat: heartbeat.clone(),
        transition: transition.clone(),
        renew: None,
    });
    if entry.heartbeat != heartbeat {
        entry.probe = now;
        entry.heartbeat = heartbeat;
    }
    if entry.transition != transition {
        entry.ready_transition = now;
        entry.transition = transition;
    }
    let renew = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.clone());
    if let Some(r) = renew
        && entry.renew.as_ref().is_none_or(|old| old.0 < r.0)
    {
        entry.renew = Some(r);
        entry.probe = now;
    }
    (grace, now.saturating_duration_since(entry.probe) > grace)
}

/// `conditions` with every monitored one set to Unknown (upstream's reasons and messages);
/// None when they all already are.
pub fn unknown_conditions(
    conditions: &[NodeCondition],
    created: Option<&Time>,
    now: Timestamp,
) -> Option<Vec<NodeCondition>> {
    let mut out = conditions.to_vec();
    let mut changed = false;
    for kind in MONITORED_CONDITIONS {
        match out.iter_mut().find(|c| c.type_ == *kind) {
            None => {
                out.push(NodeCondition {
                    type_: kind.to_string(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: created.cloned(),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            Some(_) => {}
        }
    }
    changed.then_some(out)
}

/// Sets the node's monitored conditions to Unknown on the API server (reading it fresh);
/// returns the Ready condition it now has.
pub async fn mark_unknown(client: &Client, name: &str) -> Result<Option<NodeCondition>, String> {
    let api: Api<Node> = Api::all(client.clone());
    let mut last = String::new();
    for _ in 0..5 {
        let mut node = match api.get_status(name).await {
            Ok(n) => n,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(api_message(&e)),
        };
        let conditions = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let created = node.metadata.creation_timestamp.clone();
        let Some(new) = unknown_conditions(&conditions, created.as_ref(), Timestamp::now()) else {
            return Ok(ready_condition(&node).cloned());
        };
        node.status.get_or_insert_with(Default::default).conditions = Some(new);
        node.metadata.managed_fields = None;
        match api
            .replace_status(name, &PostParams::default(), &node)
            .await
        {
            Ok(n) => return Ok(ready_condition(&n).cloned()),
            Err(kube::Error::Api(s)) if s.code == 409 => last = s.message,
            Err(e) => return Err(api_message(&e)),
        }
    }
    Err(last)
}

/// Sets the Ready condition of the pods on `node` to False (upstream's `MarkPodsNotReady`),
/// with a `NodeNotReady` event on each pod changed.
pub async fn mark_pods_not_ready(client: &Client, recorder: &Recorder, pods: &[&Pod], node: &str) {
    for pod in pods {
        if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node) {
            continue;
        }
        let ready = crate::pod_util::ready_condition(pod);
        if ready.is_none_or(|c| c.status == "False") {
            continue;
        }
        let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
        let patch = serde_json::json!({"status": {"conditions": [{"type": "Ready",
            "status": "False", "lastTransitionTime": Time(Timestamp::now())}]}});
        match api
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
        {
            Ok(_) => recorder.publish(
                *pod,
                EventType::Warning,
                "NodeNotReady",
                "Node is not ready".into(),
            ),
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                tracing::warn!(pod = %pod.name_any(), error = %api_message(&e), "marking pod not ready failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(heartbeat: i64) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n"}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "lastHeartbeatTime": Timestamp::from_second(heartbeat).unwrap().to_string(),
             "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}))
        .unwrap()
    }

    fn lease(renew: i64) -> Lease {
        serde_json::from_value(json!({"metadata": {"name": "n"}, "spec": {
            "renewTime": Timestamp::from_second(renew).unwrap().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}}))
        .unwrap()
    }

    #[test]
    fn a_node_is_silent_once_neither_its_lease_nor_its_status_moved_for_the_grace_period() {
        let (grace, startup) = (Duration::from_secs(4), Duration::from_secs(60));
        let t0 = Instant::now();
        let mut h = HashMap::new();
        let at = |s| t0 + Duration::from_secs(s);
        assert!(!observe(&mut h, &node(1), Some(&lease(1)), grace, startup, at(0)).1);
        assert!(
            !observe(&mut h, &node(1), Some(&lease(2)), grace, startup, at(3)).1,
            "lease renewed at 3"
        );
        assert!(!observe(&mut h, &node(1), Some(&lease(2)), grace, startup, at(7)).1);
        assert!(observe(&mut h, &node(1), Some(&lease(2)), grace, startup, at(8)).1);
        assert!(
            !observe(&mut h, &node(2), Some(&lease(2)), grace, startup, at(9)).1,
            "status posted"
        );
    }

    #[test]
    fn a_node_that_never_posted_status_gets_the_startup_grace_period() {
        let n: Node = serde_json::from_value(json!({"metadata": {"name": "n"}})).unwrap();
        let mut h = HashMap::new();
        let t0 = Instant::now();
        let (g, _) = observe(
            &mut h,
            &n,
            None,
            Duration::from_secs(4),
            Duration::from_secs(60),
            t0,
        );
        assert_eq!(g, Duration::from_secs(60));
    }

    #[test]
    fn silent_nodes_get_unknown_conditions_with_upstreams_reasons() {
        let n = node(1);
        let now = Timestamp::from_second(100).unwrap();
        let c = ready_condition(&n).cloned().into_iter().collect::<Vec<_>>();
        let out = unknown_conditions(&c, None, now).unwrap();
        let summary: Vec<(&str, &str, &str)> = out
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
                ("Ready", "Unknown", "NodeStatusUnknown"),
                ("MemoryPressure", "Unknown", "NodeStatusNeverUpdated"),
                ("DiskPressure", "Unknown", "NodeStatusNeverUpdated"),
                ("PIDPressure", "Unknown", "NodeStatusNeverUpdated"),
            ]
        );
        assert_eq!(
            out[0].message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(
            out[0].last_heartbeat_time, c[0].last_heartbeat_time,
            "heartbeat kept"
        );
        assert_eq!(unknown_conditions(&out, None, now), None);
    }
}
