//! Containers in a sandbox: CreateContainer (the trait's config translated to CRI, its log
//! directory made first), StartContainer, StopContainer, RemoveContainer, ListContainers,
//! ContainerStatus and ExecSync.

use std::path::Path;
use std::time::Duration;

use k8s_cri::v1 as cri;

use super::connection::Clients;
use super::{call_error, convert, sandbox};
use crate::runtime::{ContainerConfig, ContainerStatus, ExecResult, RuntimeError, image};

/// The CRI config of a container.
pub fn config(sandbox_config: &cri::PodSandboxConfig, c: &ContainerConfig) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: c.name.clone(),
            attempt: c.attempt,
        }),
        image: Some(cri::ImageSpec {
            image: image::normalize(&c.image),
            user_specified_image: c.image.clone(),
            ..Default::default()
        }),
        command: c.command.clone(),
        args: c.args.clone(),
        working_dir: c.working_dir.clone(),
        envs: c
            .envs
            .iter()
            .map(|(key, value)| cri::KeyValue {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        mounts: c
            .mounts
            .iter()
            .map(|m| cri::Mount {
                container_path: m.container_path.clone(),
                host_path: m.host_path.clone(),
                readonly: m.read_only,
                ..Default::default()
            })
            .collect(),
        labels: c
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        annotations: c
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        log_path: c.log_path.clone(),
        stdin: c.stdin,
        stdin_once: c.stdin_once,
        tty: c.tty,
        linux: Some(cri::LinuxContainerConfig {
            resources: convert::resources(&c.resources),
            security_context: Some(cri::LinuxContainerSecurityContext {
                namespace_options: Some(convert::namespace_options(sandbox::host_network(
                    sandbox_config,
                ))),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// Creates a container; returns its id.
pub async fn create(
    clients: &Clients,
    sandbox_id: &str,
    sandbox_config: &cri::PodSandboxConfig,
    c: &ContainerConfig,
) -> Result<String, RuntimeError> {
    if !sandbox_config.log_directory.is_empty() && !c.log_path.is_empty() {
        // As upstream's kubelet: `<pod log dir>/<container>/` exists before the container.
        let file = Path::new(&sandbox_config.log_directory).join(&c.log_path);
        if let Some(dir) = file.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| RuntimeError::Call {
                    call: "CreateContainer",
                    message: format!("create container log directory {}: {e}", dir.display()),
                })?;
        }
    }
    let response = clients
        .runtime
        .clone()
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: sandbox_id.to_string(),
            config: Some(config(sandbox_config, c)),
            sandbox_config: Some(sandbox_config.clone()),
        })
        .await
        .map_err(call_error("CreateContainer"))?;
    Ok(response.into_inner().container_id)
}

/// Starts a created container.
pub async fn start(clients: &Clients, id: &str) -> Result<(), RuntimeError> {
    clients
        .runtime
        .clone()
        .start_container(cri::StartContainerRequest {
            container_id: id.to_string(),
        })
        .await
        .map_err(call_error("StartContainer"))?;
    Ok(())
}

/// Stops a container: SIGTERM (or the image's stop signal), SIGKILL after `timeout`.
pub async fn stop(clients: &Clients, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
    match clients
        .runtime
        .clone()
        .stop_container(cri::StopContainerRequest {
            container_id: id.to_string(),
            timeout: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
        Err(s) => Err(call_error("StopContainer")(s)),
    }
}

/// Removes a container.
pub async fn remove(clients: &Clients, id: &str) -> Result<(), RuntimeError> {
    match clients
        .runtime
        .clone()
        .remove_container(cri::RemoveContainerRequest {
            container_id: id.to_string(),
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
        Err(s) => Err(call_error("RemoveContainer")(s)),
    }
}

/// The containers of a sandbox (all of them, or every sandbox's with an empty id).
pub async fn list(
    clients: &Clients,
    sandbox_id: &str,
) -> Result<Vec<cri::Container>, RuntimeError> {
    let filter = (!sandbox_id.is_empty()).then(|| cri::ContainerFilter {
        pod_sandbox_id: sandbox_id.to_string(),
        ..Default::default()
    });
    let response = clients
        .runtime
        .clone()
        .list_containers(cri::ListContainersRequest { filter })
        .await
        .map_err(call_error("ListContainers"))?;
    Ok(response.into_inner().containers)
}

/// A container's status, with its creation time (nanoseconds) for ordering.
pub async fn status(clients: &Clients, id: &str) -> Result<(i64, ContainerStatus), RuntimeError> {
    let response = clients
        .runtime
        .clone()
        .container_status(cri::ContainerStatusRequest {
            container_id: id.to_string(),
            verbose: false,
        })
        .await
        .map_err(|s| match s.code() {
            tonic::Code::NotFound => RuntimeError::NotFound {
                kind: "container",
                id: id.to_string(),
            },
            _ => call_error("ContainerStatus")(s),
        })?;
    let s = response.into_inner().status.unwrap_or_default();
    let metadata = s.metadata.clone().unwrap_or_default();
    let sandbox_id = s
        .labels
        .get("io.kubernetes.sandbox.id")
        .cloned()
        .unwrap_or_default();
    let status = ContainerStatus {
        id: s.id.clone(),
        sandbox_id,
        name: metadata.name,
        attempt: metadata.attempt,
        state: convert::container_state(&s),
        image: s
            .image
            .as_ref()
            .map(|i| i.image.clone())
            .unwrap_or_default(),
        image_ref: s.image_ref.clone(),
    };
    Ok((s.created_at, status))
}

/// Runs `command` in a running container and waits for it, at most `timeout`.
pub async fn exec_sync(
    clients: &Clients,
    id: &str,
    command: &[String],
    timeout: Duration,
) -> Result<ExecResult, RuntimeError> {
    let mut request = tonic::Request::new(cri::ExecSyncRequest {
        container_id: id.to_string(),
        cmd: command.to_vec(),
        timeout: convert::timeout_seconds(timeout),
    });
    if !timeout.is_zero() {
        // The runtime enforces the timeout; this only bounds a runtime that does not answer.
        request.set_timeout(timeout + Duration::from_secs(5));
    }
    let response = clients
        .runtime
        .clone()
        .exec_sync(request)
        .await
        .map_err(call_error("ExecSync"))?
        .into_inner();
    Ok(ExecResult {
        exit_code: response.exit_code,
        stdout: response.stdout,
        stderr: response.stderr,
    })
}
