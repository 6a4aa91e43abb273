//! The claims of a service account token, as upstream's `pkg/serviceaccount/claims.go`:
//! `iss`, `sub` (`system:serviceaccount:<ns>:<name>`), `aud`, `iat`, `nbf`, `exp`, `jti`, and
//! the private `kubernetes.io` claim naming the namespace, the service account and the object
//! the token is bound to. Building them and checking them are pure functions of the clock.

use serde_json::{Map, Value, json};

use super::TokenSettings;

/// How far a token's clock may be off: upstream's `jwt.DefaultLeeway`.
pub const LEEWAY_SECONDS: i64 = 60;

/// An object by name and UID (the service account, or what a token is bound to).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectRef {
    /// Its name.
    pub name: String,
    /// Its UID.
    pub uid: String,
}

/// What a token is issued for.
#[derive(Clone, Debug, Default)]
pub struct Grant {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: ObjectRef,
    /// The audiences (`aud`).
    pub audiences: Vec<String>,
    /// Seconds from issue to expiry.
    pub expiration_seconds: i64,
    /// The pod it is bound to.
    pub pod: Option<ObjectRef>,
    /// The secret it is bound to.
    pub secret: Option<ObjectRef>,
    /// The node it is bound to (or the node of the bound pod).
    pub node: Option<ObjectRef>,
}

/// A token's checked claims: who it speaks for and what it is bound to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: ObjectRef,
    /// The pod it is bound to.
    pub pod: Option<ObjectRef>,
    /// The secret it is bound to.
    pub secret: Option<ObjectRef>,
    /// The node it is bound to.
    pub node: Option<ObjectRef>,
    /// The token's id (`jti`).
    pub jti: Option<String>,
}

fn object(r: &ObjectRef) -> Value {
    json!({"name": r.name, "uid": r.uid})
}

/// The claims of a token for `grant`, issued at `now` (Unix seconds) with id `jti`.
pub fn issue(settings: &TokenSettings, grant: &Grant, now: i64, jti: &str) -> Value {
    let mut k8s = Map::new();
    k8s.insert("namespace".into(), json!(grant.namespace));
    k8s.insert("serviceaccount".into(), object(&grant.service_account));
    for (field, r) in [
        ("pod", &grant.pod),
        ("secret", &grant.secret),
        ("node", &grant.node),
    ] {
        if let Some(r) = r {
            k8s.insert(field.into(), object(r));
        }
    }
    json!({
        "aud": grant.audiences,
        "exp": now + grant.expiration_seconds,
        "iat": now,
        "iss": settings.issuer,
        "jti": jti,
        "kubernetes.io": k8s,
        "nbf": now,
        "sub": format!("system:serviceaccount:{}:{}", grant.namespace, grant.service_account.name),
    })
}

fn object_ref(v: Option<&Value>) -> Option<ObjectRef> {
    let v = v?;
    Some(ObjectRef {
        name: v.get("name")?.as_str()?.to_string(),
        uid: v
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

/// Checks issuer, audience, validity window and subject of `claims` at `now`; the error says
/// why the token is refused (logged, never sent to the client, as upstream).
pub fn check(settings: &TokenSettings, claims: &Value, now: i64) -> Result<Verified, String> {
    if claims.get("iss").and_then(Value::as_str) != Some(settings.issuer.as_str()) {
        return Err("token issuer is not this API server's".into());
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences
        .iter()
        .any(|a| settings.audiences.iter().any(|ours| ours == a))
    {
        return Err("token audiences are not accepted by this API server".into());
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("token has no expiry")?;
    if now - LEEWAY_SECONDS > exp {
        return Err("service account token has expired".into());
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
        && now + LEEWAY_SECONDS < nbf
    {
        return Err("service account token is not valid yet".into());
    }
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let mut parts = sub
        .strip_prefix("system:serviceaccount:")
        .unwrap_or("")
        .split(':');
    let (namespace, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(ns), Some(name), None) if !ns.is_empty() && !name.is_empty() => (ns, name),
        _ => return Err(format!("token subject {sub:?} is not a service account")),
    };
    let k8s = claims.get("kubernetes.io");
    let sa = object_ref(k8s.and_then(|k| k.get("serviceaccount")));
    if k8s.and_then(|k| k.get("namespace")).and_then(Value::as_str) != Some(namespace)
        || sa.as_ref().is_none_or(|s| s.name != name)
    {
        return Err("token's kubernetes.io claim does not match its subject".into());
    }
    Ok(Verified {
        namespace: namespace.to_string(),
        service_account: sa.unwrap_or_default(),
        pod: object_ref(k8s.and_then(|k| k.get("pod"))),
        secret: object_ref(k8s.and_then(|k| k.get("secret"))),
        node: object_ref(k8s.and_then(|k| k.get("node"))),
        jti: claims.get("jti").and_then(Value::as_str).map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            namespace: "team".into(),
            service_account: ObjectRef {
                name: "builder".into(),
                uid: "sa-uid".into(),
            },
            audiences: vec![super::super::DEFAULT_ISSUER.into()],
            expiration_seconds: 3600,
            pod: Some(ObjectRef {
                name: "p".into(),
                uid: "pod-uid".into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn issued_claims_check_out_and_name_the_service_account_and_pod() {
        let s = TokenSettings::default();
        let claims = issue(&s, &grant(), 1_000, "id-1");
        assert_eq!(claims["sub"], "system:serviceaccount:team:builder");
        let v = check(&s, &claims, 1_100).unwrap();
        assert_eq!(v.namespace, "team");
        assert_eq!(v.service_account.uid, "sa-uid");
        assert_eq!(v.pod.unwrap().uid, "pod-uid");
        assert_eq!(v.jti.as_deref(), Some("id-1"));
    }

    #[test]
    fn a_token_past_its_expiry_plus_leeway_is_refused() {
        let s = TokenSettings::default();
        let claims = issue(&s, &grant(), 1_000, "id");
        assert!(check(&s, &claims, 1_000 + 3600 + LEEWAY_SECONDS).is_ok());
        let err = check(&s, &claims, 1_000 + 3600 + LEEWAY_SECONDS + 1).unwrap_err();
        assert!(err.contains("expired"), "{err}");
    }

    #[test]
    fn a_token_for_another_audience_or_issuer_is_refused() {
        let s = TokenSettings::default();
        let mut g = grant();
        g.audiences = vec!["vault".into()];
        assert!(check(&s, &issue(&s, &g, 1_000, "id"), 1_000).is_err());
        let other = TokenSettings {
            issuer: "https://elsewhere".into(),
            ..Default::default()
        };
        assert!(check(&s, &issue(&other, &grant(), 1_000, "id"), 1_000).is_err());
    }

    #[test]
    fn a_subject_that_disagrees_with_the_private_claim_is_refused() {
        let s = TokenSettings::default();
        let mut claims = issue(&s, &grant(), 1_000, "id");
        claims["sub"] = json!("system:serviceaccount:kube-system:admin");
        assert!(check(&s, &claims, 1_000).is_err());
    }
}
