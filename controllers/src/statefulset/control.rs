//! The StatefulSet control loop, as upstream's `updateStatefulSet`: partitions the pods into
//! replicas (ordinals in `[start, start + replicas)`) and condemned ones, then
//!
//! 1. brings every replica into being — failed or succeeded pods are deleted to be recreated,
//!    missing ones are created (claims first); with `OrderedReady` one at a time, each waiting
//!    for its predecessors to be Running, Ready and available, with `Parallel` all at once;
//! 2. gives condemned pods' claims the owners the retention policy asks for, then deletes the
//!    condemned pods — with `OrderedReady` the highest ordinal first, one at a time;
//! 3. rolls replicas not at the update revision, from the highest ordinal down to the
//!    `partition`, one at a time (or up to `maxUnavailable` with `MaxUnavailableStatefulSet`);
//!    nothing for `OnDelete`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::{Resource, ResourceExt};
use tracing::{debug, info};

use super::{Context, controller_ref, identity, pvc, revision, rolling};
use crate::events::EventType;
use crate::{Error, api_message, is_not_found, pod_util, slow_start};

/// A replica slot: the cached pod, or the pod to create.
#[derive(Clone)]
struct Replica {
    pod: Arc<Pod>,
    exists: bool,
}

/// What one pass produced: the status to write, and whether the pass waits on something no
/// watched change will announce (a claim the garbage collector has yet to delete).
pub struct Outcome {
    /// The status computed from the pods, before rollout completion is applied.
    pub status: StatefulSetStatus,
    /// The first error, after which the pass stopped.
    pub error: Option<Error>,
    /// Come back soon even without a change.
    pub poll: bool,
}

/// Upstream's `isRunningAndReady`.
pub fn running_and_ready(pod: &Pod) -> bool {
    pod_util::phase(pod) == "Running" && pod_util::is_ready(pod)
}

fn terminating(pod: &Pod) -> bool {
    pod.meta().deletion_timestamp.is_some()
}

/// Upstream's `isHealthy`: running, ready and not terminating.
pub fn healthy(pod: &Pod) -> bool {
    running_and_ready(pod) && !terminating(pod)
}

fn min_ready_seconds(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

fn strategy_type(set: &StatefulSet) -> &str {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

/// Whether pods are managed in parallel (`podManagementPolicy: Parallel`).
pub fn allows_burst(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.pod_management_policy.as_deref())
        == Some("Parallel")
}

/// The rolling update's partition (0 without one).
pub fn partition(set: &StatefulSet) -> i64 {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .map(i64::from)
        .unwrap_or(0)
}

/// Upstream's `newVersionedStatefulSetPod`: ordinals below the partition (or, without a
/// rolling-update section, below the current replica count) are made at the current
/// revision, the others at the update revision.
fn versioned_pod(
    current_set: &StatefulSet,
    update_set: &StatefulSet,
    current: &str,
    update: &str,
    ordinal: i64,
    owner: &OwnerReference,
) -> Pod {
    let start = identity::start_ordinal(current_set);
    let rolling = current_set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref());
    let current_replicas = current_set
        .status
        .as_ref()
        .and_then(|s| s.current_replicas)
        .unwrap_or(0);
    let at_current = strategy_type(current_set) == "RollingUpdate"
        && match rolling {
            None => ordinal < start + i64::from(current_replicas),
            Some(_) => ordinal < start + partition(current_set),
        };
    let (set, rev) = if at_current {
        (current_set, current)
    } else {
        (update_set, update)
    };
    let mut pod = identity::new_pod(set, ordinal, owner.clone());
    identity::set_pod_revision(&mut pod, rev);
    pod
}

/// Upstream's `computeReplicaStatus` over the existing pods.
fn count(
    status: &mut StatefulSetStatus,
    pods: &[&Pod],
    min_ready: i32,
    current: &str,
    update: &str,
    now: Timestamp,
) {
    let (mut replicas, mut ready, mut available, mut cur, mut upd) = (0, 0, 0, 0, 0);
    for pod in pods {
        replicas += 1;
        if running_and_ready(pod) {
            ready += 1;
            if pod_util::is_available(pod, min_ready, now) {
                available += 1;
            }
        }
        if !terminating(pod) {
            let rev = identity::pod_revision(pod);
            if rev == current {
                cur += 1;
            }
            if rev == update {
                upd += 1;
            }
        }
    }
    status.replicas = replicas;
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.current_replicas = Some(cur);
    status.updated_replicas = Some(upd);
}

/// One pass over the set's pods (upstream's `updateStatefulSet`).
pub async fn update(
    ctx: &Context,
    set: &StatefulSet,
    current: &ControllerRevision,
    update: &ControllerRevision,
    collision_count: i32,
    pods: &[Arc<Pod>],
) -> Result<Outcome, Error> {
    let current_set = revision::apply(set, current)?;
    let update_set = revision::apply(set, update)?;
    let (current_name, update_name) = (current.name_any(), update.name_any());
    let owner: OwnerReference = serde_json::from_value(controller_ref(set))
        .map_err(|e| Error::InvalidObject(e.to_string()))?;
    let now = Timestamp::now();
    let min_ready = min_ready_seconds(set);

    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: Some(current_name.clone()),
        update_revision: Some(update_name.clone()),
        collision_count: Some(collision_count),
        ..Default::default()
    };

    let start = identity::start_ordinal(set);
    let count_wanted = identity::replicas(set);
    let mut slots: Vec<Option<Replica>> = vec![None; count_wanted as usize];
    let mut condemned: Vec<Arc<Pod>> = Vec::new();
    for pod in pods {
        let ord = identity::ordinal(pod);
        if identity::in_ordinal_range(set, ord) {
            slots[(ord - start) as usize] = Some(Replica {
                pod: pod.clone(),
                exists: true,
            });
        } else if ord >= 0 {
            condemned.push(pod.clone());
        }
    }
    let replicas: Vec<Replica> = slots
        .into_iter()
        .enumerate()
        .map(|(i, slot)| {
            slot.unwrap_or_else(|| Replica {
                pod: Arc::new(versioned_pod(
                    &current_set,
                    &update_set,
                    &current_name,
                    &update_name,
                    start + i as i64,
                    &owner,
                )),
                exists: false,
            })
        })
        .collect();
    condemned.sort_by_key(|p| std::cmp::Reverse(identity::ordinal(p)));

    let existing: Vec<&Pod> = replicas
        .iter()
        .filter(|r| r.exists)
        .map(|r| &*r.pod)
        .chain(condemned.iter().map(|p| &**p))
        .collect();
    count(
        &mut status,
        &existing,
        min_ready,
        &current_name,
        &update_name,
        now,
    );

    let first_unhealthy: Option<String> = replicas
        .iter()
        .map(|r| &r.pod)
        .chain(condemned.iter().rev())
        .find(|p| !healthy(p))
        .map(|p| p.name_any());

    let outcome = |status: StatefulSetStatus, error: Option<Error>, poll: bool| Outcome {
        status,
        error,
        poll,
    };
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(outcome(status, None, false));
    }
    let monotonic = !allows_burst(set);
    let poll = AtomicBool::new(false);

    // 1. Replicas.
    let replica_step = |i: usize| {
        let r = &replicas[i];
        let (update_set, poll) = (&update_set, &poll);
        async move { process_replica(ctx, set, update_set, monotonic, r, min_ready, now, poll).await }
    };
    if let Err(e) = run_for_all(replicas.len(), monotonic, replica_step).await {
        return Ok(outcome(status, e, poll.load(Ordering::Relaxed)));
    }

    // 2. Condemned pods: their claims' owners, then the pods.
    let claim_step = |i: usize| {
        let pod = &condemned[i];
        let update_set = &update_set;
        async move {
            if !pvc::claims_match_policy(ctx, update_set, pod) {
                pvc::update_claims_for_policy(ctx, update_set, pod).await?;
            }
            Ok(false)
        }
    };
    if let Err(e) = run_for_all(condemned.len(), monotonic, claim_step).await {
        return Ok(outcome(status, e, false));
    }
    let condemned_step = |i: usize| {
        let pod = &condemned[i];
        let first_unhealthy = first_unhealthy.as_deref();
        async move {
            if terminating(pod) {
                return Ok(monotonic);
            }
            let is_first = first_unhealthy == Some(pod.name_any().as_str());
            if monotonic && !is_first && !pod_util::is_available(pod, min_ready, now) {
                debug!(pod = %pod.name_any(), "waiting for pods to be available before scaling down");
                return Ok(true);
            }
            if monotonic && !is_first && !running_and_ready(pod) {
                return Ok(true);
            }
            info!(pod = %pod.name_any(), "terminating pod for scale down");
            delete_pod(ctx, set, pod).await?;
            Ok(true)
        }
    };
    if let Err(e) = run_for_all(condemned.len(), monotonic, condemned_step).await {
        return Ok(outcome(status, e, false));
    }

    // 3. Rolling update.
    if strategy_type(set) == "OnDelete" {
        return Ok(outcome(status, None, false));
    }
    let slots: Vec<rolling::Slot> = replicas
        .iter()
        .map(|r| rolling::Slot {
            at_update_revision: identity::pod_revision(&r.pod) == update_name,
            terminating: terminating(&r.pod),
            healthy: healthy(&r.pod),
        })
        .collect();
    let max_unavailable = if ctx.max_unavailable_statefulset {
        rolling::max_unavailable(set)?
    } else {
        None
    };
    for target in rolling::to_delete(&slots, partition(set), max_unavailable) {
        let pod = &replicas[target].pod;
        info!(pod = %pod.name_any(), "terminating pod for update");
        if let Err(e) = delete_pod(ctx, set, pod).await {
            return Ok(outcome(status, Some(e), false));
        }
        if let Some(c) = status.current_replicas.as_mut() {
            *c -= 1;
        }
    }
    Ok(outcome(status, None, false))
}

/// Upstream's `runForAll`: in order, stopping at the first step that asks to (monotonic), or
/// all in slow-start batches (burst). Returns Err(Some(error)) or Err(None) when stopped.
async fn run_for_all<F, Fut>(n: usize, monotonic: bool, step: F) -> Result<(), Option<Error>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<bool, Error>>,
{
    if monotonic {
        for i in 0..n {
            match step(i).await {
                Ok(false) => {}
                Ok(true) => return Err(None),
                Err(e) => return Err(Some(e)),
            }
        }
        return Ok(());
    }
    let mut next = 0;
    for size in slow_start::batch_sizes(n, slow_start::INITIAL_BATCH_SIZE) {
        let results = futures::future::join_all((next..next + size).map(&step)).await;
        next += size;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(Some(e));
        }
    }
    Ok(())
}

/// Upstream's `processReplica`; `Ok(true)` stops a monotonic pass.
#[allow(clippy::too_many_arguments)]
async fn process_replica(
    ctx: &Context,
    set: &StatefulSet,
    update_set: &StatefulSet,
    monotonic: bool,
    replica: &Replica,
    min_ready: i32,
    now: Timestamp,
    poll: &AtomicBool,
) -> Result<bool, Error> {
    let pod = &*replica.pod;
    let phase = pod_util::phase(pod);
    let name = pod.name_any();
    let (ns, set_name) = (set.namespace().unwrap_or_default(), set.name_any());
    if replica.exists && (phase == "Failed" || phase == "Succeeded") {
        if !terminating(pod) {
            if phase == "Failed" {
                ctx.recorder.publish(
                    set,
                    EventType::Warning,
                    "RecreatingFailedPod",
                    format!("StatefulSet {ns}/{set_name} is recreating failed Pod {name}"),
                );
            } else {
                ctx.recorder.publish(
                    set,
                    EventType::Normal,
                    "RecreatingTerminatedPod",
                    format!("StatefulSet {ns}/{set_name} is recreating terminated Pod {name}"),
                );
            }
            delete_pod(ctx, set, pod).await?;
        }
        // The replacement is made once the cache has seen this one go.
        return Ok(true);
    }
    if !replica.exists {
        if pvc::claim_is_stale(ctx, set, pod) {
            debug!(pod = %name, "waiting for a stale claim to be deleted");
            poll.store(true, Ordering::Relaxed);
            return Ok(true);
        }
        match create_pod(ctx, set, pod).await? {
            Some(created) => {
                pvc::update_claims_for_policy(ctx, set, &created).await?;
            }
            None => return Ok(true),
        }
        return Ok(monotonic);
    }
    if phase == "Pending" {
        pvc::create_claims(ctx, set, pod).await?;
    }
    if monotonic && terminating(pod) {
        debug!(pod = %name, "waiting for pod to terminate");
        return Ok(true);
    }
    if monotonic && !running_and_ready(pod) {
        debug!(pod = %name, "waiting for pod to be running and ready");
        return Ok(true);
    }
    if monotonic && !pod_util::is_available(pod, min_ready, now) {
        debug!(pod = %name, "waiting for pod to be available");
        return Ok(true);
    }
    let retention_match = pvc::claims_match_policy(ctx, update_set, pod);
    if identity::identity_matches(set, pod)
        && identity::storage_matches(set, pod)
        && retention_match
    {
        return Ok(false);
    }
    update_pod(ctx, update_set, pod).await?;
    Ok(false)
}

/// Upstream's `CreateStatefulPod`: claims first, then the pod; `SuccessfulCreate` /
/// `FailedCreate` events. None when the pod already exists (the cache is behind).
async fn create_pod(ctx: &Context, set: &StatefulSet, pod: &Pod) -> Result<Option<Pod>, Error> {
    let name = pod.name_any();
    let set_name = set.name_any();
    if let Err(e) = pvc::create_claims(ctx, set, pod).await {
        ctx.recorder.publish(
            set,
            EventType::Warning,
            "FailedCreate",
            format!("create Pod {name} in StatefulSet {set_name} failed error: {e}"),
        );
        return Err(e);
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &set.namespace().unwrap_or_default());
    match api.create(&PostParams::default(), pod).await {
        Ok(created) => {
            ctx.recorder.publish(
                set,
                EventType::Normal,
                "SuccessfulCreate",
                format!("create Pod {name} in StatefulSet {set_name} successful"),
            );
            Ok(Some(created))
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
        Err(e) => {
            let msg = api_message(&e);
            ctx.recorder.publish(
                set,
                EventType::Warning,
                "FailedCreate",
                format!("create Pod {name} in StatefulSet {set_name} failed error: {msg}"),
            );
            Err(Error::CreatePods(msg))
        }
    }
}

/// Upstream's `DeleteStatefulPod` (with the pod's UID as a precondition, so a stale cache
/// never deletes its successor); `SuccessfulDelete` / `FailedDelete` events.
async fn delete_pod(ctx: &Context, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &set.namespace().unwrap_or_default());
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: pod.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    let (name, set_name) = (pod.name_any(), set.name_any());
    match api.delete(&name, &params).await {
        Ok(_) => {
            ctx.recorder.publish(
                set,
                EventType::Normal,
                "SuccessfulDelete",
                format!("delete Pod {name} in StatefulSet {set_name} successful"),
            );
            Ok(())
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => {
            let msg = api_message(&e);
            ctx.recorder.publish(
                set,
                EventType::Warning,
                "FailedDelete",
                format!("delete Pod {name} in StatefulSet {set_name} failed error: {msg}"),
            );
            Err(Error::DeletePods(msg))
        }
    }
}

/// Upstream's `UpdateStatefulPod`: restores the pod's identity and storage (creating missing
/// claims) and its claims' owners.
async fn update_pod(ctx: &Context, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
    let mut copy = pod.clone();
    let mut dirty = false;
    if !identity::identity_matches(set, &copy) {
        identity::update_identity(set, &mut copy);
        dirty = true;
    }
    if !identity::storage_matches(set, &copy) {
        identity::update_storage(set, &mut copy);
        pvc::create_claims(ctx, set, &copy).await?;
        dirty = true;
    }
    if !pvc::claims_match_policy(ctx, set, &copy) {
        pvc::update_claims_for_policy(ctx, set, &copy).await?;
    }
    if !dirty {
        return Ok(());
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &set.namespace().unwrap_or_default());
    let (name, set_name) = (copy.name_any(), set.name_any());
    match api.replace(&name, &PostParams::default(), &copy).await {
        Ok(_) => {
            ctx.recorder.publish(
                set,
                EventType::Normal,
                "SuccessfulUpdate",
                format!("update Pod {name} in StatefulSet {set_name} successful"),
            );
            Ok(())
        }
        Err(e) => {
            let msg = api_message(&e);
            ctx.recorder.publish(
                set,
                EventType::Warning,
                "FailedUpdate",
                format!("update Pod {name} in StatefulSet {set_name} failed error: {msg}"),
            );
            Err(Error::UpdatePods(msg))
        }
    }
}
