//! The cluster's certificates: a CA made on first start, the serving certificate, the admin
//! client certificate, and the admin kubeconfig that carries them. Everything is written under
//! `<data-dir>/tls` and reused on restart.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::Error;

/// The PEM files of the cluster's PKI as loaded from (or written to) the data directory.
#[derive(Clone, Debug)]
pub struct Pki {
    /// The CA certificate (PEM); clients trust it and client certificates are checked against it.
    pub ca_cert: String,
    /// The serving certificate chain (PEM).
    pub serving_cert: String,
    /// The serving key (PEM, PKCS#8).
    pub serving_key: String,
    /// The admin client certificate (PEM), subject `CN=ferrokube-admin, O=system:masters`.
    pub admin_cert: String,
    /// The admin client key (PEM).
    pub admin_key: String,
    /// A bearer token that authenticates as the admin user.
    pub admin_token: String,
    /// The client certificate (PEM) the API server calls kubelets with, subject
    /// `CN=kube-apiserver-kubelet-client, O=system:masters`.
    pub kubelet_client_cert: String,
    /// Its key (PEM).
    pub kubelet_client_key: String,
}

pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true).mode(0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| Error::Pki(format!("{}: {e}", path.display())))?;
    std::io::Write::write_all(&mut f, contents.as_bytes())
        .map_err(|e| Error::Pki(format!("{}: {e}", path.display())))
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|e| Error::Pki(format!("{}: {e}", path.display())))
}

fn pki_err(e: rcgen::Error) -> Error {
    Error::Pki(e.to_string())
}

fn name(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    dn
}

fn ten_years(params: &mut CertificateParams) {
    let now = rcgen::date_time_ymd(2025, 1, 1);
    params.not_before = now;
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
}

impl Pki {
    /// Loads the PKI from `<data_dir>/tls`, creating whatever is missing. `sans` are the extra
    /// host names and IPs the serving certificate must be valid for.
    pub fn load_or_create(data_dir: &Path, sans: &[String]) -> Result<Self, Error> {
        let dir = data_dir.join("tls");
        fs::create_dir_all(&dir).map_err(|e| Error::Pki(format!("{}: {e}", dir.display())))?;
        let ca_crt = dir.join("ca.crt");
        let ca_key = dir.join("ca.key");
        if !ca_crt.exists() || !ca_key.exists() {
            let key = KeyPair::generate().map_err(pki_err)?;
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
            params.distinguished_name = name("ferrokube-ca", None);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            ten_years(&mut params);
            let cert = params.self_signed(&key).map_err(pki_err)?;
            write_private(&ca_key, &key.serialize_pem())?;
            fs::write(&ca_crt, cert.pem()).map_err(|e| Error::Pki(e.to_string()))?;
        }
        let ca_cert_pem = read(&ca_crt)?;
        let ca_key_pair = KeyPair::from_pem(&read(&ca_key)?).map_err(pki_err)?;
        let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key_pair).map_err(pki_err)?;

        let serving_crt = dir.join("serving.crt");
        let serving_key = dir.join("serving.key");
        let sans_file = dir.join("serving.sans");
        let wanted_sans = {
            let mut all: Vec<String> = vec![
                "localhost".into(),
                "127.0.0.1".into(),
                "::1".into(),
                "kubernetes".into(),
                "kubernetes.default".into(),
                "kubernetes.default.svc".into(),
                "kubernetes.default.svc.cluster.local".into(),
            ];
            for s in sans {
                if !all.contains(s) {
                    all.push(s.clone());
                }
            }
            all
        };
        let sans_changed = fs::read_to_string(&sans_file).ok() != Some(wanted_sans.join("\n"));
        if !serving_crt.exists() || !serving_key.exists() || sans_changed {
            let key = KeyPair::generate().map_err(pki_err)?;
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
            params.distinguished_name = name("ferrokube-apiserver", None);
            params.subject_alt_names = wanted_sans
                .iter()
                .map(|s| match s.parse::<IpAddr>() {
                    Ok(ip) => Ok(SanType::IpAddress(ip)),
                    Err(_) => s.clone().try_into().map(SanType::DnsName),
                })
                .collect::<Result<_, _>>()
                .map_err(pki_err)?;
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            ten_years(&mut params);
            let cert = params.signed_by(&key, &issuer).map_err(pki_err)?;
            write_private(&serving_key, &key.serialize_pem())?;
            fs::write(&serving_crt, cert.pem()).map_err(|e| Error::Pki(e.to_string()))?;
            fs::write(&sans_file, wanted_sans.join("\n")).map_err(|e| Error::Pki(e.to_string()))?;
        }

        let admin_crt = dir.join("admin.crt");
        let admin_key = dir.join("admin.key");
        if !admin_crt.exists() || !admin_key.exists() {
            let (cert, key) = issue_client_cert(&issuer, "ferrokube-admin", &["system:masters"])?;
            write_private(&admin_key, &key)?;
            fs::write(&admin_crt, cert).map_err(|e| Error::Pki(e.to_string()))?;
        }
        let kubelet_crt = dir.join("apiserver-kubelet-client.crt");
        let kubelet_key = dir.join("apiserver-kubelet-client.key");
        if !kubelet_crt.exists() || !kubelet_key.exists() {
            let (cert, key) = issue_client_cert(
                &issuer,
                "kube-apiserver-kubelet-client",
                &["system:masters"],
            )?;
            write_private(&kubelet_key, &key)?;
            fs::write(&kubelet_crt, cert).map_err(|e| Error::Pki(e.to_string()))?;
        }
        let token_path = dir.join("admin.token");
        if !token_path.exists() {
            let token: [u8; 24] = rand::random();
            write_private(
                &token_path,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token),
            )?;
        }
        Ok(Pki {
            ca_cert: ca_cert_pem,
            serving_cert: read(&serving_crt)?,
            serving_key: read(&serving_key)?,
            admin_cert: read(&admin_crt)?,
            admin_key: read(&admin_key)?,
            admin_token: read(&token_path)?.trim().to_string(),
            kubelet_client_cert: read(&kubelet_crt)?,
            kubelet_client_key: read(&kubelet_key)?,
        })
    }

    /// Writes an admin kubeconfig for `server` (e.g. `https://127.0.0.1:6443`) to `path`.
    pub fn write_kubeconfig(&self, path: &Path, server: &str) -> Result<PathBuf, Error> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let doc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: ferrokube\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: ferrokube\n  context:\n    cluster: ferrokube\n    user: ferrokube-admin\n    namespace: default\ncurrent-context: ferrokube\nusers:\n- name: ferrokube-admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\npreferences: {{}}\n",
            ca = b64(&self.ca_cert),
            cert = b64(&self.admin_cert),
            key = b64(&self.admin_key),
        );
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::Pki(e.to_string()))?;
        }
        write_private(path, &doc)?;
        Ok(path.to_path_buf())
    }
}

/// Issues a client certificate for `user` in `groups`, signed by the CA; returns (cert, key) PEM.
pub fn issue_client_cert(
    issuer: &Issuer<'_, KeyPair>,
    user: &str,
    groups: &[&str],
) -> Result<(String, String), Error> {
    let key = KeyPair::generate().map_err(pki_err)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, user);
    for g in groups {
        dn.push(DnType::OrganizationName, *g);
    }
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    ten_years(&mut params);
    let cert = params.signed_by(&key, issuer).map_err(pki_err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A TLS client verifier that accepts any server certificate (still checking the handshake
/// signatures): for kubelets, which serve self-signed certificates, and for the agent's first
/// `cluster-info` request, whose content is then checked with the join token's signature.
#[derive(Debug)]
pub(crate) struct AnyServerCert(pub(crate) Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
