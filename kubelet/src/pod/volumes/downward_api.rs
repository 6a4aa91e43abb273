//! The `downwardAPI` volume: files holding pod fields (`fieldRef`: name, namespace, uid,
//! labels, annotations, ...) and container resources (`resourceFieldRef`); rewritten when the
//! pod's labels or annotations change.

use std::path::Path;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, DownwardAPIVolumeSource, Pod};

use super::atomic_writer::{FileProjection, Payload};
use super::{SetUp, VolumeError, VolumeHost, file_mode, write_atomically};
use crate::pod::env::field_value;
use crate::pod::resources::resource_field_value;

/// The files the `items` project (shared with `projected` volumes).
pub fn payload(
    host: &VolumeHost,
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
) -> Result<Payload, VolumeError> {
    let mut payload = Payload::new();
    for item in items {
        let data = if let Some(f) = &item.field_ref {
            field_value(pod, &host.network, &f.field_path)?
        } else if let Some(r) = &item.resource_field_ref {
            let spec = pod.spec.clone().unwrap_or_default();
            let name = r.container_name.clone().unwrap_or_default();
            let container = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .find(|c| c.name == name)
                .cloned()
                .unwrap_or_default();
            resource_field_value(
                &container,
                &r.resource,
                r.divisor.as_ref().map(|d| d.0.as_str()),
                &host.allocatable,
            )
            .map_err(crate::pod::env::EnvError::from)?
        } else {
            String::new()
        };
        payload.insert(
            item.path.clone(),
            FileProjection {
                data: data.into_bytes(),
                mode: file_mode(item.mode, default_mode),
            },
        );
    }
    Ok(payload)
}

/// Writes the volume's files under `dir`.
pub async fn set_up(
    host: &VolumeHost,
    pod: &Pod,
    dir: &Path,
    source: &DownwardAPIVolumeSource,
) -> Result<SetUp, VolumeError> {
    let files = payload(
        host,
        pod,
        source.items.as_deref().unwrap_or_default(),
        source.default_mode,
    )?;
    write_atomically(dir, files).await?;
    Ok(SetUp {
        path: dir.to_path_buf(),
        warnings: Vec::new(),
    })
}
