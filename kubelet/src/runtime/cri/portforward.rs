//! Port forwarding on a CRI runtime: CRI `PortForward` answers with a single-use URL on the
//! runtime's streaming server (containerd's, `http://127.0.0.1:<port>/portforward/<token>`).
//! The kubelet opens one per forwarded connection and speaks WebSocket to it with the
//! `v4.channel.k8s.io` subprotocol and `?port=N`, as containerd 1.6's streaming server offers
//! beside SPDY: channel 0 carries the data, channel 1 the runtime's error message, and each
//! channel's first message is the port (two bytes, little endian), which is skipped.
//!
//! WebSocket was chosen over SPDY here because one connection per forwarded connection maps
//! one-to-one onto a stream pair, needs no second zlib context and reuses the exec client's
//! handshake. Its one limit: `v4` cannot half-close, so the end of what the client sends is
//! not passed on; the connection ends when the pod's side closes it (or the client leaves).

use base64::Engine;
use bytes::Bytes;
use k8s_cri::v1 as cri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::call_error;
use super::connection::Clients;
use super::exec::{check_upgrade, split_url};
use crate::runtime::{PortForwardStream, RuntimeError};
use crate::server::websocket::{self, Message, opcode};

/// The subprotocol asked of the streaming server.
const PROTOCOL: &str = "v4.channel.k8s.io";

/// Channel bytes.
const DATA: u8 = 0;
const ERROR: u8 = 1;

/// Largest response head read from the streaming server.
const MAX_HEAD: usize = 16 << 10;

fn stream_error(message: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Call {
        call: "PortForward",
        message: format!("streaming: {message}"),
    }
}

/// Connects to `port` in the sandbox's network namespace.
pub async fn port_forward(
    clients: &Clients,
    sandbox_id: &str,
    port: u16,
) -> Result<PortForwardStream, RuntimeError> {
    let response = clients
        .runtime
        .clone()
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: sandbox_id.to_string(),
            port: vec![i32::from(port)],
        })
        .await
        .map_err(call_error("PortForward"))?
        .into_inner();
    let (authority, path) = split_url(&response.url)
        .ok_or_else(|| stream_error(format!("unsupported URL {:?}", response.url)))?;
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut tcp = TcpStream::connect(&authority)
        .await
        .map_err(|e| stream_error(format!("connect to {authority}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let head = format!(
        "GET {path}{separator}port={port} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {PROTOCOL}\r\nOrigin: http://{authority}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes())
        .await
        .map_err(|e| stream_error(format!("send the upgrade request: {e}")))?;
    let answer = read_head(&mut tcp).await?;
    check_upgrade(&answer, &key).map_err(stream_error)?;
    Ok(pump(tcp))
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

/// Strips the port prefix (the first two bytes each channel carries) from a chunk.
fn skip_prefix<'a>(remaining: &mut usize, chunk: &'a [u8]) -> &'a [u8] {
    let n = (*remaining).min(chunk.len());
    *remaining -= n;
    &chunk[n..]
}

/// Runs the connection in the background: channel 0 both ways, channel 1 collected.
fn pump(tcp: TcpStream) -> PortForwardStream {
    let (mut reader, mut writer) = tcp.into_split();
    let (frames_tx, mut frames) = mpsc::channel::<Vec<u8>>(16);
    let (input, mut input_rx) = mpsc::channel::<Bytes>(16);
    let (output_tx, output) = mpsc::channel::<Bytes>(64);
    let (error_tx, error) = oneshot::channel();
    let write_task = tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if writer.write_all(&frame).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    let input_frames = frames_tx.clone();
    let input_task = tokio::spawn(async move {
        while let Some(chunk) = input_rx.recv().await {
            let mut payload = Vec::with_capacity(chunk.len() + 1);
            payload.push(DATA);
            payload.extend_from_slice(&chunk);
            let frame = websocket::encode_frame(opcode::BINARY, &payload, Some(rand::random()));
            if input_frames.send(frame).await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        let mut message = Vec::new();
        let mut prefix = [2usize, 2usize];
        loop {
            let next = tokio::select! {
                m = websocket::read_message(&mut reader) => m,
                // Whoever forwarded has gone: stop reading from the runtime.
                _ = output_tx.closed() => break,
            };
            match next {
                Ok(Some(Message::Data(data))) => {
                    let Some((&channel, rest)) = data.split_first() else {
                        continue;
                    };
                    match channel {
                        DATA => {
                            let rest = skip_prefix(&mut prefix[0], rest);
                            if !rest.is_empty()
                                && output_tx.send(Bytes::copy_from_slice(rest)).await.is_err()
                            {
                                break;
                            }
                        }
                        ERROR => message.extend_from_slice(skip_prefix(&mut prefix[1], rest)),
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
                    debug!(error = %e, "port-forward stream from the runtime ended");
                    break;
                }
            }
        }
        drop(output_tx);
        let _ = error_tx.send(String::from_utf8_lossy(&message).into_owned());
        input_task.abort();
        let close =
            websocket::encode_frame(opcode::CLOSE, &1000u16.to_be_bytes(), Some(rand::random()));
        let _ = frames_tx.send(close).await;
        drop(frames_tx);
        let _ = write_task.await;
    });
    PortForwardStream {
        input,
        output,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_prefix_is_skipped_across_chunks() {
        let mut remaining = 2;
        assert_eq!(skip_prefix(&mut remaining, &[80]), &[] as &[u8]);
        assert_eq!(skip_prefix(&mut remaining, &[0, b'h', b'i']), b"hi");
        assert_eq!(skip_prefix(&mut remaining, b"there"), b"there");
    }
}
