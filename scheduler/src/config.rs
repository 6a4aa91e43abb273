//! The scheduler's settings, named after `kube-scheduler`'s flags and configuration fields,
//! and the `--config` file ([`Config::apply_file`]): a `KubeSchedulerConfiguration`
//! (kubescheduler.config.k8s.io/v1, [`v1`]) with profiles ([`profiles`]), plugin arguments,
//! `percentageOfNodesToScore` and leader election, rejected with the failing field's path.

pub mod duration;
pub mod profiles;
pub mod v1;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use profiles::ProfileSpec;

/// Why the configuration file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("read config file {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid document (unknown field, wrong type).
    #[error("decode config file: {field}: {message}")]
    DecodeConfig {
        /// The failing field's path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {field}: {message}")]
    ValidateConfig {
        /// The failing field's path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The scheduler name pods get by default (`spec.schedulerName`).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// The scheduler's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// `--kubeconfig`; None tries `$KUBECONFIG`, `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// The profile's `schedulerName`: only pods asking for it are scheduled.
    pub scheduler_name: String,
    /// `percentageOfNodesToScore` (0: upstream's adaptive default).
    pub percentage_of_nodes_to_score: u32,
    /// `--leader-elect`.
    pub leader_elect: bool,
    /// `--leader-elect-lease-duration`.
    pub leader_elect_lease_duration: Duration,
    /// `--leader-elect-renew-deadline`.
    pub leader_elect_renew_deadline: Duration,
    /// `--leader-elect-retry-period`.
    pub leader_elect_retry_period: Duration,
    /// `--leader-elect-resource-namespace`.
    pub leader_elect_resource_namespace: String,
    /// `--leader-elect-resource-name`.
    pub leader_elect_resource_name: String,
    /// `--bind-address` and `--secure-port` for `/healthz`, `/readyz` and `/metrics` (plain
    /// HTTP); None (`--secure-port=0`) serves nothing.
    pub health_addr: Option<SocketAddr>,
    /// Profiles from `--config`; empty means upstream's default profile for
    /// `scheduler_name`.
    pub profiles: Vec<ProfileSpec>,
}

fn invalid(field: &str, message: String) -> ConfigError {
    ConfigError::ValidateConfig {
        field: field.into(),
        message,
    }
}

impl Config {
    /// Reads a `KubeSchedulerConfiguration` file (YAML or JSON) into these settings.
    pub fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        self.apply_str(&text)
    }

    /// Reads a `KubeSchedulerConfiguration` document into these settings.
    pub fn apply_str(&mut self, text: &str) -> Result<(), ConfigError> {
        let decode_err =
            |field: String, message: String| ConfigError::DecodeConfig { field, message };
        let value: serde_json::Value = serde_yaml::from_str(text)
            .map_err(|e| decode_err("<document>".into(), e.to_string()))?;
        let file: v1::KubeSchedulerConfiguration = serde_path_to_error::deserialize(value)
            .map_err(|e| decode_err(e.path().to_string(), e.into_inner().to_string()))?;
        if file.api_version != "kubescheduler.config.k8s.io/v1" {
            return Err(invalid(
                "apiVersion",
                format!(
                    "Unsupported value: {:?}: supported values: \"kubescheduler.config.k8s.io/v1\"",
                    file.api_version
                ),
            ));
        }
        if file.kind != "KubeSchedulerConfiguration" {
            return Err(invalid(
                "kind",
                format!(
                    "Unsupported value: {:?}: supported values: \"KubeSchedulerConfiguration\"",
                    file.kind
                ),
            ));
        }
        if !file.extenders.is_empty() {
            return Err(invalid(
                "extenders",
                "Forbidden: extenders are not supported".into(),
            ));
        }
        if let Some(p) = file.percentage_of_nodes_to_score {
            if !(0..=100).contains(&p) {
                return Err(invalid(
                    "percentageOfNodesToScore",
                    format!("Invalid value: {p}: not in valid range [0-100]"),
                ));
            }
            self.percentage_of_nodes_to_score = p as u32;
        }
        if let Some(le) = &file.leader_election {
            if let Some(b) = le.leader_elect {
                self.leader_elect = b;
            }
            let dur = |field: &str, v: &Option<String>| -> Result<Option<Duration>, ConfigError> {
                match v {
                    None => Ok(None),
                    Some(s) => duration::parse_go_duration(s).map(Some).ok_or_else(|| {
                        invalid(field, format!("Invalid value: {s:?}: not a duration"))
                    }),
                }
            };
            if let Some(d) = dur("leaderElection.leaseDuration", &le.lease_duration)? {
                self.leader_elect_lease_duration = d;
            }
            if let Some(d) = dur("leaderElection.renewDeadline", &le.renew_deadline)? {
                self.leader_elect_renew_deadline = d;
            }
            if let Some(d) = dur("leaderElection.retryPeriod", &le.retry_period)? {
                self.leader_elect_retry_period = d;
            }
            if self.leader_elect
                && self.leader_elect_lease_duration <= self.leader_elect_renew_deadline
            {
                return Err(invalid(
                    "leaderElection.leaseDuration",
                    "Invalid value: leaseDuration must be greater than renewDeadline".into(),
                ));
            }
            if let Some(lock) = &le.resource_lock
                && lock != "leases"
            {
                return Err(invalid(
                    "leaderElection.resourceLock",
                    format!("Unsupported value: {lock:?}: supported values: \"leases\""),
                ));
            }
            if let Some(n) = le.resource_name.clone().filter(|n| !n.is_empty()) {
                self.leader_elect_resource_name = n;
            }
            if let Some(n) = le.resource_namespace.clone().filter(|n| !n.is_empty()) {
                self.leader_elect_resource_namespace = n;
            }
        }
        let single = file.profiles.len() <= 1;
        let mut specs: Vec<ProfileSpec> = Vec::new();
        for (i, p) in file.profiles.iter().enumerate() {
            let spec = profiles::build_profile(i, p, single)?;
            if specs
                .iter()
                .any(|s| s.profile.scheduler_name == spec.profile.scheduler_name)
            {
                return Err(invalid(
                    &format!("profiles[{i}].schedulerName"),
                    format!("Duplicate value: {:?}", spec.profile.scheduler_name),
                ));
            }
            specs.push(spec);
        }
        if let Some(first) = specs.first() {
            self.scheduler_name = first.profile.scheduler_name.clone();
        }
        self.profiles = specs;
        Ok(())
    }

    /// The profiles to run: those from the file, or the default one.
    pub fn effective_profiles(&self) -> Vec<ProfileSpec> {
        if !self.profiles.is_empty() {
            return self.profiles.clone();
        }
        vec![ProfileSpec {
            profile: crate::plugins::default_profile(&self.scheduler_name),
            args: Default::default(),
            percentage_of_nodes_to_score: None,
        }]
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kubeconfig: None,
            scheduler_name: DEFAULT_SCHEDULER_NAME.into(),
            percentage_of_nodes_to_score: 0,
            leader_elect: true,
            leader_elect_lease_duration: Duration::from_secs(15),
            leader_elect_renew_deadline: Duration::from_secs(10),
            leader_elect_retry_period: Duration::from_secs(2),
            leader_elect_resource_namespace: "kube-system".into(),
            leader_elect_resource_name: "kube-scheduler".into(),
            health_addr: Some(SocketAddr::from(([0, 0, 0, 0], 10259))),
            profiles: Vec::new(),
        }
    }
}
