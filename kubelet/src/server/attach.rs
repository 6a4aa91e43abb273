//! `/attach/{ns}/{pod}/{container}?input=1&output=1&error=1&tty=1`: the standard streams of a
//! running container's main process, over the same WebSocket channel protocols as `/exec`
//! (the relay is [`super::exec::relay`]). As upstream's `GetAttach`, whether there is a TTY
//! comes from the container's spec (it cannot change once the process runs), a container that
//! is not running is not found, and input is only passed on to a container that keeps its
//! stdin open (`stdin: true`); otherwise it is discarded, as the runtime would. The session
//! ends with a `Success` status when the process's streams end.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tracing::debug;

use super::exec::{Outcome, running_container_id, stream_options, switch, websocket_offer};
use super::logs::{bound_pod, locate};
use super::routes::{query, text_error};
use super::{Body, NodeServer};
use crate::runtime::AttachRequest;

/// The spec's (`tty`, `stdin`) of a container, init container or ephemeral container.
pub fn container_terminal(pod: &Pod, container: &str) -> Option<(bool, bool)> {
    let spec = pod.spec.as_ref()?;
    let regular = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == container)
        .map(|c| (c.tty.unwrap_or(false), c.stdin.unwrap_or(false)));
    regular.or_else(|| {
        spec.ephemeral_containers
            .iter()
            .flatten()
            .find(|c| c.name == container)
            .map(|c| (c.tty.unwrap_or(false), c.stdin.unwrap_or(false)))
    })
}

/// The `Status` an attach session ends with.
pub fn attach_status(code: i32) -> serde_json::Value {
    if code == 0 {
        return json!({ "metadata": {}, "status": "Success" });
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("error attaching to container: exit code {code}"),
        "reason": "InternalError",
        "code": 500,
    })
}

/// Serves an attach request.
pub async fn attach(
    server: &Arc<NodeServer>,
    ns: &str,
    name: &str,
    container: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    let q = query(req.uri());
    let (stdin, stdout, stderr, _) = match stream_options(&q) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let pod = match bound_pod(server, ns, name).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let full_name = format!("{name}_{ns}");
    let not_found = || {
        text_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("container {container} not found in pod {full_name}"),
        )
    };
    let Some((tty, keeps_stdin)) = container_terminal(&pod, container) else {
        return not_found();
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let located = match running_container_id(&pod, container) {
        Some(id) => locate(server, &uid, &id).await,
        None => None,
    };
    let Some(located) = located else {
        return not_found();
    };
    if stdin && !keeps_stdin {
        debug!(pod = %full_name, container, "attach input discarded: the container's stdin is not open");
    }
    let request = AttachRequest {
        stdin: stdin && keeps_stdin,
        stdout,
        stderr: stderr && !tty,
        tty,
    };
    let (key, protocol) = match websocket_offer(&req) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let session = match server.runtime.attach(&located.container_id, &request).await {
        Ok(s) => s,
        Err(e) => return text_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let outcome: Outcome = Box::new(attach_status);
    switch(req, &key, protocol, session, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tty_and_stdin_come_from_the_container_spec() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [
                {"name": "shell", "image": "busybox", "tty": true, "stdin": true},
                {"name": "logger", "image": "busybox"},
            ]},
        }))
        .unwrap();
        assert_eq!(container_terminal(&pod, "shell"), Some((true, true)));
        assert_eq!(container_terminal(&pod, "logger"), Some((false, false)));
        assert_eq!(container_terminal(&pod, "nosuch"), None);
    }

    #[test]
    fn an_attach_that_ends_cleanly_reports_success() {
        assert_eq!(attach_status(0)["status"], "Success");
        assert_eq!(attach_status(1)["reason"], "InternalError");
    }
}
