//! ServiceAccount tokens, as upstream's `pkg/serviceaccount`: a signing key made on first
//! start ([`key`]), the JWT claims and their checks ([`claims`]), the `serviceaccounts/token`
//! subresource that issues them ([`token_request`]), and the bearer-token authenticator that
//! turns a valid token back into a user ([`authenticate`]). The issuer's discovery documents
//! (`/.well-known/openid-configuration`, `/openid/v1/jwks`) come from [`key`] too.

pub mod authenticate;
pub mod claims;
pub mod key;
pub mod token_request;

pub use key::SigningKey;

/// The issuer (`iss`) unless `--service-account-issuer` says otherwise, as kubeadm and k3s set it.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// How token issuing and checking is configured.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// `--service-account-issuer`.
    pub issuer: String,
    /// `--api-audiences`: a token must be meant for one of these (defaults to the issuer).
    pub audiences: Vec<String>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            issuer: DEFAULT_ISSUER.into(),
            audiences: vec![DEFAULT_ISSUER.into()],
        }
    }
}

/// The signing key and settings the API server issues and checks tokens with.
#[derive(Debug)]
pub struct Tokens {
    /// The signing key.
    pub key: SigningKey,
    /// Issuer and audiences.
    pub settings: TokenSettings,
}

/// Decodes a request body that is JSON or Kubernetes protobuf (typed clients send either).
pub(crate) fn decode_body(
    body: &[u8],
    kind: &str,
) -> Result<serde_json::Value, crate::status::ApiError> {
    let decoded = if body.starts_with(ferrokube_apimachinery::protobuf::MAGIC) {
        ferrokube_apimachinery::protobuf::decode(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    decoded
        .map_err(|e| crate::status::ApiError::bad_request(format!("couldn't decode {kind}: {e}")))
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}
