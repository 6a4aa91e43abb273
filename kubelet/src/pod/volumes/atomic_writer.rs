//! Writes a volume's files so that readers never see a half-updated set, as upstream's
//! `AtomicWriter` (`pkg/volume/util/atomic_writer.go`): the files go to a fresh timestamped
//! directory (`..2025_01_02_03_04_05.123456789`), the `..data` symlink is swapped to it with
//! one rename, and each user-visible top-level name is a symlink through `..data`
//! (`key -> ..data/key`). Files that left the payload are removed, as is the old directory.
//! A payload equal to what is on disk writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

/// The symlink to the current timestamped directory.
pub const DATA_DIR: &str = "..data";
const DATA_DIR_TMP: &str = "..data_tmp";

/// One file of a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProjection {
    /// Its content.
    pub data: Vec<u8>,
    /// Its permission bits (e.g. 0o644).
    pub mode: u32,
}

/// Relative path to file.
pub type Payload = BTreeMap<String, FileProjection>;

/// Whether `path` is a valid relative path inside the volume (no `..`, not absolute).
pub fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with("..")
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Writes `payload` under `target` atomically; returns whether anything changed.
pub fn write(target: &Path, payload: &Payload) -> io::Result<bool> {
    for path in payload.keys() {
        if !valid_path(path) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid path {path:?}"),
            ));
        }
    }
    std::fs::create_dir_all(target)?;
    let data_link = target.join(DATA_DIR);
    let old_ts = std::fs::read_link(&data_link).ok();
    if let Some(old) = &old_ts
        && same_as_on_disk(&target.join(old), payload)
    {
        return Ok(false);
    }
    let ts_name = format!(
        "..{}",
        jiff::Timestamp::now().strftime("%Y_%m_%d_%H_%M_%S.%f")
    );
    let ts_dir = unique_dir(target, &ts_name)?;
    for (path, file) in payload {
        let full = ts_dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, &file.data)?;
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(file.mode))?;
    }
    let tmp_link = target.join(DATA_DIR_TMP);
    let _ = std::fs::remove_file(&tmp_link);
    symlink(ts_dir.file_name().unwrap_or_default(), &tmp_link)?;
    std::fs::rename(&tmp_link, &data_link)?;

    let new_tops: BTreeSet<String> = payload.keys().map(|p| top_level(p)).collect();
    for top in &new_tops {
        let visible = target.join(top);
        if std::fs::symlink_metadata(&visible).is_err() {
            symlink(Path::new(DATA_DIR).join(top), &visible)?;
        }
    }
    for entry in std::fs::read_dir(target)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") || new_tops.contains(&name) {
            continue;
        }
        // A user-visible name that left the payload.
        if entry.file_type()?.is_symlink() {
            std::fs::remove_file(entry.path())?;
        }
    }
    if let Some(old) = old_ts {
        let old = target.join(old);
        if old != ts_dir {
            let _ = std::fs::remove_dir_all(old);
        }
    }
    Ok(true)
}

fn top_level(path: &str) -> String {
    Path::new(path)
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn unique_dir(target: &Path, name: &str) -> io::Result<PathBuf> {
    for i in 0u32.. {
        let candidate = if i == 0 {
            target.join(name)
        } else {
            target.join(format!("{name}{i}"))
        };
        match std::fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("u32 names run out")
}

/// Whether `dir` holds exactly `payload` (contents and modes).
fn same_as_on_disk(dir: &Path, payload: &Payload) -> bool {
    let mut on_disk = Vec::new();
    if collect_files(dir, dir, &mut on_disk).is_err() || on_disk.len() != payload.len() {
        return false;
    }
    payload.iter().all(|(path, file)| {
        let full = dir.join(path);
        let mode_ok = std::fs::metadata(&full)
            .map(|m| m.permissions().mode() & 0o7777 == file.mode & 0o7777)
            .unwrap_or(false);
        mode_ok && std::fs::read(&full).is_ok_and(|d| d == file.data)
    })
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            collect_files(root, &entry.path(), out)?;
        } else {
            out.push(
                entry
                    .path()
                    .strip_prefix(root)
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(entries: &[(&str, &str)]) -> Payload {
        entries
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    FileProjection {
                        data: v.as_bytes().to_vec(),
                        mode: 0o644,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn updates_swap_the_data_link_and_remove_stale_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vol");
        assert!(write(&target, &payload(&[("a", "1"), ("sub/b", "2")])).unwrap());
        assert_eq!(std::fs::read_to_string(target.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(target.join("sub/b")).unwrap(), "2");
        assert!(
            std::fs::symlink_metadata(target.join("a"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let first = std::fs::read_link(target.join(DATA_DIR)).unwrap();

        assert!(!write(&target, &payload(&[("a", "1"), ("sub/b", "2")])).unwrap());
        assert_eq!(std::fs::read_link(target.join(DATA_DIR)).unwrap(), first);

        assert!(write(&target, &payload(&[("a", "changed")])).unwrap());
        assert_eq!(
            std::fs::read_to_string(target.join("a")).unwrap(),
            "changed"
        );
        assert!(std::fs::symlink_metadata(target.join("sub")).is_err());
        assert!(!target.join(first).exists());
    }

    #[test]
    fn paths_must_stay_inside_the_volume() {
        assert!(valid_path("a/b"));
        assert!(!valid_path("../etc"));
        assert!(!valid_path("/abs"));
        assert!(!valid_path("..data"));
        let dir = tempfile::tempdir().unwrap();
        assert!(write(dir.path(), &payload(&[("../x", "1")])).is_err());
    }
}
