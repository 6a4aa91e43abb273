//! The `ferrokube` binary: `server` (the whole control plane in one process), `apiserver`, and
//! the other components as they land. Flags follow the upstream components they replace.

use std::net::IpAddr;
use std::path::PathBuf;

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
    match cli.command {
        Command::Server(flags) | Command::Apiserver(flags) => {
            let config = flags.into_config()?;
            ferrokube_apiserver::run(config, shutdown_signal(), |started| {
                tracing::info!(
                    "kubeconfig written to {}; run: export KUBECONFIG={}",
                    started.kubeconfig.display(),
                    started.kubeconfig.display()
                );
            })
            .await?;
        }
    }
    Ok(())
}
