//! The service account signing key: ECDSA P-256 (JWS `ES256`), kept as a PKCS#8 PEM under the
//! data directory (or given with `--service-account-signing-key-file`) so tokens stay valid
//! across restarts. Its key id is upstream's: base64url of the SHA-256 of the public key's
//! DER `SubjectPublicKeyInfo`.

use std::fs;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{KeyPair, PublicKeyData};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use serde_json::{Value, json};

use crate::Error;

/// The key tokens are signed and verified with.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

fn key_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Pki(format!("service account key {}: {e}", path.display()))
}

impl SigningKey {
    /// Loads the PEM key at `path`, creating a new P-256 key there when the file is missing.
    pub fn load_or_create(path: &Path) -> Result<Self, Error> {
        if !path.exists() {
            let key = KeyPair::generate().map_err(|e| key_err(path, e))?;
            crate::pki::write_private(path, &key.serialize_pem())?;
        }
        let pem = fs::read_to_string(path).map_err(|e| key_err(path, e))?;
        let key = KeyPair::from_pem(&pem).map_err(|e| key_err(path, e))?;
        Self::from_pkcs8(&key.serialize_der(), &key.subject_public_key_info())
            .map_err(|e| key_err(path, e))
    }

    /// A key from its PKCS#8 DER and the DER `SubjectPublicKeyInfo` of its public half.
    fn from_pkcs8(pkcs8: &[u8], spki: &[u8]) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| format!("not an ECDSA P-256 PKCS#8 key: {e}"))?;
        let kid = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, spki));
        Ok(SigningKey { pair, rng, kid })
    }

    /// The key id written in each token's header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` into a compact JWS (`header.payload.signature`).
    pub fn sign(&self, claims: &Value) -> Result<String, Error> {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| Error::Pki("signing a service account token failed".into()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ))
    }

    /// Checks a compact JWS's header and signature; returns its payload. None when the token
    /// is not ours (another algorithm, another key, a bad signature or not a JWS at all).
    pub fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (header, payload, sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let h: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if h.get("alg").and_then(Value::as_str) != Some("ES256") {
            return None;
        }
        if h.get("kid")
            .and_then(Value::as_str)
            .is_some_and(|k| k != self.kid)
        {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key());
        public
            .verify(format!("{header}.{payload}").as_bytes(), &sig)
            .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    /// The JSON Web Key Set served at `/openid/v1/jwks`.
    pub fn jwks(&self) -> Value {
        // An uncompressed P-256 point: 0x04 || X (32 bytes) || Y (32 bytes).
        let point = self.pair.public_key().as_ref();
        json!({"keys": [{
            "use": "sig",
            "kty": "EC",
            "kid": self.kid,
            "crv": "P-256",
            "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]})
    }
}

/// The OpenID provider configuration served at `/.well-known/openid-configuration`.
pub fn openid_configuration(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/openid/v1/jwks", issuer.trim_end_matches('/')),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        let k = KeyPair::generate().unwrap();
        SigningKey::from_pkcs8(&k.serialize_der(), &k.subject_public_key_info()).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_and_returns_its_claims() {
        let k = key();
        let token = k.sign(&json!({"sub": "x"})).unwrap();
        assert_eq!(k.verify(&token), Some(json!({"sub": "x"})));
    }

    #[test]
    fn a_token_signed_by_another_key_or_altered_does_not_verify() {
        let (a, b) = (key(), key());
        let token = a.sign(&json!({"sub": "x"})).unwrap();
        assert_eq!(b.verify(&token), None);
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "admin"}).to_string());
        parts[1] = &forged;
        assert_eq!(a.verify(&parts.join(".")), None);
        assert_eq!(a.verify("not-a-jwt"), None);
    }

    #[test]
    fn the_jwks_publishes_the_key_id_and_both_coordinates() {
        let k = key();
        let jwks = k.jwks();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kid"], k.kid());
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["y"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
    }
}
