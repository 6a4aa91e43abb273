//! The Ferrokube kubelet: the node agent. It registers its Node, keeps its Lease in
//! `kube-node-lease` and its status fresh, watches the pods bound to it and runs them through
//! a container runtime behind one CRI-shaped trait ([`runtime::Runtime`]).
//!
//! Entry points: [`run`] with a [`Config`] whose fields mirror the kubelet's flags (what
//! `ferrokube kubelet` calls), and [`start_sim_nodes`], which starts any number of simulated
//! nodes in-process against a client (for tests and benchmarks). Runtimes: [`runtime::sim`]
//! (simulated containers, kwok-like; many nodes per process).
//!
//! Layout: [`node`] (registration, Lease, node status), [`pod`] (the per-pod workers and the
//! pod status as upstream generates it), [`runtime`], [`ipam`] (pod CIDRs and pod IPs),
//! [`server`] (the HTTPS server on `--port` the API server proxies logs and exec to),
//! [`logs`] (the CRI log format) and [`executor`] (the tokio runtime the `ferrokube kubelet`
//! command runs on).

#![warn(missing_docs)]

pub mod executor;
pub mod ipam;
pub mod logs;
pub mod node;
pub mod pod;
pub mod runtime;
pub mod server;
pub mod spdy;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Taint;
use tracing::info;

use ipam::Cidr;
use node::{NodeContext, RunningNode, host::HostInfo};
use pod::env::ServiceCache;
use runtime::Runtime;
use runtime::sim::{SimConfig, SimRuntime};

/// Why the kubelet could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client could not be set up.
    #[error(transparent)]
    Component(#[from] ferrokube_component::Error),
    /// A flag value is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Creating or reconciling the Node failed.
    #[error("unable to register node with API server: {0}")]
    RegisterNode(#[source] kube::Error),
    /// Posting the Node's status failed.
    #[error("error updating node status: {0}")]
    UpdateNodeStatus(#[source] kube::Error),
    /// Renewing (or creating) the node Lease failed.
    #[error("failed to update lease: {0}")]
    RenewLease(#[source] kube::Error),
    /// Writing a pod's status failed.
    #[error("failed to update pod status: {0}")]
    UpdatePodStatus(#[source] kube::Error),
    /// Deleting a terminated pod failed.
    #[error("failed to delete pod: {0}")]
    DeletePod(#[source] kube::Error),
    /// A runtime call failed.
    #[error("runtime: {0}")]
    Runtime(#[from] runtime::RuntimeError),
    /// The CRI runtime could not be reached.
    #[error(transparent)]
    Cri(#[from] runtime::cri::CriError),
    /// The kubelet server could not start.
    #[error(transparent)]
    Server(#[from] server::ServerError),
}

/// The container runtime backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuntimeKind {
    /// Simulated containers.
    #[default]
    Sim,
    /// containerd (any CRI v1 runtime) at `--container-runtime-endpoint`.
    Cri,
}

/// Per-node settings shared by every node a process hosts.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// `--node-labels`.
    pub node_labels: BTreeMap<String, String>,
    /// `--register-with-taints`.
    pub register_with_taints: Vec<Taint>,
    /// `--node-ip`; simulated node `i` gets this address plus `i`.
    pub node_ip: Ipv4Addr,
    /// `--pod-cidr`; split into one block per simulated node.
    pub pod_cidr: String,
    /// Capacity and allocatable: `cpu`, `memory`, `pods`, `ephemeral-storage`.
    pub capacity: BTreeMap<String, String>,
    /// Node lease duration (40 s).
    pub lease_duration: Duration,
    /// Lease renew interval (10 s).
    pub lease_renew_interval: Duration,
    /// `--node-status-update-frequency` (10 s).
    pub node_status_update_frequency: Duration,
    /// How often an unchanged node status is re-posted (5 min).
    pub node_status_report_frequency: Duration,
    /// First CrashLoopBackOff delay (10 s).
    pub crash_loop_back_off: Duration,
    /// Longest CrashLoopBackOff delay (300 s).
    pub crash_loop_back_off_max: Duration,
    /// Timing of simulated containers.
    pub sim: SimConfig,
    /// `--root-dir` (`/var/lib/kubelet`): pod volumes live under `<root>/pods/<uid>/volumes`;
    /// each simulated node uses the subdirectory named after it.
    pub root_dir: PathBuf,
    /// How often configMap, secret, downwardAPI and projected volumes are refreshed (60 s,
    /// upstream's `--sync-frequency`); pod updates refresh them too.
    pub volume_resync_interval: Duration,
    /// Where container logs go (`podLogsDir`, `/var/log/pods`).
    pub pod_logs_dir: PathBuf,
    /// The kubelet server (`--port`, TLS, client CA); None serves nothing.
    pub server: Option<server::ServerOptions>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            node_labels: BTreeMap::new(),
            register_with_taints: Vec::new(),
            node_ip: Ipv4Addr::new(10, 0, 0, 2),
            pod_cidr: "10.244.0.0/16".into(),
            capacity: default_sim_capacity(),
            lease_duration: Duration::from_secs(40),
            lease_renew_interval: Duration::from_secs(10),
            node_status_update_frequency: Duration::from_secs(10),
            node_status_report_frequency: Duration::from_secs(300),
            crash_loop_back_off: Duration::from_secs(10),
            crash_loop_back_off_max: Duration::from_secs(300),
            sim: SimConfig::default(),
            pod_logs_dir: PathBuf::from("/var/log/pods"),
            root_dir: PathBuf::from("/var/lib/kubelet"),
            volume_resync_interval: Duration::from_secs(60),
            server: None,
        }
    }
}

/// A simulated node's capacity unless configured: kwok's defaults (32 CPUs, 256 GiB), 110 pods.
pub fn default_sim_capacity() -> BTreeMap<String, String> {
    [
        ("cpu", "32"),
        ("memory", "256Gi"),
        ("pods", "110"),
        ("ephemeral-storage", "100Gi"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The kubelet's configuration (its flags).
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--runtime`.
    pub runtime: RuntimeKind,
    /// `--hostname-override`: the node name, or the name prefix with `sim_nodes`.
    pub hostname_override: Option<String>,
    /// `--sim-nodes N`: host N simulated nodes named `<prefix>-0` .. `<prefix>-(N-1)`.
    pub sim_nodes: Option<u32>,
    /// Per-node settings.
    pub node: NodeOptions,
    /// `--container-runtime-endpoint` for the `cri` runtime (`unix:///run/containerd/containerd.sock`).
    pub container_runtime_endpoint: Option<String>,
}

/// How long start-up waits for the first list of Services before starting pods anyway
/// (their containers then wait for it, as upstream's kubelet does).
const SERVICE_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// The Service cache of a process, shared by all its nodes, and the means to stop it.
struct SharedServices {
    cache: ServiceCache,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SharedServices {
    /// Starts the watch and waits (bounded) for its first list.
    async fn start(client: &kube::Client) -> SharedServices {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (cache, task) = ServiceCache::start(client.clone(), stopped);
        if !cache.wait_synced(SERVICE_SYNC_TIMEOUT).await {
            tracing::warn!("services not listed yet; containers wait for them");
        }
        SharedServices { cache, stop, task }
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

/// Simulated nodes running in this process.
pub struct SimNodes {
    nodes: Vec<RunningNode>,
    servers: Vec<server::RunningServer>,
    services: SharedServices,
}

impl SimNodes {
    /// The nodes' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Stops one node's heartbeat (Lease renewals and status posts); its pods keep running.
    /// Returns false when no node has that name.
    pub fn stop_heartbeat(&self, name: &str) -> bool {
        let node = self.nodes.iter().find(|n| n.name == name);
        if let Some(n) = node {
            n.stop_heartbeat();
        }
        node.is_some()
    }

    /// Resumes one node's stopped heartbeat (Lease and status at once); false when no node has
    /// that name.
    pub fn resume_heartbeat(&self, name: &str) -> bool {
        let node = self.nodes.iter().find(|n| n.name == name);
        if let Some(n) = node {
            n.resume_heartbeat();
        }
        node.is_some()
    }

    /// The addresses the nodes' kubelet servers listen on, in node order (empty without
    /// servers).
    pub fn server_addresses(&self) -> Vec<std::net::SocketAddr> {
        self.servers.iter().map(|s| s.addr).collect()
    }

    /// Stops every node's loops and servers (pods and Nodes stay in the API).
    pub async fn stop(self) {
        for s in self.servers {
            s.stop().await;
        }
        for n in self.nodes {
            n.stop().await;
        }
        self.services.stop().await;
    }
}

/// The names `count` simulated nodes get: `<prefix>-0`, `<prefix>-1`, ...
pub fn sim_node_names(prefix: &str, count: u32) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

#[allow(clippy::too_many_arguments)]
fn sim_context(
    client: &kube::Client,
    services: &ServiceCache,
    name: String,
    index: u32,
    count: u32,
    options: &NodeOptions,
    host: &HostInfo,
    kubelet_port: u16,
) -> Result<NodeContext, Error> {
    let range = Cidr::parse(&options.pod_cidr)
        .ok_or_else(|| Error::InvalidConfig(format!("--pod-cidr {:?}", options.pod_cidr)))?;
    let cidr = ipam::node_pod_cidr(range, u64::from(index), u64::from(count)).ok_or_else(|| {
        Error::InvalidConfig(format!("--pod-cidr {range} is too small for {count} nodes"))
    })?;
    let node_ip = ipam::node_address(options.node_ip, index);
    let runtime: Arc<dyn Runtime> = Arc::new(SimRuntime::new(options.sim, node_ip, cidr));
    Ok(NodeContext {
        client: client.clone(),
        node_name: name.clone(),
        host_ip: node_ip.to_string(),
        pod_cidr: Some(cidr.to_string()),
        runtime,
        runtime_name: "sim".into(),
        runtime_version: format!("sim://{}", runtime::sim::SIM_VERSION),
        capacity: options.capacity.clone(),
        host: host.simulated(),
        labels: options.node_labels.clone(),
        taints: options.register_with_taints.clone(),
        lease_duration_seconds: i32::try_from(options.lease_duration.as_secs()).unwrap_or(40),
        lease_renew_interval: options.lease_renew_interval,
        status_update_frequency: options.node_status_update_frequency,
        status_report_frequency: options.node_status_report_frequency,
        back_off_base: options.crash_loop_back_off,
        back_off_max: options.crash_loop_back_off_max,
        retry_interval: Duration::from_secs(1),
        root_dir: options.root_dir.join(&name),
        volume_files: options.sim.volume_files,
        services: services.clone(),
        volume_resync_interval: options.volume_resync_interval,
        pod_logs_dir: options.pod_logs_dir.clone(),
        kubelet_port: i32::from(kubelet_port),
    })
}

/// Starts simulated nodes named `names` in this process; each is registered (and Ready) when
/// this returns.
pub async fn start_sim_nodes(
    client: kube::Client,
    names: Vec<String>,
    options: NodeOptions,
) -> Result<SimNodes, Error> {
    let host = HostInfo::detect();
    let count = u32::try_from(names.len()).unwrap_or(u32::MAX);
    let mut options = options;
    // Each node's server listens on its own InternalIP, bound first so the Node publishes
    // the port actually bound. A node IP that is not this machine's (the default 10.0.0.x of
    // simulated nodes) serves nothing: use --node-ip 127.0.0.1 to reach simulated nodes'
    // servers. Simulated containers write log files only on nodes that serve them.
    let mut listeners = Vec::new();
    if let Some(opts) = &options.server {
        for i in 0..count {
            let ip = ipam::node_address(options.node_ip, i);
            match server::bind(ip.into(), opts.port).await {
                Ok(l) => listeners.push(l),
                Err(server::ServerError::Listen { addr, source })
                    if source.kind() == std::io::ErrorKind::AddrNotAvailable =>
                {
                    tracing::warn!(
                        %addr,
                        "the node IP is not on this machine; the kubelet server is disabled"
                    );
                    listeners.clear();
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    options.sim.write_logs = !listeners.is_empty();
    let services = SharedServices::start(&client).await;
    let mut contexts = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(0);
        let port = match listeners.get(i) {
            Some(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            None => 10250,
        };
        match sim_context(
            &client,
            &services.cache,
            name,
            index,
            count,
            &options,
            &host,
            port,
        ) {
            Ok(c) => contexts.push(c),
            Err(e) => {
                services.stop().await;
                return Err(e);
            }
        }
    }
    let servers_for: Vec<server::NodeServer> = contexts
        .iter()
        .map(|c| {
            server::NodeServer::new(
                c.node_name.clone(),
                c.client.clone(),
                c.runtime.clone(),
                c.runtime_name.clone(),
            )
        })
        .collect();
    let started = futures::future::join_all(contexts.into_iter().map(node::start)).await;
    let mut nodes = Vec::new();
    let mut first_error = None;
    for s in started {
        match s {
            Ok(n) => nodes.push(n),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let mut servers = Vec::new();
    if let Some(opts) = &options.server
        && first_error.is_none()
        && !listeners.is_empty()
    {
        for (i, (listener, srv)) in listeners.into_iter().zip(servers_for).enumerate() {
            let ip = ipam::node_address(options.node_ip, u32::try_from(i).unwrap_or(0));
            match server::start(listener, opts, srv, ip.into()) {
                Ok(s) => servers.push(s),
                Err(e) => {
                    first_error.get_or_insert(e.into());
                    break;
                }
            }
        }
    }
    let sim_nodes = SimNodes {
        nodes,
        servers,
        services,
    };
    if let Some(e) = first_error {
        sim_nodes.stop().await;
        return Err(e);
    }
    Ok(sim_nodes)
}

/// The CA (PEM) of the kubeconfig's current cluster, if it names one.
fn kubeconfig_ca(path: Option<&std::path::Path>) -> Option<String> {
    let kubeconfig = match path {
        Some(p) => kube::config::Kubeconfig::read_from(p).ok()?,
        None => kube::config::Kubeconfig::read().ok()?,
    };
    let context = kubeconfig.current_context.clone()?;
    let cluster_name = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .cluster
        .clone();
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)?
        .cluster
        .clone()?;
    if let Some(data) = cluster.certificate_authority_data {
        use base64::Engine;
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .ok()?;
        return String::from_utf8(pem).ok();
    }
    std::fs::read_to_string(cluster.certificate_authority?).ok()
}

/// A node whose pods run on a CRI runtime, with its kubelet server when one is configured.
pub struct CriNode {
    /// The Node's name.
    pub name: String,
    node: RunningNode,
    server: Option<server::RunningServer>,
    services: SharedServices,
}

impl CriNode {
    /// The address the node's kubelet server listens on (None without a server).
    pub fn server_address(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(|s| s.addr)
    }

    /// Stops the node's loops and its server (its pods keep running, as when a kubelet
    /// exits).
    pub async fn stop(self) {
        if let Some(s) = self.server {
            s.stop().await;
        }
        self.node.stop().await;
        self.services.stop().await;
    }
}

/// Starts one node whose pods run on the CRI runtime at `endpoint` (containerd); it is
/// registered (and Ready) when this returns. Its capacity is the machine's, its runtime
/// version the one CRI `Version` reports, its pods' containers found running from an
/// earlier kubelet are adopted, and with `options.server` it serves `:10250` (logs, exec)
/// on its node IP as simulated nodes do.
pub async fn start_cri_node(
    client: kube::Client,
    name: String,
    options: NodeOptions,
    endpoint: &str,
) -> Result<CriNode, Error> {
    let cri = runtime::cri::CriRuntime::connect(endpoint, Duration::from_secs(1)).await?;
    let version = cri.version().await?;
    let host = HostInfo::detect();
    let mut options = options;
    if options.node_ip == NodeOptions::default().node_ip
        && let Some(ip) = runtime::cri::detect_node_ip()
    {
        options.node_ip = ip;
    }
    let listener = match &options.server {
        Some(opts) => Some(server::bind(options.node_ip.into(), opts.port).await?),
        None => None,
    };
    let port = match &listener {
        Some(l) => l.local_addr().map(|a| a.port()).unwrap_or(10250),
        None => 10250,
    };
    let services = SharedServices::start(&client).await;
    let mut ctx = match sim_context(&client, &services.cache, name, 0, 1, &options, &host, port) {
        Ok(c) => c,
        Err(e) => {
            services.stop().await;
            return Err(e);
        }
    };
    ctx.volume_files = true;
    ctx.runtime = Arc::new(cri);
    ctx.runtime_name = version.name.clone();
    ctx.runtime_version = version.node_info();
    ctx.host = host;
    ctx.pod_cidr = None;
    ctx.capacity.extend(runtime::cri::machine_capacity());
    let node_server = server::NodeServer::new(
        ctx.node_name.clone(),
        ctx.client.clone(),
        ctx.runtime.clone(),
        ctx.runtime_name.clone(),
    );
    let node = match node::start(ctx).await {
        Ok(n) => n,
        Err(e) => {
            services.stop().await;
            return Err(e);
        }
    };
    let server = match (listener, &options.server) {
        (Some(l), Some(opts)) => {
            match server::start(l, opts, node_server, options.node_ip.into()) {
                Ok(s) => Some(s),
                Err(e) => {
                    node.stop().await;
                    services.stop().await;
                    return Err(e.into());
                }
            }
        }
        _ => None,
    };
    Ok(CriNode {
        name: node.name.clone(),
        node,
        server,
        services,
    })
}

/// Runs the kubelet until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let client =
        ferrokube_component::client::connect(&ferrokube_component::client::ClientOptions {
            kubeconfig: config.kubeconfig.clone(),
            user_agent: "ferrokube-kubelet".into(),
        })
        .await?;
    let name = config
        .hostname_override
        .clone()
        .unwrap_or_else(node::host::hostname);
    let names = match config.sim_nodes {
        Some(n) => sim_node_names(&name, n),
        None => vec![name],
    };
    let mut node_options = config.node;
    if let Some(server) = node_options.server.as_mut()
        && server.client_ca_pem.is_none()
    {
        // Without --client-ca-file, trust client certificates signed by the CA the
        // kubeconfig trusts (the cluster CA, which signs the API server's client certificate).
        server.client_ca_pem = kubeconfig_ca(config.kubeconfig.as_deref());
    }
    if config.runtime == RuntimeKind::Cri {
        let endpoint = config
            .container_runtime_endpoint
            .clone()
            .unwrap_or_else(|| runtime::cri::DEFAULT_ENDPOINT.to_string());
        let node = start_cri_node(client, names[0].clone(), node_options, &endpoint).await?;
        info!(node = %node.name, %endpoint, "kubelet running");
        shutdown.await;
        node.stop().await;
        return Ok(());
    }
    let nodes = start_sim_nodes(client, names, node_options).await?;
    info!(nodes = ?nodes.names(), "kubelet running");
    shutdown.await;
    nodes.stop().await;
    Ok(())
}
