//! The per-request entry: authentication, the request span and metrics, the non-resource
//! endpoints (version, health, metrics, discovery, OpenAPI), then the resource handlers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;
use tracing::{Instrument, info_span};

use crate::Apiserver;
use crate::decode::MAX_BODY;
use crate::discovery;
use crate::http::{Body, User, error_response, json_response};
use crate::request::{Route, query, route};
use crate::status::ApiError;

/// The user of the request's bearer token, when it carries a valid one.
async fn bearer_user(state: &Apiserver, req: &Request<Incoming>) -> Option<User> {
    let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = auth.strip_prefix("Bearer ")?.trim();
    state.authenticate_bearer(token).await
}

/// Handles one request end to end.
pub async fn handle(
    state: Arc<Apiserver>,
    req: Request<Incoming>,
    user: Option<User>,
    peer: SocketAddr,
) -> Response<Body> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = info_span!("request", %method, %path, %peer, user = tracing::field::Empty);
    let user = match user {
        Some(u) => Some(u),
        None => bearer_user(&state, &req).await,
    };
    let user = match user {
        Some(u) => u,
        None if crate::bootstraptoken::cluster_info::anonymous_may(
            &method,
            &path,
            req.uri().query(),
        ) =>
        {
            crate::bootstraptoken::cluster_info::anonymous_user()
        }
        None => return error_response(&ApiError::unauthorized()),
    };
    span.record("user", user.name.as_str());
    let (resource, verb, resp) = async {
        let r = dispatch(&state, req, &user).await;
        match r {
            Ok((res, verb, resp)) => (res, verb, resp),
            Err((res, verb, e)) => (res, verb, error_response(&e)),
        }
    }
    .instrument(span)
    .await;
    state
        .metrics
        .observe(&verb, &resource, resp.status().as_u16(), start.elapsed());
    resp
}

type Outcome = Result<(String, String, Response<Body>), (String, String, ApiError)>;

fn verb_of(method: &Method, has_name: bool, watch: bool) -> &'static str {
    match (method.as_str(), has_name, watch) {
        ("GET", _, true) => "WATCH",
        ("GET", true, _) => "GET",
        ("GET", false, _) => "LIST",
        ("POST", _, _) => "POST",
        ("PUT", _, _) => "PUT",
        ("PATCH", _, _) => "PATCH",
        ("DELETE", true, _) => "DELETE",
        ("DELETE", false, _) => "DELETECOLLECTION",
        _ => "OTHER",
    }
}

async fn dispatch(state: &Arc<Apiserver>, req: Request<Incoming>, user: &User) -> Outcome {
    let path = req.uri().path().to_string();
    let q = query(req.uri().query());
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let method = req.method().clone();
    let non_resource = |body: serde_json::Value| {
        Ok((
            "".to_string(),
            method.to_string(),
            json_response(200, serde_json::to_vec(&body).unwrap_or_default()),
        ))
    };
    match route(&path) {
        Route::Version => non_resource(json!({
            "major": "1",
            "minor": "33",
            "gitVersion": format!("{}+ferrokube", crate::KUBERNETES_VERSION),
            "gitCommit": "ferrokube",
            "gitTreeState": "clean",
            "buildDate": "2026-11-25T00:00:00Z",
            "goVersion": "go1.24.0",
            "compiler": "rustc",
            "platform": format!("linux/{}", if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" }),
        })),
        Route::Health => {
            let mut resp = json_response(200, "ok");
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(("".into(), "GET".into(), resp))
        }
        Route::Metrics => {
            let text = state.metrics.render(&state.objects);
            let mut resp = json_response(200, text);
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            Ok(("".into(), "GET".into(), resp))
        }
        Route::OpenApiV2 => Ok((
            "".into(),
            "GET".into(),
            json_response(200, state.openapi.v2().clone()),
        )),
        Route::OpenIdConfiguration => non_resource(
            crate::serviceaccount::key::openid_configuration(&state.tokens.settings.issuer),
        ),
        Route::OpenIdKeys => non_resource(state.tokens.key.jwks()),
        Route::OpenApiV3Index => non_resource(state.openapi.v3_index()),
        Route::OpenApiV3(p) => match state.openapi.v3(&p) {
            Some((bytes, _)) => Ok(("".into(), "GET".into(), json_response(200, bytes.clone()))),
            None => Err(("".into(), "GET".into(), ApiError::path_not_found())),
        },
        Route::LegacyVersions => match discovery::wants_aggregated(&accept) {
            Some(v) => Ok((
                "".into(),
                "GET".into(),
                aggregated(discovery::aggregated(&state.objects.registry, true, v), v),
            )),
            None => non_resource(discovery::legacy_versions(&state.server_address)),
        },
        Route::Groups => match discovery::wants_aggregated(&accept) {
            Some(v) => Ok((
                "".into(),
                "GET".into(),
                aggregated(discovery::aggregated(&state.objects.registry, false, v), v),
            )),
            None => non_resource(discovery::groups(&state.objects.registry)),
        },
        Route::Group(g) => match discovery::group(&state.objects.registry, &g) {
            Some(doc) => non_resource(doc),
            None => Err(("".into(), "GET".into(), ApiError::path_not_found())),
        },
        Route::GroupVersion(g, v) => {
            match discovery::resource_list(&state.objects.registry, &g, &v) {
                Some(doc) => non_resource(doc),
                None => Err(("".into(), "GET".into(), ApiError::path_not_found())),
            }
        }
        Route::NotFound => Err(("".into(), method.to_string(), ApiError::path_not_found())),
        Route::Resource(p) if crate::node_proxy::is_proxied(&p) => {
            let verb = if p.resource == "pods" && p.subresource.as_deref() == Some("log") {
                "GET"
            } else {
                "CONNECT"
            };
            let resource = p.resource.clone();
            match crate::node_proxy::handle(state, &p, req).await {
                Ok(resp) => Ok((resource, verb.into(), resp)),
                Err(e) => Err((resource, verb.into(), e)),
            }
        }
        Route::Resource(p) => {
            let watch = p.watch_prefix || q.get("watch").is_some_and(|w| w == "true" || w == "1");
            let verb = verb_of(&method, p.name.is_some(), watch).to_string();
            let resource = p.resource.clone();
            let headers = req.headers().clone();
            let user_agent = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            if let Some(len) = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                && len > MAX_BODY
            {
                drain(req.into_body());
                return Err((resource, verb, ApiError::too_large(MAX_BODY)));
            }
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    let err = if e
                        .downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        ApiError::too_large(MAX_BODY)
                    } else {
                        ApiError::bad_request(format!("error reading request body: {e}"))
                    };
                    return Err((resource, verb, err));
                }
            };
            if method == Method::POST && crate::reviews::is_review(&p.group, &p.resource) {
                return match state.review(&p.group, &p.resource, user, &body).await {
                    Ok(resp) => Ok((resource, verb, resp)),
                    Err(e) => Err((resource, verb, e)),
                };
            }
            match state
                .resource(&method, p, &q, &headers, body, &user_agent)
                .await
            {
                Ok(resp) => Ok((resource, verb, resp)),
                Err(e) => Err((resource, verb, e)),
            }
        }
    }
}

fn aggregated(doc: serde_json::Value, version: &str) -> Response<Body> {
    let mut resp = json_response(200, serde_json::to_vec(&doc).unwrap_or_default());
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    if let Ok(v) = HeaderValue::from_str(&ct) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// Reads and discards (in the background, up to a bound) the body of a request refused for its
/// size, so that a client still sending it can finish and read the 413 answer instead of
/// failing on a connection closed under its feet.
fn drain(mut body: Incoming) {
    const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
    tokio::spawn(async move {
        let read = async {
            let mut left = DRAIN_LIMIT;
            while let Some(Ok(frame)) = body.frame().await {
                let n = frame.data_ref().map_or(0, |d| d.len());
                left = left.saturating_sub(n);
                if left == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(60), read).await;
    });
}
