//! The bootstrap token authenticator, as upstream's
//! `plugin/pkg/auth/authenticator/token/bootstrap`: a bearer token `<id>.<secret>` whose
//! `kube-system/bootstrap-token-<id>` Secret (type `bootstrap.kubernetes.io/token`, not being
//! deleted, not expired, `usage-bootstrap-authentication: "true"`) holds the same id and secret
//! authenticates as `system:bootstrap:<id>` in `system:bootstrappers` plus its
//! `auth-extra-groups`.

use std::collections::BTreeSet;

use serde_json::Value;
use tracing::debug;

use super::{
    BootstrapToken, DEFAULT_GROUP, SECRET_NAMESPACE, SECRET_TYPE, USER_PREFIX, has_expired, keys,
    secret_data,
};
use crate::Apiserver;
use crate::http::User;

impl Apiserver {
    /// The user a bootstrap token speaks for, or None when it is not a valid one.
    pub async fn authenticate_bootstrap_token(&self, token: &str) -> Option<User> {
        let token = BootstrapToken::parse(token)?;
        let r = self.objects.registry.lookup("", "v1", "secrets")?;
        let Some(secret) = self
            .objects
            .cache
            .get(r, SECRET_NAMESPACE, &token.secret_name())
        else {
            debug!(token_id = %token.id, "no secret matches the bootstrap token");
            return None;
        };
        match check(&secret.value(), &token, jiff::Timestamp::now()) {
            Ok(user) => Some(user),
            Err(why) => {
                debug!(
                    secret = %token.secret_name(),
                    "bootstrap secret matching bearer token {why}"
                );
                None
            }
        }
    }
}

/// Checks `token` against its Secret at `now`; the user it authenticates as, or why not.
pub fn check(secret: &Value, token: &BootstrapToken, now: jiff::Timestamp) -> Result<User, String> {
    if secret.pointer("/metadata/deletionTimestamp").is_some() {
        return Err("is deleted and awaiting removal".into());
    }
    if secret.get("type").and_then(Value::as_str) != Some(SECRET_TYPE) {
        return Err(format!("has invalid type, expected {SECRET_TYPE}"));
    }
    let stored = secret_data(secret, keys::TOKEN_SECRET);
    if !constant_time_eq(stored.as_bytes(), token.secret.as_bytes()) {
        return Err(format!("has invalid value for key {}", keys::TOKEN_SECRET));
    }
    if secret_data(secret, keys::TOKEN_ID) != token.id {
        return Err(format!("has invalid value for key {}", keys::TOKEN_ID));
    }
    if has_expired(secret, now) {
        return Err("has expired".into());
    }
    if secret_data(secret, keys::USAGE_AUTHENTICATION) != "true" {
        return Err(format!("not marked {}=true", keys::USAGE_AUTHENTICATION));
    }
    let mut groups = BTreeSet::from([DEFAULT_GROUP.to_string()]);
    let extra = secret_data(secret, keys::AUTH_EXTRA_GROUPS);
    for group in extra.split(',').filter(|_| !extra.is_empty()) {
        if !valid_group(group) {
            return Err(format!(
                "has invalid value for key {}: {group:?} does not match system:bootstrappers:[a-z0-9:-]*[a-z0-9]",
                keys::AUTH_EXTRA_GROUPS
            ));
        }
        groups.insert(group.to_string());
    }
    let mut groups: Vec<String> = groups.into_iter().collect();
    groups.push("system:authenticated".into());
    Ok(User {
        name: format!("{USER_PREFIX}{}", token.id),
        groups,
        ..Default::default()
    })
}

/// Whether two byte strings are equal, in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Upstream's `ValidateBootstrapGroupName`: `system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]`.
fn valid_group(group: &str) -> bool {
    let Some(rest) = group.strip_prefix("system:bootstrappers:") else {
        return false;
    };
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !rest.is_empty()
        && rest.len() <= 256
        && rest.bytes().all(|b| allowed(b) || b == b':' || b == b'-')
        && rest.bytes().last().is_some_and(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;

    fn secret(extra: &[(&str, &str)]) -> Value {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut data = serde_json::Map::new();
        for (k, v) in [
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("usage-bootstrap-authentication", "true"),
        ]
        .iter()
        .chain(extra)
        {
            data.insert(k.to_string(), json!(b64(v)));
        }
        json!({"type": SECRET_TYPE, "metadata": {"name": "bootstrap-token-abcdef"}, "data": data})
    }

    fn token(s: &str) -> BootstrapToken {
        BootstrapToken::parse(s).expect("token")
    }

    #[test]
    fn a_matching_token_is_a_bootstrapper_with_its_extra_groups() {
        let now = jiff::Timestamp::now();
        let s = secret(&[(
            "auth-extra-groups",
            "system:bootstrappers:ferrokube:default-node-token",
        )]);
        let user = check(&s, &token("abcdef.0123456789abcdef"), now).expect("user");
        assert_eq!(user.name, "system:bootstrap:abcdef");
        assert_eq!(
            user.groups,
            vec![
                "system:bootstrappers",
                "system:bootstrappers:ferrokube:default-node-token",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn wrong_secrets_expired_tokens_and_bad_groups_are_refused() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let t = token("abcdef.0123456789abcdef");
        assert!(check(&secret(&[]), &token("abcdef.0123456789abcdee"), now).is_err());
        assert!(check(&secret(&[("expiration", "2025-01-01T00:00:00Z")]), &t, now).is_err());
        assert!(check(&secret(&[("expiration", "2027-01-01T00:00:00Z")]), &t, now).is_ok());
        assert!(check(&secret(&[("auth-extra-groups", "system:masters")]), &t, now).is_err());
        let mut not_for_auth = secret(&[]);
        not_for_auth["data"]["usage-bootstrap-authentication"] = json!("ZmFsc2U=");
        assert!(check(&not_for_auth, &t, now).is_err());
        let mut opaque = secret(&[]);
        opaque["type"] = json!("Opaque");
        assert!(check(&opaque, &t, now).is_err());
    }
}
