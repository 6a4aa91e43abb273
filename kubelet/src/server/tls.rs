//! The server's TLS: the serving certificate from `--tls-cert-file` / `--tls-private-key-file`,
//! or one made at start and signed by itself (as upstream's kubelet does without them: the API
//! server does not verify kubelet serving certificates unless told to); client certificates
//! are optional and, when a client CA is configured, verified against it.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, SanType};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use super::{ServerError, ServerOptions};

fn tls_err(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(format!("{what}: {e}"))
}

/// A self-signed serving certificate and key (PEM) for the node's name and IP.
pub fn self_signed(node_name: &str, ip: IpAddr) -> Result<(String, String), ServerError> {
    let key = rcgen::KeyPair::generate().map_err(|e| tls_err("key", e))?;
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_err("certificate", e))?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        format!("{node_name}@{}", jiff::Timestamp::now().as_second()),
    );
    params.distinguished_name = dn;
    let mut sans = vec![SanType::IpAddress(ip)];
    if let Ok(name) = node_name.to_string().try_into() {
        sans.push(SanType::DnsName(name));
    }
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let cert = params
        .self_signed(&key)
        .map_err(|e| tls_err("certificate", e))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The rustls configuration the server accepts connections with.
pub fn server_config(
    options: &ServerOptions,
    node_name: &str,
    ip: IpAddr,
) -> Result<rustls::ServerConfig, ServerError> {
    let (cert_pem, key_pem) = match (&options.tls_cert_file, &options.tls_private_key_file) {
        (Some(c), Some(k)) => (
            std::fs::read_to_string(c).map_err(|e| tls_err(&c.display().to_string(), e))?,
            std::fs::read_to_string(k).map_err(|e| tls_err(&k.display().to_string(), e))?,
        ),
        (None, None) => self_signed(node_name, ip)?,
        _ => {
            return Err(ServerError::Tls(
                "--tls-cert-file and --tls-private-key-file go together".into(),
            ));
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err("serving certificate", e))?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| tls_err("serving key", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("protocol versions", e))?;
    let builder = match &options.client_ca_pem {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                let c = c.map_err(|e| tls_err("client CA", e))?;
                roots.add(c).map_err(|e| tls_err("client CA", e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| tls_err("client verifier", e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| tls_err("serving certificate", e))?;
    // WebSocket and SPDY upgrades are HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
