//! Who is asking: the user of a client certificate verified against the client CA (CN the
//! user, O the groups), else the user a bearer token stands for, asked of the API server with
//! a TokenReview (refused when the API server does not serve TokenReviews). Anonymous requests
//! are refused with 401, as upstream's kubelet with `--anonymous-auth=false`. Every
//! authenticated user is allowed (no SubjectAccessReview yet).

use http::{HeaderMap, header};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::Api;
use kube::api::PostParams;
use rustls_pki_types::CertificateDer;
use tracing::debug;

/// An authenticated caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The groups.
    pub groups: Vec<String>,
}

/// The user a verified client certificate names.
pub fn user_from_cert(der: &CertificateDer<'_>) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(String::from))
        .collect();
    Some(User { name, groups })
}

/// The bearer token of a request, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}

/// Authenticates a request: its client certificate's user, else its bearer token's; None
/// means 401.
pub async fn authenticate(
    client: &kube::Client,
    cert_user: Option<User>,
    headers: &HeaderMap,
) -> Option<User> {
    if cert_user.is_some() {
        return cert_user;
    }
    let token = bearer_token(headers)?;
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_string()),
            audiences: None,
        },
        ..Default::default()
    };
    let api: Api<TokenReview> = Api::all(client.clone());
    match api.create(&PostParams::default(), &review).await {
        Ok(r) => {
            let status = r.status?;
            if status.authenticated != Some(true) {
                return None;
            }
            let user = status.user?;
            Some(User {
                name: user.username.unwrap_or_default(),
                groups: user.groups.unwrap_or_default(),
            })
        }
        Err(e) => {
            debug!(error = %e, "TokenReview failed; refusing the token");
            None
        }
    }
}
