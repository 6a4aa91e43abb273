//! The `secret` volume: the Secret's keys (or the chosen `items`) as files, with
//! `defaultMode` / per-item `mode`; a missing Secret is an error unless `optional`.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{KeyToPath, Pod, SecretVolumeSource};

use super::atomic_writer::Payload;
use super::{SetUp, VolumeError, VolumeHost, project_items, write_atomically};
use crate::pod::env::get_secret;

/// The files a Secret projects (shared with `projected` volumes).
pub async fn payload(
    host: &VolumeHost,
    namespace: &str,
    name: &str,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, VolumeError> {
    let Some(secret) = get_secret(&host.client, namespace, name).await? else {
        if optional {
            return Ok(Payload::new());
        }
        return Err(VolumeError::SecretNotFound(name.to_string()));
    };
    let mut entries: BTreeMap<String, Vec<u8>> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in secret.string_data.unwrap_or_default() {
        entries.insert(k, v.into_bytes());
    }
    project_items(
        &entries,
        items,
        default_mode,
        optional,
        VolumeError::SecretKeyNotFound,
    )
}

/// Writes the volume's files under `dir`.
pub async fn set_up(
    host: &VolumeHost,
    pod: &Pod,
    dir: &Path,
    source: &SecretVolumeSource,
) -> Result<SetUp, VolumeError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = source.secret_name.clone().unwrap_or_default();
    let files = payload(
        host,
        &namespace,
        &name,
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
