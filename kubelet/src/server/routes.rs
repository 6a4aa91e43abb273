//! Routing one request: authentication, then the endpoint its path names, as upstream's
//! kubelet server lays them out.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use tracing::{Instrument, info_span};

use super::auth::{self, User};
use super::{Body, NodeServer};

/// A full-buffer body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

/// A response with a status code, a content type and a body.
pub fn respond(
    code: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = code;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A plain-text error, as upstream's kubelet writes them (`response.WriteError`).
pub fn text_error(code: StatusCode, message: impl std::fmt::Display) -> Response<Body> {
    respond(code, "text/plain; charset=utf-8", format!("{message}\n"))
}

/// The query of a URI, decoded; repeated keys keep every value in order.
pub fn query(uri: &http::Uri) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(decode(k)).or_default().push(decode(v));
    }
    out
}

/// Percent-decodes a query component (`+` as a space).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The root of a path for metrics (`containerLogs`, `exec`, `pods`, ...).
fn path_root(path: &str) -> String {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Handles one request end to end.
pub async fn handle(
    server: Arc<NodeServer>,
    req: Request<Incoming>,
    cert_user: Option<User>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let span = info_span!("kubelet_request", node = %server.node_name, %method, %path);
    async move {
        {
            let mut requests = server.requests.lock().unwrap_or_else(|p| p.into_inner());
            *requests
                .entry((method.to_string(), path_root(&path)))
                .or_default() += 1;
        }
        if auth::authenticate(&server.client, cert_user, req.headers())
            .await
            .is_none()
        {
            return text_error(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        let parts: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty())
            .map(decode)
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        match parts.as_slice() {
            ["healthz", ..] => respond(StatusCode::OK, "text/plain; charset=utf-8", "ok"),
            ["pods"] => pods(&server).await,
            ["metrics"] => metrics(&server).await,
            ["stats", "summary"] => super::stats::summary(&server).await,
            ["containerLogs", ns, pod, container] => {
                super::logs::container_logs(&server, ns, pod, container, &query(req.uri())).await
            }
            ["exec", ns, pod, container] | ["exec", ns, pod, _, container] => {
                let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
                super::exec::exec(&server, &ns, &pod, &container, req).await
            }
            ["portForward", ns, pod, ..] => {
                let (ns, pod) = (ns.to_string(), pod.to_string());
                super::portforward::port_forward(&server, &ns, &pod, req).await
            }
            ["attach", ns, pod, container] | ["attach", ns, pod, _, container] => {
                let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
                super::attach::attach(&server, &ns, &pod, &container, req).await
            }
            _ => text_error(StatusCode::NOT_FOUND, "404 page not found"),
        }
    }
    .instrument(span)
    .await
}

/// The pods bound to this node (`/pods`, a `PodList`).
async fn pods(server: &NodeServer) -> Response<Body> {
    let api: Api<Pod> = Api::all(server.client.clone());
    let lp = ListParams::default().fields(&format!("spec.nodeName={}", server.node_name));
    match api.list(&lp).await {
        Ok(list) => {
            let body = serde_json::json!({
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {},
                "items": list.items,
            });
            respond(
                StatusCode::OK,
                "application/json",
                serde_json::to_vec(&body).unwrap_or_default(),
            )
        }
        Err(e) => text_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Prometheus metrics (`/metrics`).
async fn metrics(server: &NodeServer) -> Response<Body> {
    let (pods, containers) = super::stats::running_counts(server).await;
    let mut text = String::new();
    text.push_str(
        "# HELP kubelet_running_pods [ALPHA] Number of pods that have a running pod sandbox\n",
    );
    text.push_str("# TYPE kubelet_running_pods gauge\n");
    text.push_str(&format!("kubelet_running_pods {pods}\n"));
    text.push_str(
        "# HELP kubelet_running_containers [ALPHA] Number of containers currently running\n",
    );
    text.push_str("# TYPE kubelet_running_containers gauge\n");
    for (state, n) in containers {
        text.push_str(&format!(
            "kubelet_running_containers{{container_state=\"{state}\"}} {n}\n"
        ));
    }
    text.push_str("# HELP kubelet_http_requests_total [ALPHA] Number of the http requests received since the server started\n");
    text.push_str("# TYPE kubelet_http_requests_total counter\n");
    let requests = server
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for ((method, path), n) in requests {
        let long_running = matches!(
            path.as_str(),
            "exec" | "attach" | "portForward" | "containerLogs"
        );
        text.push_str(&format!(
            "kubelet_http_requests_total{{long_running=\"{long_running}\",method=\"{method}\",path=\"{path}\",server_type=\"readwrite\"}} {n}\n"
        ));
    }
    text.push_str("# HELP kubelet_node_name [ALPHA] The node's name. The count is always 1.\n");
    text.push_str("# TYPE kubelet_node_name gauge\n");
    text.push_str(&format!(
        "kubelet_node_name{{node=\"{}\"}} 1\n",
        server.node_name
    ));
    respond(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        text,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_keep_repeated_keys() {
        let uri: http::Uri = "/exec/a/b/c?command=echo&command=hi%20there&tty=1&x"
            .parse()
            .unwrap();
        let q = query(&uri);
        assert_eq!(q["command"], ["echo", "hi there"]);
        assert_eq!(q["tty"], ["1"]);
        assert_eq!(q["x"], [""]);
        assert_eq!(decode("2026-01-01T00%3A00%3A00Z"), "2026-01-01T00:00:00Z");
        assert_eq!(decode("100%"), "100%");
    }
}
