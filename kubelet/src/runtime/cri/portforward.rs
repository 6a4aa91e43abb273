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

use bytes::Bytes;
use k8s_cri::v1 as cri;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::call_error;
use super::connection::Clients;
use super::streaming;
use crate::runtime::{PortForwardStream, RuntimeError};

/// Channel bytes.
const DATA: u8 = 0;
const ERROR: u8 = 1;

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
    let separator = if response.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}port={port}", response.url);
    let tcp = streaming::open_websocket("PortForward", &url).await?;
    Ok(pump(tcp))
}

/// Strips the port prefix (the first two bytes each channel carries) from a chunk.
fn skip_prefix<'a>(remaining: &mut usize, chunk: &'a [u8]) -> &'a [u8] {
    let n = (*remaining).min(chunk.len());
    *remaining -= n;
    &chunk[n..]
}

/// Runs the connection in the background: channel 0 both ways, channel 1 collected.
fn pump(tcp: TcpStream) -> PortForwardStream {
    let (mut reader, writer) = tcp.into_split();
    let (frames_tx, write_task) = streaming::spawn_writer(writer);
    let (input, input_rx) = mpsc::channel::<Bytes>(16);
    let (output_tx, output) = mpsc::channel::<Bytes>(64);
    let (error_tx, error) = oneshot::channel();
    let input_task = streaming::forward(input_rx, frames_tx.clone(), |chunk| {
        streaming::channel_frame(DATA, &chunk)
    });
    tokio::spawn(async move {
        let mut message = Vec::new();
        let mut prefix = [2usize, 2usize];
        loop {
            let data = tokio::select! {
                d = streaming::next_data(&mut reader, &frames_tx) => d,
                // Whoever forwarded has gone: stop reading from the runtime.
                _ = output_tx.closed() => break,
            };
            let Some(data) = data else { break };
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
        drop(output_tx);
        let _ = error_tx.send(String::from_utf8_lossy(&message).into_owned());
        input_task.abort();
        streaming::close(frames_tx, write_task).await;
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
