//! The `cri` backend: containerd (or any CRI v1 runtime) over its unix socket.
//!
//! Entry point: [`CriRuntime::connect`]. Calls are split by phase: [`connection`] (the tonic
//! channel over a unix socket), [`sandbox`] (RunPodSandbox and friends, and finding a pod's
//! sandbox again after a kubelet restart by its `io.kubernetes.pod.uid` label), [`containers`]
//! (create, start, stop, remove, status, ExecSync), [`images`] (Version, ImageStatus,
//! PullImage, ListImages), [`exec`] (CRI `Exec` and `Attach` bridged to the runtime's
//! streaming server by [`streaming`]: WebSocket, or [`spdy`] on the crate's SPDY session when
//! stdin is streamed), [`portforward`] (CRI `PortForward`, the same way) and [`relist`]
//! (containerd 1.6 has no `GetContainerEvents`, so a PLEG-style relist every second announces
//! changes on [`Runtime::events`]); [`convert`] holds the pure message translations.

pub mod connection;
pub mod containers;
pub mod convert;
pub mod exec;
pub mod images;
pub mod portforward;
pub mod relist;
pub mod sandbox;
pub mod spdy;
pub mod streaming;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use k8s_cri::v1 as cri;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::{
    AttachRequest, ContainerConfig, ContainerStatus, ExecRequest, ExecResult, ExecSession,
    NodeImage, Runtime, RuntimeError, RuntimeEvent, RuntimeVersion, SandboxConfig, SandboxStatus,
};
use connection::Clients;

/// The default CRI endpoint of containerd.
pub const DEFAULT_ENDPOINT: &str = "unix:///run/containerd/containerd.sock";

/// Why the CRI backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// The endpoint is not a unix socket.
    #[error("invalid container runtime endpoint {0:?}: want unix:///path/to/socket")]
    Endpoint(String),
    /// Connecting to the endpoint failed.
    #[error("failed to connect to the container runtime at {0}: {1}")]
    Connect(String, String),
    /// The runtime did not answer `Version`.
    #[error("container runtime did not answer Version: {0}")]
    Version(#[source] RuntimeError),
}

/// Maps a failed CRI call to the trait's error.
pub(crate) fn call_error(call: &'static str) -> impl Fn(tonic::Status) -> RuntimeError {
    move |status| RuntimeError::Call {
        call,
        message: status.message().to_string(),
    }
}

/// The containerd runtime.
pub struct CriRuntime {
    clients: Clients,
    events: broadcast::Sender<RuntimeEvent>,
    /// Each sandbox's config, which CreateContainer carries again (rebuilt from the sandbox's
    /// status after a restart).
    sandbox_configs: Mutex<HashMap<String, cri::PodSandboxConfig>>,
    /// Statuses of exited containers, which no longer change.
    exited: Mutex<HashMap<String, (i64, ContainerStatus)>>,
    relist: JoinHandle<()>,
}

impl std::fmt::Debug for CriRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CriRuntime").finish_non_exhaustive()
    }
}

impl CriRuntime {
    /// Connects to `endpoint` (`unix:///run/containerd/containerd.sock`), checks it answers
    /// `Version`, and starts relisting every `relist_period`.
    pub async fn connect(endpoint: &str, relist_period: Duration) -> Result<Self, CriError> {
        let clients = connection::connect(endpoint).await?;
        images::version(&clients).await.map_err(CriError::Version)?;
        let (events, _) = broadcast::channel(1024);
        let relist = tokio::spawn(relist::run(clients.clone(), events.clone(), relist_period));
        Ok(CriRuntime {
            clients,
            events,
            sandbox_configs: Mutex::new(HashMap::new()),
            exited: Mutex::new(HashMap::new()),
            relist,
        })
    }

    /// Stops and removes every pod sandbox (and so every container) the runtime has: a
    /// clean slate for tests and benchmarks.
    pub async fn remove_all_pod_sandboxes(&self) -> Result<(), RuntimeError> {
        for id in sandbox::list_ids(&self.clients).await? {
            self.stop_pod_sandbox(&id).await?;
            self.remove_pod_sandbox(&id).await?;
        }
        Ok(())
    }

    fn configs(&self) -> std::sync::MutexGuard<'_, HashMap<String, cri::PodSandboxConfig>> {
        self.sandbox_configs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn exited(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, ContainerStatus)>> {
        self.exited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for CriRuntime {
    fn drop(&mut self) {
        self.relist.abort();
    }
}

#[async_trait]
impl Runtime for CriRuntime {
    async fn version(&self) -> Result<RuntimeVersion, RuntimeError> {
        images::version(&self.clients).await
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        images::pull(&self.clients, image).await
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<String, RuntimeError> {
        let cri_config = sandbox::config(config);
        let id = sandbox::run(&self.clients, &cri_config).await?;
        self.configs().insert(id.clone(), cri_config);
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        sandbox::stop(&self.clients, sandbox_id).await
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        sandbox::remove(&self.clients, sandbox_id).await?;
        self.configs().remove(sandbox_id);
        self.exited().retain(|_, (_, c)| c.sandbox_id != sandbox_id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<SandboxStatus, RuntimeError> {
        Ok(sandbox::status(&self.clients, sandbox_id).await?.0)
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, RuntimeError> {
        let known = self.configs().get(sandbox_id).cloned();
        let sandbox_config = match known {
            Some(c) => c,
            None => {
                let c = sandbox::status(&self.clients, sandbox_id).await?.1;
                self.configs().insert(sandbox_id.to_string(), c.clone());
                c
            }
        };
        containers::create(&self.clients, sandbox_id, &sandbox_config, config).await
    }

    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        containers::start(&self.clients, container_id).await
    }

    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        containers::stop(&self.clients, container_id, timeout).await
    }

    async fn remove_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        containers::remove(&self.clients, container_id).await?;
        self.exited().remove(container_id);
        Ok(())
    }

    async fn list_containers(
        &self,
        sandbox_id: &str,
    ) -> Result<Vec<ContainerStatus>, RuntimeError> {
        let listed = containers::list(&self.clients, sandbox_id).await?;
        let mut out = Vec::with_capacity(listed.len());
        for c in listed {
            let cached = self.exited().get(&c.id).cloned();
            let (created_at, status) = match cached {
                Some(s) => s,
                None => {
                    let s = containers::status(&self.clients, &c.id).await?;
                    if matches!(s.1.state, super::ContainerState::Exited { .. }) {
                        self.exited().insert(c.id.clone(), s.clone());
                    }
                    s
                }
            };
            out.push((created_at, status));
        }
        out.sort_by_key(|(created_at, s)| (*created_at, s.attempt));
        Ok(out.into_iter().map(|(_, s)| s).collect())
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        containers::exec_sync(&self.clients, container_id, command, timeout).await
    }

    fn events(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }

    async fn find_pod_sandbox(&self, pod_uid: &str) -> Result<Option<String>, RuntimeError> {
        sandbox::find(&self.clients, pod_uid).await
    }

    async fn image_status(&self, image: &str) -> Result<Option<String>, RuntimeError> {
        images::status(&self.clients, image).await
    }

    async fn list_images(&self) -> Result<Vec<NodeImage>, RuntimeError> {
        images::list(&self.clients).await
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<super::PodSandbox>, RuntimeError> {
        sandbox::list(&self.clients).await
    }

    async fn exec(
        &self,
        container_id: &str,
        request: &ExecRequest,
    ) -> Result<ExecSession, RuntimeError> {
        exec::exec(&self.clients, container_id, request).await
    }

    async fn attach(
        &self,
        container_id: &str,
        request: &AttachRequest,
    ) -> Result<ExecSession, RuntimeError> {
        exec::attach(&self.clients, container_id, request).await
    }

    async fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
    ) -> Result<super::PortForwardStream, RuntimeError> {
        portforward::port_forward(&self.clients, sandbox_id, port).await
    }
}

/// The capacity of a node whose pods run for real: its CPUs and memory (`/proc/meminfo`).
pub fn machine_capacity() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(n) = std::thread::available_parallelism() {
        out.push(("cpu".to_string(), n.to_string()));
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(kib) = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        out.push(("memory".to_string(), format!("{kib}Ki")));
    }
    out
}

/// The address of the interface the default route leaves by (no packet is sent), the node's
/// InternalIP unless `--node-ip` says otherwise.
pub fn detect_node_ip() -> Option<std::net::Ipv4Addr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    match socket.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}
