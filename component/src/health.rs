//! The component's HTTP endpoints: `/healthz`, `/livez`, `/readyz` (ready once the component
//! says so) and Prometheus `/metrics` from a `prometheus-client` registry.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing::debug;

use crate::Error;

/// Readiness shared between the component and its `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the component ready (or not).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    /// Whether the component is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

fn text(
    code: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

/// Binds `addr` and serves the endpoints until `shutdown` resolves; returns the bound address
/// (useful with port 0) once listening.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<Registry>,
    ready: Readiness,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<SocketAddr, Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    tokio::spawn(async move {
        tokio::pin!(shutdown);
        loop {
            let (tcp, _) = tokio::select! {
                _ = &mut shutdown => return,
                a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
            };
            let registry = registry.clone();
            let ready = ready.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| {
                        let resp = match req.uri().path() {
                            "/healthz" | "/livez" => {
                                text(StatusCode::OK, "ok", "text/plain; charset=utf-8")
                            }
                            "/readyz" if ready.get() => {
                                text(StatusCode::OK, "ok", "text/plain; charset=utf-8")
                            }
                            "/readyz" => text(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "not ready",
                                "text/plain; charset=utf-8",
                            ),
                            "/metrics" => {
                                let mut out = String::new();
                                match prometheus_client::encoding::text::encode(&mut out, &registry)
                                {
                                    Ok(()) => text(
                                        StatusCode::OK,
                                        out,
                                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                    ),
                                    Err(_) => text(
                                        StatusCode::INTERNAL_SERVER_ERROR,
                                        "encode error",
                                        "text/plain",
                                    ),
                                }
                            }
                            _ => text(
                                StatusCode::NOT_FOUND,
                                "404 page not found",
                                "text/plain; charset=utf-8",
                            ),
                        };
                        async move { Ok::<_, Infallible>(resp) }
                    },
                );
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await
                {
                    debug!(error = %e, "health connection ended");
                }
            });
        }
    });
    Ok(bound)
}
