//! The `projected` volume: configMap, secret, downwardAPI and serviceAccountToken sources
//! merged into one directory (the `kube-api-access-*` volume every pod gets is one: `token`,
//! `ca.crt`, `namespace`). Tokens come from the API server's `serviceaccounts/token`
//! TokenRequest, bound to the pod, and are renewed after 80% of their lifetime; when the API
//! server does not serve TokenRequest the token file is left out and a `TokenRequestFailed`
//! warning event says so (once per pod; retried every 10 minutes), while the rest of the
//! volume is still written.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ProjectedVolumeSource, ServiceAccount};
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;

use super::atomic_writer::{FileProjection, Payload};
use super::{
    CachedToken, SetUp, VolumeError, VolumeHost, config_map, downward_api, file_mode, secret,
    write_atomically,
};

/// The lifetime asked for when `expirationSeconds` is unset (upstream's default).
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// How long a failed token request is not retried (the API server may not serve
/// TokenRequest at all).
const FAILED_TOKEN_RETRY: Duration = Duration::from_secs(600);

/// Writes the merged sources under `dir`; `tokens` caches tokens across refreshes.
pub async fn set_up(
    host: &VolumeHost,
    pod: &Pod,
    dir: &Path,
    source: &ProjectedVolumeSource,
    tokens: &mut HashMap<String, CachedToken>,
) -> Result<SetUp, VolumeError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let default_mode = source.default_mode;
    let mut files = Payload::new();
    let mut warnings = Vec::new();
    for s in source.sources.iter().flatten() {
        if let Some(c) = &s.config_map {
            files.extend(
                config_map::payload(
                    host,
                    &namespace,
                    &c.name,
                    c.items.as_deref(),
                    default_mode,
                    c.optional == Some(true),
                )
                .await?,
            );
        } else if let Some(c) = &s.secret {
            files.extend(
                secret::payload(
                    host,
                    &namespace,
                    &c.name,
                    c.items.as_deref(),
                    default_mode,
                    c.optional == Some(true),
                )
                .await?,
            );
        } else if let Some(d) = &s.downward_api {
            files.extend(downward_api::payload(
                host,
                pod,
                d.items.as_deref().unwrap_or_default(),
                default_mode,
            )?);
        } else if let Some(t) = &s.service_account_token {
            let audience = t.audience.clone().unwrap_or_default();
            let expiration = t
                .expiration_seconds
                .unwrap_or(DEFAULT_EXPIRATION_SECONDS)
                .max(600);
            let key = format!("{}|{audience}|{expiration}", t.path);
            let failed_before = tokens.get(&key).is_some_and(|c| c.token.is_empty());
            let cached = tokens.get(&key).filter(|c| c.refresh_at > Instant::now());
            let token = match cached {
                Some(c) => c.token.clone(),
                None => match request_token(host, pod, &audience, expiration).await {
                    Ok(token) => {
                        let lifetime =
                            Duration::from_secs(u64::try_from(expiration).unwrap_or(3600) * 8 / 10);
                        tokens.insert(
                            key,
                            CachedToken {
                                token: token.clone(),
                                refresh_at: Instant::now() + lifetime,
                            },
                        );
                        token
                    }
                    Err(e) => {
                        // Warned once per pod, not at every retry.
                        if !failed_before {
                            let message = format!(
                                "Skipped the service account token file {:?}: {}: {e}",
                                t.path, "the API server did not issue a token"
                            );
                            warnings.push(("TokenRequestFailed".to_string(), message));
                        }
                        tokens.insert(
                            key,
                            CachedToken {
                                token: String::new(),
                                refresh_at: Instant::now() + FAILED_TOKEN_RETRY,
                            },
                        );
                        String::new()
                    }
                },
            };
            if !token.is_empty() {
                files.insert(
                    t.path.clone(),
                    FileProjection {
                        data: token.into_bytes(),
                        mode: file_mode(None, default_mode),
                    },
                );
            }
        }
    }
    write_atomically(dir, files).await?;
    Ok(SetUp {
        path: dir.to_path_buf(),
        warnings,
    })
}

/// Asks the API server for a token of the pod's service account, bound to the pod.
async fn request_token(
    host: &VolumeHost,
    pod: &Pod,
    audience: &str,
    expiration: i64,
) -> Result<String, kube::Error> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".into());
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: if audience.is_empty() {
                Vec::new()
            } else {
                vec![audience.to_string()]
            },
            expiration_seconds: Some(expiration),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
        },
        ..Default::default()
    };
    let response = Api::<ServiceAccount>::namespaced(host.client.clone(), &namespace)
        .create_token_request(&account, &PostParams::default(), &request)
        .await?;
    Ok(response.status.map(|s| s.token).unwrap_or_default())
}
