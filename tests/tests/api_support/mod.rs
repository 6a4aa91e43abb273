//! Helpers shared by the `api_*` test files: raw HTTP requests through a kube-rs client (for
//! calls kube-rs cannot express, or to see status codes and headers), an anonymous client, and
//! small builders for the objects the tests create.

#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context, Result};
use http::{HeaderMap, Request};
use kube::Client;
use serde_json::{Value, json};

/// A raw response: status code, headers and body.
pub struct Raw {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Raw {
    /// The body parsed as JSON (Null when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Every `Warning` header value.
    pub fn warnings(&self) -> Vec<String> {
        self.headers
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(String::from)
            .collect()
    }
}

/// Sends `method path` with an optional body of `content_type` and collects the response.
pub async fn raw(
    client: &Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> Result<Raw> {
    let body = body.into();
    let mut req = Request::builder().method(method).uri(path);
    if !body.is_empty() {
        req = req.header("content-type", content_type);
    }
    send(client, req.body(body)?).await
}

/// Sends a prepared request and collects the response (with a timeout, so a hung request
/// fails the test instead of hanging it).
pub async fn send(client: &Client, req: Request<Vec<u8>>) -> Result<Raw> {
    let (parts, body) = req.into_parts();
    let what = format!("{} {}", parts.method, parts.uri);
    let req = Request::from_parts(parts, kube::client::Body::from(body));
    let resp = tokio::time::timeout(Duration::from_secs(30), client.send(req))
        .await
        .with_context(|| format!("{what} did not complete within 30 s"))??;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect_bytes())
        .await
        .with_context(|| format!("the response body of {what} did not complete within 30 s"))??
        .to_vec();
    Ok(Raw {
        status,
        headers,
        body,
    })
}

/// GET `path` as JSON.
pub async fn get(client: &Client, path: &str) -> Result<Raw> {
    raw(client, "GET", path, "", Vec::new()).await
}

/// POST a JSON object.
pub async fn post(client: &Client, path: &str, body: &Value) -> Result<Raw> {
    raw(
        client,
        "POST",
        path,
        "application/json",
        serde_json::to_vec(body)?,
    )
    .await
}

/// PUT a JSON object.
pub async fn put(client: &Client, path: &str, body: &Value) -> Result<Raw> {
    raw(
        client,
        "PUT",
        path,
        "application/json",
        serde_json::to_vec(body)?,
    )
    .await
}

/// PATCH with a patch type (`application/merge-patch+json`, ...).
pub async fn patch(client: &Client, path: &str, content_type: &str, body: &Value) -> Result<Raw> {
    raw(
        client,
        "PATCH",
        path,
        content_type,
        serde_json::to_vec(body)?,
    )
    .await
}

/// DELETE `path` (with an optional DeleteOptions body).
pub async fn delete(client: &Client, path: &str, body: Option<&Value>) -> Result<Raw> {
    let bytes = match body {
        Some(b) => serde_json::to_vec(b)?,
        None => Vec::new(),
    };
    raw(client, "DELETE", path, "application/json", bytes).await
}

/// A kube-rs client for the cluster that presents no client certificate and no token.
pub async fn anonymous_client(kubeconfig: &std::path::Path) -> Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    config.auth_info = Default::default();
    Ok(Client::try_from(config)?)
}

/// A kube-rs client that does not retry 429/503/504 answers (to see them as they are).
pub async fn client_without_retry(kubeconfig: &std::path::Path) -> Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    config.default_retry = false;
    Ok(Client::try_from(config)?)
}

/// The HTTP status of a failed kube-rs call, with its Status reason and message.
pub fn api_error(err: &kube::Error) -> Option<(u16, String, String)> {
    match err {
        kube::Error::Api(s) => Some((s.code, s.reason.clone(), s.message.clone())),
        _ => None,
    }
}

/// A ConfigMap with `data` and `labels`.
pub fn configmap(name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": data})
}

/// A one-container pod.
pub fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    })
}

/// A Deployment of `replicas` pods labelled `app: <name>`.
pub fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    })
}

/// Builds a typed object from JSON.
pub fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("test object decodes into its type")
}

/// `/api/v1/namespaces/<ns>/<resource>` (core group).
pub fn core_path(ns: &str, resource: &str) -> String {
    format!("/api/v1/namespaces/{ns}/{resource}")
}
