//! The `attemptToDelete` worker (upstream's `attemptToDeleteItem`): decides, from the live
//! object and the live state of its owners, whether an object is garbage, and carries out the
//! foreground deletion of owners waiting for their dependents.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, DynamicObject, Preconditions, PropagationPolicy};
use tracing::{debug, info};

use super::graph::{FOREGROUND_FINALIZER, Identity, ORPHAN_FINALIZER};
use super::{Context, Error};

/// The state of one owner named by a dependent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// The owner exists and is not waiting for its dependents.
    Solid,
    /// The owner is gone (or replaced by another object with the same name).
    Dangling,
    /// The owner is being deleted in the foreground and waits for its dependents.
    WaitingForDependentsDeletion,
}

/// What to do with an object, given its owners (upstream's decision in `attemptToDeleteItem`).
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Leave it: it has owners that keep it.
    Keep,
    /// Keep it, but drop the references to these (dangling or waiting) owner UIDs.
    RemoveReferences(Vec<String>),
    /// Delete it with this propagation policy.
    Delete(PropagationPolicy),
}

/// Decides an object's fate from its owners' states (in ownerReference order), whether it has
/// dependents of its own, and its finalizers.
pub fn decide(
    owners: &[(OwnerReference, OwnerState)],
    has_dependents: bool,
    finalizers: &[String],
) -> Decision {
    let any = |s: OwnerState| owners.iter().any(|(_, st)| *st == s);
    if any(OwnerState::Solid) {
        let remove: Vec<String> = owners
            .iter()
            .filter(|(_, s)| *s != OwnerState::Solid)
            .map(|(o, _)| o.uid.clone())
            .collect();
        return if remove.is_empty() {
            Decision::Keep
        } else {
            Decision::RemoveReferences(remove)
        };
    }
    if any(OwnerState::WaitingForDependentsDeletion) && has_dependents {
        // Its owner waits for it, and it has dependents: delete those first.
        return Decision::Delete(PropagationPolicy::Foreground);
    }
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    Decision::Delete(if has(ORPHAN_FINALIZER) {
        PropagationPolicy::Orphan
    } else if has(FOREGROUND_FINALIZER) {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    })
}

fn has_finalizer(obj: &DynamicObject, f: &str) -> bool {
    obj.metadata
        .finalizers
        .as_ref()
        .is_some_and(|fs| fs.iter().any(|x| x == f))
}

/// Checks one queued UID.
pub async fn attempt_to_delete(ctx: &Context, uid: &str) -> Result<(), Error> {
    let Some(node) = ctx.graph().get(uid).cloned() else {
        return Ok(());
    };
    if !node.observed {
        // A virtual owner: does it exist?
        return match ctx.get_live(&node.identity).await? {
            None => {
                debug!(owner = %node.identity, "owner does not exist");
                let work = ctx.graph().remove(uid, true);
                ctx.schedule(work);
                Ok(())
            }
            Some(_) => Err(Error::NotObserved(node.identity.to_string())),
        };
    }
    if node.being_deleted && !node.deleting_dependents {
        return Ok(());
    }
    let Some(latest) = ctx.get_live(&node.identity).await? else {
        let work = ctx.graph().remove(uid, false);
        ctx.schedule(work);
        return Ok(());
    };
    if latest.metadata.deletion_timestamp.is_some() && has_finalizer(&latest, FOREGROUND_FINALIZER)
    {
        return process_deleting_dependents(ctx, &node.identity, &latest).await;
    }
    if has_finalizer(&latest, ORPHAN_FINALIZER) {
        // The orphan worker handles it.
        return Ok(());
    }
    let refs = latest.metadata.owner_references.clone().unwrap_or_default();
    if refs.is_empty() {
        return Ok(());
    }
    let mut owners = Vec::with_capacity(refs.len());
    for r in refs.iter() {
        let owner = Identity {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: node.identity.namespace.clone(),
            name: r.name.clone(),
            uid: r.uid.clone(),
        };
        let state = match ctx.get_live(&owner).await? {
            None => OwnerState::Dangling,
            Some(o)
                if o.metadata.deletion_timestamp.is_some()
                    && has_finalizer(&o, FOREGROUND_FINALIZER) =>
            {
                OwnerState::WaitingForDependentsDeletion
            }
            Some(_) => OwnerState::Solid,
        };
        owners.push((r.clone(), state));
    }
    let finalizers = latest.metadata.finalizers.clone().unwrap_or_default();
    match decide(&owners, !node.dependents.is_empty(), &finalizers) {
        Decision::Keep => Ok(()),
        Decision::RemoveReferences(uids) => {
            let keep: Vec<&OwnerReference> =
                refs.iter().filter(|r| !uids.contains(&r.uid)).collect();
            debug!(object = %node.identity, removed = ?uids, "removing references to absent or deleting owners");
            ctx.patch_metadata(
                &node.identity,
                latest.metadata.resource_version.as_deref(),
                serde_json::json!({"ownerReferences": keep}),
                Error::PatchOwnerReferences,
            )
            .await
        }
        Decision::Delete(policy) => {
            info!(object = %node.identity, ?policy, "deleting object: all its owners are absent or deleting");
            delete_object(ctx, &node.identity, policy).await
        }
    }
}

/// An owner being deleted in the foreground: its finalizer goes once no dependent blocks it;
/// until then the blocking dependents are queued for deletion.
async fn process_deleting_dependents(
    ctx: &Context,
    owner: &Identity,
    latest: &DynamicObject,
) -> Result<(), Error> {
    let blocking: Vec<(String, bool)> = ctx
        .graph()
        .blocking_dependents(&owner.uid)
        .into_iter()
        .map(|d| (d.identity.uid.clone(), d.deleting_dependents))
        .collect();
    if blocking.is_empty() {
        debug!(owner = %owner, "no blocking dependents left; removing the foregroundDeletion finalizer");
        let keep: Vec<&String> = latest
            .metadata
            .finalizers
            .iter()
            .flatten()
            .filter(|f| *f != FOREGROUND_FINALIZER)
            .collect();
        return ctx
            .patch_metadata(
                owner,
                latest.metadata.resource_version.as_deref(),
                serde_json::json!({"finalizers": if keep.is_empty() { None } else { Some(keep) }}),
                Error::RemoveFinalizer,
            )
            .await;
    }
    for (uid, deleting_dependents) in blocking {
        if !deleting_dependents {
            ctx.attempt_to_delete.add(&uid);
        }
    }
    Ok(())
}

async fn delete_object(
    ctx: &Context,
    identity: &Identity,
    policy: PropagationPolicy,
) -> Result<(), Error> {
    let Some(api) = ctx.api(identity)? else {
        return Ok(());
    };
    let params = DeleteParams {
        propagation_policy: Some(policy),
        preconditions: Some(Preconditions {
            uid: Some(identity.uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&identity.name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::DeleteObject(identity.to_string(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: uid.into(),
            uid: uid.into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_object_with_a_live_owner_is_kept() {
        assert_eq!(
            decide(&[(owner("a"), OwnerState::Solid)], false, &[]),
            Decision::Keep
        );
    }

    #[test]
    fn references_to_gone_owners_are_dropped_when_another_owner_remains() {
        let owners = [
            (owner("a"), OwnerState::Solid),
            (owner("b"), OwnerState::Dangling),
            (owner("c"), OwnerState::WaitingForDependentsDeletion),
        ];
        assert_eq!(
            decide(&owners, false, &[]),
            Decision::RemoveReferences(vec!["b".into(), "c".into()])
        );
    }

    #[test]
    fn an_object_whose_owners_are_all_gone_is_deleted_in_the_background() {
        assert_eq!(
            decide(&[(owner("a"), OwnerState::Dangling)], true, &[]),
            Decision::Delete(PropagationPolicy::Background)
        );
    }

    #[test]
    fn a_waiting_owner_deletes_a_dependent_with_dependents_in_the_foreground() {
        let owners = [(owner("a"), OwnerState::WaitingForDependentsDeletion)];
        assert_eq!(
            decide(&owners, true, &[]),
            Decision::Delete(PropagationPolicy::Foreground)
        );
        assert_eq!(
            decide(&owners, false, &[]),
            Decision::Delete(PropagationPolicy::Background)
        );
    }

    #[test]
    fn an_orphan_finalizer_makes_the_deletion_orphan_its_dependents() {
        assert_eq!(
            decide(
                &[(owner("a"), OwnerState::Dangling)],
                true,
                &["orphan".into()]
            ),
            Decision::Delete(PropagationPolicy::Orphan)
        );
    }
}
