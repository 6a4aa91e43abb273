//! The API server's HTTPS client to kubelets: it authenticates with the API server's kubelet
//! client certificate (signed by the cluster CA) and, as upstream without
//! `--kubelet-certificate-authority`, does not verify the kubelet's serving certificate.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio_rustls::TlsConnector;

use crate::Error;
use crate::pki::AnyServerCert;
use crate::status::ApiError;

/// Connects to kubelets.
#[derive(Clone)]
pub struct KubeletClient {
    connector: TlsConnector,
}

impl KubeletClient {
    /// A client presenting `cert_pem` / `key_pem`.
    pub fn new(cert_pem: &str, key_pem: &str) -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| Error::Pki(format!("kubelet client certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| Error::Pki(format!("kubelet client key: {e}")))?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Pki(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
            .with_client_auth_cert(certs, key)
            .map_err(|e| Error::Pki(format!("kubelet client certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(KubeletClient {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Sends `req` (its URI a path and query) to the kubelet at `host:port`; the connection
    /// stays up for as long as the response body (or an upgraded stream) is in use.
    pub async fn send(
        &self,
        host: &str,
        port: u16,
        mut req: Request<Empty<Bytes>>,
    ) -> Result<Response<Incoming>, ApiError> {
        let unreachable = |e: &dyn std::fmt::Display| {
            ApiError::internal(format!(
                "error dialing backend: dial tcp {host}:{port}: {e}"
            ))
        };
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| unreachable(&e))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(host.to_string())
            .unwrap_or_else(|_| ServerName::try_from("kubelet").expect("a valid DNS name"));
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| unreachable(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        if let Ok(v) = http::HeaderValue::from_str(&format!("{host}:{port}")) {
            req.headers_mut().insert(http::header::HOST, v);
        }
        sender.send_request(req).await.map_err(|e| unreachable(&e))
    }
}
