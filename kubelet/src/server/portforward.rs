//! `/portForward/{ns}/{pod}`: `kubectl port-forward` as upstream's kubelet serves it. The
//! client speaks SPDY/3.1 (`portforward.k8s.io`), either on a plain `Upgrade: SPDY/3.1`
//! connection or, as kubectl 1.30+ first tries, tunneled in WebSocket binary messages with the
//! subprotocol `SPDY/3.1+portforward.k8s.io`. Each forwarded connection opens two streams
//! with the same `requestid` header: `streamtype: error` and `streamtype: data`, both naming
//! the `port`. Once both are there, the runtime connects to the port in the pod's network
//! namespace ([`Runtime::port_forward`](crate::runtime::Runtime::port_forward)) and bytes are
//! relayed both ways; a failure is written on the error stream, which is closed at the end.
//! A WebSocket request without the SPDY subprotocol gets the channel protocol of clients that
//! do not speak SPDY instead ([`portforward_channels`](super::portforward_channels)).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};
use tracing::{Instrument, debug, info_span, warn};

use super::logs::bound_pod;
use super::portforward_channels::{self, Encoding};
use super::routes::{full, query, text_error};
use super::websocket::{self, Message, opcode};
use super::{Body, NodeServer};
use crate::spdy::frame::status;
use crate::spdy::headers::get;
use crate::spdy::session::{self, IncomingStream};

/// The port-forward stream protocol (`X-Stream-Protocol-Version`).
pub const PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket subprotocol of SPDY tunneled in WebSocket messages.
pub const TUNNELED_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// How long the second stream of a pair may take to arrive (upstream's default).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// How the client asked to upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// SPDY carried in binary WebSocket messages; holds the `Sec-WebSocket-Key`.
    Tunneled(String),
    /// SPDY on the upgraded connection itself.
    Spdy,
    /// WebSocket channels, one pair per port of the `port` query parameters.
    Channels {
        /// `Sec-WebSocket-Key`.
        key: String,
        /// The subprotocol answered, if the client named one.
        protocol: Option<&'static str>,
        /// How the channels' messages are carried.
        encoding: Encoding,
        /// The ports to forward.
        ports: Vec<u16>,
    },
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The transport a request asks for, or why it cannot be served; `ports` are the values of
/// the `port` query parameters (only WebSocket channels use them).
pub fn negotiate(headers: &HeaderMap, ports: &[String]) -> Result<Transport, String> {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if upgrade.eq_ignore_ascii_case("websocket") {
        let key = headers
            .get("sec-websocket-key")
            .and_then(|v| v.to_str().ok())
            .ok_or("missing Sec-WebSocket-Key")?;
        let offered: Vec<&str> = values(headers, "sec-websocket-protocol")
            .filter(|p| !p.is_empty())
            .collect();
        if offered.contains(&TUNNELED_PROTOCOL) {
            return Ok(Transport::Tunneled(key.to_string()));
        }
        let (protocol, encoding) = portforward_channels::negotiate(&offered)?;
        return Ok(Transport::Channels {
            key: key.to_string(),
            protocol,
            encoding,
            ports: portforward_channels::ports(ports)?,
        });
    }
    if upgrade.eq_ignore_ascii_case("SPDY/3.1") {
        let mut offered = values(headers, "x-stream-protocol-version").peekable();
        // A client that names no protocol is an old one that speaks the only one there is.
        if offered.peek().is_none() || offered.any(|p| p == PROTOCOL) {
            return Ok(Transport::Spdy);
        }
        return Err(format!(
            "unable to upgrade: unable to negotiate protocol: server accepts [{PROTOCOL}]"
        ));
    }
    Err("unable to upgrade connection: missing upgrade headers in request".into())
}

/// Serves a port-forward request.
pub async fn port_forward(
    server: &Arc<NodeServer>,
    ns: &str,
    name: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    let ports = query(req.uri()).remove("port").unwrap_or_default();
    let transport = match negotiate(req.headers(), &ports) {
        Ok(t) => t,
        Err(message) => return text_error(StatusCode::BAD_REQUEST, message),
    };
    let pod = match bound_pod(server, ns, name).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let sandbox_id = match pod_sandbox(server, &uid).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return text_error(
                StatusCode::BAD_REQUEST,
                format!("pod {name:?} has no running sandbox"),
            );
        }
        Err(e) => return text_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let target = Target {
        server: server.clone(),
        pod: name.to_string(),
        uid,
        sandbox_id,
    };
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    match &transport {
        Transport::Tunneled(key) => {
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            if let Ok(v) = HeaderValue::from_str(&websocket::accept_key(key)) {
                h.insert("sec-websocket-accept", v);
            }
            h.insert(
                "sec-websocket-protocol",
                HeaderValue::from_static(TUNNELED_PROTOCOL),
            );
        }
        Transport::Spdy => {
            h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
            h.insert(
                "x-stream-protocol-version",
                HeaderValue::from_static(PROTOCOL),
            );
        }
        Transport::Channels { key, protocol, .. } => {
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            if let Ok(v) = HeaderValue::from_str(&websocket::accept_key(key)) {
                h.insert("sec-websocket-accept", v);
            }
            if let Some(p) = protocol {
                h.insert("sec-websocket-protocol", HeaderValue::from_static(p));
            }
        }
    }
    let span = info_span!("port_forward", namespace = %ns, pod = %name);
    tokio::spawn(
        async move {
            let upgraded = match hyper::upgrade::on(req).await {
                Ok(u) => TokioIo::new(u),
                Err(e) => {
                    debug!(error = %e, "port-forward upgrade failed");
                    return;
                }
            };
            match transport {
                Transport::Tunneled(_) => serve(untunnel(upgraded), target).await,
                Transport::Spdy => serve(upgraded, target).await,
                Transport::Channels {
                    encoding, ports, ..
                } => portforward_channels::serve(upgraded, target, ports, encoding).await,
            }
        }
        .instrument(span),
    );
    resp
}

/// The ready sandbox of the pod with this UID.
async fn pod_sandbox(
    server: &NodeServer,
    uid: &str,
) -> Result<Option<String>, crate::runtime::RuntimeError> {
    if let Some(id) = server.runtime.find_pod_sandbox(uid).await? {
        return Ok(Some(id));
    }
    Ok(server
        .runtime
        .list_pod_sandboxes()
        .await?
        .into_iter()
        .find(|s| s.uid == uid && s.ready)
        .map(|s| s.id))
}

/// The pod a port-forward session reaches.
#[derive(Clone)]
pub struct Target {
    /// The kubelet serving the session (its runtime does the forwarding).
    pub server: Arc<NodeServer>,
    /// The pod's name (for error messages).
    pub pod: String,
    /// The pod's UID (for error messages).
    pub uid: String,
    /// The pod's ready sandbox.
    pub sandbox_id: String,
}

/// The byte stream carried in the binary messages of a WebSocket connection.
fn untunnel<IO>(io: IO) -> tokio::io::DuplexStream
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(64 << 10);
    let (mut ws_reader, ws_writer) = tokio::io::split(io);
    let ws_writer = Arc::new(Mutex::new(ws_writer));
    let (mut from_session, mut to_session) = tokio::io::split(theirs);
    let pong_writer = ws_writer.clone();
    tokio::spawn(async move {
        while let Ok(Some(msg)) = websocket::read_message(&mut ws_reader).await {
            match msg {
                Message::Data(data) => {
                    if to_session.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Message::Ping(p) => {
                    let mut w = pong_writer.lock().await;
                    let _ = websocket::write_frame(&mut *w, opcode::PONG, &p).await;
                }
                Message::Pong => {}
                Message::Close => break,
            }
        }
        let _ = to_session.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 << 10];
        loop {
            let n = match from_session.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut w = ws_writer.lock().await;
            if websocket::write_frame(&mut *w, opcode::BINARY, &buf[..n])
                .await
                .is_err()
            {
                return;
            }
        }
        let mut w = ws_writer.lock().await;
        let _ = websocket::write_frame(&mut *w, opcode::CLOSE, &1000u16.to_be_bytes()).await;
        let _ = w.shutdown().await;
    });
    ours
}

/// The two streams of one forwarded connection, as they arrive.
#[derive(Default)]
struct StreamPair {
    data: Option<IncomingStream>,
    error: Option<IncomingStream>,
}

/// Why a stream is refused, as upstream words it.
fn check_stream(stream: &IncomingStream) -> Result<(), String> {
    let port = get(&stream.headers, "port").unwrap_or_default();
    if port.is_empty() {
        return Err("\"port\" header is required".into());
    }
    match port.parse::<u16>() {
        Ok(0) => return Err(format!("port {port:?} must be > 0")),
        Ok(_) => {}
        Err(e) => return Err(format!("unable to parse {port:?} as a port: {e}")),
    }
    match get(&stream.headers, "streamtype") {
        None | Some("") => Err("\"streamType\" header is required".into()),
        Some("error" | "data") => Ok(()),
        Some(other) => Err(format!("invalid stream type {other:?}")),
    }
}

/// The request a stream belongs to: its `requestid`, else (old clients) derived from its id.
fn request_id(stream: &IncomingStream) -> String {
    match get(&stream.headers, "requestid") {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => match get(&stream.headers, "streamtype") {
            Some("data") => stream.stream_id.saturating_sub(2).to_string(),
            _ => stream.stream_id.to_string(),
        },
    }
}

/// Pairs the session's streams and forwards each complete pair.
async fn serve<IO>(io: IO, target: Target)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut session = session::serve(io);
    let mut pairs: HashMap<String, StreamPair> = HashMap::new();
    let (timeouts_tx, mut timeouts) = mpsc::channel::<String>(16);
    loop {
        tokio::select! {
            stream = session.incoming.recv() => {
                let Some(stream) = stream else { break };
                if let Err(message) = check_stream(&stream) {
                    debug!(stream = stream.stream_id, %message, "port-forward stream refused");
                    let _ = stream.writer.reset(status::REFUSED_STREAM).await;
                    continue;
                }
                if stream.writer.reply().await.is_err() {
                    break;
                }
                let id = request_id(&stream);
                let pair = pairs.entry(id.clone()).or_insert_with(|| {
                    let timeouts = timeouts_tx.clone();
                    let id = id.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(STREAM_CREATION_TIMEOUT).await;
                        let _ = timeouts.send(id).await;
                    });
                    StreamPair::default()
                });
                let is_data = get(&stream.headers, "streamtype") == Some("data");
                let slot = if is_data { &mut pair.data } else { &mut pair.error };
                if slot.is_some() {
                    let kind = if is_data { "data" } else { "error" };
                    let message = format!(
                        "error processing stream for request {id}: {kind} stream already assigned"
                    );
                    warn!(%message);
                    if let Some(error) = &pair.error {
                        let _ = error.writer.write(message.as_bytes()).await;
                    }
                    let _ = stream.writer.reset(status::STREAM_IN_USE).await;
                    continue;
                }
                *slot = Some(stream);
                if pair.data.is_some() && pair.error.is_some()
                    && let Some(StreamPair { data: Some(data), error: Some(error) }) =
                        pairs.remove(&id)
                {
                    let target = target.clone();
                    let closed = session.closed.clone();
                    tokio::spawn(
                        forward(target, data, error, closed)
                            .instrument(info_span!("forwarded_connection", request = %id)),
                    );
                }
            }
            Some(id) = timeouts.recv() => {
                if let Some(pair) = pairs.remove(&id) {
                    let message = format!("(request={id}) timed out waiting for streams");
                    warn!(%message);
                    if let Some(error) = pair.error {
                        let _ = error.writer.write(message.as_bytes()).await;
                        let _ = error.writer.close().await;
                    }
                }
            }
        }
    }
}

/// Relays one forwarded connection between its data stream and the pod's port.
async fn forward(
    target: Target,
    data: IncomingStream,
    error: IncomingStream,
    mut closed: tokio::sync::watch::Receiver<bool>,
) {
    let port: u16 = get(&data.headers, "port")
        .and_then(|p| p.parse().ok())
        .unwrap_or_default();
    let failure = |e: &dyn std::fmt::Display| {
        format!(
            "error forwarding port {port} to pod {}, uid {}: {e}",
            target.pod, target.uid
        )
    };
    let IncomingStream {
        data: mut from_client,
        writer: data_writer,
        ..
    } = data;
    let message = match target
        .server
        .runtime
        .port_forward(&target.sandbox_id, port)
        .await
    {
        Err(e) => failure(&e),
        Ok(conn) => {
            let input = conn.input;
            let to_pod = tokio::spawn(async move {
                while let Some(chunk) = from_client.recv().await {
                    if input.send(chunk).await.is_err() {
                        return;
                    }
                }
            });
            let mut output = conn.output;
            loop {
                let chunk = tokio::select! {
                    c = output.recv() => c,
                    _ = closed.wait_for(|c| *c) => None,
                };
                let Some(chunk) = chunk else { break };
                if data_writer.write(&chunk).await.is_err() {
                    break;
                }
            }
            drop(output);
            to_pod.abort();
            // The runtime writes its own message (upstream's wording) on its error channel.
            conn.error.await.unwrap_or_default()
        }
    };
    let _ = data_writer.close().await;
    if !message.is_empty() {
        warn!(%message, "port forwarding failed");
        let _ = error.writer.write(message.as_bytes()).await;
    }
    let _ = error.writer.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn kubectls_websocket_tunnel_and_its_spdy_fallback_are_both_accepted() {
        let tunneled = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "SPDY/3.1+portforward.k8s.io"),
        ]);
        assert_eq!(
            negotiate(&tunneled, &[]),
            Ok(Transport::Tunneled("dGhlIHNhbXBsZSBub25jZQ==".into()))
        );
        let spdy = headers(&[
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "portforward.k8s.io"),
        ]);
        assert_eq!(negotiate(&spdy, &[]), Ok(Transport::Spdy));
        assert_eq!(
            negotiate(&headers(&[("upgrade", "SPDY/3.1")]), &[]),
            Ok(Transport::Spdy)
        );
    }

    #[test]
    fn other_websocket_clients_get_channels_for_the_port_parameters() {
        let channel = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-key", "x"),
            ("sec-websocket-protocol", "v4.channel.k8s.io"),
        ]);
        assert_eq!(
            negotiate(&channel, &["80,443".to_string()]),
            Ok(Transport::Channels {
                key: "x".into(),
                protocol: Some("v4.channel.k8s.io"),
                encoding: Encoding::Binary,
                ports: vec![80, 443],
            })
        );
        assert_eq!(
            negotiate(&channel, &[]),
            Err("query parameter \"port\" is required".to_string())
        );
    }

    #[test]
    fn other_protocols_are_refused() {
        let v5 = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-key", "x"),
            ("sec-websocket-protocol", "v5.channel.k8s.io"),
        ]);
        assert!(negotiate(&v5, &["80".to_string()]).is_err());
        let other = headers(&[
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "channel.k8s.io"),
        ]);
        assert!(negotiate(&other, &[]).is_err());
        assert!(negotiate(&HeaderMap::new(), &[]).is_err());
    }
}
