//! The `persistentVolumeClaim` volume: the claim must be bound; its PersistentVolume's
//! `hostPath` or `local` path is what containers mount (created when a hostPath PV's type
//! asks for it).

use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod,
};
use kube::Api;

use super::{SetUp, VolumeError, VolumeHost, host_path};

/// Resolves the claim to its volume's host path.
pub async fn set_up(
    host: &VolumeHost,
    pod: &Pod,
    source: &PersistentVolumeClaimVolumeSource,
) -> Result<SetUp, VolumeError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let claim = Api::<PersistentVolumeClaim>::namespaced(host.client.clone(), &namespace)
        .get_opt(&source.claim_name)
        .await
        .map_err(|e| VolumeError::PersistentVolumeClaim(e.to_string()))?
        .ok_or_else(|| {
            VolumeError::PersistentVolumeClaim(format!(
                "persistentvolumeclaim \"{}\" not found",
                source.claim_name
            ))
        })?;
    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            VolumeError::PersistentVolumeClaim(format!(
                "PVC {namespace}/{} has not been bound",
                source.claim_name
            ))
        })?;
    let pv = Api::<PersistentVolume>::all(host.client.clone())
        .get_opt(&volume_name)
        .await
        .map_err(|e| VolumeError::PersistentVolumeClaim(e.to_string()))?
        .ok_or_else(|| {
            VolumeError::PersistentVolumeClaim(format!(
                "persistentvolume \"{volume_name}\" not found"
            ))
        })?;
    let spec = pv.spec.unwrap_or_default();
    if let Some(h) = spec.host_path {
        return host_path::set_up(&h).await;
    }
    if let Some(l) = spec.local {
        return Ok(SetUp {
            path: l.path.into(),
            warnings: Vec::new(),
        });
    }
    Err(VolumeError::PersistentVolumeClaim(format!(
        "persistentvolume \"{volume_name}\" is neither a hostPath nor a local volume"
    )))
}
