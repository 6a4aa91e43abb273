//! The review resources, which are answered and never stored: `tokenreviews` (another
//! component asks who a bearer token belongs to), `selfsubjectreviews` (`kubectl auth
//! whoami`), and `selfsubjectaccessreviews` / `subjectaccessreviews` (`kubectl auth can-i`),
//! answered by the authorizer in force: every authenticated user may do everything, as
//! upstream's `AlwaysAllow` mode.

use http::Response;
use serde_json::{Value, json};

use crate::Apiserver;
use crate::http::{Body, User, json_response};
use crate::status::ApiError;

/// The review resources this module answers, by API group and plural.
pub fn is_review(group: &str, resource: &str) -> bool {
    matches!(
        (group, resource),
        (
            "authentication.k8s.io",
            "tokenreviews" | "selfsubjectreviews"
        ) | (
            "authorization.k8s.io",
            "selfsubjectaccessreviews" | "subjectaccessreviews"
        )
    )
}

fn user_info(u: &User) -> Value {
    let mut info = json!({"username": u.name, "groups": u.groups});
    if !u.uid.is_empty() {
        info["uid"] = json!(u.uid);
    }
    if !u.extra.is_empty() {
        info["extra"] = json!(u.extra);
    }
    info
}

impl Apiserver {
    /// Answers a review `POST` on `group`/`resource` made by `user`.
    pub async fn review(
        &self,
        group: &str,
        resource: &str,
        user: &User,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let kind = match resource {
            "tokenreviews" => "TokenReview",
            "selfsubjectreviews" => "SelfSubjectReview",
            "selfsubjectaccessreviews" => "SelfSubjectAccessReview",
            _ => "SubjectAccessReview",
        };
        let req = crate::serviceaccount::decode_body(body, kind)?;
        let spec = req.get("spec").cloned().unwrap_or_else(|| json!({}));
        let status = match resource {
            "tokenreviews" => {
                let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
                match self.authenticate_bearer(token).await {
                    Some(u) => {
                        let audiences = spec
                            .get("audiences")
                            .cloned()
                            .unwrap_or_else(|| json!(self.tokens.settings.audiences));
                        json!({"authenticated": true, "user": user_info(&u), "audiences": audiences})
                    }
                    None => json!({"user": {}, "error": "invalid bearer token"}),
                }
            }
            "selfsubjectreviews" => json!({"userInfo": user_info(user)}),
            _ => json!({"allowed": true}),
        };
        let mut out = json!({
            "kind": kind,
            "apiVersion": format!("{group}/v1"),
            "metadata": {"creationTimestamp": null},
            "status": status,
        });
        if resource != "selfsubjectreviews" {
            out["spec"] = spec;
        }
        Ok(json_response(
            201,
            serde_json::to_vec(&out).unwrap_or_default(),
        ))
    }

    /// The user a bearer token authenticates as: the admin token, a bootstrap token or a
    /// service account token.
    pub async fn authenticate_bearer(&self, token: &str) -> Option<User> {
        if token.is_empty() {
            return None;
        }
        if token == self.admin_token {
            return Some(User {
                name: "ferrokube-admin".into(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
                ..Default::default()
            });
        }
        if let Some(user) = self.authenticate_bootstrap_token(token).await {
            return Some(user);
        }
        self.authenticate_service_account(token).await
    }
}
