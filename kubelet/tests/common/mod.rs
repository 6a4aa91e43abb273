//! What the kubelet tests share: fast node timings, an async `until`, pod manifests.

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferrokube_kubelet::server::ServerOptions;
use ferrokube_kubelet::{CriNode, NodeOptions, start_cri_node};
use ferrokube_tests::Cluster;
use ferrokube_tests::containerd::Containerd;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;

/// Node options with heartbeats and simulated containers fast enough for tests.
pub fn fast_options() -> NodeOptions {
    let mut o = NodeOptions {
        lease_renew_interval: Duration::from_millis(300),
        node_status_update_frequency: Duration::from_millis(300),
        crash_loop_back_off: Duration::from_secs(1),
        ..Default::default()
    };
    o.sim.start_delay = Duration::from_millis(100);
    o.sim.run_duration = Duration::from_millis(300);
    o.sim.stop_delay = Duration::from_millis(100);
    o
}

/// Polls `f` until it returns Some; fails with `what` after `timeout`.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A pod bound to `node` running `command` in busybox.
pub fn pod(name: &str, node: &str, command: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"}},
  "spec":{{"nodeName":"{node}","containers":[{{"name":"main","image":"busybox",
  "command":["sh","-c","{command}"]}}]}}}}"#
    )
}

/// The `kubectl get pod NAME --no-headers` line's READY and STATUS cells.
pub fn ready_and_status(cluster: &Cluster, name: &str) -> Option<(String, String)> {
    let line = cluster
        .kubectl_ok(&["get", "pod", name, "--no-headers"])
        .ok()?;
    let cells: Vec<&str> = line.split_whitespace().collect();
    Some((cells.get(1)?.to_string(), cells.get(2)?.to_string()))
}

/// Waits until `kubectl get pod` shows `ready` and `status`.
pub async fn until_pod_shows(
    cluster: &Cluster,
    name: &str,
    ready: &str,
    status: &str,
) -> Result<()> {
    until(
        &format!("pod {name} to show {ready} {status}"),
        Duration::from_secs(20),
        || async {
            let (r, s) = ready_and_status(cluster, name)?;
            (r == ready && s == status).then_some(())
        },
    )
    .await
}

/// A busybox pod bound to `node` running the shell `script`, with the image used as present
/// (`IfNotPresent`) and a 1 s grace period, as the containerd tests run them.
pub fn cri_busybox_pod(name: &str, node: &str, script: &str) -> String {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", script],
            }],
        },
    })
    .to_string()
}

/// Waits until the pod's phase is Running.
pub async fn until_running(client: &kube::Client, name: &str, timeout: Duration) -> Result<()> {
    until(&format!("pod {name} to be Running"), timeout, || async {
        let p = get_pod(client, name).await.ok()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await
}

/// The pod as the API returns it.
pub async fn get_pod(client: &kube::Client, name: &str) -> Result<Pod> {
    Ok(Api::<Pod>::namespaced(client.clone(), "default")
        .get(name)
        .await?)
}

/// A cri node named `node` whose kubelet server (on a free port) trusts the cluster CA's
/// client certificates, as the API server presents one.
pub async fn cri_node_with_server(
    cluster: &Cluster,
    containerd: &Containerd,
    node: &str,
) -> Result<CriNode> {
    let data = cluster.kubeconfig().parent().context("data directory")?;
    let ca = std::fs::read_to_string(data.join("tls/ca.crt"))?;
    let options = NodeOptions {
        pod_logs_dir: containerd.scratch().join("pod-logs"),
        root_dir: containerd.scratch().join("kubelet"),
        server: Some(ServerOptions {
            port: 0,
            client_ca_pem: Some(ca),
            ..Default::default()
        }),
        ..fast_options()
    };
    Ok(start_cri_node(
        cluster.client().await?,
        node.into(),
        options,
        &containerd.endpoint(),
    )
    .await?)
}
