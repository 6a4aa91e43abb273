//! The RollingUpdate strategy (upstream's `rolling.go`): grow the new ReplicaSet up to
//! `replicas + maxSurge` pods in total, shrink old ones while at least
//! `replicas - maxUnavailable` pods stay available (unhealthy old pods go first), and clean up
//! old revisions once the rollout is complete.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;

use super::sync::{self, by_creation, scale_rs};
use super::{Context, progress, util};
use crate::Error;

/// One rolling step; returns when to check the progress deadline again.
pub async fn rollout(
    ctx: &Context,
    d: &mut Deployment,
    rs_list: Vec<ReplicaSet>,
) -> Result<Option<Duration>, Error> {
    let (new, old) = sync::new_and_old(ctx, d, &rs_list, true).await?;
    let Some(new) = new else {
        return Ok(None);
    };
    let mut all = old.clone();
    all.push(new.clone());
    if let Some(updated) = reconcile_new(ctx, d, &all, &new).await? {
        let all = replace(all, updated.clone());
        return progress::sync_rollout_status(ctx, d, &all, Some(&updated)).await;
    }
    let (scaled, old) = reconcile_old(ctx, d, &all, sync::active(&old), &new, old).await?;
    let mut all = old.clone();
    all.push(new.clone());
    if scaled {
        return progress::sync_rollout_status(ctx, d, &all, Some(&new)).await;
    }
    let status = progress::calculate_status(d, &all, Some(&new), jiff::Timestamp::now());
    if util::is_complete(d, &status) {
        sync::cleanup(ctx, d, &old).await?;
    }
    progress::sync_rollout_status(ctx, d, &all, Some(&new)).await
}

/// `all` with `rs` swapped in for the ReplicaSet of the same UID.
fn replace(all: Vec<ReplicaSet>, rs: ReplicaSet) -> Vec<ReplicaSet> {
    all.into_iter()
        .map(|x| if x.uid() == rs.uid() { rs.clone() } else { x })
        .collect()
}

/// Upstream's `reconcileNewReplicaSet`: returns the new ReplicaSet if it was resized.
async fn reconcile_new(
    ctx: &Context,
    d: &Deployment,
    all: &[ReplicaSet],
    new: &ReplicaSet,
) -> Result<Option<ReplicaSet>, Error> {
    let want = util::replicas(d);
    let size = util::rs_replicas(new);
    if size == want {
        return Ok(None);
    }
    let target = if size > want {
        want
    } else {
        util::new_rs_new_replicas(d, sync::live_replicas(all), size)
    };
    scale_rs(ctx, d, new, target).await
}

/// Upstream's `reconcileOldReplicaSets`: scale old ReplicaSets down within the availability
/// budget. Returns whether anything was scaled and the old ReplicaSets as stored afterwards.
async fn reconcile_old(
    ctx: &Context,
    d: &Deployment,
    all: &[ReplicaSet],
    active_old: Vec<ReplicaSet>,
    new: &ReplicaSet,
    mut old: Vec<ReplicaSet>,
) -> Result<(bool, Vec<ReplicaSet>), Error> {
    if sync::spec_replicas(&active_old) == 0 {
        return Ok((false, old));
    }
    let all_pods = sync::spec_replicas(all);
    let min_available = util::replicas(d) - util::max_unavailable(d);
    let new_unavailable = util::rs_replicas(new)
        - new
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Ok((false, old));
    }
    // First the old pods that are not available anyway.
    let mut active_old = active_old;
    active_old.sort_by(by_creation);
    let mut cleaned = 0;
    for rs in active_old.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let size = util::rs_replicas(rs);
        let available = rs
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0);
        if size == 0 || size == available {
            continue;
        }
        // A size just lowered, with the pods not yet gone: the status still counts more
        // available pods than the size. "Cleaning up" would scale the ReplicaSet back up, past
        // maxSurge; as upstream, fail the sync and retry once the status catches up.
        if available > size {
            return Err(Error::StaleCache(format!(
                "when cleaning up unhealthy replicas, got invalid request to scale down {}/{} {size} -> {available}",
                rs.namespace().unwrap_or_default(),
                rs.name_any()
            )));
        }
        let down = (max_scaled_down - cleaned).min(size - available);
        if let Some(updated) = scale_rs(ctx, d, rs, size - down).await? {
            *rs = updated;
        }
        cleaned += down;
    }
    // Then available old pods, keeping the minimum available.
    let mut all_now = active_old.clone();
    all_now.push(new.clone());
    let available = sync::available_replicas(&all_now);
    let mut scaled_down = 0;
    if available > min_available {
        let budget = available - min_available;
        for rs in active_old.iter_mut() {
            if scaled_down >= budget {
                break;
            }
            let size = util::rs_replicas(rs);
            if size == 0 {
                continue;
            }
            let down = size.min(budget - scaled_down);
            if let Some(updated) = scale_rs(ctx, d, rs, size - down).await? {
                *rs = updated;
            }
            scaled_down += down;
        }
    }
    for rs in active_old {
        old = replace(old, rs);
    }
    Ok((cleaned + scaled_down > 0, old))
}
