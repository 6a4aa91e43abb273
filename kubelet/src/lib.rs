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
//! pod status as upstream generates it), [`runtime`], [`ipam`] (pod CIDRs and pod IPs).

#![warn(missing_docs)]

pub mod ipam;
pub mod node;
pub mod pod;
pub mod runtime;

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
}

/// The container runtime backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuntimeKind {
    /// Simulated containers.
    #[default]
    Sim,
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
}

/// Simulated nodes running in this process.
pub struct SimNodes {
    nodes: Vec<RunningNode>,
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

    /// Stops every node's loops (pods and Nodes stay in the API).
    pub async fn stop(self) {
        for n in self.nodes {
            n.stop().await;
        }
    }
}

/// The names `count` simulated nodes get: `<prefix>-0`, `<prefix>-1`, ...
pub fn sim_node_names(prefix: &str, count: u32) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

fn sim_context(
    client: &kube::Client,
    name: String,
    index: u32,
    count: u32,
    options: &NodeOptions,
    host: &HostInfo,
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
        node_name: name,
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
    let contexts = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            sim_context(
                &client,
                name,
                u32::try_from(i).unwrap_or(0),
                count,
                &options,
                &host,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
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
    if let Some(e) = first_error {
        SimNodes { nodes }.stop().await;
        return Err(e);
    }
    Ok(SimNodes { nodes })
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
    let RuntimeKind::Sim = config.runtime;
    let nodes = start_sim_nodes(client, names, config.node).await?;
    info!(nodes = ?nodes.names(), "kubelet running");
    shutdown.await;
    nodes.stop().await;
    Ok(())
}
