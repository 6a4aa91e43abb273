//! The ReplicaSet's status (upstream's `calculateStatus` and `updateReplicaSetStatus`):
//! counts computed purely from the claimed pods, written through the status subresource only
//! when something changed, with one retry on a fresh copy.

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use tracing::debug;

use super::Context;
use crate::{Error, api_message, pod_util};

/// The condition type set while creating or deleting pods fails.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// The status the ReplicaSet should have given its active, claimed `pods` and the outcome of
/// this sync's creates/deletes (`manage_error`). `observedGeneration` is left as it was.
pub fn calculate(
    rs: &ReplicaSet,
    pods: &[Arc<Pod>],
    manage_error: Option<&Error>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone().unwrap_or_default();
    let spec = rs.spec.as_ref();
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let (mut fully_labeled, mut ready, mut available) = (0, 0, 0);
    for pod in pods {
        let labels = pod.labels();
        if template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        {
            fully_labeled += 1;
        }
        if pod_util::is_ready(pod) {
            ready += 1;
            if pod_util::is_available(pod, min_ready, now) {
                available += 1;
            }
        }
    }
    let has_failure = status
        .conditions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == REPLICA_FAILURE);
    match manage_error {
        Some(e) if !has_failure => {
            let want = spec.and_then(|s| s.replicas).unwrap_or(1) as i64;
            let diff = pods.len() as i64 - want;
            let reason = match diff {
                d if d < 0 => "FailedCreate",
                d if d > 0 => "FailedDelete",
                _ => "",
            };
            status
                .conditions
                .get_or_insert_with(Vec::new)
                .push(ReplicaSetCondition {
                    type_: REPLICA_FAILURE.into(),
                    status: "True".into(),
                    reason: Some(reason.into()),
                    message: Some(e.to_string()),
                    last_transition_time: Some(Time(now)),
                });
        }
        None if has_failure => {
            if let Some(c) = status.conditions.as_mut() {
                c.retain(|c| c.type_ != REPLICA_FAILURE);
            }
            if status.conditions.as_ref().is_some_and(|c| c.is_empty()) {
                status.conditions = None;
            }
        }
        _ => {}
    }
    status.replicas = pods.len() as i32;
    status.fully_labeled_replicas = Some(fully_labeled);
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status
}

/// How long until the next ready pod becomes available (ready for `min_ready_seconds`), so the
/// sync can come back then; None when no pod is waiting. Upstream re-queues after
/// `minReadySeconds` when a pod turns ready; this also covers a changed `minReadySeconds`.
pub fn next_available_in(
    pods: &[Arc<Pod>],
    min_ready_seconds: i32,
    now: Timestamp,
) -> Option<std::time::Duration> {
    if min_ready_seconds <= 0 {
        return None;
    }
    pods.iter()
        .filter(|p| !pod_util::is_available(p, min_ready_seconds, now))
        .filter_map(|p| pod_util::ready_since(p))
        .map(|since| {
            (since + jiff::SignedDuration::from_secs(min_ready_seconds.into())).duration_since(now)
        })
        .min()
        .map(|d| d.unsigned_abs() + std::time::Duration::from_secs(1))
}

fn counts(s: &ReplicaSetStatus) -> (i32, i32, i32, i32) {
    (
        s.replicas,
        s.fully_labeled_replicas.unwrap_or(0),
        s.ready_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
    )
}

/// Writes `status` (with `observedGeneration`) unless the ReplicaSet already has it; returns the
/// status now stored.
pub async fn update(
    ctx: &Context,
    rs: &ReplicaSet,
    mut status: ReplicaSetStatus,
) -> Result<ReplicaSetStatus, Error> {
    let current = rs.status.clone().unwrap_or_default();
    let generation = rs.metadata.generation;
    if counts(&current) == counts(&status)
        && generation == current.observed_generation
        && current.conditions == status.conditions
    {
        return Ok(current);
    }
    status.observed_generation = generation;
    let api: Api<ReplicaSet> =
        Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    let mut obj = rs.clone();
    for attempt in 0..2 {
        obj.status = Some(status.clone());
        match api
            .replace_status(&obj.name_any(), &PostParams::default(), &obj)
            .await
        {
            Ok(written) => return Ok(written.status.unwrap_or_default()),
            Err(e) if attempt == 0 => {
                debug!(error = %e, "status update failed; retrying on a fresh copy");
                obj = api
                    .get(&rs.name_any())
                    .await
                    .map_err(|e| Error::UpdateStatus(api_message(&e)))?;
            }
            Err(e) => return Err(Error::UpdateStatus(api_message(&e))),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(
                            [("app".into(), "web".into()), ("tier".into(), "fe".into())].into(),
                        ),
                        ..Default::default()
                    }),
                    spec: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(labels: &[(&str, &str)], ready_since: Option<i64>) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        if let Some(s) = ready_since {
            p.status = Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(Timestamp::from_second(s).unwrap())),
                    ..Default::default()
                }]),
                ..Default::default()
            });
        }
        Arc::new(p)
    }

    #[test]
    fn counts_follow_labels_readiness_and_min_ready_seconds() {
        let now = Timestamp::from_second(1000).unwrap();
        let pods = vec![
            pod(&[("app", "web"), ("tier", "fe")], Some(900)),
            pod(&[("app", "web"), ("tier", "fe")], Some(995)),
            pod(&[("app", "web")], None),
        ];
        let s = calculate(&rs(3, 10), &pods, None, now);
        assert_eq!(counts(&s), (3, 2, 2, 1));
    }

    #[test]
    fn the_sync_comes_back_when_the_next_pod_becomes_available() {
        let now = Timestamp::from_second(1000).unwrap();
        let pods = vec![
            pod(&[], Some(990)),
            pod(&[], Some(998)),
            pod(&[], Some(900)),
        ];
        assert_eq!(
            next_available_in(&pods, 30, now),
            Some(std::time::Duration::from_secs(21))
        );
        assert_eq!(next_available_in(&pods, 0, now), None);
        assert_eq!(next_available_in(&[pod(&[], None)], 30, now), None);
    }

    #[test]
    fn a_create_error_sets_replica_failure_and_success_clears_it() {
        let now = Timestamp::from_second(1000).unwrap();
        let mut set = rs(2, 0);
        let err = Error::CreatePods("exceeded quota".into());
        let failed = calculate(&set, &[], Some(&err), now);
        let cond = &failed.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (
                cond.type_.as_str(),
                cond.status.as_str(),
                cond.reason.as_deref(),
                cond.message.as_deref()
            ),
            (
                "ReplicaFailure",
                "True",
                Some("FailedCreate"),
                Some("exceeded quota")
            )
        );
        set.status = Some(failed);
        assert_eq!(calculate(&set, &[], None, now).conditions, None);
    }
}
