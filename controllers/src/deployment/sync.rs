//! The parts of a sync every strategy shares (upstream's `sync.go`): finding or creating the
//! new ReplicaSet and keeping revisions, resizing ReplicaSets (proportionally during a
//! rollout), cleaning up old revisions beyond `revisionHistoryLimit`, and writing the status.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};
use tracing::{debug, info};

use super::util::{self, POD_TEMPLATE_HASH};
use super::{Context, controller_ref, create_rs, progress};
use crate::{Error, api_message, is_not_found};

/// Orders ReplicaSets oldest first (by creation time, then name).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let t = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    t(a).cmp(&t(b))
        .then_with(|| a.name_any().cmp(&b.name_any()))
}

/// Upstream's `FindNewReplicaSet`: the oldest ReplicaSet whose template equals the
/// Deployment's (ignoring the hash label).
pub fn find_new(d: &Deployment, rs_list: &[ReplicaSet]) -> Option<ReplicaSet> {
    let template = &d.spec.as_ref()?.template;
    let mut sorted: Vec<&ReplicaSet> = rs_list.iter().collect();
    sorted.sort_by(|a, b| by_creation(a, b));
    sorted
        .into_iter()
        .find(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| util::equal_ignore_hash(t, template))
        })
        .cloned()
}

/// The ReplicaSets with replicas (spec) above zero.
pub fn active(rs_list: &[ReplicaSet]) -> Vec<ReplicaSet> {
    rs_list
        .iter()
        .filter(|rs| util::rs_replicas(rs) > 0)
        .cloned()
        .collect()
}

/// Sum of `spec.replicas`.
pub fn spec_replicas(rs_list: &[ReplicaSet]) -> i32 {
    rs_list.iter().map(util::rs_replicas).sum()
}

/// Sum over ReplicaSets of the larger of `spec.replicas` and `status.replicas`: the pods that
/// exist or are about to. Upstream sizes the surge on `spec.replicas` alone, so for a moment
/// after an old ReplicaSet is scaled down its pods still running and the new ones together
/// exceed `replicas + maxSurge`; counting the pods not yet deleted keeps the bound on live pods.
pub fn live_replicas(rs_list: &[ReplicaSet]) -> i32 {
    rs_list
        .iter()
        .map(|rs| {
            let status = rs.status.as_ref().map(|s| s.replicas).unwrap_or(0);
            util::rs_replicas(rs).max(status)
        })
        .sum()
}

/// Sum of `status.replicas`.
pub fn actual_replicas(rs_list: &[ReplicaSet]) -> i32 {
    rs_list
        .iter()
        .map(|rs| rs.status.as_ref().map(|s| s.replicas).unwrap_or(0))
        .sum()
}

/// Sum of `status.availableReplicas`.
pub fn available_replicas(rs_list: &[ReplicaSet]) -> i32 {
    rs_list
        .iter()
        .map(|rs| {
            rs.status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0)
        })
        .sum()
}

/// Sum of `status.readyReplicas`.
pub fn ready_replicas(rs_list: &[ReplicaSet]) -> i32 {
    rs_list
        .iter()
        .map(|rs| {
            rs.status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0)
        })
        .sum()
}

/// Writes the Deployment's status; `d` becomes the stored object.
pub async fn update_status(ctx: &Context, d: &mut Deployment) -> Result<(), Error> {
    let api: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
    *d = api
        .replace_status(&d.name_any(), &PostParams::default(), d)
        .await
        .map_err(|e| Error::UpdateStatus(api_message(&e)))?;
    Ok(())
}

/// Upstream's `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created when `create` and
/// missing) and the old ones, with the revision annotations brought up to date.
pub async fn new_and_old(
    ctx: &Context,
    d: &mut Deployment,
    rs_list: &[ReplicaSet],
    create: bool,
) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), Error> {
    let existing = find_new(d, rs_list);
    let old: Vec<ReplicaSet> = rs_list
        .iter()
        .filter(|rs| existing.as_ref().is_none_or(|n| n.uid() != rs.uid()))
        .cloned()
        .collect();
    let new = get_new_rs(ctx, d, existing, &old, create).await?;
    Ok((new, old))
}

async fn get_new_rs(
    ctx: &Context,
    d: &mut Deployment,
    existing: Option<ReplicaSet>,
    old: &[ReplicaSet],
    create: bool,
) -> Result<Option<ReplicaSet>, Error> {
    let max_old = old.iter().map(util::revision).max().unwrap_or(0);
    let new_revision = max_old + 1;
    let now = jiff::Timestamp::now();
    let min_ready = d.spec.as_ref().and_then(|s| s.min_ready_seconds);
    if let Some(rs) = existing {
        let mut copy = rs.clone();
        let annotations_changed = util::set_new_rs_annotations(d, &mut copy, new_revision, true);
        let spec = copy.spec.get_or_insert_with(Default::default);
        let min_ready_changed = spec.min_ready_seconds.unwrap_or(0) != min_ready.unwrap_or(0);
        if annotations_changed || min_ready_changed {
            spec.min_ready_seconds = min_ready;
            let updated = ctx
                .rs_api(d)
                .replace(&copy.name_any(), &PostParams::default(), &copy)
                .await
                .map_err(|e| Error::UpdateReplicaSet(api_message(&e)))?;
            return Ok(Some(updated));
        }
        let revision = copy
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(util::REVISION))
            .cloned()
            .unwrap_or_default();
        let mut needs_update = set_deployment_revision(d, &revision);
        let has_progressing = d
            .status
            .as_ref()
            .is_some_and(|s| util::condition(s, "Progressing").is_some());
        if util::has_progress_deadline(d) && !has_progressing {
            let msg = format!("Found new replica set {:?}", copy.name_any());
            let status = d.status.get_or_insert_with(Default::default);
            util::set_condition(
                status,
                util::new_condition("Progressing", "True", "FoundNewReplicaSet", msg, now),
            );
            needs_update = true;
        }
        if needs_update {
            update_status(ctx, d).await?;
        }
        return Ok(Some(copy));
    }
    if !create {
        return Ok(None);
    }
    let spec = d
        .spec
        .clone()
        .ok_or_else(|| Error::InvalidObject("deployment has no spec".into()))?;
    let collision_count = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = util::template_hash(&spec.template, collision_count);
    let mut template = spec.template.clone();
    let labels = {
        let mut l = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        l.insert(POD_TEMPLATE_HASH.into(), hash.clone());
        l
    };
    template
        .metadata
        .get_or_insert_with(Default::default)
        .labels = Some(labels.clone());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let mut rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", d.name_any())),
            namespace: d.namespace(),
            owner_references: Some(vec![controller_ref(d)]),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: min_ready,
            selector,
            template: Some(template),
        }),
        status: None,
    };
    let total = spec_replicas(old);
    let new_replicas = util::new_rs_new_replicas(d, total, 0);
    if let Some(s) = rs.spec.as_mut() {
        s.replicas = Some(new_replicas);
    }
    util::set_new_rs_annotations(d, &mut rs, new_revision, false);
    let (created, already_existed) = match create_rs(ctx, d, &rs).await {
        Ok(created) => (created, false),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let current = ctx
                .rs_api(d)
                .get(&rs.name_any())
                .await
                .map_err(|e| Error::CreateReplicaSet(api_message(&e)))?;
            let ours = crate::pod_util::controller_of(&current.metadata)
                .is_some_and(|r| Some(&r.uid) == d.uid().as_ref());
            let same = current
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| util::equal_ignore_hash(t, &spec.template));
            if !(ours && same) {
                // A hash collision: bump collisionCount so the next sync picks another name.
                let status = d.status.get_or_insert_with(Default::default);
                status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                info!(name = %rs.name_any(), "found a hash collision for the new replica set");
                update_status(ctx, d).await?;
                return Err(Error::CreateReplicaSet(format!(
                    "replicasets.apps {:?} already exists",
                    rs.name_any()
                )));
            }
            (current, true)
        }
        Err(e) => {
            let msg = format!(
                "Failed to create new replica set {:?}: {}",
                rs.name_any(),
                api_message(&e)
            );
            if util::has_progress_deadline(d) {
                let status = d.status.get_or_insert_with(Default::default);
                util::set_condition(
                    status,
                    util::new_condition(
                        "Progressing",
                        "False",
                        "ReplicaSetCreateError",
                        msg.clone(),
                        now,
                    ),
                );
                let _ = update_status(ctx, d).await;
            }
            ctx.recorder.publish(
                d,
                crate::events::EventType::Warning,
                "ReplicaSetCreateError",
                msg.clone(),
            );
            return Err(Error::CreateReplicaSet(msg));
        }
    };
    if !already_existed && new_replicas > 0 {
        ctx.event(
            d,
            "ScalingReplicaSet",
            format!(
                "Scaled up replica set {} from 0 to {new_replicas}",
                created.name_any()
            ),
        );
    }
    let mut needs_update = set_deployment_revision(d, &new_revision.to_string());
    if !already_existed && util::has_progress_deadline(d) {
        let msg = format!("Created new replica set {:?}", created.name_any());
        let status = d.status.get_or_insert_with(Default::default);
        util::set_condition(
            status,
            util::new_condition("Progressing", "True", "NewReplicaSetCreated", msg, now),
        );
        needs_update = true;
    }
    if needs_update {
        update_status(ctx, d).await?;
    }
    Ok(Some(created))
}

/// Sets the Deployment's revision annotation (locally); true when it changed.
fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let a = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
    if a.get(util::REVISION).map(String::as_str) == Some(revision) {
        return false;
    }
    a.insert(util::REVISION.into(), revision.into());
    true
}

/// Upstream's `isScalingEvent`: an active ReplicaSet was sized for another `spec.replicas`.
pub fn is_scaling_event(d: &Deployment, rs_list: &[ReplicaSet]) -> bool {
    let want = util::replicas(d);
    active(rs_list)
        .iter()
        .any(|rs| util::int_annotation(rs, util::DESIRED_REPLICAS).is_some_and(|v| v != want))
}

/// Upstream's `sync`: resize (no rollout), clean up when paused, write the status.
pub async fn sync(
    ctx: &Context,
    d: &mut Deployment,
    rs_list: Vec<ReplicaSet>,
) -> Result<(), Error> {
    let (new, old) = new_and_old(ctx, d, &rs_list, false).await?;
    let (new, old) = scale(ctx, d, new, old).await?;
    if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        cleanup(ctx, d, &old).await?;
    }
    let mut all = old;
    all.extend(new.clone());
    sync_status(ctx, d, &all, new.as_ref()).await
}

/// Only the status (the Deployment is being deleted).
pub async fn sync_status_only(
    ctx: &Context,
    d: &mut Deployment,
    rs_list: Vec<ReplicaSet>,
) -> Result<(), Error> {
    let (new, old) = new_and_old(ctx, d, &rs_list, false).await?;
    let mut all = old;
    all.extend(new.clone());
    sync_status(ctx, d, &all, new.as_ref()).await
}

/// Upstream's `syncDeploymentStatus`: write the recomputed status if it changed.
pub async fn sync_status(
    ctx: &Context,
    d: &mut Deployment,
    all: &[ReplicaSet],
    new: Option<&ReplicaSet>,
) -> Result<(), Error> {
    let status = progress::calculate_status(d, all, new, jiff::Timestamp::now());
    if d.status.as_ref() == Some(&status) {
        return Ok(());
    }
    d.status = Some(status);
    update_status(ctx, d).await
}

/// Upstream's `scale`: bring the ReplicaSets to the Deployment's size, proportionally when
/// more than one is active. Returns the ReplicaSets as stored afterwards.
pub async fn scale(
    ctx: &Context,
    d: &Deployment,
    new: Option<ReplicaSet>,
    old: Vec<ReplicaSet>,
) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), Error> {
    let want = util::replicas(d);
    let mut all: Vec<ReplicaSet> = old.clone();
    all.extend(new.clone());
    let active_all = active(&all);
    // One active (or, with none active, the newest) ReplicaSet takes the whole size.
    let sole = match active_all.len() {
        0 => new.clone().or_else(|| {
            let mut o = old.clone();
            o.sort_by(by_creation);
            o.pop()
        }),
        1 => active_all.first().cloned(),
        _ => None,
    };
    if let Some(rs) = sole {
        if util::rs_replicas(&rs) != want {
            scale_rs(ctx, d, &rs, want).await?;
        }
        return Ok((new, old));
    }
    if let Some(n) = &new
        && is_saturated(d, n)
    {
        for rs in active(&old) {
            scale_rs(ctx, d, &rs, 0).await?;
        }
        return Ok((new, old));
    }
    if util::is_recreate(d) {
        return Ok((new, old));
    }
    let mut rs_all = active_all;
    let current: i32 = spec_replicas(&rs_all);
    let allowed = if want > 0 {
        want + util::max_surge(d)
    } else {
        0
    };
    let to_add = allowed - current;
    // Scaling up favours the biggest and newest; scaling down the biggest and oldest.
    rs_all.sort_by(|a, b| {
        let by_size = util::rs_replicas(b).cmp(&util::rs_replicas(a));
        let by_age = by_creation(a, b);
        by_size.then(if to_add > 0 { by_age.reverse() } else { by_age })
    });
    let mut added = 0;
    let mut sizes: HashMap<String, i32> = HashMap::new();
    for rs in &rs_all {
        let size = util::rs_replicas(rs);
        if to_add != 0 {
            let p = util::proportion(
                size,
                util::int_annotation(rs, util::MAX_REPLICAS),
                d,
                to_add,
                added,
            );
            sizes.insert(rs.name_any(), size + p);
            added += p;
        } else {
            sizes.insert(rs.name_any(), size);
        }
    }
    for (i, rs) in rs_all.iter().enumerate() {
        let mut size = sizes[&rs.name_any()];
        if i == 0 && to_add != 0 {
            size = (size + to_add - added).max(0);
        }
        scale_rs_always(ctx, d, rs, size).await?;
    }
    Ok((new, old))
}

/// Upstream's `IsSaturated`: the new ReplicaSet has every replica, all available.
fn is_saturated(d: &Deployment, rs: &ReplicaSet) -> bool {
    let want = util::replicas(d);
    util::int_annotation(rs, util::DESIRED_REPLICAS) == Some(want)
        && rs
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
            == want
        && util::rs_replicas(rs) == want
}

/// Upstream's `scaleReplicaSetAndRecordEvent`: no-op when already at `size`.
pub async fn scale_rs(
    ctx: &Context,
    d: &Deployment,
    rs: &ReplicaSet,
    size: i32,
) -> Result<Option<ReplicaSet>, Error> {
    if util::rs_replicas(rs) == size {
        return Ok(None);
    }
    scale_rs_always(ctx, d, rs, size).await
}

/// Upstream's `scaleReplicaSet`: writes the size and the replicas annotations when either
/// changed, with a ScalingReplicaSet event when the size did.
pub async fn scale_rs_always(
    ctx: &Context,
    d: &Deployment,
    rs: &ReplicaSet,
    size: i32,
) -> Result<Option<ReplicaSet>, Error> {
    let old_size = util::rs_replicas(rs);
    let want = util::replicas(d);
    let mut copy = rs.clone();
    let annotations_changed =
        util::set_replicas_annotations(&mut copy, want, want + util::max_surge(d));
    if old_size == size && !annotations_changed {
        return Ok(None);
    }
    copy.spec.get_or_insert_with(Default::default).replicas = Some(size);
    let updated = ctx
        .rs_api(d)
        .replace(&copy.name_any(), &PostParams::default(), &copy)
        .await
        .map_err(|e| Error::UpdateReplicaSet(api_message(&e)))?;
    if old_size != size {
        let op = if old_size < size { "up" } else { "down" };
        ctx.event(
            d,
            "ScalingReplicaSet",
            format!(
                "Scaled {op} replica set {} from {old_size} to {size}",
                updated.name_any()
            ),
        );
    }
    Ok(Some(updated))
}

/// Upstream's `cleanupDeployment`: delete the oldest revisions beyond `revisionHistoryLimit`
/// that have no replicas left.
pub async fn cleanup(ctx: &Context, d: &Deployment, old: &[ReplicaSet]) -> Result<(), Error> {
    let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
        return Ok(());
    };
    let mut cleanable: Vec<&ReplicaSet> = old
        .iter()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let diff = cleanable.len() as i64 - i64::from(limit);
    if diff <= 0 {
        return Ok(());
    }
    cleanable.sort_by(|a, b| {
        util::revision(a)
            .cmp(&util::revision(b))
            .then_with(|| by_creation(a, b))
    });
    for rs in cleanable.into_iter().take(diff as usize) {
        let status = rs.status.clone().unwrap_or_default();
        if status.replicas != 0
            || util::rs_replicas(rs) != 0
            || rs.metadata.generation > status.observed_generation
        {
            continue;
        }
        debug!(replicaset = %rs.name_any(), "deleting old replica set");
        if let Err(e) = ctx
            .rs_api(d)
            .delete(&rs.name_any(), &DeleteParams::default())
            .await
            && !is_not_found(&e)
        {
            return Err(Error::DeleteReplicaSet(api_message(&e)));
        }
    }
    Ok(())
}
