//! What every Ferrokube component (controller manager, scheduler, kubelet, ingress) needs to
//! run against any conformant API server.
//!
//! Entry points: [`client::connect`] builds a kube-rs client from `--kubeconfig` or the
//! in-cluster service account (with `--kube-api-qps` / `--kube-api-burst` limits from
//! [`token_bucket`] when given to [`client::connect_with_limit`]);
//! [`leader::LeaderElector`] holds a `coordination.k8s.io/v1` Lease with upstream's timing;
//! [`health::serve`] answers `/healthz`, `/readyz` and Prometheus `/metrics`;
//! [`signal::shutdown`] resolves on SIGTERM or Ctrl-C; [`running::Running`] is a component
//! started in the background.

pub mod client;
pub mod health;
pub mod leader;
pub mod running;
pub mod signal;
pub mod token_bucket;

/// Why a component could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No kubeconfig could be loaded and the process is not in a cluster.
    #[error("load client configuration: {0}")]
    LoadConfig(String),
    /// The client could not be built from the configuration.
    #[error("build client: {0}")]
    BuildClient(#[from] kube::Error),
    /// The health/metrics listener could not be bound.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The leader election configuration is invalid.
    #[error("leader election: {0}")]
    LeaderElection(String),
}
