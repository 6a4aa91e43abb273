//! A StatefulSet pod's claims, as upstream's `stateful_pod_control.go`: one
//! PersistentVolumeClaim per `volumeClaimTemplate`, `<template>-<set>-<ordinal>`, created
//! before the pod; and their owner references kept in line with
//! `persistentVolumeClaimRetentionPolicy`, so the garbage collector deletes them when the set
//! is deleted (`whenDeleted: Delete`: the set owns the claim) or when the pod is scaled away
//! (`whenScaled: Delete`: the condemned pod owns the claim).

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::{Context, identity};
use crate::events::EventType;
use crate::{Error, api_message};

/// `Retain` or `Delete`, for one of the two retention events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Keep the claim (the default).
    Retain,
    /// Let the garbage collector delete the claim.
    Delete,
}

/// The set's policy: (whenDeleted, whenScaled); unknown values count as Retain.
pub fn policy(set: &StatefulSet) -> (Retention, Retention) {
    let p = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let parse = |v: Option<&String>| match v.map(String::as_str) {
        Some("Delete") => Retention::Delete,
        _ => Retention::Retain,
    };
    (
        parse(p.and_then(|p| p.when_deleted.as_ref())),
        parse(p.and_then(|p| p.when_scaled.as_ref())),
    )
}

/// Whether `r` refers to the object `(api_version group, kind, name)`, whatever its UID.
fn matches_ref(r: &OwnerReference, group: &str, kind: &str, name: &str) -> bool {
    let ref_group = r.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    ref_group == group && r.kind == kind && r.name == name
}

fn refs_set(r: &OwnerReference, set: &StatefulSet) -> bool {
    matches_ref(r, "apps", "StatefulSet", &set.name_any())
}

fn refs_pod(r: &OwnerReference, pod: &Pod) -> bool {
    matches_ref(r, "", "Pod", &pod.name_any())
}

fn has_owner(claim: &PersistentVolumeClaim, uid: Option<String>) -> bool {
    let uid = uid.unwrap_or_default();
    !uid.is_empty() && claim.owner_references().iter().any(|r| r.uid == uid)
}

/// Upstream's `hasStaleOwnerRef` for a pod: a reference to the pod's name with another UID.
fn has_stale_pod_ref(claim: &PersistentVolumeClaim, pod: &Pod) -> bool {
    let uid = pod.uid().unwrap_or_default();
    claim
        .owner_references()
        .iter()
        .find(|r| refs_pod(r, pod))
        .is_some_and(|r| r.uid != uid)
}

fn has_stale_set_ref(claim: &PersistentVolumeClaim, set: &StatefulSet) -> bool {
    let uid = set.uid().unwrap_or_default();
    claim
        .owner_references()
        .iter()
        .find(|r| refs_set(r, set))
        .is_some_and(|r| r.uid != uid)
}

/// Upstream's `hasUnexpectedController`: another controller manages the claim (or a reference
/// to a former set or pod of the same name), under a non-Retain policy.
fn has_unexpected_controller(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    if policy(set) == (Retention::Retain, Retention::Retain) {
        return false;
    }
    let (set_uid, pod_uid) = (set.uid().unwrap_or_default(), pod.uid().unwrap_or_default());
    claim.owner_references().iter().any(|r| {
        if refs_set(r, set) {
            r.uid != set_uid
        } else if refs_pod(r, pod) {
            r.uid != pod_uid
        } else {
            r.controller == Some(true)
        }
    })
}

/// Upstream's `isClaimOwnerUpToDate`: whether the claim's owners already follow the policy.
pub fn owner_up_to_date(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    if has_stale_set_ref(claim, set) || has_stale_pod_ref(claim, pod) {
        return true;
    }
    let owned_by_set = has_owner(claim, set.uid());
    let owned_by_pod = has_owner(claim, pod.uid());
    if has_unexpected_controller(claim, set, pod) {
        return !(owned_by_set || owned_by_pod);
    }
    let (set_uid, pod_uid) = (set.uid().unwrap_or_default(), pod.uid().unwrap_or_default());
    if claim.owner_references().iter().any(|r| {
        (r.uid == set_uid || (!pod_uid.is_empty() && r.uid == pod_uid))
            && r.controller != Some(true)
    }) {
        return false;
    }
    let scaled_down = !identity::in_ordinal_range(set, identity::ordinal(pod));
    match policy(set) {
        (Retention::Retain, Retention::Retain) => !owned_by_set && !owned_by_pod,
        (Retention::Delete, Retention::Retain) => owned_by_set && !owned_by_pod,
        (Retention::Retain, Retention::Delete) => !owned_by_set && scaled_down == owned_by_pod,
        (Retention::Delete, Retention::Delete) => {
            scaled_down != owned_by_set && scaled_down == owned_by_pod
        }
    }
}

/// Upstream's `updateClaimOwnerRefForSetAndPod`: the claim's owner references with ours
/// replaced by what the policy asks for.
pub fn updated_owner_refs(
    claim: &PersistentVolumeClaim,
    set: &StatefulSet,
    pod: &Pod,
) -> Vec<OwnerReference> {
    let unexpected = has_unexpected_controller(claim, set, pod);
    let mut refs: Vec<OwnerReference> = claim
        .owner_references()
        .iter()
        .filter(|r| !refs_set(r, set) && !refs_pod(r, pod))
        .cloned()
        .collect();
    if unexpected {
        return refs;
    }
    let controller =
        |api_version: &str, kind: &str, name: String, uid: Option<String>| OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name,
            uid: uid.unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
    let set_ref = controller("apps/v1", "StatefulSet", set.name_any(), set.uid());
    let pod_ref = controller("v1", "Pod", pod.name_any(), pod.uid());
    let scaled_down = !identity::in_ordinal_range(set, identity::ordinal(pod));
    match policy(set) {
        (Retention::Retain, Retention::Retain) => {}
        (Retention::Delete, Retention::Retain) => refs.push(set_ref),
        (Retention::Retain, Retention::Delete) => {
            if scaled_down {
                refs.push(pod_ref);
            }
        }
        (Retention::Delete, Retention::Delete) => {
            refs.push(if scaled_down { pod_ref } else { set_ref })
        }
    }
    refs
}

fn cached_claim(
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Option<std::sync::Arc<PersistentVolumeClaim>> {
    ctx.claims.get(&ObjectRef::new(name).within(ns))
}

/// Upstream's `createPersistentVolumeClaims`: creates the pod's missing claims, recording
/// `SuccessfulCreate` (`create Claim www-web-0 Pod web-0 in StatefulSet web success`) or
/// `FailedCreate`. A claim being deleted is an error (the pod must wait for it to go).
pub async fn create_claims(ctx: &Context, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
    let ns = set.namespace().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let mut errors = Vec::new();
    for claim in identity::claims_for(set, identity::ordinal(pod)) {
        let name = claim.name_any();
        match cached_claim(ctx, &ns, &name) {
            Some(existing) => {
                if existing.meta().deletion_timestamp.is_some() {
                    errors.push(format!("pvc {name} is being deleted"));
                }
            }
            None => match api.create(&PostParams::default(), &claim).await {
                Ok(_) => ctx.recorder.publish(
                    set,
                    EventType::Normal,
                    "SuccessfulCreate",
                    format!(
                        "create Claim {name} Pod {} in StatefulSet {} success",
                        pod.name_any(),
                        set.name_any()
                    ),
                ),
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => {
                    let msg = api_message(&e);
                    ctx.recorder.publish(
                        set,
                        EventType::Warning,
                        "FailedCreate",
                        format!(
                            "create Claim {name} for Pod {} in StatefulSet {} failed error: {msg}",
                            pod.name_any(),
                            set.name_any()
                        ),
                    );
                    errors.push(format!("failed to create PVC {name}: {msg}"));
                }
            },
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::CreateClaims(errors.join(", ")))
    }
}

/// Upstream's `ClaimsMatchRetentionPolicy`: whether every existing claim of the pod has the
/// owners the policy asks for.
pub fn claims_match_policy(ctx: &Context, set: &StatefulSet, pod: &Pod) -> bool {
    let ns = set.namespace().unwrap_or_default();
    let ordinal = identity::ordinal(pod);
    identity::claim_templates(set).iter().all(|t| {
        cached_claim(ctx, &ns, &identity::claim_name(set, t, ordinal))
            .is_none_or(|c| owner_up_to_date(&c, set, pod))
    })
}

/// Upstream's `UpdatePodClaimForRetentionPolicy`: rewrites the owners of the pod's claims that
/// do not follow the policy.
pub async fn update_claims_for_policy(
    ctx: &Context,
    set: &StatefulSet,
    pod: &Pod,
) -> Result<(), Error> {
    let ns = set.namespace().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let ordinal = identity::ordinal(pod);
    for t in identity::claim_templates(set) {
        let name = identity::claim_name(set, t, ordinal);
        let Some(claim) = cached_claim(ctx, &ns, &name) else {
            continue;
        };
        if has_unexpected_controller(&claim, set, pod) {
            ctx.recorder.publish(
                set,
                EventType::Warning,
                "ConflictingController",
                format!(
                    "PersistentVolumeClaim {name} has a conflicting OwnerReference that acts as a managing controller, the retention policy is ignored for this claim"
                ),
            );
        }
        if owner_up_to_date(&claim, set, pod) {
            continue;
        }
        let refs = updated_owner_refs(&claim, set, pod);
        let patch = json!({"metadata": {
            "ownerReferences": refs,
            "resourceVersion": claim.resource_version(),
        }});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                Error::UpdateClaims(format!(
                    "could not update claim {name} for delete policy ownerRefs: {}",
                    api_message(&e)
                ))
            })?;
    }
    Ok(())
}

/// Upstream's `PodClaimIsStale`: under `whenScaled: Delete`, a claim still owned by a former
/// pod of this name must be garbage collected before the pod is created again.
pub fn claim_is_stale(ctx: &Context, set: &StatefulSet, pod: &Pod) -> bool {
    if policy(set).1 == Retention::Retain {
        return false;
    }
    let ns = set.namespace().unwrap_or_default();
    identity::claims_for(set, identity::ordinal(pod))
        .iter()
        .filter_map(|c| cached_claim(ctx, &ns, &c.name_any()))
        .any(|c| has_stale_pod_ref(&c, pod))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn set(replicas: i32, when_deleted: &str, when_scaled: &str) -> StatefulSet {
        StatefulSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                uid: Some("set-uid".into()),
                ..Default::default()
            },
            spec: Some(StatefulSetSpec {
                replicas: Some(replicas),
                persistent_volume_claim_retention_policy: Some(
                    StatefulSetPersistentVolumeClaimRetentionPolicy {
                        when_deleted: Some(when_deleted.into()),
                        when_scaled: Some(when_scaled.into()),
                    },
                ),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pod(ordinal: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(format!("web-{ordinal}")),
                uid: Some(format!("pod-uid-{ordinal}")),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn owners(set: &StatefulSet, pod: &Pod) -> Vec<String> {
        let claim = PersistentVolumeClaim::default();
        updated_owner_refs(&claim, set, pod)
            .into_iter()
            .map(|r| r.kind)
            .collect()
    }

    #[test]
    fn owners_follow_the_retention_policy() {
        assert!(owners(&set(2, "Retain", "Retain"), &pod(0)).is_empty());
        assert_eq!(
            owners(&set(2, "Delete", "Retain"), &pod(0)),
            ["StatefulSet"]
        );
        assert_eq!(
            owners(&set(2, "Delete", "Retain"), &pod(5)),
            ["StatefulSet"]
        );
        assert!(owners(&set(2, "Retain", "Delete"), &pod(1)).is_empty());
        assert_eq!(owners(&set(2, "Retain", "Delete"), &pod(2)), ["Pod"]);
        assert_eq!(
            owners(&set(2, "Delete", "Delete"), &pod(1)),
            ["StatefulSet"]
        );
        assert_eq!(owners(&set(2, "Delete", "Delete"), &pod(2)), ["Pod"]);
    }

    #[test]
    fn a_claim_with_the_policy_owners_is_up_to_date() {
        let s = set(1, "Delete", "Delete");
        let p = pod(3);
        let mut claim = PersistentVolumeClaim::default();
        assert!(!owner_up_to_date(&claim, &s, &p));
        claim.metadata.owner_references = Some(updated_owner_refs(&claim, &s, &p));
        assert!(owner_up_to_date(&claim, &s, &p));
    }

    #[test]
    fn a_claim_owned_by_a_former_pod_is_stale() {
        let mut claim = PersistentVolumeClaim::default();
        claim.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Pod".into(),
            name: "web-1".into(),
            uid: "old".into(),
            ..Default::default()
        }]);
        let mut fresh = pod(1);
        fresh.metadata.uid = None;
        assert!(has_stale_pod_ref(&claim, &fresh));
        assert!(!has_stale_pod_ref(&claim, &pod(2)));
    }
}
