//! Binding a claim and a volume to each other, as upstream's `bind`: the volume's `claimRef`
//! (and `pv.kubernetes.io/bound-by-controller` when the controller chose it), the volume's
//! phase `Bound`, the claim's `spec.volumeName` with `pv.kubernetes.io/bind-completed`, then the
//! claim's status (phase, access modes, capacity). Each step writes only when something
//! changes, and works on the object the previous write returned; a conflict fails the sync,
//! which is retried from fresh caches.

use k8s_openapi::api::core::v1::{
    ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus,
    PersistentVolumeStatus,
};
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use tracing::debug;

use super::matching::is_bound_to_claim;
use super::{Context, Error};
use crate::api_message;

/// Set on a claim once binding is complete.
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Set on a volume (or claim) whose `claimRef` (or `volumeName`) the controller wrote.
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";

fn volumes(ctx: &Context) -> Api<PersistentVolume> {
    Api::all(ctx.client.clone())
}

fn claims(ctx: &Context, claim: &PersistentVolumeClaim) -> Api<PersistentVolumeClaim> {
    Api::namespaced(ctx.client.clone(), &claim.namespace().unwrap_or_default())
}

/// The volume's phase (`""` when unset).
pub fn volume_phase(volume: &PersistentVolume) -> &str {
    volume
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// The claim's phase (`""` when unset).
pub fn claim_phase(claim: &PersistentVolumeClaim) -> &str {
    claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// A `claimRef` naming `claim`, as upstream's `reference.GetReference`.
pub fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: claim.namespace(),
        name: Some(claim.name_any()),
        uid: claim.uid(),
        resource_version: claim.resource_version(),
        field_path: None,
    }
}

/// Binds `volume` and `claim` to each other and marks both Bound.
pub async fn bind(
    ctx: &Context,
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Result<(), Error> {
    debug!(volume = %volume.name_any(), "binding");
    let volume = bind_volume_to_claim(ctx, volume, claim).await?;
    update_volume_phase(ctx, &volume, "Bound", None).await?;
    let claim = bind_claim_to_volume(ctx, claim, &volume).await?;
    update_claim_status(ctx, &claim, "Bound", Some(&volume)).await?;
    Ok(())
}

/// Points the volume's `claimRef` at the claim.
async fn bind_volume_to_claim(
    ctx: &Context,
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Result<PersistentVolume, Error> {
    let current = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    let bound = current.is_some_and(|r| {
        r.name.as_deref() == Some(claim.name_any().as_str())
            && r.namespace == claim.namespace()
            && r.uid == claim.uid()
    });
    if bound {
        return Ok(volume.clone());
    }
    let by_controller = !is_bound_to_claim(volume, claim);
    let mut new = volume.clone();
    new.spec.get_or_insert_default().claim_ref = Some(claim_reference(claim));
    if by_controller {
        new.annotations_mut()
            .insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
    }
    volumes(ctx)
        .replace(&volume.name_any(), &PostParams::default(), &new)
        .await
        .map_err(|e| Error::UpdateVolume(api_message(&e)))
}

/// Sets the volume's `status.phase` (and message).
pub async fn update_volume_phase(
    ctx: &Context,
    volume: &PersistentVolume,
    phase: &str,
    message: Option<String>,
) -> Result<PersistentVolume, Error> {
    let status = volume.status.clone().unwrap_or_default();
    if status.phase.as_deref() == Some(phase) && status.message == message {
        return Ok(volume.clone());
    }
    let mut new = volume.clone();
    new.status = Some(PersistentVolumeStatus {
        phase: Some(phase.into()),
        message,
        last_phase_transition_time: if status.phase.as_deref() == Some(phase) {
            status.last_phase_transition_time.clone()
        } else {
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::now(),
            ))
        },
        ..status
    });
    volumes(ctx)
        .replace_status(&volume.name_any(), &PostParams::default(), &new)
        .await
        .map_err(|e| Error::UpdateVolumeStatus(api_message(&e)))
}

/// Sets the claim's `spec.volumeName` and the bind-completed annotation.
async fn bind_claim_to_volume(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    volume: &PersistentVolume,
) -> Result<PersistentVolumeClaim, Error> {
    let name = volume.name_any();
    let mut new = claim.clone();
    let mut dirty = false;
    let spec = new.spec.get_or_insert_default();
    if spec.volume_name.as_deref() != Some(name.as_str()) {
        spec.volume_name = Some(name);
        new.annotations_mut()
            .insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
        dirty = true;
    }
    if !new.annotations().contains_key(ANN_BIND_COMPLETED) {
        new.annotations_mut()
            .insert(ANN_BIND_COMPLETED.into(), "yes".into());
        dirty = true;
    }
    if !dirty {
        return Ok(claim.clone());
    }
    claims(ctx, claim)
        .replace(&claim.name_any(), &PostParams::default(), &new)
        .await
        .map_err(|e| Error::UpdateClaim(api_message(&e)))
}

/// Sets the claim's phase; with a volume also its access modes and capacity, without one clears
/// them.
pub async fn update_claim_status(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    phase: &str,
    volume: Option<&PersistentVolume>,
) -> Result<PersistentVolumeClaim, Error> {
    let old = claim.status.clone().unwrap_or_default();
    let (access_modes, capacity) = match volume.and_then(|v| v.spec.as_ref()) {
        Some(spec) => (spec.access_modes.clone(), spec.capacity.clone()),
        None => (None, None),
    };
    let status = PersistentVolumeClaimStatus {
        phase: Some(phase.into()),
        access_modes,
        capacity,
        ..old.clone()
    };
    if status == old {
        return Ok(claim.clone());
    }
    let mut new = claim.clone();
    new.status = Some(status);
    claims(ctx, claim)
        .replace_status(&claim.name_any(), &PostParams::default(), &new)
        .await
        .map_err(|e| Error::UpdateClaimStatus(api_message(&e)))
}

/// Releases a volume whose claim is bound elsewhere (upstream's `unbindVolume`): a `claimRef`
/// the controller wrote is removed; one a user wrote keeps its name but loses its UID.
pub async fn unbind_volume(ctx: &Context, volume: &PersistentVolume) -> Result<(), Error> {
    let mut new = volume.clone();
    if new.annotations().contains_key(ANN_BOUND_BY_CONTROLLER) {
        new.spec.get_or_insert_default().claim_ref = None;
        new.annotations_mut().remove(ANN_BOUND_BY_CONTROLLER);
    } else if let Some(r) = new.spec.get_or_insert_default().claim_ref.as_mut() {
        r.uid = None;
    }
    let new = volumes(ctx)
        .replace(&volume.name_any(), &PostParams::default(), &new)
        .await
        .map_err(|e| Error::UpdateVolume(api_message(&e)))?;
    update_volume_phase(ctx, &new, "Available", None).await?;
    Ok(())
}
