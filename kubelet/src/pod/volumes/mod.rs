//! The pod's volumes, as upstream's volume manager and plugins prepare them under the
//! kubelet's root directory (`<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>`):
//! [`empty_dir`] (disk, or tmpfs for `medium: Memory`), [`config_map`], [`secret`],
//! [`downward_api`] and [`projected`] (files written by the [`atomic_writer`] and refreshed
//! when their sources change), [`host_path`] (with its `type` checks) and
//! [`persistent_volume_claim`] (the bound PV's host or local path). Containers get bind mounts
//! of these directories ([`PodVolumes::mounts`]).
//!
//! Simulated nodes may run without volume files ([`PodVolumes::with_files`]): then nothing is
//! written, read or refreshed, and containers get no mounts.
//!
//! Entry point: [`PodVolumes`], one per pod worker: [`PodVolumes::set_up`] before the sandbox
//! runs (a failure is a `FailedMount` and the pod waits), again on pod updates and periodic
//! resyncs ([`PodVolumes::refresh_due`]), and [`PodVolumes::tear_down`] after the pod is gone.

pub mod atomic_writer;
pub mod config_map;
pub mod downward_api;
pub mod empty_dir;
pub mod host_path;
pub mod persistent_volume_claim;
pub mod projected;
pub mod secret;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Volume};
use tokio::time::Instant;
use tracing::warn;

use super::env::PodNetwork;
use crate::runtime::Mount;
use atomic_writer::Payload;

/// Why one volume could not be set up; the text is upstream's.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A referenced ConfigMap does not exist.
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    /// A referenced Secret does not exist.
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    /// An item names a key its ConfigMap lacks.
    #[error("configmap references non-existent config key: {0}")]
    ConfigMapKeyNotFound(String),
    /// An item names a key its Secret lacks.
    #[error("references non-existent secret key: {0}")]
    SecretKeyNotFound(String),
    /// Reading an API object failed.
    #[error(transparent)]
    Lookup(#[from] super::env::EnvError),
    /// A PersistentVolumeClaim or its volume could not be read or used.
    #[error("{0}")]
    PersistentVolumeClaim(String),
    /// A host path failed its `type` check.
    #[error("hostPath type check failed: {path} is not a {expected}")]
    HostPathType {
        /// The path.
        path: String,
        /// What it should have been (`directory`, `file`, `socket file`, ...).
        expected: &'static str,
    },
    /// A host path type is not one of upstream's.
    #[error("invalid HostPathType {0:?}")]
    UnknownHostPathType(String),
    /// Writing files or directories failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Mounting (tmpfs) failed.
    #[error("mount failed: {0}")]
    Mount(String),
    /// The volume's type is not supported by this kubelet.
    #[error("unsupported volume type")]
    Unsupported,
}

/// A volume that failed to set up: `MountVolume.SetUp failed for volume "x" : ...`.
#[derive(Debug, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume \"{volume}\" : {error}")]
pub struct SetUpError {
    /// The volume's name.
    pub volume: String,
    /// What went wrong.
    #[source]
    pub error: VolumeError,
}

/// What volume plugins need from the node.
#[derive(Clone)]
pub struct VolumeHost {
    /// The API client.
    pub client: kube::Client,
    /// The node's IP and the pod's IP, for `fieldRef`s.
    pub network: PodNetwork,
    /// The node's allocatable resources, for `resourceFieldRef`s without a limit.
    pub allocatable: BTreeMap<String, String>,
}

/// What setting up a volume gave: its host path and warnings for events.
#[derive(Debug, Default)]
pub struct SetUp {
    /// The directory (or file) containers mount.
    pub path: PathBuf,
    /// Non-fatal problems (`reason`, `message`) to report as warning events.
    pub warnings: Vec<(String, String)>,
}

/// A service account token already written, reused until 80% of its lifetime passed.
#[derive(Clone, Debug)]
pub struct CachedToken {
    /// The token (empty after a failed request, until `refresh_at`).
    pub token: String,
    /// When to ask for a new one.
    pub refresh_at: Instant,
}

/// One pod's volumes.
pub struct PodVolumes {
    dir: PathBuf,
    paths: HashMap<String, PathBuf>,
    tmpfs: Vec<PathBuf>,
    last_refresh: Option<Instant>,
    seen_metadata: Option<(BTreeMap<String, String>, BTreeMap<String, String>)>,
    tokens: HashMap<String, CachedToken>,
    files: bool,
}

/// The permission bits of files in configMap, secret, downwardAPI and projected volumes
/// unless `defaultMode` says otherwise (0644).
pub const DEFAULT_MODE: i32 = 0o644;

/// A file's permission bits: the item's `mode`, else the volume's `defaultMode`, else 0644.
pub(crate) fn file_mode(item: Option<i32>, default: Option<i32>) -> u32 {
    u32::try_from(item.or(default).unwrap_or(DEFAULT_MODE)).unwrap_or(0o644) & 0o7777
}

/// Whether a volume's files come from API objects and are rewritten on refresh.
fn is_projected_content(v: &Volume) -> bool {
    v.config_map.is_some()
        || v.secret.is_some()
        || v.downward_api.is_some()
        || v.projected.is_some()
}

fn plugin_dir(v: &Volume) -> &'static str {
    if v.empty_dir.is_some() {
        "kubernetes.io~empty-dir"
    } else if v.config_map.is_some() {
        "kubernetes.io~configmap"
    } else if v.secret.is_some() {
        "kubernetes.io~secret"
    } else if v.downward_api.is_some() {
        "kubernetes.io~downward-api"
    } else if v.projected.is_some() {
        "kubernetes.io~projected"
    } else {
        "kubernetes.io~other"
    }
}

impl PodVolumes {
    /// The volumes of pod `uid` under the kubelet root `root_dir`.
    pub fn new(root_dir: &Path, uid: &str) -> Self {
        PodVolumes {
            dir: root_dir.join("pods").join(uid).join("volumes"),
            paths: HashMap::new(),
            tmpfs: Vec::new(),
            last_refresh: None,
            seen_metadata: None,
            tokens: HashMap::new(),
            files: true,
        }
    }

    /// The same volumes, materialised on disk (`true`, the default) or not at all (`false`:
    /// set-up succeeds at once, writes and refreshes nothing, and containers get no mounts).
    pub fn with_files(mut self, files: bool) -> Self {
        self.files = files;
        self
    }

    /// The directory a volume's files live in.
    pub fn volume_dir(&self, v: &Volume) -> PathBuf {
        self.dir.join(plugin_dir(v)).join(&v.name)
    }

    /// Whether the volumes should be set up (again): never set up, the pod's labels or
    /// annotations changed (downward API), or `resync` passed since the last refresh.
    pub fn refresh_due(&self, pod: &Pod, resync: Duration) -> bool {
        let meta = (
            pod.metadata.labels.clone().unwrap_or_default(),
            pod.metadata.annotations.clone().unwrap_or_default(),
        );
        match self.last_refresh {
            None => true,
            Some(_) if !self.files => false,
            Some(at) => self.seen_metadata.as_ref() != Some(&meta) || at.elapsed() >= resync,
        }
    }

    /// When the next periodic refresh is due.
    pub fn next_refresh(&self, resync: Duration) -> Option<Instant> {
        if !self.files {
            return None;
        }
        self.last_refresh.map(|at| at + resync)
    }

    /// Sets up every volume of `pod` (content volumes are rewritten when their sources
    /// changed); returns warnings for events.
    pub async fn set_up(
        &mut self,
        host: &VolumeHost,
        pod: &Pod,
    ) -> Result<Vec<(String, String)>, SetUpError> {
        if !self.files {
            self.last_refresh = Some(Instant::now());
            return Ok(Vec::new());
        }
        let volumes = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        let mut warnings = Vec::new();
        for v in &volumes {
            if self.paths.contains_key(&v.name) && !is_projected_content(v) {
                continue;
            }
            let dir = self.volume_dir(v);
            let fail = |error| SetUpError {
                volume: v.name.clone(),
                error,
            };
            let set_up = if let Some(e) = &v.empty_dir {
                let (set_up, tmpfs) = empty_dir::set_up(&dir, e).await.map_err(fail)?;
                if tmpfs {
                    self.tmpfs.push(dir.clone());
                }
                set_up
            } else if let Some(h) = &v.host_path {
                host_path::set_up(h).await.map_err(fail)?
            } else if let Some(c) = &v.config_map {
                config_map::set_up(host, pod, &dir, c).await.map_err(fail)?
            } else if let Some(s) = &v.secret {
                secret::set_up(host, pod, &dir, s).await.map_err(fail)?
            } else if let Some(d) = &v.downward_api {
                downward_api::set_up(host, pod, &dir, d)
                    .await
                    .map_err(fail)?
            } else if let Some(p) = &v.projected {
                projected::set_up(host, pod, &dir, p, &mut self.tokens)
                    .await
                    .map_err(fail)?
            } else if let Some(c) = &v.persistent_volume_claim {
                persistent_volume_claim::set_up(host, pod, c)
                    .await
                    .map_err(fail)?
            } else {
                warn!(volume = %v.name, "volume type not supported; containers get an empty directory");
                let (set_up, _) = empty_dir::set_up(&dir, &Default::default())
                    .await
                    .map_err(fail)?;
                set_up
            };
            warnings.extend(set_up.warnings);
            self.paths.insert(v.name.clone(), set_up.path);
        }
        self.last_refresh = Some(Instant::now());
        self.seen_metadata = Some((
            pod.metadata.labels.clone().unwrap_or_default(),
            pod.metadata.annotations.clone().unwrap_or_default(),
        ));
        Ok(warnings)
    }

    /// The bind mounts for `container`'s `volumeMounts` (with `subPath`); content volumes are
    /// read-only as upstream mounts them.
    pub fn mounts(&self, pod: &Pod, container: &Container) -> Vec<Mount> {
        let volumes = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        container
            .volume_mounts
            .iter()
            .flatten()
            .filter_map(|m| {
                let path = self.paths.get(&m.name)?;
                let volume = volumes.iter().find(|v| v.name == m.name)?;
                let host_path = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                    Some(sub) => path.join(sub),
                    None => path.clone(),
                };
                Some(Mount {
                    container_path: m.mount_path.clone(),
                    host_path: host_path.to_string_lossy().into_owned(),
                    read_only: m.read_only.unwrap_or(false) || is_projected_content(volume),
                })
            })
            .collect()
    }

    /// Unmounts tmpfs volumes and removes the pod's volume directories (host paths and PVs
    /// are left alone).
    pub async fn tear_down(&mut self) {
        for dir in self.tmpfs.drain(..) {
            empty_dir::unmount(&dir).await;
        }
        self.paths.clear();
        self.last_refresh = None;
        if !self.files {
            return;
        }
        if let Some(pod_dir) = self.dir.parent() {
            let pod_dir = pod_dir.to_path_buf();
            let _ = tokio::task::spawn_blocking(move || {
                if pod_dir.exists()
                    && let Err(e) = std::fs::remove_dir_all(&pod_dir)
                {
                    warn!(error = %e, dir = %pod_dir.display(), "removing the pod's volumes failed");
                }
            })
            .await;
        }
    }
}

/// Writes `payload` under `dir` off the async threads.
pub(crate) async fn write_atomically(dir: &Path, payload: Payload) -> Result<(), VolumeError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || atomic_writer::write(&dir, &payload))
        .await
        .map_err(|e| VolumeError::Io(std::io::Error::other(e)))??;
    Ok(())
}

/// Applies `items` (key, path, mode) to `entries`: all keys when there are no items;
/// a missing key is `missing` unless `optional`.
pub(crate) fn project_items(
    entries: &BTreeMap<String, Vec<u8>>,
    items: Option<&[k8s_openapi::api::core::v1::KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
    missing: impl Fn(String) -> VolumeError,
) -> Result<Payload, VolumeError> {
    let mut payload = Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in entries {
                payload.insert(
                    k.clone(),
                    atomic_writer::FileProjection {
                        data: v.clone(),
                        mode: file_mode(None, default_mode),
                    },
                );
            }
        }
        Some(items) => {
            for item in items {
                match entries.get(&item.key) {
                    Some(v) => {
                        payload.insert(
                            item.path.clone(),
                            atomic_writer::FileProjection {
                                data: v.clone(),
                                mode: file_mode(item.mode, default_mode),
                            },
                        );
                    }
                    None if optional => {}
                    None => return Err(missing(item.key.clone())),
                }
            }
        }
    }
    Ok(payload)
}
