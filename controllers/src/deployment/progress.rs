//! Status and conditions (upstream's `progress.go` and `calculateStatus`): replica counts,
//! `Available` (minimum availability), `Progressing` with its reasons (NewReplicaSetCreated,
//! FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded,
//! DeploymentPaused, DeploymentResumed), `ReplicaFailure` copied from the ReplicaSets, and when
//! to come back to check the progress deadline.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use kube::ResourceExt;

use super::sync::{self, update_status};
use super::{Context, util};
use crate::Error;

/// Upstream's `calculateStatus`: the counts from the ReplicaSets and the `Available`
/// condition; other conditions carry over.
pub fn calculate_status(
    d: &Deployment,
    all: &[ReplicaSet],
    new: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let available = sync::available_replicas(all);
    let total = sync::spec_replicas(all);
    let old = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(sync::actual_replicas(all)),
        updated_replicas: Some(new.map_or(0, |n| sync::actual_replicas(std::slice::from_ref(n)))),
        ready_replicas: Some(sync::ready_replicas(all)),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: old.terminating_replicas,
    };
    let condition = if available >= util::replicas(d) - util::max_unavailable(d) {
        util::new_condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            now,
        )
    } else {
        util::new_condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    util::set_condition(&mut status, condition);
    status
}

/// Upstream's `syncRolloutStatus`: the status with an up-to-date `Progressing` condition.
/// Returns when to check again for a deadline that has not passed yet.
pub async fn sync_rollout_status(
    ctx: &Context,
    d: &mut Deployment,
    all: &[ReplicaSet],
    new: Option<&ReplicaSet>,
) -> Result<Option<Duration>, Error> {
    let now = Timestamp::now();
    let mut status = calculate_status(d, all, new, now);
    if !util::has_progress_deadline(d) {
        util::remove_condition(&mut status, "Progressing");
    }
    let old = d.status.clone().unwrap_or_default();
    let current = util::condition(&old, "Progressing").cloned();
    let complete_already = status.replicas == status.updated_replicas
        && current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"));
    if util::has_progress_deadline(d) && !complete_already {
        let name = new.map(|n| n.name_any());
        if util::is_complete(d, &status) {
            let msg = match &name {
                Some(n) => format!("ReplicaSet {n:?} has successfully progressed."),
                None => "Deployment has successfully progressed.".into(),
            };
            util::set_condition(
                &mut status,
                util::new_condition("Progressing", "True", "NewReplicaSetAvailable", msg, now),
            );
        } else if util::is_progressing(d, &status) {
            let msg = match &name {
                Some(n) => format!("ReplicaSet {n:?} is progressing."),
                None => "Deployment is progressing.".into(),
            };
            let mut c = util::new_condition("Progressing", "True", "ReplicaSetUpdated", msg, now);
            if let Some(cur) = &current {
                if cur.status == "True" {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                util::remove_condition(&mut status, "Progressing");
            }
            util::set_condition(&mut status, c);
        } else if timed_out(d, &status, now) {
            let msg = match &name {
                Some(n) => format!("ReplicaSet {n:?} has timed out progressing."),
                None => "Deployment has timed out progressing.".into(),
            };
            util::set_condition(
                &mut status,
                util::new_condition("Progressing", "False", "ProgressDeadlineExceeded", msg, now),
            );
        }
    }
    match replica_failure(all, new) {
        Some(c) => util::set_condition(&mut status, c),
        None => util::remove_condition(&mut status, "ReplicaFailure"),
    }
    if d.status.as_ref() == Some(&status) {
        return Ok(requeue_stuck(d, &status, now));
    }
    d.status = Some(status);
    update_status(ctx, d).await?;
    Ok(None)
}

/// Upstream's `DeploymentTimedOut`.
fn timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(c) = util::condition(status, "Progressing") else {
        return false;
    };
    match c.reason.as_deref() {
        Some("NewReplicaSetAvailable") => false,
        Some("ProgressDeadlineExceeded") => true,
        _ => deadline(d, c).is_some_and(|at| at < now),
    }
}

/// When the Progressing condition's deadline falls.
fn deadline(d: &Deployment, c: &DeploymentCondition) -> Option<Timestamp> {
    let secs = d.spec.as_ref()?.progress_deadline_seconds?;
    let from = c.last_update_time.as_ref()?.0;
    Some(from + SignedDuration::from_secs(secs.into()))
}

/// Upstream's `requeueStuckDeployment`: come back just after the deadline of a rollout that
/// is neither complete nor already timed out.
fn requeue_stuck(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> Option<Duration> {
    let c = util::condition(status, "Progressing")?;
    if !util::has_progress_deadline(d)
        || util::is_complete(d, status)
        || c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    {
        return None;
    }
    let after = deadline(d, c)?.duration_since(now);
    if after < SignedDuration::from_secs(1) {
        return Some(Duration::from_millis(100));
    }
    Some(after.unsigned_abs() + Duration::from_secs(1))
}

/// The first ReplicaFailure condition of the new ReplicaSet, else of any other.
fn replica_failure(all: &[ReplicaSet], new: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    new.into_iter().chain(all.iter()).find_map(|rs| {
        rs.status
            .as_ref()?
            .conditions
            .as_deref()?
            .iter()
            .find(|c| c.type_ == "ReplicaFailure")
            .map(|c| DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_transition_time: c.last_transition_time.clone(),
                last_update_time: c.last_transition_time.clone(),
            })
    })
}

/// Upstream's `checkPausedConditions`: Progressing Unknown with DeploymentPaused or
/// DeploymentResumed when `spec.paused` flips (a timed-out rollout keeps its condition).
pub async fn check_paused_conditions(ctx: &Context, d: &mut Deployment) -> Result<(), Error> {
    if !util::has_progress_deadline(d) {
        return Ok(());
    }
    let status = d.status.clone().unwrap_or_default();
    let cond = util::condition(&status, "Progressing");
    if cond.is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded")) {
        return Ok(());
    }
    let paused_cond = cond.is_some_and(|c| c.reason.as_deref() == Some("DeploymentPaused"));
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let now = Timestamp::now();
    let condition = match (paused, paused_cond) {
        (true, false) => util::new_condition(
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".into(),
            now,
        ),
        (false, true) => util::new_condition(
            "Progressing",
            "Unknown",
            "DeploymentResumed",
            "Deployment is resumed".into(),
            now,
        ),
        _ => return Ok(()),
    };
    util::set_condition(d.status.get_or_insert_with(Default::default), condition);
    update_status(ctx, d).await
}
