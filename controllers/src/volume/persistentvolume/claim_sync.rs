//! One claim's sync, as upstream's `syncClaim`: an unbound claim finds (or waits for, or asks a
//! provisioner for) a volume and binds to it; a bound claim keeps its volume bound or goes
//! `Lost`.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::PostParams;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::debug;

use super::binding::{self, ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, claim_phase};
use super::matching::{self, claim_class};
use super::{Context, Error};
use crate::api_message;
use crate::events::EventType;

/// Set by the scheduler on a delayed-binding claim: the node its volume must be reachable from.
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Tells an external provisioner a claim is its to provision.
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// The beta form of [`ANN_STORAGE_PROVISIONER`], still written for old provisioners.
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// Marks the default StorageClass.
pub const ANN_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// The beta form of [`ANN_DEFAULT_CLASS`].
pub const ANN_BETA_DEFAULT_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";

/// Syncs one claim.
pub async fn sync_claim(ctx: &Context, claim: &PersistentVolumeClaim) -> Result<(), Error> {
    if claim.annotations().contains_key(ANN_BIND_COMPLETED) {
        sync_bound_claim(ctx, claim).await
    } else {
        sync_unbound_claim(ctx, claim).await
    }
}

fn volume_name(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("")
}

fn cached_volume(ctx: &Context, name: &str) -> Option<std::sync::Arc<PersistentVolume>> {
    ctx.volumes.get(&ObjectRef::new(name))
}

/// Whether the claim's class binds only once a pod uses it (upstream's `IsDelayBindingMode`).
fn delays_binding(ctx: &Context, claim: &PersistentVolumeClaim) -> bool {
    let class = claim_class(claim);
    !class.is_empty()
        && ctx
            .classes
            .get(&ObjectRef::new(&class))
            .is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
}

async fn sync_unbound_claim(ctx: &Context, claim: &PersistentVolumeClaim) -> Result<(), Error> {
    let wanted = volume_name(claim);
    if wanted.is_empty() {
        let delay = delays_binding(ctx, claim);
        let volumes = ctx.volumes.state();
        let found = matching::find_best_match(claim, &volumes, delay)
            .map_err(|e| Error::FindVolume(format!("error finding PV for claim: {e}")))?;
        if let Some(volume) = found {
            return binding::bind(ctx, &volume, claim).await;
        }
        if assign_default_class(ctx, claim).await? {
            return Ok(());
        }
        if delay && !claim.annotations().contains_key(ANN_SELECTED_NODE) {
            wait_for_first_consumer(ctx, claim);
        } else if !claim_class(claim).is_empty() {
            return provision_claim(ctx, claim).await;
        } else {
            ctx.recorder.publish(
                claim,
                EventType::Normal,
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set".into(),
            );
        }
        binding::update_claim_status(ctx, claim, "Pending", None).await?;
        return Ok(());
    }
    // The user asked for a specific volume.
    let Some(volume) = cached_volume(ctx, wanted) else {
        binding::update_claim_status(ctx, claim, "Pending", None).await?;
        return Ok(());
    };
    let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    if claim_ref.is_none() {
        if let Err(why) = matching::check_volume_satisfies_claim(&volume, claim) {
            ctx.recorder.publish(
                claim,
                EventType::Warning,
                "VolumeMismatch",
                format!("Cannot bind to requested volume {wanted:?}: {why}"),
            );
            binding::update_claim_status(ctx, claim, "Pending", None).await?;
            return Ok(());
        }
        return binding::bind(ctx, &volume, claim).await;
    }
    if matching::is_bound_to_claim(&volume, claim) {
        return binding::bind(ctx, &volume, claim).await;
    }
    if claim.annotations().contains_key(ANN_BOUND_BY_CONTROLLER) {
        return Err(Error::InvalidBinding(format!(
            "invalid binding of claim {:?} to volume {wanted:?}: volume already claimed by {:?}",
            claim.name_any(),
            claim_ref.and_then(|r| r.name.clone()).unwrap_or_default()
        )));
    }
    // Claimed by someone else: wait.
    binding::update_claim_status(ctx, claim, "Pending", None).await?;
    Ok(())
}

async fn sync_bound_claim(ctx: &Context, claim: &PersistentVolumeClaim) -> Result<(), Error> {
    let lost = |reason: &str, message: &str| {
        ctx.recorder
            .publish(claim, EventType::Warning, reason, message.into());
    };
    let wanted = volume_name(claim);
    if wanted.is_empty() {
        if claim_phase(claim) != "Lost" {
            lost(
                "ClaimLost",
                "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
            );
        }
        binding::update_claim_status(ctx, claim, "Lost", None).await?;
        return Ok(());
    }
    let Some(volume) = cached_volume(ctx, wanted) else {
        if claim_phase(claim) != "Lost" {
            lost(
                "ClaimLost",
                "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
            );
        }
        binding::update_claim_status(ctx, claim, "Lost", None).await?;
        return Ok(());
    };
    let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    match claim_ref {
        None => binding::bind(ctx, &volume, claim).await,
        Some(r) if r.uid == claim.uid() => binding::bind(ctx, &volume, claim).await,
        Some(_) => {
            if claim_phase(claim) != "Lost" {
                lost(
                    "ClaimMisbound",
                    "Two claims are bound to the same volume, this one is bound incorrectly",
                );
            }
            binding::update_claim_status(ctx, claim, "Lost", None).await?;
            Ok(())
        }
    }
}

fn is_default(class: &StorageClass) -> bool {
    [ANN_DEFAULT_CLASS, ANN_BETA_DEFAULT_CLASS]
        .iter()
        .any(|a| class.annotations().get(*a).map(String::as_str) == Some("true"))
}

/// The default StorageClass: the newest one marked default, as upstream's `GetDefaultClass`.
pub fn default_class(classes: &[std::sync::Arc<StorageClass>]) -> Option<String> {
    classes
        .iter()
        .filter(|c| is_default(c))
        .max_by(|a, b| {
            let t = |c: &StorageClass| c.metadata.creation_timestamp.clone().map(|t| t.0);
            t(a).cmp(&t(b))
                .then_with(|| b.name_any().cmp(&a.name_any()))
        })
        .map(|c| c.name_any())
}

/// Gives a claim with no class at all the default class, as upstream's retroactive default
/// StorageClass assignment; true when the claim was updated (its next sync goes on).
async fn assign_default_class(ctx: &Context, claim: &PersistentVolumeClaim) -> Result<bool, Error> {
    let unset = claim
        .spec
        .as_ref()
        .is_none_or(|s| s.storage_class_name.is_none())
        && !claim
            .annotations()
            .contains_key(matching::ANN_BETA_STORAGE_CLASS);
    if !unset {
        return Ok(false);
    }
    let Some(class) = default_class(&ctx.classes.state()) else {
        return Ok(false);
    };
    debug!(class = %class, "assigning the default storage class");
    let mut new = claim.clone();
    new.spec.get_or_insert_default().storage_class_name = Some(class);
    Api::<PersistentVolumeClaim>::namespaced(
        ctx.client.clone(),
        &claim.namespace().unwrap_or_default(),
    )
    .replace(&claim.name_any(), &PostParams::default(), &new)
    .await
    .map_err(|e| Error::UpdateClaim(api_message(&e)))?;
    Ok(true)
}

/// The names of pods that use the claim and are not yet scheduled.
fn unscheduled_pods_using(ctx: &Context, claim: &PersistentVolumeClaim) -> Vec<String> {
    let ns = claim.namespace();
    let name = claim.name_any();
    let mut pods: Vec<String> = ctx
        .pods
        .state_filter(|p: &Pod| {
            p.namespace() == ns
                && p.spec.as_ref().is_some_and(|s| {
                    s.node_name.as_deref().unwrap_or("").is_empty()
                        && s.volumes.iter().flatten().any(|v| {
                            v.persistent_volume_claim
                                .as_ref()
                                .is_some_and(|c| c.claim_name == name)
                                || (v.ephemeral.is_some()
                                    && format!("{}-{}", p.name_any(), v.name) == name)
                        })
                })
        })
        .iter()
        .map(|p| p.name_any())
        .collect();
    pods.sort();
    pods
}

/// Upstream's `emitEventForUnboundDelayBindingClaim`.
fn wait_for_first_consumer(ctx: &Context, claim: &PersistentVolumeClaim) {
    let pods = unscheduled_pods_using(ctx, claim);
    let (reason, message) = match pods.as_slice() {
        [] => (
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding".to_string(),
        ),
        [one] => (
            "WaitForPodScheduled",
            format!("waiting for pod {one} to be scheduled"),
        ),
        many => (
            "WaitForPodScheduled",
            format!("waiting for pods {} to be scheduled", many.join(",")),
        ),
    };
    ctx.recorder
        .publish(claim, EventType::Normal, reason, message);
}

/// Hands the claim to its class's provisioner (every provisioner is external here, as CSI
/// drivers are upstream): the storage-provisioner annotations, then an `ExternalProvisioning`
/// event while the claim waits.
async fn provision_claim(ctx: &Context, claim: &PersistentVolumeClaim) -> Result<(), Error> {
    let class_name = claim_class(claim);
    let Some(class) = ctx.classes.get(&ObjectRef::new(&class_name)) else {
        ctx.recorder.publish(
            claim,
            EventType::Warning,
            "ProvisioningFailed",
            format!("storageclass.storage.k8s.io {class_name:?} not found"),
        );
        binding::update_claim_status(ctx, claim, "Pending", None).await?;
        return Ok(());
    };
    let provisioner = class.provisioner.clone();
    let annotated = [ANN_STORAGE_PROVISIONER, ANN_BETA_STORAGE_PROVISIONER]
        .iter()
        .all(|a| claim.annotations().get(*a) == Some(&provisioner));
    let claim = if annotated {
        claim.clone()
    } else {
        let mut new = claim.clone();
        for a in [ANN_STORAGE_PROVISIONER, ANN_BETA_STORAGE_PROVISIONER] {
            new.annotations_mut().insert(a.into(), provisioner.clone());
        }
        Api::<PersistentVolumeClaim>::namespaced(
            ctx.client.clone(),
            &claim.namespace().unwrap_or_default(),
        )
        .replace(&claim.name_any(), &PostParams::default(), &new)
        .await
        .map_err(|e| Error::UpdateClaim(api_message(&e)))?
    };
    ctx.recorder.publish(
        &claim,
        EventType::Normal,
        "ExternalProvisioning",
        format!(
            "Waiting for a volume to be created either by the external provisioner '{provisioner}' \
             or manually by the system administrator. If volume creation is delayed, please verify \
             that the provisioner is running and correctly registered."
        ),
    );
    binding::update_claim_status(ctx, &claim, "Pending", None).await?;
    Ok(())
}
