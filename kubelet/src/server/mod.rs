//! The kubelet's HTTPS server (`--port`, 10250): what the API server proxies `pods/log`,
//! `pods/exec`, `pods/attach`, `pods/portforward` and `nodes/proxy` to, and what metrics
//! scrapers read. Entry point: [`start`] with a bound listener and a [`NodeServer`].
//!
//! Phases of a request: [`tls`] (serving certificate, client certificates checked against the
//! cluster CA), [`auth`] (the client certificate's user, else a bearer token checked with a
//! TokenReview), then [`routes`]: `/healthz`, `/pods`, `/metrics`, `/stats/summary`
//! ([`stats`]), `/containerLogs/{ns}/{pod}/{container}` ([`logs`]), and `/exec`, `/attach`
//! ([`exec`], [`attach`] over WebSocket, [`websocket`]), `/portForward` ([`portforward`] over
//! SPDY/3.1, [`crate::spdy`], plain or tunneled in WebSocket; [`portforward_channels`] for
//! clients that speak only WebSocket).
//!
//! Simulated nodes each serve on their own InternalIP and port, so the API server reaches each
//! one as it would a real node (with `--node-ip 127.0.0.1`, node `i` is `127.0.0.(1+i)`, all on
//! the loopback interface).

pub mod attach;
pub mod auth;
pub mod exec;
pub mod logs;
pub mod portforward;
pub mod portforward_channels;
pub mod routes;
pub mod stats;
pub mod tls;
pub mod websocket;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::runtime::Runtime;

/// Why the kubelet server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listener could not be bound.
    #[error("failed to listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The serving certificate or the client CA could not be loaded or made.
    #[error("kubelet server TLS: {0}")]
    Tls(String),
}

/// How the kubelet server is set up (its flags).
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// `--port` (0 picks a free port, which the Node then publishes).
    pub port: u16,
    /// `--tls-cert-file`; a self-signed certificate is made when unset.
    pub tls_cert_file: Option<PathBuf>,
    /// `--tls-private-key-file`.
    pub tls_private_key_file: Option<PathBuf>,
    /// The CA (PEM) client certificates must be signed by (`--client-ca-file`); without one
    /// only bearer tokens authenticate.
    pub client_ca_pem: Option<String>,
}

/// The response body type.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// What the server of one node serves from.
pub struct NodeServer {
    /// The Node's name.
    pub node_name: String,
    /// The API client (pods, TokenReviews).
    pub client: kube::Client,
    /// The container runtime.
    pub runtime: Arc<dyn Runtime>,
    /// The runtime's name, the `containerID` prefix (`sim`, `containerd`).
    pub runtime_name: String,
    /// When the server started (the kubelet's start time in `/stats/summary`).
    pub started_at: Timestamp,
    /// Requests served, by (method, path root): `kubelet_http_requests_total`.
    pub requests: Mutex<BTreeMap<(String, String), u64>>,
}

impl NodeServer {
    /// The server state for a node.
    pub fn new(
        node_name: String,
        client: kube::Client,
        runtime: Arc<dyn Runtime>,
        runtime_name: String,
    ) -> Self {
        NodeServer {
            node_name,
            client,
            runtime,
            runtime_name,
            started_at: Timestamp::now(),
            requests: Mutex::new(BTreeMap::new()),
        }
    }
}

/// Binds the server's listener on `ip:port` (before the Node is registered, so that the port
/// it publishes is the one bound).
pub async fn bind(ip: std::net::IpAddr, port: u16) -> Result<TcpListener, ServerError> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })
}

/// A running kubelet server.
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

/// Serves `server` on `listener` until stopped.
pub fn start(
    listener: TcpListener,
    options: &ServerOptions,
    server: NodeServer,
    host_ip: std::net::IpAddr,
) -> Result<RunningServer, ServerError> {
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: SocketAddr::new(host_ip, options.port),
            source,
        })?;
    let config = tls::server_config(options, &server.node_name, host_ip)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let server = Arc::new(server);
    let (stop, mut stopped) = watch::channel(false);
    info!(node = %server.node_name, %addr, "kubelet server listening");
    let task = tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(error = %e, "kubelet server accept failed");
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let server = server.clone();
            tokio::spawn(
                async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(e) => {
                            debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                    };
                    let cert_user = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(auth::user_from_cert);
                    let service = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        let cert_user = cert_user.clone();
                        async move {
                            Ok::<_, Infallible>(routes::handle(server, req, cert_user).await)
                        }
                    });
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .with_upgrades()
                        .await
                    {
                        debug!(error = %e, "connection ended with an error");
                    }
                }
                .instrument(info_span!("kubelet_connection", %peer)),
            );
        }
    });
    Ok(RunningServer { addr, stop, task })
}
