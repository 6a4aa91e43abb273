//! CA public key pins, as kubeadm's `--discovery-token-ca-cert-hash`: `sha256:<hex>` of the
//! DER SubjectPublicKeyInfo of the cluster CA (what `openssl x509 -pubkey | openssl pkey
//! -pubin -outform der | sha256sum` prints). Pure functions.

use ring::digest;
use rustls_pki_types::{CertificateDer, pem::PemObject};

/// The pin of a DER SubjectPublicKeyInfo: `sha256:<lowercase hex>`.
pub fn hash_spki(spki_der: &[u8]) -> String {
    let sum = digest::digest(&digest::SHA256, spki_der);
    let hex: String = sum.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The pins of the certificates in a PEM bundle, in order.
pub fn ca_cert_hashes(pem: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for der in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let der = der.map_err(|e| format!("failed to parse CA certificate: {e}"))?;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| format!("failed to parse CA certificate: {e}"))?;
        out.push(hash_spki(cert.public_key().raw));
    }
    if out.is_empty() {
        return Err("no certificate in the CA data".into());
    }
    Ok(out)
}

/// Normalizes one `--discovery-token-ca-cert-hash` value to `sha256:<lowercase hex>`; a bare
/// 64-digit hex value is taken as sha256.
pub fn parse_pin(pin: &str) -> Result<String, String> {
    let value = match pin.split_once(':') {
        Some(("sha256", v)) => v,
        Some((kind, _)) => return Err(format!("unsupported hash type {kind:?} in {pin:?}")),
        None => pin,
    };
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{pin:?} is not a sha256 hash (expected sha256:<64 hex digits>)"
        ));
    }
    Ok(format!("sha256:{}", value.to_ascii_lowercase()))
}

/// Checks that some certificate of `ca_pem` has one of the (parsed) `pins`.
pub fn check_any(ca_pem: &str, pins: &[String]) -> Result<(), String> {
    let hashes = ca_cert_hashes(ca_pem)?;
    if hashes.iter().any(|h| pins.contains(h)) {
        return Ok(());
    }
    Err(format!(
        "none of the public keys {} are pinned",
        hashes
            .iter()
            .map(|h| format!("{h:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_is_the_sha256_of_the_subject_public_key_info() {
        // sha256 of the empty string, as a sanity check of the format.
        assert_eq!(
            hash_spki(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let hashes = ca_cert_hashes(&cert.pem()).expect("hashes");
        assert_eq!(
            hashes,
            vec![hash_spki(&rcgen::PublicKeyData::subject_public_key_info(
                &key
            ))]
        );
        assert!(check_any(&cert.pem(), &hashes).is_ok());
    }

    #[test]
    fn a_pin_of_another_key_is_refused() {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        let pem = params.self_signed(&key).expect("cert").pem();
        let other = parse_pin(&"ab".repeat(32)).expect("pin");
        let err = check_any(&pem, &[other]).expect_err("refused");
        assert!(err.contains("are pinned"), "{err}");
    }

    #[test]
    fn pins_are_sha256_hex() {
        let hex = "AB".repeat(32);
        assert_eq!(
            parse_pin(&format!("sha256:{hex}")),
            Ok(format!("sha256:{}", "ab".repeat(32)))
        );
        assert_eq!(parse_pin(&hex), Ok(format!("sha256:{}", "ab".repeat(32))));
        assert!(parse_pin("sha1:abcd").is_err());
        assert!(parse_pin("sha256:abcd").is_err());
    }
}
