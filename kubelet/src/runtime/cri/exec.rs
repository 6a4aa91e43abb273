//! CRI `Exec` and `Attach`: each answers with a URL on the runtime's streaming server, which
//! [`streaming::connect`] turns into an [`ExecSession`].

use k8s_cri::v1 as cri;

use super::call_error;
use super::connection::Clients;
use super::streaming::{self, Streams};
use crate::runtime::{AttachRequest, ExecRequest, ExecSession, RuntimeError};

pub use super::streaming::{check_upgrade, split_url};

/// Starts `request` in the container and connects to its streams.
pub async fn exec(
    clients: &Clients,
    container_id: &str,
    request: &ExecRequest,
) -> Result<ExecSession, RuntimeError> {
    let streams = Streams::new(request.stdin, request.stdout, request.stderr, request.tty);
    let response = clients
        .runtime
        .clone()
        .exec(cri::ExecRequest {
            container_id: container_id.to_string(),
            cmd: request.command.clone(),
            tty: streams.tty,
            stdin: streams.stdin,
            stdout: streams.stdout,
            stderr: streams.stderr,
        })
        .await
        .map_err(call_error("Exec"))?
        .into_inner();
    streaming::connect("Exec", &response.url, streams).await
}

/// Connects to the streams of the container's main process.
pub async fn attach(
    clients: &Clients,
    container_id: &str,
    request: &AttachRequest,
) -> Result<ExecSession, RuntimeError> {
    let streams = Streams::new(request.stdin, request.stdout, request.stderr, request.tty);
    let response = clients
        .runtime
        .clone()
        .attach(cri::AttachRequest {
            container_id: container_id.to_string(),
            stdin: streams.stdin,
            tty: streams.tty,
            stdout: streams.stdout,
            stderr: streams.stderr,
        })
        .await
        .map_err(call_error("Attach"))?
        .into_inner();
    streaming::connect("Attach", &response.url, streams).await
}
