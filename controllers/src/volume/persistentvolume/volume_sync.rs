//! One volume's sync, as upstream's `syncVolume`: an unclaimed volume is `Available`; a volume
//! whose claim is gone is `Released` and reclaimed by its policy (`Retain` keeps it, `Delete`
//! leaves it to the provisioner that made it); a volume claimed by a claim bound elsewhere is
//! unbound (or, when provisioned for it, released).

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::debug;

use super::binding::{self, ANN_BOUND_BY_CONTROLLER, update_volume_phase, volume_phase};
use super::matching;
use super::{Context, Error};
use crate::events::EventType;
use crate::{api_message, is_not_found};

/// Set on a volume by the provisioner that created it.
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// Syncs one volume.
pub async fn sync_volume(ctx: &Context, volume: &PersistentVolume) -> Result<(), Error> {
    let Some(claim_ref) = volume.spec.as_ref().and_then(|s| s.claim_ref.clone()) else {
        update_volume_phase(ctx, volume, "Available", None).await?;
        return Ok(());
    };
    let (ns, name) = (
        claim_ref.namespace.clone().unwrap_or_default(),
        claim_ref.name.clone().unwrap_or_default(),
    );
    if claim_ref.uid.as_deref().unwrap_or("").is_empty() {
        // Pre-bound by a user; the claim's sync binds it.
        update_volume_phase(ctx, volume, "Available", None).await?;
        ctx.enqueue_claim(&ns, &name);
        return Ok(());
    }
    let claim = match ctx.claims.get(&ObjectRef::new(&name).within(&ns)) {
        Some(c) => Some((*c).clone()),
        // Not in the cache: ask the API server before deciding it is gone.
        None => match Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &ns)
            .get(&name)
            .await
        {
            Ok(c) => Some(c),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(Error::GetClaim(api_message(&e))),
        },
    };
    let claim = claim.filter(|c| c.uid() == claim_ref.uid);
    let Some(claim) = claim else {
        let volume = if matches!(volume_phase(volume), "Released" | "Failed") {
            volume.clone()
        } else {
            update_volume_phase(ctx, volume, "Released", None).await?
        };
        return reclaim_volume(ctx, &volume).await;
    };
    let claimed_volume = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    if claimed_volume.is_empty() {
        if matching::volume_mode_mismatch(&claim, volume) {
            ctx.recorder.publish(
                volume,
                EventType::Warning,
                "VolumeMismatch",
                format!(
                    "Cannot bind PersistentVolume to requested PersistentVolumeClaim {name:?} due to incompatible volumeMode."
                ),
            );
            ctx.recorder.publish(
                &claim,
                EventType::Warning,
                "VolumeMismatch",
                format!(
                    "Cannot bind PersistentVolume {:?} to requested PersistentVolumeClaim due to incompatible volumeMode.",
                    volume.name_any()
                ),
            );
            return Ok(());
        }
        // Bound on the volume's side only; the claim's sync completes it.
        ctx.enqueue_claim(&ns, &name);
        return Ok(());
    }
    if claimed_volume == volume.name_any() {
        update_volume_phase(ctx, volume, "Bound", None).await?;
        return Ok(());
    }
    // The claim is bound to another volume.
    let provisioned = volume.annotations().contains_key(ANN_PROVISIONED_BY);
    if provisioned && reclaim_policy(volume) == "Delete" {
        let volume = if matches!(volume_phase(volume), "Released" | "Failed") {
            volume.clone()
        } else {
            update_volume_phase(ctx, volume, "Released", None).await?
        };
        return reclaim_volume(ctx, &volume).await;
    }
    debug!(
        by_controller = volume.annotations().contains_key(ANN_BOUND_BY_CONTROLLER),
        "claim is bound to another volume; unbinding"
    );
    binding::unbind_volume(ctx, volume).await
}

fn reclaim_policy(volume: &PersistentVolume) -> &str {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("Retain")
}

/// Upstream's `reclaimVolume` for a Released volume.
async fn reclaim_volume(ctx: &Context, volume: &PersistentVolume) -> Result<(), Error> {
    match reclaim_policy(volume) {
        "Retain" => debug!("policy is Retain, nothing to do"),
        "Delete" => {
            if volume.annotations().contains_key(ANN_PROVISIONED_BY) {
                // The provisioner that created it deletes it (as for CSI volumes upstream).
                debug!("waiting for the provisioner to delete the volume");
            } else if volume_phase(volume) != "Failed" {
                let message = format!(
                    "error getting deleter volume plugin for volume {:?}: no deletable volume plugin matched",
                    volume.name_any()
                );
                ctx.recorder.publish(
                    volume,
                    EventType::Warning,
                    "VolumeFailedDelete",
                    message.clone(),
                );
                update_volume_phase(ctx, volume, "Failed", Some(message)).await?;
            }
        }
        other => {
            if volume_phase(volume) != "Failed" {
                let message =
                    format!("Volume has unrecognized PersistentVolumeReclaimPolicy {other:?}");
                ctx.recorder.publish(
                    volume,
                    EventType::Warning,
                    "VolumeUnknownReclaimPolicy",
                    message.clone(),
                );
                update_volume_phase(ctx, volume, "Failed", Some(message)).await?;
            }
        }
    }
    Ok(())
}
