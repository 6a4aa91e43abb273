//! The container runtime interface the pod workers drive, shaped after CRI v1's
//! `RuntimeService`: a pod sandbox (the pod's network namespace and IP) is run, stopped and
//! removed; containers are created in a sandbox, started, stopped with a timeout, removed, and
//! their status read back. State changes are announced on an event stream, as CRI's
//! `GetContainerEvents` (or a relisting PLEG) does.
//!
//! Backends: [`sim`] (simulated containers, no processes) and [`cri`] (containerd over CRI
//! v1).

pub mod cri;
pub mod image;
pub mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::broadcast;

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The sandbox or container id is not known to the runtime.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// `sandbox` or `container`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// No pod IP was left in the node's pod CIDR.
    #[error("failed to allocate a pod IP: the pod CIDR {0} is exhausted")]
    AddressesExhausted(String),
    /// The call was not valid in the object's current state.
    #[error("{0}")]
    InvalidState(String),
    /// Pulling an image failed (the `ErrImagePull` message).
    #[error("{0}")]
    ImagePull(String),
    /// A call to the container runtime failed (the runtime's own message).
    #[error("{call}: {message}")]
    Call {
        /// The CRI call, e.g. `RunPodSandbox`.
        call: &'static str,
        /// What the runtime said.
        message: String,
    },
    /// The runtime does not implement this call (yet).
    #[error("{0} is not supported by this runtime")]
    Unsupported(&'static str),
}

/// The runtime's name and version, as CRI `Version` reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeVersion {
    /// `runtime_name`, e.g. `sim` or `containerd`.
    pub name: String,
    /// `runtime_version`, e.g. `0.1`.
    pub version: String,
}

impl RuntimeVersion {
    /// `name://version`, the Node's `status.nodeInfo.containerRuntimeVersion`.
    pub fn node_info(&self) -> String {
        format!("{}://{}", self.name, self.version)
    }
}

/// What a pod sandbox is run with (CRI `PodSandboxConfig`, the parts used so far).
#[derive(Clone, Debug, Default)]
pub struct SandboxConfig {
    /// The pod's name.
    pub name: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's UID.
    pub uid: String,
    /// The pod's hostname (`spec.hostname`, else its name).
    pub hostname: String,
    /// The directory the pod's container logs go under (`/var/log/pods/<ns>_<name>_<uid>`).
    pub log_directory: String,
    /// Whether the pod shares the node's network namespace (its IP is the node's).
    pub host_network: bool,
    /// Labels (`io.kubernetes.pod.*`).
    pub labels: BTreeMap<String, String>,
}

/// A sandbox's state (CRI `PodSandboxStatus`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxStatus {
    /// The sandbox id.
    pub id: String,
    /// Whether it is ready (running, network set up).
    pub ready: bool,
    /// The pod IP the network plugin gave it.
    pub ip: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// What a container is created with (CRI `ContainerConfig`, the parts used so far).
#[derive(Clone, Debug, Default)]
pub struct ContainerConfig {
    /// The container's name in the pod spec.
    pub name: String,
    /// The image reference as written in the pod spec.
    pub image: String,
    /// The entrypoint override.
    pub command: Vec<String>,
    /// The arguments.
    pub args: Vec<String>,
    /// The attempt number (the container's restart count).
    pub attempt: u32,
    /// Labels (`io.kubernetes.container.name`, `io.kubernetes.pod.uid`, ...).
    pub labels: BTreeMap<String, String>,
    /// Annotations; [`CONTAINER_TYPE_ANNOTATION`] says whether this is an init container.
    pub annotations: BTreeMap<String, String>,
    /// The working directory (`workingDir`); empty for the image's.
    pub working_dir: String,
    /// The resolved environment, in order (`env`, `envFrom`, service variables).
    pub envs: Vec<(String, String)>,
    /// Bind mounts prepared by the volume manager.
    pub mounts: Vec<Mount>,
    /// Linux resources from requests and limits.
    pub resources: LinuxResources,
    /// The container's log file, relative to the sandbox's log directory
    /// (`<name>/<attempt>.log`).
    pub log_path: String,
    /// Whether the container gets a TTY (`tty`).
    pub tty: bool,
    /// Whether stdin is kept open (`stdin`).
    pub stdin: bool,
    /// Whether stdin is closed after the first attach ends (`stdinOnce`).
    pub stdin_once: bool,
}

/// A bind mount into a container (CRI `Mount`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    /// The path inside the container.
    pub container_path: String,
    /// The path on the host.
    pub host_path: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// A container's cgroup settings (CRI `LinuxContainerResources`); zero means unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinuxResources {
    /// `cpu.shares`, from the CPU request (2 when none, as upstream).
    pub cpu_shares: i64,
    /// CFS period in microseconds (100000 when a CPU limit is set).
    pub cpu_period: i64,
    /// CFS quota in microseconds, from the CPU limit.
    pub cpu_quota: i64,
    /// Memory limit in bytes.
    pub memory_limit_in_bytes: i64,
    /// The OOM score adjustment from the pod's QoS class.
    pub oom_score_adj: i64,
}

/// What a command run in a container with [`Runtime::exec_sync`] produced (CRI
/// `ExecSyncResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecResult {
    /// Its exit code.
    pub exit_code: i32,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}

/// The annotation the kubelet sets on every container config: `init` or `regular`.
pub const CONTAINER_TYPE_ANNOTATION: &str = "ferrokube.io/container-type";

/// A container's lifecycle state (CRI `ContainerState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, not started.
    Created,
    /// Running since `started_at`.
    Running {
        /// When its process started.
        started_at: Timestamp,
    },
    /// Exited.
    Exited {
        /// When its process started (None if it never did).
        started_at: Option<Timestamp>,
        /// When it exited.
        finished_at: Timestamp,
        /// The exit code.
        exit_code: i32,
        /// `Completed`, `Error`, `OOMKilled`, ...
        reason: String,
    },
}

/// A container's status (CRI `ContainerStatus`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    /// The container id (without the `runtime://` prefix).
    pub id: String,
    /// The sandbox it runs in.
    pub sandbox_id: String,
    /// The container's name in the pod spec.
    pub name: String,
    /// The attempt number it was created with.
    pub attempt: u32,
    /// Its state.
    pub state: ContainerState,
    /// The image as the runtime resolved it (`docker.io/library/busybox:latest`).
    pub image: String,
    /// The image's digest reference (`docker.io/library/busybox@sha256:...`).
    pub image_ref: String,
}

/// A state change the runtime announces (CRI `ContainerEventResponse`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeEvent {
    /// The sandbox the change happened in.
    pub sandbox_id: String,
    /// The container, when the change is a container's.
    pub container_id: Option<String>,
}

/// A pod sandbox as CRI `ListPodSandbox` reports it, with the metadata it was run with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSandbox {
    /// The sandbox id.
    pub id: String,
    /// The pod's name.
    pub name: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's UID.
    pub uid: String,
    /// Whether it is ready (running, network set up).
    pub ready: bool,
    /// The directory its containers' logs go under.
    pub log_directory: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// An interactive command started in a container by [`Runtime::exec`]: its standard
/// streams and its exit code.
pub struct ExecSession {
    /// Bytes for the command's standard input (None when stdin was not asked for).
    pub stdin: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
    /// The command's standard output (with a TTY, both streams).
    pub stdout: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    /// The command's standard error (empty with a TTY).
    pub stderr: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    /// Resolves to the exit code once the command ended.
    pub exit_code: tokio::sync::oneshot::Receiver<i32>,
    /// Terminal size changes for the command's TTY (None without a TTY).
    pub resize: Option<tokio::sync::mpsc::Sender<TerminalSize>>,
}

/// A terminal's size in characters, as `kubectl` sends it on the resize channel
/// (`{"Width":80,"Height":24}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

impl TerminalSize {
    /// Reads a resize message (`{"Width":80,"Height":24}`); None when it is not one.
    pub fn from_json(message: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(message).ok()?;
        Some(TerminalSize {
            width: u16::try_from(v.get("Width")?.as_u64()?).ok()?,
            height: u16::try_from(v.get("Height")?.as_u64()?).ok()?,
        })
    }

    /// The resize message for this size, as the runtime's streaming server reads it.
    pub fn to_json(self) -> Vec<u8> {
        format!(r#"{{"Width":{},"Height":{}}}"#, self.width, self.height).into_bytes()
    }
}

/// What [`Runtime::attach`] connects to (CRI `AttachRequest`): the streams of a running
/// container's main process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachRequest {
    /// Whether standard input is streamed (the container must keep stdin open).
    pub stdin: bool,
    /// Whether standard output is streamed.
    pub stdout: bool,
    /// Whether standard error is streamed.
    pub stderr: bool,
    /// Whether the container has a TTY (its spec's `tty`; attach cannot change it).
    pub tty: bool,
}

/// A connection to a port in a pod's network namespace, opened by [`Runtime::port_forward`]
/// (CRI `PortForward`).
pub struct PortForwardStream {
    /// Bytes for the port; dropping it stops sending.
    pub input: tokio::sync::mpsc::Sender<bytes::Bytes>,
    /// Bytes from the port; ends when the connection does.
    pub output: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    /// Resolves once the connection ended: the runtime's error message, empty when none.
    pub error: tokio::sync::oneshot::Receiver<String>,
}

/// What [`Runtime::exec`] runs (CRI `ExecRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Whether standard input is streamed.
    pub stdin: bool,
    /// Whether standard output is streamed.
    pub stdout: bool,
    /// Whether standard error is streamed.
    pub stderr: bool,
    /// Whether the command gets a TTY.
    pub tty: bool,
}

/// A container runtime, shaped after CRI v1's `RuntimeService` and `ImageService`.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// The runtime's name and version (CRI `Version`).
    async fn version(&self) -> Result<RuntimeVersion, RuntimeError>;
    /// Makes sure `image` is present and returns its resolved reference (CRI `PullImage`).
    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError>;
    /// Creates and starts a pod sandbox with its network; returns its id (CRI `RunPodSandbox`).
    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<String, RuntimeError>;
    /// Stops every container in the sandbox and tears down its network (CRI `StopPodSandbox`).
    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError>;
    /// Removes a stopped sandbox and its containers (CRI `RemovePodSandbox`).
    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError>;
    /// The sandbox's status (CRI `PodSandboxStatus`).
    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<SandboxStatus, RuntimeError>;
    /// Creates a container in a sandbox; returns its id (CRI `CreateContainer`).
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, RuntimeError>;
    /// Starts a created container; returns once its process runs (CRI `StartContainer`).
    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError>;
    /// Stops a container, killing it after `timeout` (CRI `StopContainer`).
    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError>;
    /// Removes a container (CRI `RemoveContainer`).
    async fn remove_container(&self, container_id: &str) -> Result<(), RuntimeError>;
    /// The containers of a sandbox, oldest first (CRI `ListContainers` + `ContainerStatus`).
    async fn list_containers(&self, sandbox_id: &str)
    -> Result<Vec<ContainerStatus>, RuntimeError>;
    /// Runs a command in a running container and waits for it, at most `timeout` (CRI
    /// `ExecSync`); probes and exec hooks use it.
    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError>;
    /// Container state changes from now on.
    fn events(&self) -> broadcast::Receiver<RuntimeEvent>;
    /// The ready sandbox of a pod run earlier (found by its `io.kubernetes.pod.uid` label), so
    /// a restarted kubelet adopts it instead of running a new one.
    async fn find_pod_sandbox(&self, _pod_uid: &str) -> Result<Option<String>, RuntimeError> {
        Ok(None)
    }
    /// The resolved reference of `image` when it is present on the node (CRI `ImageStatus`);
    /// the default treats every image as present.
    async fn image_status(&self, image: &str) -> Result<Option<String>, RuntimeError> {
        Ok(Some(image::normalize(image)))
    }
    /// The images on the node, for the Node's `status.images` (CRI `ListImages`).
    async fn list_images(&self) -> Result<Vec<NodeImage>, RuntimeError> {
        Ok(Vec::new())
    }
    /// Every pod sandbox the runtime holds (CRI `ListPodSandbox`); the kubelet server finds
    /// a pod's containers and log files through it.
    async fn list_pod_sandboxes(&self) -> Result<Vec<PodSandbox>, RuntimeError> {
        Err(RuntimeError::Unsupported("ListPodSandbox"))
    }
    /// Starts a command in a running container with streamed input and output (CRI `Exec`);
    /// `kubectl exec` goes through it.
    async fn exec(
        &self,
        container_id: &str,
        request: &ExecRequest,
    ) -> Result<ExecSession, RuntimeError> {
        let _ = (container_id, request);
        Err(RuntimeError::Unsupported("Exec"))
    }
    /// Connects to the standard streams of a running container's main process (CRI
    /// `Attach`); `kubectl attach` goes through it. The session's exit code is 0 once the
    /// streams end.
    async fn attach(
        &self,
        container_id: &str,
        request: &AttachRequest,
    ) -> Result<ExecSession, RuntimeError> {
        let _ = (container_id, request);
        Err(RuntimeError::Unsupported("Attach"))
    }
    /// Connects to `port` in the sandbox's network namespace (CRI `PortForward`);
    /// `kubectl port-forward` goes through it.
    async fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
    ) -> Result<PortForwardStream, RuntimeError> {
        let _ = (sandbox_id, port);
        Err(RuntimeError::Unsupported("PortForward"))
    }
}

/// An image present on the node (CRI `Image`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeImage {
    /// Its tags and digest references.
    pub names: Vec<String>,
    /// Its size in bytes.
    pub size_bytes: i64,
}
