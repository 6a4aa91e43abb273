//! The `ferrokube` binary: `server` (the whole control plane in one process), `apiserver`, and
//! the other components as they land. Flags follow the upstream components they replace.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferrokube",
    version,
    about = "A Kubernetes-compatible control plane and node agent"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane in one process (API server on the embedded store; controllers,
    /// scheduler and kubelet join it as they land).
    Server(ApiserverFlags),
    /// Run the API server alone.
    Apiserver(ApiserverFlags),
    /// Run the controller manager against any API server (flags as kube-controller-manager).
    ControllerManager(ControllerManagerFlags),
}

#[derive(Args)]
struct ControllerManagerFlags {
    /// Path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Controllers to run: '*' for all on by default, 'foo' to enable, '-foo' to disable.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    controllers: Vec<String>,
    /// ReplicaSets synced concurrently.
    #[arg(long, default_value_t = 5)]
    concurrent_replicaset_syncs: u16,
    /// Deployments synced concurrently.
    #[arg(long, default_value_t = 5)]
    concurrent_deployment_syncs: u16,
    /// Campaign for the leader Lease before running controllers.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    leader_elect: bool,
    /// How long a non-renewed lease stays valid.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    leader_elect_lease_duration: Duration,
    /// How long the leader retries renewing before it gives up.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    leader_elect_renew_deadline: Duration,
    /// How often candidates retry acquiring and the leader renews.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    leader_elect_retry_period: Duration,
    /// The Lease's namespace.
    #[arg(long, default_value = "kube-system")]
    leader_elect_resource_namespace: String,
    /// The Lease's name.
    #[arg(long, default_value = "kube-controller-manager")]
    leader_elect_resource_name: String,
    /// The address /healthz, /readyz and /metrics listen on (plain HTTP).
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// The health and metrics port; 0 serves nothing.
    #[arg(long, default_value_t = 10257)]
    secure_port: u16,
}

impl ControllerManagerFlags {
    fn into_config(self) -> ferrokube_controllers::Config {
        ferrokube_controllers::Config {
            kubeconfig: self.kubeconfig,
            controllers: self.controllers,
            concurrent_replicaset_syncs: self.concurrent_replicaset_syncs,
            concurrent_deployment_syncs: self.concurrent_deployment_syncs,
            leader_elect: self.leader_elect,
            leader_elect_lease_duration: self.leader_elect_lease_duration,
            leader_elect_renew_deadline: self.leader_elect_renew_deadline,
            leader_elect_retry_period: self.leader_elect_retry_period,
            leader_elect_resource_namespace: self.leader_elect_resource_namespace,
            leader_elect_resource_name: self.leader_elect_resource_name,
            health_addr: (self.secure_port != 0)
                .then(|| SocketAddr::new(self.bind_address, self.secure_port)),
        }
    }
}

/// A Go-style duration: `15s`, `1m30s`, `500ms`, `2h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {s:?}"))?;
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            u => return Err(format!("unknown unit {u:?} in duration {s:?}")),
        };
        total += Duration::from_secs_f64(value * secs);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[derive(Args)]
struct ApiserverFlags {
    /// Directory for the PKI, the admin kubeconfig and the SQLite database.
    #[arg(long, default_value = "/var/lib/ferrokube")]
    data_dir: PathBuf,
    /// The store: sqlite://PATH (default: <data-dir>/state.db) or etcd://HOST:PORT[,HOST:PORT...].
    #[arg(long)]
    datastore: Option<String>,
    /// The address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// The HTTPS port (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    secure_port: u16,
    /// The address clients use to reach the server (written into the kubeconfig).
    #[arg(long, default_value = "127.0.0.1")]
    advertise_address: IpAddr,
    /// The CIDR Service cluster IPs are allocated from.
    #[arg(long, default_value = "10.43.0.0/16")]
    service_cluster_ip_range: String,
    /// The node port range, as FIRST-LAST.
    #[arg(long, default_value = "30000-32767")]
    service_node_port_range: String,
    /// Where to write the admin kubeconfig (default: <data-dir>/admin.kubeconfig).
    #[arg(long)]
    write_kubeconfig: Option<PathBuf>,
    /// Events kept per resource for watches that resume from a resourceVersion.
    #[arg(long, default_value_t = 1000)]
    watch_cache_window: usize,
    /// Extra host names or IPs for the serving certificate.
    #[arg(long = "tls-san")]
    tls_san: Vec<String>,
}

impl ApiserverFlags {
    fn into_config(self) -> anyhow::Result<ferrokube_apiserver::Config> {
        let (first, last) = self
            .service_node_port_range
            .split_once('-')
            .context("--service-node-port-range must be FIRST-LAST")?;
        Ok(ferrokube_apiserver::Config {
            data_dir: self.data_dir,
            datastore: self.datastore,
            bind_address: self.bind_address,
            secure_port: self.secure_port,
            advertise_address: self.advertise_address,
            service_cluster_ip_range: self.service_cluster_ip_range,
            service_node_port_range: (first.trim().parse()?, last.trim().parse()?),
            kubeconfig_path: self.write_kubeconfig,
            watch_cache_window: self.watch_cache_window,
            tls_sans: self.tls_san,
        })
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The controller manager inside `ferrokube server`: health and metrics on 127.0.0.1:10257
/// when that port is free (another server on this machine may hold it), else without them.
async fn controller_manager_in_process(kubeconfig: PathBuf) {
    let config = ferrokube_controllers::Config {
        kubeconfig: Some(kubeconfig),
        health_addr: Some(SocketAddr::from(([127, 0, 0, 1], 10257))),
        ..Default::default()
    };
    let running = match ferrokube_controllers::start(config.clone(), shutdown_signal()).await {
        Err(ferrokube_controllers::Error::Component(ferrokube_component::Error::Bind {
            addr,
            source,
        })) => {
            tracing::warn!(%addr, error = %source, "controller manager runs without health endpoints");
            let config = ferrokube_controllers::Config {
                health_addr: None,
                ..config
            };
            ferrokube_controllers::start(config, shutdown_signal()).await
        }
        other => other,
    };
    let result = match running {
        Ok(running) => running.wait().await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "controller manager stopped");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let in_process = matches!(cli.command, Command::Server(_));
    match cli.command {
        Command::Server(flags) | Command::Apiserver(flags) => {
            let config = flags.into_config()?;
            ferrokube_apiserver::run(config, shutdown_signal(), |started| {
                tracing::info!(
                    "kubeconfig written to {}; run: export KUBECONFIG={}",
                    started.kubeconfig.display(),
                    started.kubeconfig.display()
                );
                if in_process {
                    tokio::spawn(controller_manager_in_process(started.kubeconfig.clone()));
                }
            })
            .await?;
        }
        Command::ControllerManager(flags) => {
            ferrokube_controllers::run(flags.into_config(), shutdown_signal()).await?;
        }
    }
    Ok(())
}
