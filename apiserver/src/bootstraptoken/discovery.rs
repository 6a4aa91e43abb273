//! Joining a cluster with a bootstrap token, as kubeadm's token discovery: fetch
//! `kube-public/cluster-info` anonymously without verifying TLS (this one request only), check
//! its `jws-kubeconfig-<id>` signature with the token (which proves the server knows the
//! token), check the CA it names against the pinned `--discovery-token-ca-cert-hash` values
//! when given, then fetch it again over TLS verified with that CA and insist on the same
//! content. The entry point is [`discover`]; [`write_kubeconfig`] writes the node's kubeconfig.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;
use tokio_rustls::TlsConnector;
use tracing::{info, warn};

use crate::pki::AnyServerCert;

use super::cluster_info::{JWS_KEY_PREFIX, KUBECONFIG_KEY, NAME, PATH};
use super::{BootstrapToken, jws, pubkeypin};

/// Why joining a cluster failed, by step.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The token is not `<id>.<secret>`.
    #[error("invalid token: the token must be of the form [a-z0-9]{{6}}.[a-z0-9]{{16}}")]
    Token,
    /// The server URL cannot be used.
    #[error("invalid server {server:?}: {reason}")]
    Server {
        /// The URL given.
        server: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--discovery-token-ca-cert-hash` value is malformed.
    #[error("invalid discovery token CA certificate hash: {0}")]
    CaHashFormat(String),
    /// cluster-info could not be fetched.
    #[error("failed to request the cluster-info ConfigMap from {server}: {reason}")]
    Fetch {
        /// The server.
        server: String,
        /// Why.
        reason: String,
    },
    /// cluster-info has no usable kubeconfig.
    #[error("{0}")]
    ClusterInfo(String),
    /// No signature for the token, or one that does not match it.
    #[error("{0}")]
    Signature(String),
    /// The CA in cluster-info is not the pinned one.
    #[error("cluster CA found in the cluster-info ConfigMap is invalid: {0}")]
    CaHash(String),
    /// The verified second fetch disagreed with the first or failed TLS verification.
    #[error("{0}")]
    SecondFetch(String),
    /// The node's kubeconfig could not be written.
    #[error("write {path}: {source}")]
    WriteKubeconfig {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What a joining machine learns about the cluster it can trust.
#[derive(Clone, Debug)]
pub struct Discovered {
    /// The cluster CA (PEM).
    pub ca_pem: String,
    /// The server URL cluster-info names (the server's advertised address).
    pub advertised_server: String,
}

/// Finds and checks the cluster at `server` (`https://HOST:PORT` or `HOST:PORT`) with `token`
/// (`<id>.<secret>`), pinning its CA to `ca_cert_hashes` when any are given.
pub async fn discover(
    server: &str,
    token: &str,
    ca_cert_hashes: &[String],
) -> Result<Discovered, DiscoveryError> {
    let token = BootstrapToken::parse(token.trim()).ok_or(DiscoveryError::Token)?;
    let endpoint = Endpoint::parse(server)?;
    let pins = ca_cert_hashes
        .iter()
        .map(|p| pubkeypin::parse_pin(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(DiscoveryError::CaHashFormat)?;
    info!(server = %endpoint.url, token_id = %token.id, "requesting cluster-info");
    let insecure = endpoint.fetch(None).await?;
    let kubeconfig = validate_signature(&insecure, &token)?;
    let (advertised_server, ca_pem) = cluster_of(&kubeconfig)?;
    if pins.is_empty() {
        warn!(
            "no --discovery-token-ca-cert-hash given: the cluster CA is trusted because cluster-info is signed with the token"
        );
    } else {
        pubkeypin::check_any(&ca_pem, &pins).map_err(DiscoveryError::CaHash)?;
    }
    let secure = endpoint.fetch(Some(&ca_pem)).await.map_err(|e| {
        DiscoveryError::SecondFetch(format!(
            "{e} (on TLS verified with the cluster CA; is {} among the server's --tls-san names?)",
            endpoint.host
        ))
    })?;
    if secure.get(KUBECONFIG_KEY) != Some(&Value::String(kubeconfig.clone())) {
        return Err(DiscoveryError::SecondFetch(format!(
            "the second kubeconfig from the {NAME} ConfigMap (using validated TLS) was different from the first"
        )));
    }
    info!(server = %endpoint.url, "cluster-info signature and CA are valid");
    Ok(Discovered {
        ca_pem,
        advertised_server,
    })
}

/// Checks the token's signature of the kubeconfig in cluster-info `data`; returns the
/// kubeconfig.
pub fn validate_signature(data: &Value, token: &BootstrapToken) -> Result<String, DiscoveryError> {
    let kubeconfig = data
        .get(KUBECONFIG_KEY)
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            DiscoveryError::ClusterInfo(format!(
                "there is no {KUBECONFIG_KEY} key in the {NAME} ConfigMap. This API Server isn't set up for token bootstrapping, can't connect"
            ))
        })?;
    let signature = data
        .get(format!("{JWS_KEY_PREFIX}{}", token.id))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            DiscoveryError::Signature(format!(
                "token id {:?} is invalid for this cluster or it has expired. Use the token in <data-dir>/node-token on the server",
                token.id
            ))
        })?;
    if !jws::is_valid(signature, kubeconfig, &token.id, &token.secret) {
        return Err(DiscoveryError::Signature(
            "failed to verify JWS signature of received cluster info object, can't trust this API Server".into(),
        ));
    }
    Ok(kubeconfig.to_string())
}

/// The server and CA (PEM) of the first cluster in a kubeconfig document.
pub fn cluster_of(kubeconfig: &str) -> Result<(String, String), DiscoveryError> {
    let malformed = |why: &str| {
        DiscoveryError::ClusterInfo(format!(
            "malformed kubeconfig in the {NAME} ConfigMap: {why}"
        ))
    };
    let doc: serde_yaml::Value =
        serde_yaml::from_str(kubeconfig).map_err(|e| malformed(&e.to_string()))?;
    let cluster = doc
        .get("clusters")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("cluster"))
        .ok_or_else(|| malformed("no cluster"))?;
    let server = cluster
        .get("server")
        .and_then(serde_yaml::Value::as_str)
        .ok_or_else(|| malformed("no server"))?;
    let ca = cluster
        .get("certificate-authority-data")
        .and_then(serde_yaml::Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| malformed("no certificate-authority-data"))?;
    Ok((server.to_string(), ca))
}

/// Writes a kubeconfig (0600) that reaches `server`, trusts `ca_pem` and authenticates with the
/// bootstrap `token`.
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_pem: &str,
    token: &str,
) -> Result<(), DiscoveryError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| DiscoveryError::WriteKubeconfig {
        path: path.display().to_string(),
        source,
    };
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ferrokube\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: ferrokube\n  context:\n    cluster: ferrokube\n    user: kubelet-bootstrap\ncurrent-context: ferrokube\nusers:\n- name: kubelet-bootstrap\n  user:\n    token: {token}\npreferences: {{}}\n"
    );
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(doc.as_bytes()).map_err(err)
}

/// The server to ask, split for connecting.
struct Endpoint {
    url: String,
    host: String,
    port: u16,
}

/// How long each cluster-info request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

impl Endpoint {
    fn parse(server: &str) -> Result<Self, DiscoveryError> {
        let url = if server.contains("://") {
            server.trim_end_matches('/').to_string()
        } else {
            format!("https://{}", server.trim_end_matches('/'))
        };
        let bad = |reason: &str| DiscoveryError::Server {
            server: server.into(),
            reason: reason.into(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("the server must be https://HOST:PORT"));
        }
        let host = uri
            .host()
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Endpoint {
            port: uri.port_u16().unwrap_or(443),
            host,
            url,
        })
    }

    /// GETs cluster-info and returns its `data`; with `ca_pem`, TLS is verified against it,
    /// without, not at all.
    async fn fetch(&self, ca_pem: Option<&str>) -> Result<Value, DiscoveryError> {
        let fail = |reason: String| DiscoveryError::Fetch {
            server: self.url.clone(),
            reason,
        };
        let connector = connector(ca_pem).map_err(fail)?;
        let request = async {
            let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| e.to_string())?;
            let name = ServerName::try_from(self.host.clone()).map_err(|e| e.to_string())?;
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let req = Request::get(PATH)
                .header(header::HOST, format!("{}:{}", self.host, self.port))
                .header(header::ACCEPT, "application/json")
                .header(header::USER_AGENT, "ferrokube-agent")
                .body(Empty::<Bytes>::new())
                .map_err(|e| e.to_string())?;
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), 1 << 20)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            let doc: Value = serde_json::from_slice(&body)
                .map_err(|e| format!("{status}: response is not JSON: {e}"))?;
            if !status.is_success() {
                let message = doc.get("message").and_then(Value::as_str).unwrap_or("");
                return Err(format!("{status}: {message}"));
            }
            Ok::<Value, String>(doc.get("data").cloned().unwrap_or(Value::Null))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, request)
            .await
            .map_err(|_| fail(format!("no answer within {REQUEST_TIMEOUT:?}")))?
            .map_err(fail)
    }
}

fn connector(ca_pem: Option<&str>) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = match ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots
                    .add(ca.map_err(|e| format!("cluster CA: {e}"))?)
                    .map_err(|e| format!("cluster CA: {e}"))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_info_must_be_signed_with_the_token() {
        let kc = super::super::cluster_info::kubeconfig("https://10.0.0.1:6443", "PEM");
        let token = BootstrapToken::parse("abcdef.0123456789abcdef").expect("token");
        let sig = jws::detached_signature(&kc, &token.id, &token.secret);
        let data = json!({"kubeconfig": kc, "jws-kubeconfig-abcdef": sig});
        assert_eq!(validate_signature(&data, &token).expect("valid"), kc);
        assert_eq!(
            cluster_of(&kc).expect("cluster"),
            ("https://10.0.0.1:6443".to_string(), "PEM".to_string())
        );
        let wrong = BootstrapToken::parse("abcdef.0123456789abcdee").expect("token");
        assert!(matches!(
            validate_signature(&data, &wrong),
            Err(DiscoveryError::Signature(m)) if m.contains("failed to verify JWS")
        ));
        let unknown = BootstrapToken::parse("zzzzzz.0123456789abcdef").expect("token");
        assert!(matches!(
            validate_signature(&data, &unknown),
            Err(DiscoveryError::Signature(m)) if m.contains("is invalid for this cluster")
        ));
    }
}
