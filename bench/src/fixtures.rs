//! The objects benchmarks write: the `bench` namespace and small, typical pods.

use bytes::Bytes;
use http::Method;
use serde_json::json;

use crate::client::{self, Connector};

/// The namespace every scenario works in.
pub const NAMESPACE: &str = "bench";

/// Creates the `bench` namespace.
pub async fn create_namespace(connector: &Connector) -> anyhow::Result<()> {
    let mut conn = connector.connect().await?;
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    conn.expect(
        201,
        Method::POST,
        "/api/v1/namespaces",
        Some(Bytes::from(body.to_string())),
    )
    .await?;
    Ok(())
}

/// A pod as a Deployment would stamp it out: labels, one container with requests, a port and
/// an env var (about 2 KiB once the server has defaulted it).
pub fn pod_body(name: &str) -> Bytes {
    let body = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app": "bench", "pod-template-hash": "5d4f8b7c9d"},
        },
        "spec": {
            "containers": [{
                "name": "app",
                "image": "registry.k8s.io/pause:3.10",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "bench"}],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            }],
        },
    });
    Bytes::from(body.to_string())
}

/// The pods path of the `bench` namespace.
pub fn pods_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/pods")
}

/// Creates pods `<prefix>-0 .. <prefix>-<count-1>` with `concurrency` clients.
pub async fn create_pods(
    connector: &Connector,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let conns = client::connections(connector, concurrency, 8).await?;
    let path = pods_path();
    let mut tasks = Vec::new();
    for (c, mut conn) in conns.into_iter().enumerate() {
        let path = path.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while i < count {
                conn.expect(
                    201,
                    Method::POST,
                    &path,
                    Some(pod_body(&format!("{prefix}-{i}"))),
                )
                .await?;
                i += concurrency;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}
