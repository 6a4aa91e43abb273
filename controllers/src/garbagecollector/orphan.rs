//! The `attemptToOrphan` worker (upstream's `attemptToOrphanWorker`): an owner deleted with
//! the `Orphan` policy carries the `orphan` finalizer; its dependents lose their references
//! to it, then the finalizer is removed so the API server can delete the owner.

use tracing::{debug, info};

use super::graph::{Identity, ORPHAN_FINALIZER};
use super::{Context, Error};

/// Orphans the dependents of one queued owner UID, then removes its `orphan` finalizer.
pub async fn attempt_to_orphan(ctx: &Context, uid: &str) -> Result<(), Error> {
    let (owner, dependents): (Identity, Vec<Identity>) = {
        let graph = ctx.graph();
        let Some(node) = graph.get(uid) else {
            return Ok(());
        };
        let deps = node
            .dependents
            .iter()
            .filter_map(|d| graph.get(d))
            .filter(|d| d.observed)
            .map(|d| d.identity.clone())
            .collect();
        (node.identity.clone(), deps)
    };
    for dependent in &dependents {
        let Some(latest) = ctx.get_live(dependent).await? else {
            continue;
        };
        let refs = latest.metadata.owner_references.clone().unwrap_or_default();
        if !refs.iter().any(|r| r.uid == uid) {
            continue;
        }
        let keep: Vec<_> = refs.into_iter().filter(|r| r.uid != uid).collect();
        debug!(dependent = %dependent, owner = %owner, "orphaning dependent");
        ctx.patch_metadata(
            dependent,
            latest.metadata.resource_version.as_deref(),
            serde_json::json!({"ownerReferences": if keep.is_empty() { None } else { Some(keep) }}),
            Error::PatchOwnerReferences,
        )
        .await?;
    }
    let Some(latest) = ctx.get_live(&owner).await? else {
        return Ok(());
    };
    let finalizers = latest.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
        return Ok(());
    }
    let keep: Vec<String> = finalizers
        .into_iter()
        .filter(|f| f != ORPHAN_FINALIZER)
        .collect();
    info!(owner = %owner, orphaned = dependents.len(), "dependents orphaned; removing the orphan finalizer");
    ctx.patch_metadata(
        &owner,
        latest.metadata.resource_version.as_deref(),
        serde_json::json!({"finalizers": if keep.is_empty() { None } else { Some(keep) }}),
        Error::RemoveFinalizer,
    )
    .await
}
