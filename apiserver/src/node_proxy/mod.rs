//! The subresources the API server answers by calling the pod's (or the named) node's
//! kubelet: `pods/log` (streamed, so `kubectl logs -f` follows), `pods/exec`, `pods/attach`,
//! `pods/portforward` (upgraded connections spliced through) and `nodes/proxy/...`. The kubelet
//! is found at the Node's InternalIP and `daemonEndpoints.kubeletEndpoint.Port`, and called with
//! the API server's kubelet client certificate ([`client`]).
//!
//! Entry point: [`handle`], called by the router for the paths [`is_proxied`] accepts.

pub mod client;
mod pods;

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::Value;

use crate::Apiserver;
use crate::http::Body;
use crate::request::ResourcePath;
use crate::status::ApiError;

pub use client::KubeletClient;

/// Whether a resource path is answered by a kubelet.
pub fn is_proxied(p: &ResourcePath) -> bool {
    p.group.is_empty()
        && p.name.is_some()
        && matches!(
            (p.resource.as_str(), p.subresource.as_deref()),
            ("pods", Some("log" | "exec" | "attach" | "portforward")) | ("nodes", Some("proxy"))
        )
}

/// Answers a proxied subresource request.
pub async fn handle(
    state: &Arc<Apiserver>,
    p: &ResourcePath,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let name = p.name.clone().unwrap_or_default();
    match (p.resource.as_str(), p.subresource.as_deref()) {
        ("pods", Some("log")) => {
            pods::log(
                state,
                p.namespace.as_deref().unwrap_or_default(),
                &name,
                req,
            )
            .await
        }
        ("pods", Some(sub)) => {
            let sub = sub.to_string();
            pods::stream(
                state,
                p.namespace.as_deref().unwrap_or_default(),
                &name,
                &sub,
                req,
            )
            .await
        }
        _ => node_proxy(state, &name, req).await,
    }
}

/// The host and port of a node's kubelet, from its status.
pub async fn kubelet_endpoint(
    state: &Arc<Apiserver>,
    node_name: &str,
) -> Result<(String, u16), ApiError> {
    let r = state
        .objects
        .registry
        .lookup("", "v1", "nodes")
        .ok_or_else(ApiError::path_not_found)?;
    let (node, _) = state.objects.current(r, "", node_name).await?;
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let address = ["InternalIP", "ExternalIP", "Hostname"]
        .iter()
        .find_map(|t| {
            addresses
                .iter()
                .find(|a| a.get("type").and_then(Value::as_str) == Some(t))
                .and_then(|a| a.get("address").and_then(Value::as_str))
        })
        .ok_or_else(|| ApiError::internal("no preferred addresses found; known addresses: []"))?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(10250);
    Ok((address.to_string(), port))
}

/// The error a kubelet's non-2xx answer becomes (upstream's generic HTTP response checker:
/// the status code with its reason, the body as the message).
pub async fn kubelet_error(resp: Response<Incoming>) -> ApiError {
    let code = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&body).trim().to_string();
    let reason = match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        422 => "Invalid",
        429 => "TooManyRequests",
        504 => "Timeout",
        _ => "InternalError",
    };
    ApiError {
        code,
        reason,
        message,
        details: None,
    }
}

/// A response streaming the kubelet's body through.
pub fn stream_body(resp: Response<Incoming>) -> Response<Body> {
    let (parts, incoming) = resp.into_parts();
    let frames = futures::stream::unfold(Some(incoming), |incoming| async move {
        let mut incoming = incoming?;
        match incoming.frame().await {
            Some(Ok(frame)) => {
                let frame = match frame.into_data() {
                    Ok(data) => Frame::data(data),
                    Err(_) => Frame::data(Bytes::new()),
                };
                Some((Ok::<_, std::convert::Infallible>(frame), Some(incoming)))
            }
            _ => None,
        }
    });
    let mut out = Response::new(BodyExt::boxed_unsync(StreamBody::new(Box::pin(frames))));
    *out.status_mut() = parts.status;
    for (k, v) in parts.headers.iter() {
        if matches!(k.as_str(), "content-type" | "cache-control") {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// `GET nodes/{name}/proxy/{path}`: the kubelet's `/{path}`.
async fn node_proxy(
    state: &Arc<Apiserver>,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path();
    let marker = "/proxy";
    let rest = path
        .find(&format!("/nodes/{name}{marker}"))
        .map(|i| &path[i + "/nodes/".len() + name.len() + marker.len()..])
        .unwrap_or("");
    let rest = if rest.is_empty() { "/" } else { rest };
    let target = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let (host, port) = kubelet_endpoint(state, name).await?;
    let upstream = Request::builder()
        .method(req.method().clone())
        .uri(target)
        .body(Empty::<Bytes>::new())
        .map_err(ApiError::internal)?;
    let resp = state.kubelet.send(&host, port, upstream).await?;
    Ok(stream_body(resp))
}
