//! The `kube-public/cluster-info` ConfigMap, as kubeadm's clusterinfo phase and upstream's
//! bootstrapsigner controller keep it: a `kubeconfig` key naming the server and its CA (no
//! credentials), and a `jws-kubeconfig-<id>` detached signature of it for every valid signing
//! token. Anonymous users may `GET` it (upstream grants this to `system:anonymous` by RBAC);
//! nothing else is open to them.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use base64::Engine;
use http::Method;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tracing::{Instrument, debug, info_span, warn};

use super::{
    BootstrapToken, SECRET_NAMESPACE, SECRET_PREFIX, SECRET_TYPE, has_expired, jws, keys,
    secret_data,
};
use crate::Apiserver;
use crate::http::User;
use crate::objects::WriteOptions;

/// The ConfigMap's name.
pub const NAME: &str = "cluster-info";
/// The ConfigMap's namespace.
pub const NAMESPACE: &str = "kube-public";
/// The key of the kubeconfig document.
pub const KUBECONFIG_KEY: &str = "kubeconfig";
/// The prefix of the signature keys (`jws-kubeconfig-<token id>`).
pub const JWS_KEY_PREFIX: &str = "jws-kubeconfig-";
/// The request path anonymous users may `GET`.
pub const PATH: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";

/// How often signatures are re-checked when nothing changes (tokens expire on their own).
const RESYNC: Duration = Duration::from_secs(60);

/// Whether an unauthenticated request may go on as `system:anonymous`: only a plain `GET`
/// of the cluster-info ConfigMap (no watch).
pub fn anonymous_may(method: &Method, path: &str, query: Option<&str>) -> bool {
    *method == Method::GET
        && path == PATH
        && !query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("watch")))
}

/// The anonymous user, as upstream names it.
pub fn anonymous_user() -> User {
    User {
        name: "system:anonymous".into(),
        groups: vec!["system:unauthenticated".into()],
        ..Default::default()
    }
}

/// The kubeconfig document published in cluster-info: the cluster's server and CA only.
pub fn kubeconfig(server: &str, ca_pem: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {{}}\nusers: null\n"
    )
}

/// The token a Secret holds when it may sign cluster-info at `now`: a bootstrap token Secret
/// named after its id, marked `usage-bootstrap-signing: "true"`, not expired, not deleted.
pub fn signing_token(secret: &Value, now: jiff::Timestamp) -> Option<BootstrapToken> {
    if secret.get("type").and_then(Value::as_str) != Some(SECRET_TYPE)
        || secret.pointer("/metadata/deletionTimestamp").is_some()
        || secret_data(secret, keys::USAGE_SIGNING) != "true"
        || has_expired(secret, now)
    {
        return None;
    }
    let name = secret.pointer("/metadata/name").and_then(Value::as_str)?;
    let token = BootstrapToken::parse(&format!(
        "{}.{}",
        secret_data(secret, keys::TOKEN_ID),
        secret_data(secret, keys::TOKEN_SECRET)
    ))?;
    (name.strip_prefix(SECRET_PREFIX) == Some(token.id.as_str())).then_some(token)
}

/// The ConfigMap data wanted: `current`'s keys other than signatures, `kubeconfig`, and one
/// signature per signing token.
pub fn desired_data(
    current: &BTreeMap<String, String>,
    kubeconfig: &str,
    tokens: &[BootstrapToken],
) -> BTreeMap<String, String> {
    let mut data: BTreeMap<String, String> = current
        .iter()
        .filter(|(k, _)| !k.starts_with(JWS_KEY_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    data.insert(KUBECONFIG_KEY.into(), kubeconfig.into());
    for t in tokens {
        data.insert(
            format!("{JWS_KEY_PREFIX}{}", t.id),
            jws::detached_signature(kubeconfig, &t.id, &t.secret),
        );
    }
    data
}

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: "bootstrap-signer".into(),
        ..Default::default()
    }
}

/// Creates or updates cluster-info so that it names this server and is signed by exactly the
/// current signing tokens. Failures are logged (the next change or resync retries).
pub async fn sync(state: &Apiserver) {
    let (Some(cms), Some(secrets)) = (
        state.objects.registry.lookup("", "v1", "configmaps"),
        state.objects.registry.lookup("", "v1", "secrets"),
    ) else {
        return;
    };
    if let Err(e) = state.objects.sync_cache().await {
        warn!(error = %e, "cluster-info not signed");
        return;
    }
    let now = jiff::Timestamp::now();
    let (items, _) = state.objects.cache.list(secrets, Some(SECRET_NAMESPACE));
    let tokens: Vec<BootstrapToken> = items
        .iter()
        .filter_map(|s| signing_token(&s.value(), now))
        .collect();
    let kubeconfig = kubeconfig(&format!("https://{}", state.server_address), &state.ca_cert);
    let current = state.objects.current(cms, NAMESPACE, NAME).await.ok();
    let current_data: BTreeMap<String, String> = current
        .as_ref()
        .and_then(|(cm, _)| cm.get("data"))
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default();
    let data = desired_data(&current_data, &kubeconfig, &tokens);
    let result = match current {
        Some(_) if data == current_data => return,
        Some((old, rv)) => {
            let mut cm = old.clone();
            cm["data"] = json!(data);
            state
                .objects
                .update(cms, NAMESPACE, NAME, cm, &old, rv, &opts())
                .await
                .map(|_| ())
        }
        None => {
            let cm = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": NAME, "namespace": NAMESPACE},
                "data": data,
            });
            state
                .objects
                .create(cms, NAMESPACE, cm, &opts())
                .await
                .map(|_| ())
        }
    };
    match result {
        Ok(()) => debug!(tokens = tokens.len(), "cluster-info signed"),
        Err(e) => warn!(error = %e, "cluster-info not updated"),
    }
}

/// Keeps cluster-info signed while the API server runs: after every change of a Secret in
/// `kube-system` or of a ConfigMap in `kube-public`, and every minute. Stops once the API
/// server is gone.
pub fn spawn_signer(state: &Arc<Apiserver>) {
    let weak: Weak<Apiserver> = Arc::downgrade(state);
    let (Some(secrets), Some(cms)) = (
        state.objects.registry.lookup("", "v1", "secrets"),
        state.objects.registry.lookup("", "v1", "configmaps"),
    ) else {
        return;
    };
    let (Ok(secret_sub), Ok(cm_sub)) = (
        state.objects.cache.subscribe(secrets, None, false),
        state.objects.cache.subscribe(cms, None, false),
    ) else {
        return;
    };
    let (mut secret_changes, mut cm_changes) = (secret_sub.live, cm_sub.live);
    tokio::spawn(
        async move {
            let mut tick = tokio::time::interval(RESYNC);
            tick.tick().await;
            loop {
                // A lagged channel counts as a change (sync is idempotent); a closed one ends
                // the signer (the cache is gone).
                let relevant = tokio::select! {
                    c = secret_changes.recv() => match c {
                        Ok(c) => Some(c.object.namespace == SECRET_NAMESPACE),
                        Err(RecvError::Lagged(_)) => Some(true),
                        Err(RecvError::Closed) => None,
                    },
                    c = cm_changes.recv() => match c {
                        Ok(c) => Some(c.object.namespace == NAMESPACE && c.object.name == NAME),
                        Err(RecvError::Lagged(_)) => Some(true),
                        Err(RecvError::Closed) => None,
                    },
                    _ = tick.tick() => Some(true),
                };
                let (Some(relevant), Some(state)) = (relevant, weak.upgrade()) else {
                    break;
                };
                if relevant {
                    sync(&state).await;
                }
            }
        }
        .instrument(info_span!("bootstrap_signer")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_get_of_cluster_info_is_open_to_anonymous_users() {
        assert!(anonymous_may(&Method::GET, PATH, None));
        assert!(anonymous_may(&Method::GET, PATH, Some("resourceVersion=0")));
        assert!(!anonymous_may(&Method::GET, PATH, Some("watch=true")));
        assert!(!anonymous_may(&Method::PUT, PATH, None));
        assert!(!anonymous_may(
            &Method::GET,
            "/api/v1/namespaces/kube-public/configmaps",
            None
        ));
        assert!(!anonymous_may(
            &Method::GET,
            "/api/v1/namespaces/kube-system/configmaps/cluster-info",
            None
        ));
    }

    #[test]
    fn signatures_follow_the_signing_tokens() {
        let kc = kubeconfig("https://10.0.0.1:6443", "CA");
        let a = BootstrapToken::parse("aaaaaa.0123456789abcdef").expect("token");
        let mut current = BTreeMap::new();
        current.insert("jws-kubeconfig-gone00".to_string(), "stale".to_string());
        current.insert("other".to_string(), "kept".to_string());
        let data = desired_data(&current, &kc, std::slice::from_ref(&a));
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            vec!["jws-kubeconfig-aaaaaa", "kubeconfig", "other"]
        );
        assert!(jws::is_valid(
            &data["jws-kubeconfig-aaaaaa"],
            &kc,
            &a.id,
            &a.secret
        ));
    }
}
