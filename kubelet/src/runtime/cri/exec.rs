//! Streaming exec on a CRI runtime: CRI `Exec` answers with a URL on the runtime's streaming
//! server (containerd's, `http://127.0.0.1:<port>/exec/<token>`); the kubelet connects to it
//! as a WebSocket client with the `v4.channel.k8s.io` subprotocol (which containerd 1.6's
//! streaming server speaks beside SPDY/3.1) and turns the channels into an [`ExecSession`]:
//! channel 0 stdin, 1 stdout, 2 stderr, 3 the final `Status` (its `ExitCode` cause gives a
//! non-zero exit code).
//!
//! `v4` has no way to close stdin alone, so a command reading stdin to its end (`cat` with
//! `kubectl exec -i`) only ends when the client disconnects.

use base64::Engine;
use bytes::Bytes;
use k8s_cri::v1 as cri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::call_error;
use super::connection::Clients;
use crate::runtime::{ExecRequest, ExecSession, RuntimeError};
use crate::server::websocket::{self, Message, opcode};

/// The subprotocol asked of the streaming server.
const PROTOCOL: &str = "v4.channel.k8s.io";

/// Channel bytes.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;

/// Largest response head read from the streaming server.
const MAX_HEAD: usize = 16 << 10;

fn stream_error(message: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Call {
        call: "Exec",
        message: format!("streaming: {message}"),
    }
}

/// Starts `request` in the container and connects to its streams.
pub async fn exec(
    clients: &Clients,
    container_id: &str,
    request: &ExecRequest,
) -> Result<ExecSession, RuntimeError> {
    let response = clients
        .runtime
        .clone()
        .exec(cri::ExecRequest {
            container_id: container_id.to_string(),
            cmd: request.command.clone(),
            tty: request.tty,
            stdin: request.stdin,
            stdout: request.stdout,
            // With a TTY both streams are one; the runtime refuses stderr then.
            stderr: request.stderr && !request.tty,
        })
        .await
        .map_err(call_error("Exec"))?
        .into_inner();
    let (authority, path) = split_url(&response.url)
        .ok_or_else(|| stream_error(format!("unsupported URL {:?}", response.url)))?;
    let mut tcp = TcpStream::connect(&authority)
        .await
        .map_err(|e| stream_error(format!("connect to {authority}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {PROTOCOL}\r\nOrigin: http://{authority}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes())
        .await
        .map_err(|e| stream_error(format!("send the upgrade request: {e}")))?;
    let answer = read_head(&mut tcp).await?;
    check_upgrade(&answer, &key).map_err(stream_error)?;
    Ok(pump(tcp, request.stdin))
}

/// `http://host:port/path` as (`host:port`, `/path`).
pub fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    (!authority.is_empty()).then(|| (authority.to_string(), path.to_string()))
}

/// Reads the HTTP response head, byte by byte so nothing after it is consumed.
async fn read_head(tcp: &mut TcpStream) -> Result<String, RuntimeError> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(stream_error("response head too large"));
        }
        let b = tcp
            .read_u8()
            .await
            .map_err(|e| stream_error(format!("read the upgrade answer: {e}")))?;
        head.push(b);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Checks the server switched protocols to a WebSocket with our key.
pub fn check_upgrade(head: &str, key: &str) -> Result<(), String> {
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(format!("the streaming server answered {status:?}"));
    }
    let want = websocket::accept_key(key);
    let accepted = lines
        .filter_map(|l| l.split_once(':'))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == want
        });
    if accepted {
        Ok(())
    } else {
        Err("the streaming server did not accept the WebSocket key".into())
    }
}

/// The exit code a `v4` status message gives: 0 on `Success`, the `ExitCode` cause of a
/// `NonZeroExitCode` failure, else 1 (upstream's default for other failures).
pub fn exit_code(status: &[u8]) -> i32 {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(status) else {
        return 1;
    };
    if v["status"] == "Success" {
        return 0;
    }
    v["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["reason"] == "ExitCode")
        .and_then(|c| c["message"].as_str())
        .and_then(|m| m.parse().ok())
        .unwrap_or(1)
}

/// A masked client frame carrying `data` on `channel`.
fn channel_frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(data.len() + 1);
    payload.push(channel);
    payload.extend_from_slice(data);
    websocket::encode_frame(opcode::BINARY, &payload, Some(rand::random()))
}

/// Runs the connection in the background: frames to and from the streaming server become
/// the session's channels.
fn pump(tcp: TcpStream, with_stdin: bool) -> ExecSession {
    let (mut reader, mut writer) = tcp.into_split();
    let (frames_tx, mut frames) = mpsc::channel::<Vec<u8>>(16);
    let (stdout_tx, stdout) = mpsc::channel(64);
    let (stderr_tx, stderr) = mpsc::channel(64);
    let (exit_tx, exit_code_rx) = oneshot::channel();
    // The one writer: stdin chunks and pongs, masked as a client's frames are.
    let write_task = tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if writer.write_all(&frame).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
    });
    let stdin = with_stdin.then(|| {
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        let frames = frames_tx.clone();
        tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                if frames.send(channel_frame(STDIN, &chunk)).await.is_err() {
                    return;
                }
            }
        });
        tx
    });
    tokio::spawn(async move {
        let mut code = None;
        loop {
            match websocket::read_message(&mut reader).await {
                Ok(Some(Message::Data(data))) => {
                    let Some((&channel, rest)) = data.split_first() else {
                        continue;
                    };
                    let chunk = Bytes::copy_from_slice(rest);
                    match channel {
                        STDOUT => {
                            let _ = stdout_tx.send(chunk).await;
                        }
                        STDERR => {
                            let _ = stderr_tx.send(chunk).await;
                        }
                        ERROR if !rest.is_empty() => code = Some(exit_code(rest)),
                        _ => {}
                    }
                }
                Ok(Some(Message::Ping(p))) => {
                    let pong = websocket::encode_frame(opcode::PONG, &p, Some(rand::random()));
                    let _ = frames_tx.send(pong).await;
                }
                Ok(Some(Message::Pong)) => {}
                Ok(Some(Message::Close)) | Ok(None) => break,
                Err(e) => {
                    debug!(error = %e, "exec stream from the runtime ended");
                    break;
                }
            }
        }
        drop((stdout_tx, stderr_tx));
        // A stream that closed without a status ended without an error: exit code 0.
        let _ = exit_tx.send(code.unwrap_or(0));
        let close =
            websocket::encode_frame(opcode::CLOSE, &1000u16.to_be_bytes(), Some(rand::random()));
        let _ = frames_tx.send(close).await;
        drop(frames_tx);
        let _ = write_task.await;
    });
    ExecSession {
        stdin,
        stdout,
        stderr,
        exit_code: exit_code_rx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streaming_url_splits_into_address_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:35123/exec/AbC"),
            Some(("127.0.0.1:35123".into(), "/exec/AbC".into()))
        );
        assert_eq!(split_url("https://x/exec"), None);
    }

    #[test]
    fn only_a_switch_with_our_key_is_an_upgrade() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(check_upgrade(ok, key), Ok(()));
        assert!(check_upgrade("HTTP/1.1 400 Bad Request\r\n\r\n", key).is_err());
        let wrong = ok.replace("s3pP", "AAAA");
        assert!(check_upgrade(&wrong, key).is_err());
    }

    #[test]
    fn exit_codes_come_from_the_v4_status() {
        assert_eq!(exit_code(br#"{"metadata":{},"status":"Success"}"#), 0);
        let failed = br#"{"status":"Failure","reason":"NonZeroExitCode",
            "details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
        assert_eq!(exit_code(failed), 3);
        assert_eq!(exit_code(br#"{"status":"Failure","message":"boom"}"#), 1);
    }
}
