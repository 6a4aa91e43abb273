//! Claiming pods, as upstream's `PodControllerRefManager.ClaimPods`: keep owned pods that
//! match, adopt matching orphans (after checking with an uncached read that the ReplicaSet is
//! still there and not being deleted), release owned pods that no longer match. Ownership is
//! changed with strategic-merge patches that carry the pod's UID as a precondition.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::{debug, info};

use super::Context;
use crate::{Error, api_message, is_not_found, pod_util};

/// The controller reference a ReplicaSet puts on its pods.
pub fn controller_ref(rs: &ReplicaSet) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": rs.name_any(),
        "uid": rs.uid().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The pods this ReplicaSet owns after adopting and releasing; fails if any change failed.
pub async fn claim_pods(
    ctx: &Context,
    rs: &ReplicaSet,
    selector: &Selector,
    pods: Vec<Arc<Pod>>,
) -> Result<Vec<Arc<Pod>>, Error> {
    let uid = rs.uid().unwrap_or_default();
    let deleting = rs.metadata.deletion_timestamp.is_some();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    let mut can_adopt: Option<Result<(), String>> = None;
    let mut claimed = Vec::new();
    let mut first_error = None;
    for pod in pods {
        let matches = selector.matches(pod.labels());
        match pod_util::controller_of(&pod.metadata) {
            Some(r) if r.uid != uid => {}
            Some(_) if matches => claimed.push(pod),
            Some(_) if deleting => {}
            Some(_) => {
                let patch = json!({"metadata": {
                    "ownerReferences": [{"$patch": "delete", "uid": uid}],
                    "uid": pod.uid(),
                }});
                info!(pod = %pod.name_any(), "releasing pod that no longer matches the selector");
                if let Err(e) = patch_pod(&api, &pod, &patch).await
                    && !is_not_found(&e)
                {
                    first_error.get_or_insert(api_message(&e));
                }
            }
            None if deleting || !matches || pod.metadata.deletion_timestamp.is_some() => {}
            None => {
                if can_adopt.is_none() {
                    can_adopt = Some(recheck(ctx, rs).await);
                }
                if let Some(Err(why)) = &can_adopt {
                    debug!(pod = %pod.name_any(), %why, "not adopting");
                    first_error.get_or_insert(why.clone());
                    continue;
                }
                let patch = json!({"metadata": {
                    "ownerReferences": [controller_ref(rs)],
                    "uid": pod.uid(),
                }});
                info!(pod = %pod.name_any(), "adopting orphan pod");
                match patch_pod(&api, &pod, &patch).await {
                    Ok(_) => claimed.push(pod),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        first_error.get_or_insert(api_message(&e));
                    }
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(Error::ClaimPods(e)),
        None => Ok(claimed),
    }
}

async fn patch_pod(api: &Api<Pod>, pod: &Pod, patch: &serde_json::Value) -> kube::Result<Pod> {
    api.patch(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
}

/// Upstream's `RecheckDeletionTimestamp`: an uncached read proving the ReplicaSet we are about
/// to adopt for is the one in the cache and is not being deleted.
async fn recheck(ctx: &Context, rs: &ReplicaSet) -> Result<(), String> {
    let api: Api<ReplicaSet> =
        Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    let name = rs.name_any();
    let ns = rs.namespace().unwrap_or_default();
    let fresh = api.get(&name).await.map_err(|e| e.to_string())?;
    if fresh.uid() != rs.uid() {
        return Err(format!(
            "original ReplicaSet {ns}/{name} is gone: got uid {}, wanted {}",
            fresh.uid().unwrap_or_default(),
            rs.uid().unwrap_or_default()
        ));
    }
    if fresh.metadata.deletion_timestamp.is_some() {
        return Err(format!("{ns}/{name} has just been deleted"));
    }
    Ok(())
}
