//! The `hostPath` volume: a path on the node, checked against its `type` as upstream's
//! `hostPathTypeChecker`: `DirectoryOrCreate` and `FileOrCreate` create what is missing
//! (0755 directories, empty 0644 files), `Directory`, `File`, `Socket`, `CharDevice` and
//! `BlockDevice` must already be one; an empty type checks nothing.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::HostPathVolumeSource;

use super::{SetUp, VolumeError};

/// Checks (or creates) the path; containers mount it as it is.
pub async fn set_up(source: &HostPathVolumeSource) -> Result<SetUp, VolumeError> {
    let path = PathBuf::from(&source.path);
    let type_ = source.type_.clone().unwrap_or_default();
    let checked = path.clone();
    tokio::task::spawn_blocking(move || check(&checked, &type_))
        .await
        .map_err(|e| VolumeError::Io(std::io::Error::other(e)))??;
    Ok(SetUp {
        path,
        warnings: Vec::new(),
    })
}

/// The `type` check (blocking).
pub fn check(path: &Path, type_: &str) -> Result<(), VolumeError> {
    let meta = std::fs::metadata(path).ok();
    let wrong = |expected| VolumeError::HostPathType {
        path: path.display().to_string(),
        expected,
    };
    match type_ {
        "" => Ok(()),
        "DirectoryOrCreate" => match meta {
            None => {
                std::fs::create_dir_all(path)?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
                Ok(())
            }
            Some(m) if m.is_dir() => Ok(()),
            Some(_) => Err(wrong("directory")),
        },
        "Directory" => match meta {
            Some(m) if m.is_dir() => Ok(()),
            _ => Err(wrong("directory")),
        },
        "FileOrCreate" => match meta {
            None => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
                Ok(())
            }
            Some(m) if m.is_file() => Ok(()),
            Some(_) => Err(wrong("file")),
        },
        "File" => match meta {
            Some(m) if m.is_file() => Ok(()),
            _ => Err(wrong("file")),
        },
        "Socket" => match meta {
            Some(m) if m.file_type().is_socket() => Ok(()),
            _ => Err(wrong("socket file")),
        },
        "CharDevice" => match meta {
            Some(m) if m.file_type().is_char_device() => Ok(()),
            _ => Err(wrong("character device")),
        },
        "BlockDevice" => match meta {
            Some(m) if m.file_type().is_block_device() => Ok(()),
            _ => Err(wrong("block device")),
        },
        other => Err(VolumeError::UnknownHostPathType(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_checked_and_the_or_create_types_create() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = check(&missing, "Directory").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "hostPath type check failed: {} is not a directory",
                missing.display()
            )
        );
        check(&missing, "DirectoryOrCreate").unwrap();
        assert!(missing.is_dir());
        check(&missing, "Directory").unwrap();
        assert!(check(&missing, "File").is_err());
        let file = dir.path().join("a/file");
        check(&file, "FileOrCreate").unwrap();
        check(&file, "File").unwrap();
        assert!(check(&file, "Socket").is_err());
        check(&file, "").unwrap();
        assert!(check(&file, "Bogus").is_err());
    }
}
