//! The `ferrokube` binary: `server` (the whole control plane in one process), `apiserver`, and
//! the other components as they land. Flags follow the upstream components they replace.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

mod agent;

/// mimalloc: the API server and the scheduler spent a fifth of their CPU in glibc's malloc and
/// free on the bind path, and mimalloc's per-thread free lists cost far less. Built not to ask
/// for transparent huge pages (`no_thp`), so a mostly idle component (a kubelet, the controller
/// manager's caches) does not hold 2 MiB pages it barely uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run the scheduler against any API server (flags as kube-scheduler).
    Scheduler(SchedulerFlags),
    /// Run the node agent against any API server (flags as the kubelet's); `--runtime sim`
    /// hosts simulated nodes.
    Kubelet(KubeletFlags),
    /// Join this machine to a `ferrokube server` with its join token and run the kubelet
    /// (the kubelet's flags; default runtime cri).
    Agent(agent::AgentFlags),
}

#[derive(Args)]
struct KubeletFlags {
    /// Path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The container runtime: `sim` (simulated containers) or `cri` (containerd over CRI);
    /// default sim (`agent`: cri, when the --container-runtime-endpoint socket exists).
    #[arg(long, value_parser = ["sim", "cri"])]
    runtime: Option<String>,
    /// The CRI socket of the `cri` runtime.
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    container_runtime_endpoint: String,
    /// The first CrashLoopBackOff (and image pull back-off) delay; it doubles up to 5m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    crash_loop_back_off_base: Duration,
    /// The node name (default: the host name); with --sim-nodes, the name prefix.
    #[arg(long)]
    hostname_override: Option<String>,
    /// Host this many simulated nodes, named <prefix>-0, <prefix>-1, ...
    #[arg(long)]
    sim_nodes: Option<u32>,
    /// Labels to add when registering the node (key=value,...).
    #[arg(long, value_delimiter = ',', value_parser = ferrokube_kubelet::node::register::parse_label)]
    node_labels: Vec<(String, String)>,
    /// Taints to register the node with (key=value:Effect,...).
    #[arg(long, value_delimiter = ',', value_parser = ferrokube_kubelet::node::register::parse_taint)]
    register_with_taints: Vec<k8s_openapi::api::core::v1::Taint>,
    /// The node's IP (simulated node i gets this plus i).
    #[arg(long, default_value = "10.0.0.2")]
    node_ip: std::net::Ipv4Addr,
    /// The pod CIDR (split into one block per simulated node).
    #[arg(long, default_value = "10.244.0.0/16")]
    pod_cidr: String,
    /// The most pods the node runs (its `pods` capacity).
    #[arg(long, default_value_t = 110)]
    max_pods: u32,
    /// A simulated node's CPU capacity.
    #[arg(long, default_value = "32")]
    sim_cpu: String,
    /// A simulated node's memory capacity.
    #[arg(long, default_value = "256Gi")]
    sim_memory: String,
    /// A simulated node's ephemeral-storage capacity.
    #[arg(long, default_value = "100Gi")]
    sim_ephemeral_storage: String,
    /// How long a simulated container takes to start.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    sim_start_delay: Duration,
    /// How long a simulated container takes to stop.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    sim_stop_delay: Duration,
    /// Materialise simulated pods' volumes as files under --root-dir (off: they mount nothing).
    #[arg(long)]
    sim_volume_files: bool,
    /// How often the node status is checked.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    node_status_update_frequency: Duration,
    /// The node Lease's duration in seconds (renewed every quarter of it).
    #[arg(long, default_value_t = 40)]
    node_lease_duration_seconds: u64,
    /// The kubelet's directory: pod volumes under <root-dir>/pods (per node name with sim).
    #[arg(long, default_value = "/var/lib/kubelet")]
    root_dir: PathBuf,
    /// How often configMap, secret, downwardAPI and projected volumes are refreshed.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    sync_frequency: Duration,
    /// The kubelet server's HTTPS port (logs, exec, /pods, /metrics, /stats/summary), on the
    /// node IP (each simulated node on its own); 0 serves nothing.
    #[arg(long, default_value_t = 10250)]
    port: u16,
    /// The kubelet server's certificate (default: a self-signed one made at start).
    #[arg(long, requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// The kubelet server's key.
    #[arg(long, requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,
    /// The CA client certificates are checked against (default: the kubeconfig's CA).
    #[arg(long)]
    client_ca_file: Option<PathBuf>,
    /// Where container logs are written (<dir>/<ns>_<pod>_<uid>/<container>/<attempt>.log).
    #[arg(long, default_value = "/var/log/pods")]
    pod_logs_dir: PathBuf,
}

impl KubeletFlags {
    fn into_config(self) -> ferrokube_kubelet::Config {
        let mut node = ferrokube_kubelet::NodeOptions {
            node_labels: self.node_labels.into_iter().collect(),
            register_with_taints: self.register_with_taints,
            node_ip: self.node_ip,
            pod_cidr: self.pod_cidr,
            lease_duration: Duration::from_secs(self.node_lease_duration_seconds),
            lease_renew_interval: Duration::from_secs(self.node_lease_duration_seconds) / 4,
            node_status_update_frequency: self.node_status_update_frequency,
            root_dir: self.root_dir,
            volume_resync_interval: self.sync_frequency,
            ..Default::default()
        };
        node.capacity
            .insert("pods".into(), self.max_pods.to_string());
        node.capacity.insert("cpu".into(), self.sim_cpu);
        node.capacity.insert("memory".into(), self.sim_memory);
        node.capacity
            .insert("ephemeral-storage".into(), self.sim_ephemeral_storage);
        node.crash_loop_back_off = self.crash_loop_back_off_base;
        node.sim.start_delay = self.sim_start_delay;
        node.sim.stop_delay = self.sim_stop_delay;
        node.sim.volume_files = self.sim_volume_files;
        node.pod_logs_dir = self.pod_logs_dir;
        node.server = (self.port != 0).then(|| ferrokube_kubelet::server::ServerOptions {
            port: self.port,
            tls_cert_file: self.tls_cert_file,
            tls_private_key_file: self.tls_private_key_file,
            client_ca_pem: self
                .client_ca_file
                .and_then(|f| std::fs::read_to_string(f).ok()),
        });
        ferrokube_kubelet::Config {
            kubeconfig: self.kubeconfig,
            runtime: if self.runtime.as_deref() == Some("cri") {
                ferrokube_kubelet::RuntimeKind::Cri
            } else {
                ferrokube_kubelet::RuntimeKind::Sim
            },
            container_runtime_endpoint: Some(self.container_runtime_endpoint),
            hostname_override: self.hostname_override,
            sim_nodes: self.sim_nodes,
            node,
        }
    }
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
    /// StatefulSets synced concurrently.
    #[arg(long, default_value_t = 5)]
    concurrent_statefulset_syncs: u16,
    /// Services whose Endpoints are synced concurrently.
    #[arg(long, default_value_t = 5)]
    concurrent_endpoint_syncs: u16,
    /// Services whose EndpointSlices are synced concurrently.
    #[arg(long, default_value_t = 5)]
    concurrent_service_endpoint_syncs: u16,
    /// The most endpoints one EndpointSlice holds (1 to 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    max_endpoints_per_slice: u16,
    /// How long pod changes wait before a Service's EndpointSlices are synced (0: at once).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    endpointslice_updates_batch_period: Duration,
    /// Endpoints mirrored to EndpointSlices concurrently.
    #[arg(long, default_value_t = 5)]
    mirroring_concurrent_service_endpoint_syncs: u16,
    /// The most addresses mirrored per Endpoints subset.
    #[arg(long, default_value_t = 1000)]
    mirroring_max_endpoints_per_subset: usize,
    /// How long Endpoints changes wait before they are mirrored (0: at once).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    mirroring_endpointslice_updates_batch_period: Duration,
    /// How often the node lifecycle controller checks node health.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    node_monitor_period: Duration,
    /// How long a node may go without a heartbeat before it is marked Unknown.
    #[arg(long, default_value = "50s", value_parser = parse_duration)]
    node_monitor_grace_period: Duration,
    /// How long a starting node may go without posting status before it is marked Unknown.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    node_startup_grace_period: Duration,
    /// Nodes per second tainted for eviction in a healthy zone.
    #[arg(long, default_value_t = 0.1)]
    node_eviction_rate: f64,
    /// Nodes per second tainted for eviction in a partially disrupted large zone.
    #[arg(long, default_value_t = 0.01)]
    secondary_node_eviction_rate: f64,
    /// The share of not-Ready nodes (more than 2) that makes a zone partially disrupted.
    #[arg(long, default_value_t = 0.55)]
    unhealthy_zone_threshold: f64,
    /// Zones up to this many nodes stop evicting when partially disrupted.
    #[arg(long, default_value_t = 50)]
    large_cluster_size_threshold: usize,
    /// Objects the garbage collector deletes concurrently.
    #[arg(long, default_value_t = 20)]
    concurrent_gc_syncs: u16,
    /// Namespaces emptied concurrently.
    #[arg(long, default_value_t = 10)]
    concurrent_namespace_syncs: u16,
    /// Requests per second to the API server (client-side token bucket; 0 or less: no limit).
    #[arg(long, default_value_t = ferrokube_controllers::DEFAULT_KUBE_API_QPS, allow_negative_numbers = true)]
    kube_api_qps: f32,
    /// Requests allowed at once above --kube-api-qps.
    #[arg(long, default_value_t = ferrokube_controllers::DEFAULT_KUBE_API_BURST)]
    kube_api_burst: u32,
    /// Where the local-path provisioner's volumes live on each node.
    #[arg(long, default_value = ferrokube_controllers::volume::localpath::DEFAULT_BASE_DIR)]
    local_path_base_dir: PathBuf,
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
            concurrent_statefulset_syncs: self.concurrent_statefulset_syncs,
            concurrent_endpoint_syncs: self.concurrent_endpoint_syncs,
            concurrent_service_endpoint_syncs: self.concurrent_service_endpoint_syncs,
            max_endpoints_per_slice: self.max_endpoints_per_slice.into(),
            endpointslice_updates_batch_period: self.endpointslice_updates_batch_period,
            mirroring: ferrokube_controllers::endpointslicemirroring::Settings {
                concurrency: self.mirroring_concurrent_service_endpoint_syncs,
                max_endpoints_per_subset: self.mirroring_max_endpoints_per_subset,
                batch_period: self.mirroring_endpointslice_updates_batch_period,
            },
            node_lifecycle: ferrokube_controllers::nodelifecycle::Settings {
                monitor_period: self.node_monitor_period,
                grace_period: self.node_monitor_grace_period,
                startup_grace_period: self.node_startup_grace_period,
                rates: ferrokube_controllers::nodelifecycle::zones::Rates {
                    eviction_qps: self.node_eviction_rate,
                    secondary_eviction_qps: self.secondary_node_eviction_rate,
                    unhealthy_zone_threshold: self.unhealthy_zone_threshold,
                    large_cluster_size_threshold: self.large_cluster_size_threshold,
                },
            },
            concurrent_gc_syncs: self.concurrent_gc_syncs,
            concurrent_namespace_syncs: self.concurrent_namespace_syncs,
            kube_api_qps: self.kube_api_qps,
            kube_api_burst: self.kube_api_burst,
            local_path_base_dir: self.local_path_base_dir,
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

#[derive(Args)]
struct SchedulerFlags {
    /// Path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Campaign for the leader Lease before scheduling.
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
    #[arg(long, default_value = "kube-scheduler")]
    leader_elect_resource_name: String,
    /// The address /healthz, /readyz and /metrics listen on (plain HTTP).
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// The health and metrics port; 0 serves nothing.
    #[arg(long, default_value_t = 10259)]
    secure_port: u16,
    /// A KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1): profiles, plugins,
    /// pluginConfig, percentageOfNodesToScore, leaderElection.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl SchedulerFlags {
    fn into_config(self) -> ferrokube_scheduler::Config {
        ferrokube_scheduler::Config {
            kubeconfig: self.kubeconfig,
            leader_elect: self.leader_elect,
            leader_elect_lease_duration: self.leader_elect_lease_duration,
            leader_elect_renew_deadline: self.leader_elect_renew_deadline,
            leader_elect_retry_period: self.leader_elect_retry_period,
            leader_elect_resource_namespace: self.leader_elect_resource_namespace,
            leader_elect_resource_name: self.leader_elect_resource_name,
            health_addr: (self.secure_port != 0)
                .then(|| SocketAddr::new(self.bind_address, self.secure_port)),
            ..Default::default()
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
    /// `server` only: run a kubelet for this machine on this CRI socket (default: when
    /// /run/containerd/containerd.sock exists).
    #[arg(long)]
    container_runtime_endpoint: Option<String>,
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
    /// The issuer (`iss`) of service account tokens.
    #[arg(long, default_value = ferrokube_apiserver::serviceaccount::DEFAULT_ISSUER)]
    service_account_issuer: String,
    /// A PEM ECDSA P-256 key to sign service account tokens with (default: made on first
    /// start under the data directory).
    #[arg(long)]
    service_account_signing_key_file: Option<PathBuf>,
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
            service_account_issuer: self.service_account_issuer,
            service_account_signing_key_file: self.service_account_signing_key_file,
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

/// The kubelet of `ferrokube server`'s own node, on containerd.
/// It serves logs and exec on :10250 unless that port is taken, then runs without its server.
async fn kubelet_in_process(kubeconfig: PathBuf, endpoint: String) {
    let mut config = ferrokube_kubelet::Config {
        kubeconfig: Some(kubeconfig),
        runtime: ferrokube_kubelet::RuntimeKind::Cri,
        container_runtime_endpoint: Some(endpoint),
        ..Default::default()
    };
    config.node.server = Some(ferrokube_kubelet::server::ServerOptions {
        port: 10250,
        tls_cert_file: None,
        tls_private_key_file: None,
        client_ca_pem: None,
    });
    let result = match ferrokube_kubelet::run(config.clone(), shutdown_signal()).await {
        Err(ferrokube_kubelet::Error::Server(e)) => {
            tracing::warn!(error = %e, "kubelet runs without its :10250 server");
            config.node.server = None;
            ferrokube_kubelet::run(config, shutdown_signal()).await
        }
        other => other,
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "kubelet stopped");
    }
}

/// The scheduler inside `ferrokube server`: health and metrics on 127.0.0.1:10259 when that
/// port is free, else without them.
async fn scheduler_in_process(kubeconfig: PathBuf) {
    let config = ferrokube_scheduler::Config {
        kubeconfig: Some(kubeconfig),
        health_addr: Some(SocketAddr::from(([127, 0, 0, 1], 10259))),
        ..Default::default()
    };
    let running = match ferrokube_scheduler::start(config.clone(), shutdown_signal()).await {
        Err(ferrokube_scheduler::Error::Component(ferrokube_component::Error::Bind {
            addr,
            source,
        })) => {
            tracing::warn!(%addr, error = %source, "scheduler runs without health endpoints");
            let config = ferrokube_scheduler::Config {
                health_addr: None,
                ..config
            };
            ferrokube_scheduler::start(config, shutdown_signal()).await
        }
        other => other,
    };
    let result = match running {
        Ok(running) => running.wait().await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "scheduler stopped");
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The kubelet runs on a runtime sized for a node agent (see ferrokube_kubelet::executor);
    // the other components on tokio's defaults.
    let runtime = match &cli.command {
        Command::Kubelet(flags) => {
            ferrokube_kubelet::executor::build(flags.sim_nodes.unwrap_or(1))?
        }
        Command::Agent(_) => ferrokube_kubelet::executor::build(1)?,
        _ => tokio::runtime::Runtime::new()?,
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let in_process = matches!(cli.command, Command::Server(_));
    let node_runtime = match &cli.command {
        Command::Server(flags) => flags.container_runtime_endpoint.clone().or_else(|| {
            std::path::Path::new("/run/containerd/containerd.sock")
                .exists()
                .then(|| "unix:///run/containerd/containerd.sock".to_string())
        }),
        _ => None,
    };
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
                    tokio::spawn(scheduler_in_process(started.kubeconfig.clone()));
                    if let Some(endpoint) = node_runtime.clone() {
                        tokio::spawn(kubelet_in_process(started.kubeconfig.clone(), endpoint));
                    }
                }
            })
            .await?;
        }
        Command::Scheduler(flags) => {
            let file = flags.config.clone();
            let mut config = flags.into_config();
            if let Some(path) = file {
                config.apply_file(&path)?;
            }
            ferrokube_scheduler::run(config, shutdown_signal()).await?;
        }
        Command::ControllerManager(flags) => {
            ferrokube_controllers::run(flags.into_config(), shutdown_signal()).await?;
        }
        Command::Kubelet(flags) => {
            ferrokube_kubelet::run(flags.into_config(), shutdown_signal()).await?;
        }
        Command::Agent(flags) => {
            let config = flags.join().await?;
            ferrokube_kubelet::run(config, shutdown_signal()).await?;
        }
    }
    Ok(())
}
