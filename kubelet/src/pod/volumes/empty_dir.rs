//! The `emptyDir` volume: a directory that lives as long as the pod. `medium: Memory` is a
//! tmpfs mount when the kubelet runs as root; otherwise (no right to mount) it is a plain
//! directory on disk, and a warning event says so.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use k8s_openapi::api::core::v1::EmptyDirVolumeSource;
use tracing::warn;

use super::{SetUp, VolumeError};

/// Whether this process runs as root (and may mount tmpfs).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Creates the directory (mounting tmpfs for `medium: Memory` as root); returns whether a
/// tmpfs was mounted.
pub async fn set_up(
    dir: &Path,
    source: &EmptyDirVolumeSource,
) -> Result<(SetUp, bool), VolumeError> {
    tokio::fs::create_dir_all(dir).await?;
    let mut set_up = SetUp {
        path: dir.to_path_buf(),
        warnings: Vec::new(),
    };
    if source.medium.as_deref() != Some("Memory") {
        return Ok((set_up, false));
    }
    if !is_root() {
        set_up.warnings.push((
            "EmptyDirMemoryOnDisk".into(),
            "emptyDir medium Memory is a directory on disk: the kubelet does not run as root and cannot mount tmpfs".into(),
        ));
        return Ok((set_up, false));
    }
    let mut args = vec!["-t".to_string(), "tmpfs".into()];
    if let Some(limit) = &source.size_limit {
        args.push("-o".into());
        args.push(format!("size={}", limit.0));
    }
    args.push("tmpfs".into());
    args.push(dir.display().to_string());
    let out = tokio::process::Command::new("mount")
        .args(&args)
        .output()
        .await?;
    if !out.status.success() {
        return Err(VolumeError::Mount(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok((set_up, true))
}

/// Unmounts a tmpfs `emptyDir`.
pub async fn unmount(dir: &Path) {
    match tokio::process::Command::new("umount")
        .arg(dir)
        .output()
        .await
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            warn!(dir = %dir.display(), error = %String::from_utf8_lossy(&out.stderr).trim(), "unmounting tmpfs failed")
        }
        Err(e) => warn!(dir = %dir.display(), error = %e, "unmounting tmpfs failed"),
    }
}
