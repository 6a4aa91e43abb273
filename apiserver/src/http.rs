//! The HTTPS front door: TLS with optional client certificates, HTTP/1.1 and HTTP/2, the
//! authentication of every request, and the response helpers every handler uses.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, info_span, warn};

use crate::Error;
use crate::pki::Pki;
use crate::status::ApiError;

/// The response body type: a full buffer or a stream (watches).
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Who made a request.
#[derive(Clone, Debug, Default)]
pub struct User {
    /// The user name (client certificate CN, or the token's user).
    pub name: String,
    /// The groups (client certificate O entries).
    pub groups: Vec<String>,
    /// The user's UID, when the authenticator knows one (service accounts).
    pub uid: String,
    /// Extra attributes (a service account token's pod, node and credential id).
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

/// A full-buffer body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

/// A JSON response.
pub fn json_response(code: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A `Status` response for an error.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let body = serde_json::to_vec(&e.to_status()).unwrap_or_default();
    let mut resp = json_response(e.code, body);
    if let Some(s) = e.details.as_ref().and_then(|d| d.retry_after_seconds)
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// The rustls server configuration: our serving certificate, client certificates optional
/// but verified against the cluster CA when presented.
pub fn tls_config(pki: &Pki) -> Result<rustls::ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.serving_cert.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Pki(format!("serving certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(pki.serving_key.as_bytes())
        .map_err(|e| Error::Pki(format!("serving key: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pki.ca_cert.as_bytes()) {
        let ca = ca.map_err(|e| Error::Pki(format!("CA certificate: {e}")))?;
        roots
            .add(ca)
            .map_err(|e| Error::Pki(format!("CA certificate: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| Error::Pki(format!("client verifier: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Pki(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| Error::Pki(format!("serving certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The user a verified client certificate names: CN is the user, O entries the groups.
fn user_from_cert(der: &CertificateDer<'_>) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(String::from))
        .collect();
    Some(User {
        name,
        groups,
        ..Default::default()
    })
}

/// Serves `handler` on `addr` until `shutdown` resolves.
pub async fn serve<H, F>(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    handler: H,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), Error>
where
    H: Fn(Request<Incoming>, Option<User>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        tokio::spawn(
            async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                };
                let user = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(user_from_cert);
                let service = hyper::service::service_fn(move |req| {
                    let fut = handler(req, user.clone(), peer);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder.http2().max_concurrent_streams(1000);
                if let Err(e) = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await
                {
                    debug!(error = %e, "connection ended with an error");
                }
            }
            .instrument(info_span!("connection", %peer)),
        );
    }
}
