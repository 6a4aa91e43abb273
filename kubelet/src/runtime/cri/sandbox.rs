//! Pod sandboxes: RunPodSandbox (the pod's network namespace and IP, from the CNI plugin),
//! StopPodSandbox, RemovePodSandbox, PodSandboxStatus, and finding a pod's ready sandbox again
//! by its `io.kubernetes.pod.uid` label after a kubelet restart.

use k8s_cri::v1 as cri;
use tracing::debug;

use super::connection::Clients;
use super::{call_error, convert};
use crate::runtime::{PodSandbox, RuntimeError, SandboxConfig, SandboxStatus};

/// The label every sandbox carries with its pod's UID.
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";

/// The annotation remembering whether the pod uses the node's network.
const HOST_NETWORK_ANNOTATION: &str = "ferrokube.io/host-network";

/// The annotation remembering the pod's log directory (CRI does not report it back).
const LOG_DIRECTORY_ANNOTATION: &str = "ferrokube.io/log-directory";

/// The CRI config of a sandbox.
pub fn config(config: &SandboxConfig) -> cri::PodSandboxConfig {
    let mut annotations = std::collections::HashMap::new();
    annotations.insert(
        HOST_NETWORK_ANNOTATION.to_string(),
        config.host_network.to_string(),
    );
    annotations.insert(
        LOG_DIRECTORY_ANNOTATION.to_string(),
        config.log_directory.clone(),
    );
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: config.name.clone(),
            uid: config.uid.clone(),
            namespace: config.namespace.clone(),
            attempt: 0,
        }),
        hostname: if config.host_network {
            String::new()
        } else {
            config.hostname.clone()
        },
        log_directory: config.log_directory.clone(),
        labels: config
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        annotations,
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(convert::namespace_options(config.host_network)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Whether the sandbox config shares the node's network namespace.
pub fn host_network(config: &cri::PodSandboxConfig) -> bool {
    config
        .annotations
        .get(HOST_NETWORK_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// Runs a sandbox; returns its id.
pub async fn run(
    clients: &Clients,
    config: &cri::PodSandboxConfig,
) -> Result<String, RuntimeError> {
    if !config.log_directory.is_empty() {
        // As upstream's kubelet: the pod's log directory exists before the sandbox runs.
        tokio::fs::create_dir_all(&config.log_directory)
            .await
            .map_err(|e| RuntimeError::Call {
                call: "RunPodSandbox",
                message: format!("create pod log directory {}: {e}", config.log_directory),
            })?;
    }
    let response = clients
        .runtime
        .clone()
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .map_err(call_error("RunPodSandbox"))?;
    let id = response.into_inner().pod_sandbox_id;
    debug!(sandbox = %id, "pod sandbox running");
    Ok(id)
}

/// Stops a sandbox (its containers are killed and its network torn down).
pub async fn stop(clients: &Clients, id: &str) -> Result<(), RuntimeError> {
    match clients
        .runtime
        .clone()
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
        Err(s) => Err(call_error("StopPodSandbox")(s)),
    }
}

/// Removes a stopped sandbox and its containers.
pub async fn remove(clients: &Clients, id: &str) -> Result<(), RuntimeError> {
    match clients
        .runtime
        .clone()
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
        Err(s) => Err(call_error("RemovePodSandbox")(s)),
    }
}

/// A sandbox's status, and the config it was run with as far as its status tells it.
pub async fn status(
    clients: &Clients,
    id: &str,
) -> Result<(SandboxStatus, cri::PodSandboxConfig), RuntimeError> {
    let response = clients
        .runtime
        .clone()
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.to_string(),
            verbose: false,
        })
        .await
        .map_err(|s| match s.code() {
            tonic::Code::NotFound => RuntimeError::NotFound {
                kind: "sandbox",
                id: id.to_string(),
            },
            _ => call_error("PodSandboxStatus")(s),
        })?;
    let s = response.into_inner().status.unwrap_or_default();
    let host_network = s
        .annotations
        .get(HOST_NETWORK_ANNOTATION)
        .map(String::as_str)
        == Some("true");
    let config = cri::PodSandboxConfig {
        metadata: s.metadata.clone(),
        labels: s.labels.clone(),
        annotations: s.annotations.clone(),
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(convert::namespace_options(host_network)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let status = SandboxStatus {
        id: s.id.clone(),
        ready: s.state == cri::PodSandboxState::SandboxReady as i32,
        ip: s.network.map(|n| n.ip).unwrap_or_default(),
        created_at: convert::timestamp(s.created_at).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
    };
    Ok((status, config))
}

/// The newest ready sandbox of the pod with `pod_uid`.
pub async fn find(clients: &Clients, pod_uid: &str) -> Result<Option<String>, RuntimeError> {
    let response = clients
        .runtime
        .clone()
        .list_pod_sandbox(cri::ListPodSandboxRequest {
            filter: Some(cri::PodSandboxFilter {
                state: Some(cri::PodSandboxStateValue {
                    state: cri::PodSandboxState::SandboxReady as i32,
                }),
                label_selector: [(POD_UID_LABEL.to_string(), pod_uid.to_string())]
                    .into_iter()
                    .collect(),
                ..Default::default()
            }),
        })
        .await
        .map_err(call_error("ListPodSandbox"))?;
    Ok(response
        .into_inner()
        .items
        .into_iter()
        .max_by_key(|s| s.created_at)
        .map(|s| s.id))
}

/// Every sandbox, with its pod's metadata.
pub async fn list(clients: &Clients) -> Result<Vec<PodSandbox>, RuntimeError> {
    let response = clients
        .runtime
        .clone()
        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
        .await
        .map_err(call_error("ListPodSandbox"))?;
    Ok(response
        .into_inner()
        .items
        .into_iter()
        .map(|s| {
            let metadata = s.metadata.unwrap_or_default();
            PodSandbox {
                ready: s.state == cri::PodSandboxState::SandboxReady as i32,
                log_directory: s
                    .annotations
                    .get(LOG_DIRECTORY_ANNOTATION)
                    .cloned()
                    .unwrap_or_default(),
                created_at: convert::timestamp(s.created_at).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
                id: s.id,
                name: metadata.name,
                namespace: metadata.namespace,
                uid: metadata.uid,
            }
        })
        .collect())
}

/// The ids of every sandbox.
pub async fn list_ids(clients: &Clients) -> Result<Vec<String>, RuntimeError> {
    let response = clients
        .runtime
        .clone()
        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
        .await
        .map_err(call_error("ListPodSandbox"))?;
    Ok(response
        .into_inner()
        .items
        .into_iter()
        .map(|s| s.id)
        .collect())
}
