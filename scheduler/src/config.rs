//! The scheduler's settings, named after `kube-scheduler`'s flags and configuration fields.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
        }
    }
}
