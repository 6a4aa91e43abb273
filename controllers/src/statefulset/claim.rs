//! Claiming pods, as upstream's `getPodsForStatefulSet` with `PodControllerRefManager`: keep
//! owned pods whose labels match and whose names say they belong to the set, adopt matching
//! orphans (after an uncached read proves the set is still there and not being deleted),
//! release owned pods that no longer match. Ownership changes are strategic-merge patches
//! carrying the pod's UID as a precondition.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::{debug, info};

use super::{Context, controller_ref, identity};
use crate::{Error, api_message, is_not_found, pod_util};

/// The pods this StatefulSet owns after adopting and releasing; fails if any change failed.
pub async fn claim_pods(
    ctx: &Context,
    set: &StatefulSet,
    selector: &Selector,
    pods: Vec<Arc<Pod>>,
) -> Result<Vec<Arc<Pod>>, Error> {
    let uid = set.uid().unwrap_or_default();
    let deleting = set.metadata.deletion_timestamp.is_some();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &set.namespace().unwrap_or_default());
    let mut can_adopt: Option<Result<(), String>> = None;
    let mut claimed = Vec::new();
    let mut first_error = None;
    for pod in pods {
        let matches = selector.matches(pod.labels()) && identity::is_member_of(set, &pod);
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
                    can_adopt = Some(recheck(ctx, set).await);
                }
                if let Some(Err(why)) = &can_adopt {
                    debug!(pod = %pod.name_any(), %why, "not adopting");
                    first_error.get_or_insert(why.clone());
                    continue;
                }
                let patch = json!({"metadata": {
                    "ownerReferences": [controller_ref(set)],
                    "uid": pod.uid(),
                }});
                info!(pod = %pod.name_any(), "adopting orphan pod");
                match patch_pod(&api, &pod, &patch).await {
                    Ok(p) => claimed.push(Arc::new(p)),
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

/// Upstream's `RecheckDeletionTimestamp`: an uncached read proving the set we adopt for is the
/// one in the cache and is not being deleted.
async fn recheck(ctx: &Context, set: &StatefulSet) -> Result<(), String> {
    let (ns, name) = (set.namespace().unwrap_or_default(), set.name_any());
    let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &ns);
    let fresh = api.get(&name).await.map_err(|e| e.to_string())?;
    if fresh.uid() != set.uid() {
        return Err(format!(
            "original StatefulSet {ns}/{name} is gone: got uid {}, wanted {}",
            fresh.uid().unwrap_or_default(),
            set.uid().unwrap_or_default()
        ));
    }
    if fresh.metadata.deletion_timestamp.is_some() {
        return Err(format!("{ns}/{name} has just been deleted"));
    }
    Ok(())
}
