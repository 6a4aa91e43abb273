//! Bootstrap tokens, as upstream's `cluster-bootstrap`: the join token `<id>.<secret>` a new
//! machine presents, stored as a `bootstrap.kubernetes.io/token` Secret in `kube-system`.
//! The server makes one on first start and writes it to `<data-dir>/node-token`
//! ([`node_token`]); it keeps the `kube-public/cluster-info` ConfigMap signed with every
//! signing token ([`cluster_info`], detached JWS from [`jws`]); the API server authenticates
//! the tokens ([`authenticate`]); and `ferrokube agent` finds and trusts the cluster with one
//! ([`discovery`], pinning the CA with [`pubkeypin`]).

pub mod authenticate;
pub mod cluster_info;
pub mod discovery;
pub mod jws;
pub mod node_token;
pub mod pubkeypin;

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use serde_json::Value;
use tracing::info;

use crate::{Apiserver, Error};

/// The Secret type of bootstrap tokens.
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The name prefix of bootstrap token Secrets (`bootstrap-token-<id>`).
pub const SECRET_PREFIX: &str = "bootstrap-token-";
/// The namespace bootstrap token Secrets live in.
pub const SECRET_NAMESPACE: &str = "kube-system";
/// The group every bootstrap token user is in.
pub const DEFAULT_GROUP: &str = "system:bootstrappers";
/// The extra group of the token `ferrokube server` makes for its agents.
pub const NODE_GROUP: &str = "system:bootstrappers:ferrokube:default-node-token";
/// The user name prefix of bootstrap token users (`system:bootstrap:<id>`).
pub const USER_PREFIX: &str = "system:bootstrap:";
/// The file under the data directory that holds the agents' join token.
pub const NODE_TOKEN_FILE: &str = "node-token";

/// Secret data keys, as upstream's `token/api/types.go`.
pub mod keys {
    /// The public token id.
    pub const TOKEN_ID: &str = "token-id";
    /// The private token secret.
    pub const TOKEN_SECRET: &str = "token-secret";
    /// An RFC 3339 time after which the token is no longer valid.
    pub const EXPIRATION: &str = "expiration";
    /// `"true"` when the token may authenticate to the API server.
    pub const USAGE_AUTHENTICATION: &str = "usage-bootstrap-authentication";
    /// `"true"` when the token signs the cluster-info ConfigMap.
    pub const USAGE_SIGNING: &str = "usage-bootstrap-signing";
    /// Comma-separated groups (each `system:bootstrappers:...`) the token user is also in.
    pub const AUTH_EXTRA_GROUPS: &str = "auth-extra-groups";
    /// A human-readable note.
    pub const DESCRIPTION: &str = "description";
}

/// A bootstrap token: the public id (6 characters of `[a-z0-9]`) and the secret (16).
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    /// The public part, which names the Secret and the cluster-info signature.
    pub id: String,
    /// The private part.
    pub secret: String,
}

impl std::fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BootstrapToken({}.<redacted>)", self.id)
    }
}

impl std::fmt::Display for BootstrapToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.id, self.secret)
    }
}

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn is_token_part(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))
}

impl BootstrapToken {
    /// Parses `<id>.<secret>`; None when the string is not a bootstrap token.
    pub fn parse(s: &str) -> Option<Self> {
        let (id, secret) = s.split_once('.')?;
        (is_token_part(id, 6) && is_token_part(secret, 16)).then(|| BootstrapToken {
            id: id.into(),
            secret: secret.into(),
        })
    }

    /// A new random token.
    pub fn generate() -> Self {
        let part = |n: usize| -> String {
            (0..n)
                .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
                .collect()
        };
        BootstrapToken {
            id: part(6),
            secret: part(16),
        }
    }

    /// The name of the Secret that holds this token.
    pub fn secret_name(&self) -> String {
        format!("{SECRET_PREFIX}{}", self.id)
    }
}

/// A decoded value of a Secret's `data` (empty when missing or not base64), as upstream's
/// `GetData`.
pub fn secret_data(secret: &Value, key: &str) -> String {
    secret
        .get("data")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

/// Whether a bootstrap token Secret has expired at `now` (an unparseable expiration counts as
/// expired, as upstream).
pub fn has_expired(secret: &Value, now: jiff::Timestamp) -> bool {
    let expiration = secret_data(secret, keys::EXPIRATION);
    if expiration.is_empty() {
        return false;
    }
    match expiration.parse::<jiff::Timestamp>() {
        Ok(t) => t <= now,
        Err(_) => true,
    }
}

/// Sets a starting server up for agents to join: the join token in `<data_dir>/node-token`
/// and its Secret, a signed cluster-info, and the signer that keeps it signed. Logs the
/// command that joins a machine.
pub async fn start(state: &Arc<Apiserver>, data_dir: &Path) -> Result<(), Error> {
    let (_, path) = node_token::ensure(state, data_dir).await?;
    cluster_info::sync(state).await;
    cluster_info::spawn_signer(state);
    let pin = pubkeypin::ca_cert_hashes(&state.ca_cert)
        .ok()
        .and_then(|h| h.into_iter().next())
        .unwrap_or_default();
    info!(
        path = %path.display(),
        "node join token written to {}; join a machine with: ferrokube agent --server https://{} --token $(cat {}) --discovery-token-ca-cert-hash {pin}",
        path.display(),
        state.server_address,
        path.display(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_a_six_character_id_and_a_sixteen_character_secret() {
        let t = BootstrapToken::parse("abcdef.0123456789abcdef").expect("valid");
        assert_eq!(t.id, "abcdef");
        assert_eq!(t.secret_name(), "bootstrap-token-abcdef");
        assert!(BootstrapToken::parse("abcdef.0123456789abcde").is_none());
        assert!(BootstrapToken::parse("ABCDEF.0123456789abcdef").is_none());
        assert!(BootstrapToken::parse("eyJhbGciOi.x.y").is_none());
        let g = BootstrapToken::generate();
        assert_eq!(BootstrapToken::parse(&g.to_string()), Some(g));
    }

    #[test]
    fn an_expiration_in_the_past_or_unreadable_means_expired() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let with = |exp: &str| serde_json::json!({"data": {"expiration": b64(exp)}});
        assert!(has_expired(&with("2025-12-31T23:59:59Z"), now));
        assert!(!has_expired(&with("2026-01-01T00:00:01Z"), now));
        assert!(has_expired(&with("tomorrow"), now));
        assert!(!has_expired(&serde_json::json!({"data": {}}), now));
    }
}
