//! `/exec/{ns}/{pod}/{container}?command=...&input=1&output=1&error=1&tty=0` over WebSocket
//! with the `v5.channel.k8s.io` (or `v4.channel.k8s.io`) subprotocol, as kubectl 1.30+ speaks
//! it: every binary message starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 error,
//! 4 resize; with v5, 255 closes the channel named by the next byte). When the command ends,
//! its outcome goes on the error channel as a `Status` (`Success`, or `NonZeroExitCode` with
//! the exit code as the `ExitCode` cause), then the connection is closed. SPDY is not spoken.
//!
//! The channel relay ([`relay`]) and the upgrade ([`switch`]) are shared with `/attach`
//! ([`super::attach`]): closing stdin (v5) drops the session's stdin, which the runtime turns
//! into the end of the command's input; resize messages (`{"Width":..,"Height":..}`) go to the
//! session's TTY.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tokio::sync::Mutex;
use tracing::debug;

use super::logs::{bound_pod, has_container, locate};
use super::routes::{full, query, text_error};
use super::websocket::{self, Message, opcode};
use super::{Body, NodeServer};
use crate::runtime::{ExecRequest, ExecSession, TerminalSize};

/// The channel subprotocols served, preferred first.
pub const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// Channel numbers.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
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

fn is_set(q: &BTreeMap<String, Vec<String>>, key: &str) -> bool {
    q.get(key)
        .and_then(|v| v.first())
        .is_some_and(|v| v == "1" || v == "true")
}

/// The standard streams a request asks for: (stdin, stdout, stderr, tty), as upstream's
/// `remotecommand` options read them (no stderr with a TTY; at least one stream).
pub fn stream_options(
    q: &BTreeMap<String, Vec<String>>,
) -> Result<(bool, bool, bool, bool), Box<Response<Body>>> {
    let tty = is_set(q, "tty");
    let (stdin, stdout, stderr) = (
        is_set(q, "input"),
        is_set(q, "output"),
        is_set(q, "error") && !tty,
    );
    if !stdin && !stdout && !stderr {
        return Err(Box::new(text_error(
            StatusCode::BAD_REQUEST,
            "you must specify at least 1 of stdin, stdout, stderr",
        )));
    }
    Ok((stdin, stdout, stderr, tty))
}

/// The runtime's id of `container` in `pod` when its status says it is running.
pub fn running_container_id(pod: &Pod, container: &str) -> Option<String> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .chain(status.ephemeral_container_statuses.iter().flatten())
        .find(|s| s.name == container && s.state.as_ref().is_some_and(|st| st.running.is_some()))
        .and_then(|s| s.container_id.clone())
}

/// The client's WebSocket key and the negotiated subprotocol, or the upstream refusal.
pub fn websocket_offer<B>(req: &Request<B>) -> Result<(String, &'static str), Box<Response<Body>>> {
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
    match (key, protocol, is_websocket) {
        (Some(key), Some(protocol), true) => Ok((key, protocol)),
        _ => Err(Box::new(text_error(
            StatusCode::BAD_REQUEST,
            format!(
                "unable to upgrade connection: only WebSocket with one of the subprotocols {PROTOCOLS:?} is supported"
            ),
        ))),
    }
}

/// The final `Status` a session's exit code becomes.
pub type Outcome = Box<dyn FnOnce(i32) -> serde_json::Value + Send>;

/// Answers `101 Switching Protocols` and relays `session` over the upgraded connection.
pub fn switch(
    req: Request<Incoming>,
    key: &str,
    protocol: &'static str,
    session: ExecSession,
    outcome: Outcome,
) -> Response<Body> {
    let v5 = protocol.starts_with("v5");
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => relay(TokioIo::new(upgraded), session, v5, outcome).await,
            Err(e) => debug!(error = %e, "stream upgrade failed"),
        }
    });
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&websocket::accept_key(key)) {
        h.insert("sec-websocket-accept", v);
    }
    h.insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
    resp
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
    let (stdin, stdout, stderr, tty) = match stream_options(&q) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let request = ExecRequest {
        command: command.clone(),
        stdin,
        stdout,
        stderr,
        tty,
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let located = match running_container_id(&pod, container) {
        Some(id) => locate(server, &uid, &id).await,
        None => None,
    };
    let Some(located) = located else {
        return text_error(
            StatusCode::BAD_REQUEST,
            format!("container not found ({container:?})"),
        );
    };
    let (key, protocol) = match websocket_offer(&req) {
        Ok(o) => o,
        Err(resp) => return *resp,
    };
    let session = match server.runtime.exec(&located.container_id, &request).await {
        Ok(s) => s,
        Err(e) => return text_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let outcome: Outcome = Box::new(move |code| exit_status(&command, code));
    switch(req, &key, protocol, session, outcome)
}

/// What one message from the client asks of the session.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientMessage<'a> {
    /// Bytes for stdin.
    Stdin(&'a [u8]),
    /// Close stdin (v5 only).
    CloseStdin,
    /// A new terminal size.
    Resize(TerminalSize),
    /// Nothing the session acts on.
    Ignored,
}

/// Reads one data message from the client.
pub fn client_message(data: &[u8], v5: bool) -> ClientMessage<'_> {
    match data.split_first() {
        Some((&STDIN, rest)) => ClientMessage::Stdin(rest),
        Some((&CLOSE_CHANNEL, [STDIN, ..])) if v5 => ClientMessage::CloseStdin,
        Some((&RESIZE, rest)) => {
            TerminalSize::from_json(rest).map_or(ClientMessage::Ignored, ClientMessage::Resize)
        }
        _ => ClientMessage::Ignored,
    }
}

/// Pumps the session's streams over the upgraded connection until the session ends (then
/// writes its outcome on the error channel) or the client goes away.
pub async fn relay<IO>(io: IO, session: ExecSession, v5: bool, outcome: Outcome)
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
        resize,
    } = session;
    let input_writer = writer.clone();
    let mut input = tokio::spawn(async move {
        let mut stdin = stdin;
        while let Ok(Some(msg)) = websocket::read_message(&mut reader).await {
            match msg {
                Message::Data(data) => match client_message(&data, v5) {
                    ClientMessage::Stdin(bytes) => {
                        if let Some(tx) = &stdin
                            && tx.send(Bytes::copy_from_slice(bytes)).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    ClientMessage::CloseStdin => stdin = None,
                    ClientMessage::Resize(size) => {
                        if let Some(tx) = &resize {
                            let _ = tx.send(size).await;
                        }
                    }
                    ClientMessage::Ignored => {}
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
            // The client went away: dropping the session ends the runtime's side.
            _ = &mut input => return,
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
    let status = serde_json::to_vec(&outcome(code)).unwrap_or_default();
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

    #[test]
    fn client_messages_are_stdin_close_or_resize() {
        assert_eq!(client_message(b"\x00hi", true), ClientMessage::Stdin(b"hi"));
        assert_eq!(client_message(b"\xff\x00", true), ClientMessage::CloseStdin);
        assert_eq!(client_message(b"\xff\x00", false), ClientMessage::Ignored);
        assert_eq!(
            client_message(br#"{"Width":100,"Height":30}"#.as_slice(), true),
            ClientMessage::Ignored,
            "a message without its channel byte"
        );
        let mut resize = vec![RESIZE];
        resize.extend_from_slice(br#"{"Width":100,"Height":30}"#);
        assert_eq!(
            client_message(&resize, false),
            ClientMessage::Resize(TerminalSize {
                width: 100,
                height: 30
            })
        );
    }

    #[tokio::test]
    async fn resizes_reach_the_session_and_its_output_reaches_the_client() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (resize_tx, mut resizes) = tokio::sync::mpsc::channel(4);
        let (out_tx, stdout) = tokio::sync::mpsc::channel(4);
        let (_, stderr) = tokio::sync::mpsc::channel(1);
        let (exit_tx, exit_code) = tokio::sync::oneshot::channel();
        let session = ExecSession {
            stdin: None,
            stdout,
            stderr,
            exit_code,
            resize: Some(resize_tx),
        };
        let relay = tokio::spawn(relay(
            server,
            session,
            true,
            Box::new(|code| exit_status(&[], code)),
        ));
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let mut resize = vec![RESIZE];
        resize.extend_from_slice(br#"{"Width":132,"Height":43}"#);
        let frame = websocket::encode_frame(opcode::BINARY, &resize, Some([1, 2, 3, 4]));
        tokio::io::AsyncWriteExt::write_all(&mut to_server, &frame)
            .await
            .unwrap();
        assert_eq!(
            resizes.recv().await,
            Some(TerminalSize {
                width: 132,
                height: 43
            })
        );
        out_tx.send(Bytes::from_static(b"43 132\n")).await.unwrap();
        drop(out_tx);
        exit_tx.send(0).unwrap();
        assert_eq!(
            websocket::read_message(&mut from_server).await.unwrap(),
            Some(Message::Data(b"\x0143 132\n".to_vec()))
        );
        let Some(Message::Data(status)) = websocket::read_message(&mut from_server).await.unwrap()
        else {
            panic!("no status message");
        };
        assert_eq!(status[0], ERROR);
        relay.await.unwrap();
    }
}
