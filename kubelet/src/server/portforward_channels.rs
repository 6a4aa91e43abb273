//! `/portForward` over WebSocket channels: the protocol of clients that do not speak SPDY (the
//! Python and Java clients, client-go's WebSocket port-forwarder), as upstream's kubelet serves
//! it. The ports are the `port` query parameters (comma-separated lists allowed). Port `i` gets
//! the data channel `2i` and the error channel `2i+1`, and both first carry the port as a
//! little-endian `u16`. What the client sends on a data channel goes to that port in the pod's
//! network namespace (one connection per port), what the pod answers comes back on it, and a
//! runtime error is written on the error channel. The session closes once every port's
//! connection has ended.
//!
//! Subprotocols: `v4.channel.k8s.io`, or none (binary messages whose first byte is the
//! channel), and `v4.base64.channel.k8s.io` (text messages: the channel as an ASCII digit,
//! then the bytes in base64).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::portforward::Target;
use super::websocket::{self, Message, opcode};

/// The binary channel subprotocol.
pub const BINARY_PROTOCOL: &str = "v4.channel.k8s.io";
/// The base64 (text) channel subprotocol.
pub const BASE64_PROTOCOL: &str = "v4.base64.channel.k8s.io";

/// How channel messages are carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Binary messages: the channel byte, then the bytes.
    Binary,
    /// Text messages: the channel as an ASCII digit, then the bytes in base64.
    Base64,
}

/// The subprotocol to answer with (None when the client named none) and its encoding, taking
/// the first of the client's offers that is served; upstream's error when none is.
pub fn negotiate(offered: &[&str]) -> Result<(Option<&'static str>, Encoding), String> {
    if offered.is_empty() {
        return Ok((None, Encoding::Binary));
    }
    for protocol in offered {
        match *protocol {
            BINARY_PROTOCOL => return Ok((Some(BINARY_PROTOCOL), Encoding::Binary)),
            BASE64_PROTOCOL => return Ok((Some(BASE64_PROTOCOL), Encoding::Base64)),
            _ => {}
        }
    }
    Err(format!(
        "unable to upgrade websocket connection: requested protocol(s) are not supported: \
         {offered:?}; supports [\"\" {BINARY_PROTOCOL:?} {BASE64_PROTOCOL:?}]"
    ))
}

/// The ports named by the `port` query parameters, or upstream's error.
pub fn ports(values: &[String]) -> Result<Vec<u16>, String> {
    if values.is_empty() {
        return Err("query parameter \"port\" is required".into());
    }
    let mut ports = Vec::new();
    for value in values {
        if value.is_empty() {
            return Err("query parameter \"port\" cannot be empty".into());
        }
        for p in value.split(',') {
            let port: u16 = p
                .parse()
                .map_err(|e| format!("unable to parse {value:?} as a port: {e}"))?;
            if port < 1 {
                return Err(format!("port {value:?} must be > 0"));
            }
            ports.push(port);
        }
    }
    Ok(ports)
}

/// One message on `channel`, as `encoding` carries it: its opcode and payload.
fn encode(encoding: Encoding, channel: u8, data: &[u8]) -> (u8, Vec<u8>) {
    match encoding {
        Encoding::Binary => {
            let mut msg = Vec::with_capacity(data.len() + 1);
            msg.push(channel);
            msg.extend_from_slice(data);
            (opcode::BINARY, msg)
        }
        Encoding::Base64 => {
            let mut msg = vec![b'0' + channel];
            msg.extend_from_slice(STANDARD.encode(data).as_bytes());
            (opcode::TEXT, msg)
        }
    }
}

/// The channel and bytes of a client message; None when it carries none (or is malformed).
fn decode(encoding: Encoding, msg: &[u8]) -> Option<(u8, Vec<u8>)> {
    let (&first, rest) = msg.split_first()?;
    match encoding {
        Encoding::Binary => Some((first, rest.to_vec())),
        Encoding::Base64 => {
            let channel = first.checked_sub(b'0')?;
            Some((channel, STANDARD.decode(rest).ok()?))
        }
    }
}

type Writer<IO> = Arc<Mutex<WriteHalf<IO>>>;

async fn send<IO: AsyncWrite>(
    writer: &Writer<IO>,
    encoding: Encoding,
    channel: u8,
    data: &[u8],
) -> std::io::Result<()> {
    let (op, msg) = encode(encoding, channel, data);
    let mut w = writer.lock().await;
    websocket::write_frame(&mut *w, op, &msg).await
}

/// Relays one port's connection over the upgraded WebSocket connection `io` until every port's
/// connection has ended or the client goes away.
pub async fn serve<IO>(io: IO, target: Target, ports: Vec<u16>, encoding: Encoding)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(io);
    let writer = Arc::new(Mutex::new(writer));
    // Channels are single bytes: at most 128 ports (upstream has the same limit in practice).
    let ports: Vec<u16> = ports.into_iter().take(128).collect();
    for (i, port) in ports.iter().enumerate() {
        for channel in [2 * i as u8, 2 * i as u8 + 1] {
            if send(&writer, encoding, channel, &port.to_le_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    }
    let mut inputs: Vec<Option<mpsc::Sender<Bytes>>> = Vec::with_capacity(ports.len());
    let mut relays = JoinSet::new();
    for (i, &port) in ports.iter().enumerate() {
        let error_channel = 2 * i as u8 + 1;
        match target
            .server
            .runtime
            .port_forward(&target.sandbox_id, port)
            .await
        {
            Ok(conn) => {
                inputs.push(Some(conn.input));
                relays.spawn(from_pod(
                    writer.clone(),
                    encoding,
                    2 * i as u8,
                    conn.output,
                    conn.error,
                ));
            }
            Err(e) => {
                let message = format!(
                    "error forwarding port {port} to pod {}, uid {}: {e}",
                    target.pod, target.uid
                );
                warn!(%message, "port forwarding failed");
                let _ = send(&writer, encoding, error_channel, message.as_bytes()).await;
                inputs.push(None);
            }
        }
    }
    loop {
        tokio::select! {
            msg = websocket::read_message(&mut reader) => match msg {
                Ok(Some(Message::Data(data))) => {
                    let Some((channel, bytes)) = decode(encoding, &data) else { continue };
                    let index = usize::from(channel / 2);
                    // Only data channels carry input; the port prefix is never resent.
                    if channel % 2 == 1 || bytes.is_empty() {
                        continue;
                    }
                    if let Some(slot) = inputs.get_mut(index)
                        && let Some(tx) = slot
                        && tx.send(Bytes::from(bytes)).await.is_err()
                    {
                        *slot = None;
                    }
                }
                Ok(Some(Message::Ping(p))) => {
                    let mut w = writer.lock().await;
                    let _ = websocket::write_frame(&mut *w, opcode::PONG, &p).await;
                }
                Ok(Some(Message::Pong)) => {}
                Ok(Some(Message::Close) | None) | Err(_) => {
                    debug!("port-forward client went away");
                    break;
                }
            },
            done = relays.join_next() => {
                if done.is_none() {
                    break;
                }
            }
        }
    }
    // Dropping the inputs ends the runtime's side of connections still open.
    drop(inputs);
    relays.abort_all();
    let mut w = writer.lock().await;
    let _ = websocket::write_frame(&mut *w, opcode::CLOSE, &1000u16.to_be_bytes()).await;
    let _ = w.shutdown().await;
}

/// Sends what the pod writes on the data channel, then the runtime's error, if any, on the
/// error channel after it.
async fn from_pod<IO: AsyncWrite>(
    writer: Writer<IO>,
    encoding: Encoding,
    data_channel: u8,
    mut output: mpsc::Receiver<Bytes>,
    error: oneshot::Receiver<String>,
) {
    while let Some(chunk) = output.recv().await {
        if send(&writer, encoding, data_channel, &chunk).await.is_err() {
            return;
        }
    }
    let message = error.await.unwrap_or_default();
    if !message.is_empty() {
        warn!(%message, "port forwarding failed");
        let _ = send(&writer, encoding, data_channel + 1, message.as_bytes()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_repeated_and_comma_separated_parameters() {
        let values = vec!["80,8080".to_string(), "443".to_string()];
        assert_eq!(ports(&values), Ok(vec![80, 8080, 443]));
    }

    #[test]
    fn missing_empty_zero_and_unparsable_ports_are_refused_with_upstreams_words() {
        assert_eq!(
            ports(&[]),
            Err("query parameter \"port\" is required".to_string())
        );
        assert_eq!(
            ports(&[String::new()]),
            Err("query parameter \"port\" cannot be empty".to_string())
        );
        assert_eq!(
            ports(&["0".to_string()]),
            Err("port \"0\" must be > 0".to_string())
        );
        assert!(
            ports(&["http".to_string()])
                .unwrap_err()
                .starts_with("unable to parse \"http\" as a port")
        );
        assert!(ports(&["70000".to_string()]).is_err());
    }

    #[test]
    fn the_first_served_subprotocol_the_client_offers_is_taken() {
        assert_eq!(negotiate(&[]), Ok((None, Encoding::Binary)));
        assert_eq!(
            negotiate(&["v5.channel.k8s.io", BASE64_PROTOCOL, BINARY_PROTOCOL]),
            Ok((Some(BASE64_PROTOCOL), Encoding::Base64))
        );
        assert!(
            negotiate(&["v5.channel.k8s.io"])
                .unwrap_err()
                .contains("requested protocol(s) are not supported")
        );
    }

    #[test]
    fn messages_round_trip_in_both_encodings() {
        for encoding in [Encoding::Binary, Encoding::Base64] {
            let (op, msg) = encode(encoding, 2, b"GET / HTTP/1.0\r\n\r\n");
            assert_eq!(
                op,
                if encoding == Encoding::Binary {
                    opcode::BINARY
                } else {
                    opcode::TEXT
                }
            );
            assert_eq!(
                decode(encoding, &msg),
                Some((2, b"GET / HTTP/1.0\r\n\r\n".to_vec()))
            );
        }
        assert_eq!(
            encode(Encoding::Base64, 1, &80u16.to_le_bytes()).1,
            b"1UAA=".to_vec()
        );
        assert_eq!(decode(Encoding::Binary, b""), None);
    }
}
