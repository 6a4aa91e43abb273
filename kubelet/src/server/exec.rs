//! `/exec/{ns}/{pod}/{container}?command=...&input=1&output=1&error=1&tty=0` over WebSocket
//! with the `v5.channel.k8s.io` (or `v4.channel.k8s.io`) subprotocol, as kubectl 1.30+ speaks
//! it: every binary message starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 error,
//! 4 resize; with v5, 255 closes the channel named by the next byte). When the command ends,
//! its outcome goes on the error channel as a `Status` (`Success`, or `NonZeroExitCode` with
//! the exit code as the `ExitCode` cause), then the connection is closed. SPDY is not spoken.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::Mutex;
use tracing::debug;

use super::logs::{bound_pod, has_container, locate};
use super::routes::{full, query, text_error};
use super::websocket::{self, Message, opcode};
use super::{Body, NodeServer};
use crate::runtime::{ExecRequest, ExecSession};

/// The channel subprotocols served, preferred first.
pub const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// Channel numbers.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const CLOSE_CHANNEL: u8 = 255;

/// The `Status` written on the error channel for an exit code.
pub fn exit_status(command: &[String], code: i32) -> serde_json::Value {
    if code == 0 {
        return json!({ "metadata": {}, "status": "Success" });
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": { "causes": [{ "reason": "ExitCode", "message": code.to_string() }] },
    })
}

/// The subprotocol to answer with, from the client's `Sec-WebSocket-Protocol` offers.
pub fn negotiate(offered: &str) -> Option<&'static str> {
    let offers: Vec<&str> = offered.split(',').map(str::trim).collect();
    PROTOCOLS.iter().copied().find(|p| offers.contains(p))
}

fn is_set(q: &std::collections::BTreeMap<String, Vec<String>>, key: &str) -> bool {
    q.get(key)
        .and_then(|v| v.first())
        .is_some_and(|v| v == "1" || v == "true")
}

/// Serves an exec request.
pub async fn exec(
    server: &Arc<NodeServer>,
    ns: &str,
    name: &str,
    container: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    let pod = match bound_pod(server, ns, name).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    if !has_container(&pod, container) {
        return text_error(
            StatusCode::NOT_FOUND,
            format!("container {container:?} not found in pod {name:?}"),
        );
    }
    let q = query(req.uri());
    let command = q.get("command").cloned().unwrap_or_default();
    if command.is_empty() {
        return text_error(
            StatusCode::BAD_REQUEST,
            "you must specify at least 1 command",
        );
    }
    let request = ExecRequest {
        command: command.clone(),
        stdin: is_set(&q, "input"),
        stdout: is_set(&q, "output"),
        stderr: is_set(&q, "error"),
        tty: is_set(&q, "tty"),
    };
    let running_id = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .chain(
            pod.status
                .as_ref()
                .and_then(|s| s.init_container_statuses.as_ref())
                .into_iter()
                .flatten(),
        )
        .find(|s| s.name == container && s.state.as_ref().is_some_and(|st| st.running.is_some()))
        .and_then(|s| s.container_id.clone());
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let located = match running_id {
        Some(id) => locate(server, &uid, &id).await,
        None => None,
    };
    let Some(located) = located else {
        return text_error(
            StatusCode::BAD_REQUEST,
            format!("container not found ({container:?})"),
        );
    };
    let headers = req.headers();
    let is_websocket = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let protocol = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .and_then(negotiate);
    let (Some(key), Some(protocol), true) = (key, protocol, is_websocket) else {
        return text_error(
            StatusCode::BAD_REQUEST,
            format!(
                "unable to upgrade connection: only WebSocket with one of the subprotocols {PROTOCOLS:?} is supported"
            ),
        );
    };
    let session = match server.runtime.exec(&located.container_id, &request).await {
        Ok(s) => s,
        Err(e) => return text_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let v5 = protocol.starts_with("v5");
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => stream(TokioIo::new(upgraded), session, command, v5).await,
            Err(e) => debug!(error = %e, "exec upgrade failed"),
        }
    });
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&websocket::accept_key(&key)) {
        h.insert("sec-websocket-accept", v);
    }
    h.insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
    resp
}

/// Pumps the session's streams over the upgraded connection until the command ends.
async fn stream<IO>(io: IO, session: ExecSession, command: Vec<String>, v5: bool)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut reader, writer) = tokio::io::split(io);
    let writer = Arc::new(Mutex::new(writer));
    let ExecSession {
        stdin,
        mut stdout,
        mut stderr,
        exit_code,
    } = session;
    let input_writer = writer.clone();
    let input = tokio::spawn(async move {
        let mut stdin = stdin;
        while let Ok(Some(msg)) = websocket::read_message(&mut reader).await {
            match msg {
                Message::Data(data) => match data.split_first() {
                    Some((&STDIN, rest)) => {
                        if let Some(tx) = &stdin
                            && tx.send(Bytes::copy_from_slice(rest)).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    Some((&CLOSE_CHANNEL, [STDIN, ..])) if v5 => stdin = None,
                    _ => {}
                },
                Message::Ping(p) => {
                    let mut w = input_writer.lock().await;
                    if websocket::write_frame(&mut *w, opcode::PONG, &p)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Message::Pong => {}
                Message::Close => return,
            }
        }
    });
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        let (channel, chunk) = tokio::select! {
            c = stdout.recv(), if out_open => match c {
                Some(c) => (STDOUT, c),
                None => { out_open = false; continue; }
            },
            c = stderr.recv(), if err_open => match c {
                Some(c) => (STDERR, c),
                None => { err_open = false; continue; }
            },
        };
        let mut msg = Vec::with_capacity(chunk.len() + 1);
        msg.push(channel);
        msg.extend_from_slice(&chunk);
        let mut w = writer.lock().await;
        if websocket::write_frame(&mut *w, opcode::BINARY, &msg)
            .await
            .is_err()
        {
            input.abort();
            return;
        }
    }
    let code = exit_code.await.unwrap_or(-1);
    let status = serde_json::to_vec(&exit_status(&command, code)).unwrap_or_default();
    let mut msg = vec![ERROR];
    msg.extend_from_slice(&status);
    let mut w = writer.lock().await;
    let _ = websocket::write_frame(&mut *w, opcode::BINARY, &msg).await;
    let _ = websocket::write_frame(&mut *w, opcode::CLOSE, &1000u16.to_be_bytes()).await;
    let _ = tokio::io::AsyncWriteExt::shutdown(&mut *w).await;
    drop(w);
    input.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v5_is_preferred_and_spdy_is_not_spoken() {
        assert_eq!(
            negotiate("v4.channel.k8s.io, v5.channel.k8s.io"),
            Some("v5.channel.k8s.io")
        );
        assert_eq!(negotiate("v4.channel.k8s.io"), Some("v4.channel.k8s.io"));
        assert_eq!(negotiate("SPDY/3.1"), None);
    }

    #[test]
    fn a_non_zero_exit_is_reported_as_upstream() {
        let s = exit_status(&["false".to_string()], 1);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "1");
        assert_eq!(exit_status(&[], 0)["status"], "Success");
    }
}
