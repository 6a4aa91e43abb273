//! The `configMap` volume: the ConfigMap's keys (or the chosen `items`) as files, with
//! `defaultMode` / per-item `mode`; a missing ConfigMap is an error unless `optional` (then
//! the volume is empty).

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, KeyToPath, Pod};

use super::atomic_writer::Payload;
use super::{SetUp, VolumeError, VolumeHost, project_items, write_atomically};
use crate::pod::env::get_config_map;

/// The files a ConfigMap projects (shared with `projected` volumes).
pub async fn payload(
    host: &VolumeHost,
    namespace: &str,
    name: &str,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, VolumeError> {
    let Some(cm) = get_config_map(&host.client, namespace, name).await? else {
        if optional {
            return Ok(Payload::new());
        }
        return Err(VolumeError::ConfigMapNotFound(name.to_string()));
    };
    let mut entries: BTreeMap<String, Vec<u8>> = cm
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    for (k, v) in cm.binary_data.unwrap_or_default() {
        entries.insert(k, v.0);
    }
    project_items(
        &entries,
        items,
        default_mode,
        optional,
        VolumeError::ConfigMapKeyNotFound,
    )
}

/// Writes the volume's files under `dir`.
pub async fn set_up(
    host: &VolumeHost,
    pod: &Pod,
    dir: &Path,
    source: &ConfigMapVolumeSource,
) -> Result<SetUp, VolumeError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let files = payload(
        host,
        &namespace,
        &source.name,
        source.items.as_deref(),
        source.default_mode,
        source.optional == Some(true),
    )
    .await?;
    write_atomically(dir, files).await?;
    Ok(SetUp {
        path: dir.to_path_buf(),
        warnings: Vec::new(),
    })
}
