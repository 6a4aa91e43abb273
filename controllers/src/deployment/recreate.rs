//! The Recreate strategy (upstream's `recreate.go`): scale every old ReplicaSet to zero, wait
//! until none of their pods is left running, then bring the new ReplicaSet up to full size.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::sync::{self, scale_rs};
use super::{Context, progress, util};
use crate::{Error, pod_util};

/// One Recreate step; returns when to check the progress deadline again.
pub async fn rollout(
    ctx: &Context,
    d: &mut Deployment,
    rs_list: Vec<ReplicaSet>,
    pods: &HashMap<String, Vec<Arc<Pod>>>,
) -> Result<Option<Duration>, Error> {
    let (mut new, old) = sync::new_and_old(ctx, d, &rs_list, false).await?;
    let mut all = old.clone();
    all.extend(new.clone());
    let mut scaled = false;
    for rs in sync::active(&old) {
        scaled |= scale_rs(ctx, d, &rs, 0).await?.is_some();
    }
    if scaled {
        return progress::sync_rollout_status(ctx, d, &all, new.as_ref()).await;
    }
    if old_pods_running(new.as_ref(), &old, pods) {
        return progress::sync_rollout_status(ctx, d, &all, new.as_ref()).await;
    }
    let mut old = old;
    if new.is_none() {
        let (n, o) = sync::new_and_old(ctx, d, &rs_list, true).await?;
        new = n;
        old = o;
    }
    if let Some(n) = &new
        && let Some(updated) = scale_rs(ctx, d, n, util::replicas(d)).await?
    {
        new = Some(updated);
    }
    let mut all = old.clone();
    all.extend(new.clone());
    let status = progress::calculate_status(d, &all, new.as_ref(), jiff::Timestamp::now());
    if util::is_complete(d, &status) {
        sync::cleanup(ctx, d, &old).await?;
    }
    progress::sync_rollout_status(ctx, d, &all, new.as_ref()).await
}

/// Upstream's `oldPodsRunning`: old ReplicaSets still report pods, or an old pod that has not
/// finished (Succeeded / Failed) still exists.
fn old_pods_running(
    new: Option<&ReplicaSet>,
    old: &[ReplicaSet],
    pods: &HashMap<String, Vec<Arc<Pod>>>,
) -> bool {
    if sync::actual_replicas(old) > 0 {
        return true;
    }
    let new_uid = new.and_then(|n| n.uid());
    pods.iter()
        .filter(|(uid, _)| Some(*uid) != new_uid.as_ref())
        .flat_map(|(_, pods)| pods)
        .any(|p| !matches!(pod_util::phase(p), "Succeeded" | "Failed"))
}
