//! The service account token authenticator, as upstream's `pkg/serviceaccount/jwt.go` and
//! `legacy.go`'s validator for bound tokens: a bearer token signed by our key, for our issuer
//! and audiences, not expired, whose service account (and bound pod or secret) still exists
//! with the UID the token names, authenticates as `system:serviceaccount:<ns>:<name>` in the
//! groups `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`.

use std::collections::BTreeMap;

use serde_json::Value;
use tracing::debug;

use super::claims::{self, ObjectRef, Verified};
use crate::Apiserver;
use crate::http::User;
use crate::objects::meta_str;

/// How long after its deletion a pod's tokens stay valid (upstream's grace for bound pods).
const DELETED_POD_GRACE_SECONDS: i64 = 60;

impl Apiserver {
    /// The user a service account token speaks for, or None when it is not a valid one.
    pub async fn authenticate_service_account(&self, token: &str) -> Option<User> {
        let claims = self.tokens.key.verify(token)?;
        let verified = match claims::check(&self.tokens.settings, &claims, super::unix_now()) {
            Ok(v) => v,
            Err(why) => {
                debug!(%why, "service account token refused");
                return None;
            }
        };
        if let Err(why) = self.check_bound_objects(&verified).await {
            debug!(%why, "service account token refused");
            return None;
        }
        Some(user_of(&verified))
    }

    /// The live object, read from the watch cache (falling back to a synced read).
    async fn live(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let r = self.objects.registry.lookup("", "v1", resource)?;
        if let Some(o) = self.objects.cache.get(r, namespace, name) {
            return Some(o.value());
        }
        self.objects
            .current(r, namespace, name)
            .await
            .ok()
            .map(|(v, _)| v)
    }

    async fn check_bound_objects(&self, v: &Verified) -> Result<(), String> {
        let expect = |obj: Option<Value>, what: &str, r: &ObjectRef| -> Result<Value, String> {
            let obj = obj.ok_or_else(|| format!("{what} {:?} has been deleted", r.name))?;
            if !r.uid.is_empty() && meta_str(&obj, "uid") != r.uid {
                return Err(format!(
                    "{what} UID ({}) does not match claim ({})",
                    meta_str(&obj, "uid"),
                    r.uid
                ));
            }
            Ok(obj)
        };
        let sa = self
            .live("serviceaccounts", &v.namespace, &v.service_account.name)
            .await;
        expect(sa, "service account", &v.service_account)?;
        if let Some(p) = &v.pod {
            let pod = expect(self.live("pods", &v.namespace, &p.name).await, "pod", p)?;
            if let Some(deleted) = pod
                .pointer("/metadata/deletionTimestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                && super::unix_now() > deleted.as_second() + DELETED_POD_GRACE_SECONDS
            {
                return Err(format!("pod {:?} is being deleted", p.name));
            }
        }
        if let Some(s) = &v.secret {
            expect(
                self.live("secrets", &v.namespace, &s.name).await,
                "secret",
                s,
            )?;
        }
        Ok(())
    }
}

/// The user a verified token authenticates as, with upstream's groups and extra fields.
pub fn user_of(v: &Verified) -> User {
    let mut extra = BTreeMap::new();
    if let Some(p) = &v.pod {
        extra.insert(
            "authentication.kubernetes.io/pod-name".into(),
            vec![p.name.clone()],
        );
        extra.insert(
            "authentication.kubernetes.io/pod-uid".into(),
            vec![p.uid.clone()],
        );
    }
    if let Some(n) = &v.node {
        extra.insert(
            "authentication.kubernetes.io/node-name".into(),
            vec![n.name.clone()],
        );
        if !n.uid.is_empty() {
            extra.insert(
                "authentication.kubernetes.io/node-uid".into(),
                vec![n.uid.clone()],
            );
        }
    }
    if let Some(jti) = &v.jti {
        extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!("JTI={jti}")],
        );
    }
    User {
        name: format!(
            "system:serviceaccount:{}:{}",
            v.namespace, v.service_account.name
        ),
        uid: v.service_account.uid.clone(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{}", v.namespace),
            "system:authenticated".into(),
        ],
        extra,
    }
}
