//! The `sim` runtime: simulated sandboxes and containers, no processes (kwok-like). Sandboxes
//! get pod IPs from the node's pod CIDR; a started container "runs" after
//! [`SimConfig::start_delay`]; a stopped one exits after [`SimConfig::stop_delay`] (exit code 0
//! when that is within the grace period, else it is killed: 137).
//!
//! Which containers exit on their own (the command convention):
//! - a container whose last shell statement (of `command` + `args`, split on `;`, `&&`, `||`
//!   and newlines) is `exit N` exits with N, `true` with 0, `false` with 1, after
//!   [`SimConfig::run_duration`] of running;
//! - other init containers exit 0 after [`SimConfig::run_duration`];
//! - other containers run until they are stopped.
//!
//! So `command: [sh, -c, "echo hi; exit 3"]` fails with exit code 3, and
//! `command: [sh, -c, "sleep 3600"]` runs until the pod is deleted.
//!
//! What simulated containers log (CRI format, to `<log_directory>/<log_path>`), when they
//! start: the line `simulated container <name> started`, then the words of every `echo`
//! statement of their command (`echo hi`, `sh -c 'echo hi; exit 3'`). [`Runtime::exec`] runs
//! nothing either: `echo ...` prints its words, `false` exits 1, anything else exits 0.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use rand::Rng;
use tokio::sync::broadcast;

use super::{
    CONTAINER_TYPE_ANNOTATION, ContainerConfig, ContainerState, ContainerStatus, ExecRequest,
    ExecResult, ExecSession, PodSandbox, Runtime, RuntimeError, RuntimeEvent, RuntimeVersion,
    SandboxConfig, SandboxStatus, image,
};
use crate::ipam::{Cidr, PodAddresses};
use crate::logs::{self, LogStream};

/// The simulated runtime's version, reported as `sim://0.1`.
pub const SIM_VERSION: &str = "0.1";

/// Runtime events a simulated node buffers for its pod workers. The buffer is allocated up
/// front and every node of a process has one, so it is sized for a burst of one node's pods
/// starting together (about four events each); a worker that falls further behind gets
/// `Lagged` and syncs its pod once, which is what the events would have caused anyway.
const EVENT_BUFFER: usize = 256;

/// How simulated containers behave in time.
#[derive(Clone, Copy, Debug)]
pub struct SimConfig {
    /// From `StartContainer` to running.
    pub start_delay: Duration,
    /// How long a container that exits on its own runs first.
    pub run_duration: Duration,
    /// From `StopContainer` to exited (capped by the stop timeout, then it is killed).
    pub stop_delay: Duration,
    /// Whether containers write their log files (on when the node serves logs).
    pub write_logs: bool,
    /// Whether pod volumes are materialised under the node's root directory (on by default;
    /// `ferrokube kubelet --runtime sim` turns it off unless `--sim-volume-files`).
    pub volume_files: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            start_delay: Duration::from_millis(200),
            run_duration: Duration::from_millis(500),
            stop_delay: Duration::from_millis(200),
            write_logs: false,
            volume_files: true,
        }
    }
}

#[derive(Debug)]
struct Sandbox {
    config: SandboxConfig,
    ready: bool,
    ip: String,
    allocated: Option<Ipv4Addr>,
    created_at: Timestamp,
}

#[derive(Debug)]
struct Container {
    status: ContainerStatus,
    planned_exit: Option<i32>,
    /// The log file (None when the sandbox has no log directory).
    log_path: Option<PathBuf>,
    /// What it logs when it starts.
    output: String,
}

#[derive(Debug)]
struct State {
    sandboxes: HashMap<String, Sandbox>,
    containers: HashMap<String, Container>,
    /// Creation order, for listing oldest first.
    order: Vec<String>,
    addresses: PodAddresses,
}

/// A simulated runtime for one node.
#[derive(Clone)]
pub struct SimRuntime {
    config: SimConfig,
    node_ip: Ipv4Addr,
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<RuntimeEvent>,
}

impl SimRuntime {
    /// A runtime whose pods get IPs from `pod_cidr` (host-network pods get `node_ip`).
    pub fn new(config: SimConfig, node_ip: Ipv4Addr, pod_cidr: Cidr) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        SimRuntime {
            config,
            node_ip,
            state: Arc::new(Mutex::new(State {
                sandboxes: HashMap::new(),
                containers: HashMap::new(),
                order: Vec::new(),
                addresses: PodAddresses::new(pod_cidr),
            })),
            events,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn announce(&self, sandbox_id: &str, container_id: Option<&str>) {
        let _ = self.events.send(RuntimeEvent {
            sandbox_id: sandbox_id.to_string(),
            container_id: container_id.map(str::to_string),
        });
    }

    /// Moves a running container to exited (if it still runs) and announces it.
    fn exit(&self, container_id: &str, exit_code: i32, reason: &str) {
        let sandbox = {
            let mut state = self.lock();
            let Some(c) = state.containers.get_mut(container_id) else {
                return;
            };
            let started_at = match &c.status.state {
                ContainerState::Running { started_at } => Some(*started_at),
                ContainerState::Created => None,
                ContainerState::Exited { .. } => return,
            };
            c.status.state = ContainerState::Exited {
                started_at,
                finished_at: Timestamp::now(),
                exit_code,
                reason: reason.to_string(),
            };
            c.status.sandbox_id.clone()
        };
        self.announce(&sandbox, Some(container_id));
    }
}

fn random_id() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// The words of every `echo` statement of a command (`echo a b`, `sh -c 'echo a; exit 1'`),
/// one line each; None when it has no `echo`.
pub fn echo_output(command: &[String]) -> Option<String> {
    let script = match command {
        [sh, flag, script, ..] if sh.ends_with("sh") && flag == "-c" => script.clone(),
        _ => command.join(" "),
    };
    let lines: Vec<String> = script
        .split(['\n', ';'])
        .flat_map(|s| s.split("&&"))
        .flat_map(|s| s.split("||"))
        .map(str::trim)
        .filter_map(|s| {
            let rest = s.strip_prefix("echo")?;
            (rest.is_empty() || rest.starts_with(' ')).then(|| {
                rest.split_whitespace()
                    .map(|w| w.trim_matches(['"', '\'']))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n") + "\n")
}

/// The exit code a container's command says it ends with, per the module's convention.
pub fn planned_exit(config: &ContainerConfig) -> Option<i32> {
    let script = config
        .command
        .iter()
        .chain(config.args.iter())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    let last = script
        .split(['\n', ';'])
        .flat_map(|s| s.split("&&"))
        .flat_map(|s| s.split("||"))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .last()
        .unwrap_or_default();
    // `sh -c exit 3` and `exit 3` both end in the statement `exit 3`.
    let words: Vec<&str> = last.split_whitespace().collect();
    let tail = match words
        .iter()
        .rposition(|w| matches!(*w, "exit" | "true" | "false"))
    {
        Some(i) if i + 2 >= words.len() => &words[i..],
        _ => &[][..],
    };
    let planned = match tail {
        ["true"] => Some(0),
        ["false"] => Some(1),
        ["exit"] => Some(0),
        ["exit", code] => code.trim_matches(['"', '\'']).parse().ok(),
        _ => None,
    };
    let init = config
        .annotations
        .get(CONTAINER_TYPE_ANNOTATION)
        .is_some_and(|t| t == "init");
    planned.or(init.then_some(0))
}

#[async_trait]
impl Runtime for SimRuntime {
    async fn version(&self) -> Result<RuntimeVersion, RuntimeError> {
        Ok(RuntimeVersion {
            name: "sim".into(),
            version: SIM_VERSION.into(),
        })
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        Ok(image::normalize(image))
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<String, RuntimeError> {
        let id = random_id();
        {
            let mut state = self.lock();
            let (ip, allocated) = if config.host_network {
                (self.node_ip.to_string(), None)
            } else {
                let ip = state.addresses.allocate().ok_or_else(|| {
                    RuntimeError::AddressesExhausted(state.addresses.cidr().to_string())
                })?;
                (ip.to_string(), Some(ip))
            };
            state.sandboxes.insert(
                id.clone(),
                Sandbox {
                    config: config.clone(),
                    ready: true,
                    ip,
                    allocated,
                    created_at: Timestamp::now(),
                },
            );
        }
        self.announce(&id, None);
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let running: Vec<String> = {
            let mut state = self.lock();
            let sandbox = state
                .sandboxes
                .get_mut(sandbox_id)
                .ok_or_else(|| not_found("sandbox", sandbox_id))?;
            sandbox.ready = false;
            if let Some(ip) = sandbox.allocated.take() {
                state.addresses.release(ip);
            }
            state
                .containers
                .iter()
                .filter(|(_, c)| {
                    c.status.sandbox_id == sandbox_id
                        && !matches!(c.status.state, ContainerState::Exited { .. })
                })
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in running {
            self.exit(&id, 137, "Error");
        }
        self.announce(sandbox_id, None);
        Ok(())
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        self.stop_pod_sandbox(sandbox_id).await.ok();
        let mut state = self.lock();
        state.sandboxes.remove(sandbox_id);
        let State {
            containers, order, ..
        } = &mut *state;
        containers.retain(|_, c| c.status.sandbox_id != sandbox_id);
        order.retain(|id| containers.contains_key(id));
        Ok(())
    }

    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<SandboxStatus, RuntimeError> {
        let state = self.lock();
        let s = state
            .sandboxes
            .get(sandbox_id)
            .ok_or_else(|| not_found("sandbox", sandbox_id))?;
        Ok(SandboxStatus {
            id: sandbox_id.to_string(),
            ready: s.ready,
            ip: s.ip.clone(),
            created_at: s.created_at,
        })
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, RuntimeError> {
        let id = random_id();
        let image = image::normalize(&config.image);
        let digest: String = {
            // A stable fake digest per image, so every node reports the same imageID.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in image.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            format!("{h:016x}").repeat(4)
        };
        let image_ref = format!("{}@sha256:{digest}", image::repository(&image));
        let mut state = self.lock();
        let log_directory = match state.sandboxes.get(sandbox_id) {
            Some(s) if s.ready => s.config.log_directory.clone(),
            _ => {
                return Err(RuntimeError::InvalidState(format!(
                    "sandbox {sandbox_id} is not ready"
                )));
            }
        };
        let command: Vec<String> = config
            .command
            .iter()
            .chain(config.args.iter())
            .cloned()
            .collect();
        let output = format!("simulated container {} started\n", config.name)
            + &echo_output(&command).unwrap_or_default();
        let log_path =
            (self.config.write_logs && !log_directory.is_empty() && !config.log_path.is_empty())
                .then(|| PathBuf::from(&log_directory).join(&config.log_path));
        state.containers.insert(
            id.clone(),
            Container {
                status: ContainerStatus {
                    id: id.clone(),
                    sandbox_id: sandbox_id.to_string(),
                    name: config.name.clone(),
                    attempt: config.attempt,
                    state: ContainerState::Created,
                    image,
                    image_ref,
                },
                planned_exit: planned_exit(config),
                log_path,
                output,
            },
        );
        state.order.push(id.clone());
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        if !self.lock().containers.contains_key(container_id) {
            return Err(not_found("container", container_id));
        }
        tokio::time::sleep(self.config.start_delay).await;
        let log = self
            .lock()
            .containers
            .get(container_id)
            .and_then(|c| Some((c.log_path.clone()?, c.output.clone())));
        if let Some((path, output)) = log
            && let Err(e) = logs::append(&path, LogStream::Stdout, &output).await
        {
            tracing::debug!(path = %path.display(), error = %e, "writing a simulated log failed");
        }
        let (sandbox, planned) = {
            let mut state = self.lock();
            let c = state
                .containers
                .get_mut(container_id)
                .ok_or_else(|| not_found("container", container_id))?;
            if c.status.state != ContainerState::Created {
                return Err(RuntimeError::InvalidState(format!(
                    "container {container_id} is not in created state"
                )));
            }
            c.status.state = ContainerState::Running {
                started_at: Timestamp::now(),
            };
            (c.status.sandbox_id.clone(), c.planned_exit)
        };
        self.announce(&sandbox, Some(container_id));
        if let Some(code) = planned {
            let runtime = self.clone();
            let id = container_id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(runtime.config.run_duration).await;
                let reason = if code == 0 { "Completed" } else { "Error" };
                runtime.exit(&id, code, reason);
            });
        }
        Ok(())
    }

    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        let running = match self.lock().containers.get(container_id) {
            None => return Err(not_found("container", container_id)),
            Some(c) => matches!(c.status.state, ContainerState::Running { .. }),
        };
        if running {
            if self.config.stop_delay <= timeout {
                tokio::time::sleep(self.config.stop_delay).await;
                self.exit(container_id, 0, "Completed");
            } else {
                tokio::time::sleep(timeout).await;
                self.exit(container_id, 137, "Error");
            }
        } else {
            self.exit(container_id, 0, "Completed");
        }
        Ok(())
    }

    async fn remove_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        let mut state = self.lock();
        state.containers.remove(container_id);
        state.order.retain(|id| id != container_id);
        Ok(())
    }

    async fn list_containers(
        &self,
        sandbox_id: &str,
    ) -> Result<Vec<ContainerStatus>, RuntimeError> {
        let state = self.lock();
        Ok(state
            .order
            .iter()
            .filter_map(|id| state.containers.get(id))
            .filter(|c| c.status.sandbox_id == sandbox_id)
            .map(|c| c.status.clone())
            .collect())
    }

    /// Simulated commands succeed with no output when the container is running.
    async fn exec_sync(
        &self,
        container_id: &str,
        _command: &[String],
        _timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        let state = self.lock();
        let c = state
            .containers
            .get(container_id)
            .ok_or_else(|| not_found("container", container_id))?;
        if !matches!(c.status.state, ContainerState::Running { .. }) {
            return Err(RuntimeError::InvalidState(format!(
                "container {container_id:?} is not running"
            )));
        }
        Ok(ExecResult::default())
    }

    fn events(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<PodSandbox>, RuntimeError> {
        let state = self.lock();
        Ok(state
            .sandboxes
            .iter()
            .map(|(id, s)| PodSandbox {
                id: id.clone(),
                name: s.config.name.clone(),
                namespace: s.config.namespace.clone(),
                uid: s.config.uid.clone(),
                ready: s.ready,
                log_directory: s.config.log_directory.clone(),
                created_at: s.created_at,
            })
            .collect())
    }

    /// Runs nothing: `echo` prints its words, `false` exits 1, anything else exits 0.
    async fn exec(
        &self,
        container_id: &str,
        request: &ExecRequest,
    ) -> Result<ExecSession, RuntimeError> {
        self.exec_sync(container_id, &request.command, Duration::ZERO)
            .await?;
        let (stdout_tx, stdout) = tokio::sync::mpsc::channel(4);
        let (_, stderr) = tokio::sync::mpsc::channel(1);
        let (exit_tx, exit_code) = tokio::sync::oneshot::channel();
        if let Some(text) = echo_output(&request.command) {
            let _ = stdout_tx.try_send(bytes::Bytes::from(text));
        }
        let code = match request.command.first().map(String::as_str) {
            Some("false") => 1,
            _ => 0,
        };
        let _ = exit_tx.send(code);
        Ok(ExecSession {
            stdin: None,
            stdout,
            stderr,
            exit_code,
            resize: None,
        })
    }
}

fn not_found(kind: &'static str, id: &str) -> RuntimeError {
    RuntimeError::NotFound {
        kind,
        id: id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(command: &[&str], init: bool) -> ContainerConfig {
        let mut c = ContainerConfig {
            name: "c".into(),
            image: "busybox".into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        c.annotations.insert(
            CONTAINER_TYPE_ANNOTATION.into(),
            if init { "init" } else { "regular" }.into(),
        );
        c
    }

    #[test]
    fn the_last_exit_statement_decides_the_exit_code() {
        assert_eq!(
            planned_exit(&container(&["sh", "-c", "echo hi; exit 3"], false)),
            Some(3)
        );
        assert_eq!(
            planned_exit(&container(&["sh", "-c", "exit"], false)),
            Some(0)
        );
        assert_eq!(planned_exit(&container(&["true"], false)), Some(0));
        assert_eq!(planned_exit(&container(&["/bin/false"], false)), None);
        assert_eq!(planned_exit(&container(&["false"], false)), Some(1));
        assert_eq!(
            planned_exit(&container(&["sh", "-c", "make && exit 2"], false)),
            Some(2)
        );
    }

    #[test]
    fn long_running_commands_run_until_stopped_unless_they_are_init_containers() {
        assert_eq!(
            planned_exit(&container(&["sh", "-c", "sleep 3600"], false)),
            None
        );
        assert_eq!(planned_exit(&container(&[], false)), None);
        assert_eq!(
            planned_exit(&container(&["sh", "-c", "echo init"], true)),
            Some(0)
        );
        assert_eq!(
            planned_exit(&container(&["sh", "-c", "exit 1"], true)),
            Some(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_container_runs_after_the_start_delay_and_exits_when_stopped() {
        let rt = SimRuntime::new(
            SimConfig::default(),
            Ipv4Addr::new(10, 0, 0, 2),
            Cidr::parse("10.244.0.0/24").unwrap(),
        );
        let sandbox = rt.run_pod_sandbox(&SandboxConfig::default()).await.unwrap();
        let status = rt.pod_sandbox_status(&sandbox).await.unwrap();
        assert_eq!(status.ip, "10.244.0.2");
        let id = rt
            .create_container(&sandbox, &container(&["sleep", "3600"], false))
            .await
            .unwrap();
        rt.start_container(&id).await.unwrap();
        let listed = rt.list_containers(&sandbox).await.unwrap();
        assert!(matches!(listed[0].state, ContainerState::Running { .. }));
        assert_eq!(listed[0].image, "docker.io/library/busybox:latest");
        rt.stop_container(&id, Duration::from_secs(30))
            .await
            .unwrap();
        let listed = rt.list_containers(&sandbox).await.unwrap();
        assert!(matches!(
            listed[0].state,
            ContainerState::Exited { exit_code: 0, .. }
        ));
        rt.remove_pod_sandbox(&sandbox).await.unwrap();
        assert!(rt.list_containers(&sandbox).await.unwrap().is_empty());
    }
}
