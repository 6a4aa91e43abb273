//! The API server's HTTPS client to kubelets: it authenticates with the API server's kubelet
//! client certificate (signed by the cluster CA) and, as upstream without
//! `--kubelet-certificate-authority`, does not verify the kubelet's serving certificate.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject};
use tokio_rustls::TlsConnector;

use crate::Error;
use crate::status::ApiError;

/// Accepts any kubelet serving certificate (kubelets make their own, self-signed).
#[derive(Debug)]
struct AnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

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
