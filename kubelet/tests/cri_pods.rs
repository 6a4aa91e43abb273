//! Pods on a real containerd, as a user sees them: a kubelet with the `cri` runtime runs
//! against our API server and a private containerd (started by the harness, with the local
//! busybox and pause images). A busybox `httpd` answers on its pod IP from the host, an init
//! container finishes before the main one starts, a crashing container reaches
//! CrashLoopBackOff, missing images end in ImagePullBackOff / ErrImageNeverPull, a restarted
//! kubelet adopts running containers instead of restarting them, and a deleted pod's
//! containers are stopped before the pod goes away.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::{Context, Result};
use common::{fast_options, get_pod, until};
use ferrokube_kubelet::runtime::Runtime;
use ferrokube_kubelet::runtime::cri::CriRuntime;
use ferrokube_kubelet::{NodeOptions, start_cri_node};
use ferrokube_tests::Cluster;
use ferrokube_tests::containerd::Containerd;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;

const NODE: &str = "cri-node";

/// Generous: containers start in well under a second, but the machine is shared.
const START_TIMEOUT: Duration = Duration::from_secs(40);

fn options(containerd: &Containerd) -> NodeOptions {
    NodeOptions {
        pod_logs_dir: containerd.scratch().join("pod-logs"),
        root_dir: containerd.scratch().join("kubelet"),
        ..fast_options()
    }
}

fn apply(cluster: &Cluster, manifest: serde_json::Value) -> Result<()> {
    cluster.kubectl_stdin(&["apply", "-f", "-"], &manifest.to_string())?;
    Ok(())
}

/// A busybox container spec running `script`, using the local image.
fn busybox(name: &str, script: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name, "image": "busybox", "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", script],
    })
}

fn pod(name: &str, spec: serde_json::Value) -> serde_json::Value {
    let mut spec = spec;
    spec["nodeName"] = NODE.into();
    serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

async fn until_running(client: &kube::Client, name: &str) -> Result<Pod> {
    until(
        &format!("pod {name} to be Running"),
        START_TIMEOUT,
        || async {
            let p = get_pod(client, name).await.ok()?;
            let s = p.status.as_ref()?;
            (s.phase.as_deref() == Some("Running") && s.pod_ip.is_some()).then_some(p)
        },
    )
    .await
}

fn main_status(p: &Pod) -> k8s_openapi::api::core::v1::ContainerStatus {
    p.status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .clone()
}

fn waiting_reason(p: &Pod, index: usize) -> Option<(String, String)> {
    let c = p.status.as_ref()?.container_statuses.as_ref()?.get(index)?;
    let w = c.state.as_ref()?.waiting.as_ref()?;
    Some((w.reason.clone()?, w.message.clone().unwrap_or_default()))
}

/// An HTTP GET from the host to `ip:port`.
fn http_get(ip: &str, port: u16, path: &str) -> Result<String> {
    let mut stream = std::net::TcpStream::connect((ip, port)).context("connect to the pod")?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n")?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    Ok(body)
}

/// Stops and removes every sandbox, so the pods' networks are torn down by the CNI plugin.
async fn clean_up(containerd: &Containerd) -> Result<()> {
    let cri = CriRuntime::connect(&containerd.endpoint(), Duration::from_secs(60)).await?;
    cri.remove_all_pod_sandboxes().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busybox_httpd_answers_on_its_pod_ip_after_its_init_container() -> Result<()> {
    let containerd = Containerd::start()?;
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let node = start_cri_node(
        client.clone(),
        NODE.into(),
        options(&containerd),
        &containerd.endpoint(),
    )
    .await?;

    apply(
        &cluster,
        pod(
            "web",
            serde_json::json!({
                "initContainers": [busybox("init", "sleep 1")],
                "containers": [busybox(
                    "httpd",
                    "echo hello from ferrokube > /tmp/index.html && exec httpd -f -p 80 -h /tmp",
                )],
            }),
        ),
    )?;
    let p = until_running(&client, "web").await?;

    // The init container ran to completion before the main container started.
    let status = p.status.clone().unwrap_or_default();
    let init = &status.init_container_statuses.clone().unwrap_or_default()[0];
    let done = init
        .state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .context("init container terminated")?;
    assert_eq!(done.reason.as_deref(), Some("Completed"));
    let main = main_status(&p);
    let started = main
        .state
        .as_ref()
        .and_then(|s| s.running.clone())
        .and_then(|r| r.started_at)
        .context("main container running")?;
    assert!(done.finished_at.context("finishedAt")?.0 <= started.0);
    assert!(
        main.container_id
            .as_deref()
            .unwrap_or("")
            .starts_with("containerd://")
    );
    assert_eq!(main.image, "docker.io/library/busybox:latest");
    assert!(main.image_id.contains("sha256:"), "{}", main.image_id);

    // The pod IP is reachable from the host.
    let ip = status.pod_ip.clone().context("pod IP")?;
    let body = until("httpd to answer", START_TIMEOUT, || {
        let ip = ip.clone();
        async move { http_get(&ip, 80, "/index.html").ok() }
    })
    .await?;
    assert!(body.contains("hello from ferrokube"), "{body}");

    // The Node reports containerd and the images it holds.
    let n: Node = Api::all(client.clone()).get(NODE).await?;
    let ns = n.status.unwrap_or_default();
    let info = ns.node_info.unwrap_or_default();
    assert!(
        info.container_runtime_version.starts_with("containerd://"),
        "{}",
        info.container_runtime_version
    );
    let names: Vec<String> = ns
        .images
        .unwrap_or_default()
        .into_iter()
        .flat_map(|i| i.names.unwrap_or_default())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n == "docker.io/library/busybox:latest"),
        "{names:?}"
    );

    node.stop().await;
    clean_up(&containerd).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_containers_and_missing_images_back_off_as_upstream() -> Result<()> {
    let containerd = Containerd::start()?;
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let node = start_cri_node(
        client.clone(),
        NODE.into(),
        options(&containerd),
        &containerd.endpoint(),
    )
    .await?;

    apply(
        &cluster,
        pod(
            "crash",
            serde_json::json!({"containers": [busybox("main", "echo dying; exit 3")]}),
        ),
    )?;
    apply(
        &cluster,
        pod(
            "unpullable",
            // Nothing listens on port 1, so the pull fails at once.
            serde_json::json!({"containers": [{"name": "main", "image": "localhost:1/nosuch:1"}]}),
        ),
    )?;
    apply(
        &cluster,
        pod(
            "never",
            serde_json::json!({"containers": [
                {"name": "main", "image": "nosuch:2", "imagePullPolicy": "Never"}
            ]}),
        ),
    )?;

    // With a 1 s base the restarts come quickly; restartCount keeps rising.
    let p = until(
        "crash to be in CrashLoopBackOff after restarts",
        START_TIMEOUT,
        || async {
            let p = get_pod(&client, "crash").await.ok()?;
            let (reason, _) = waiting_reason(&p, 0)?;
            (reason == "CrashLoopBackOff" && main_status(&p).restart_count >= 2).then_some(p)
        },
    )
    .await?;
    let c = main_status(&p);
    let last = c
        .last_state
        .and_then(|s| s.terminated)
        .context("last termination")?;
    assert_eq!(last.exit_code, 3);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    let (_, message) = waiting_reason(&p, 0).unwrap_or_default();
    assert!(message.starts_with("back-off "), "{message}");
    assert_eq!(
        p.status.and_then(|s| s.phase).as_deref(),
        Some("Running"),
        "a crash-looping pod with restartPolicy Always stays Running"
    );

    let (reason, message) = until("unpullable to back off", START_TIMEOUT, || async {
        let p = get_pod(&client, "unpullable").await.ok()?;
        waiting_reason(&p, 0).filter(|(r, _)| r == "ImagePullBackOff")
    })
    .await?;
    assert_eq!(reason, "ImagePullBackOff");
    assert_eq!(message, r#"Back-off pulling image "localhost:1/nosuch:1""#);

    let (_, message) = until(
        "never to report ErrImageNeverPull",
        START_TIMEOUT,
        || async {
            let p = get_pod(&client, "never").await.ok()?;
            waiting_reason(&p, 0).filter(|(r, _)| r == "ErrImageNeverPull")
        },
    )
    .await?;
    assert_eq!(
        message,
        r#"Container image "nosuch:2" is not present with pull policy of Never"#
    );

    node.stop().await;
    clean_up(&containerd).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_kubelet_adopts_running_containers_and_deletion_stops_them() -> Result<()> {
    let containerd = Containerd::start()?;
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let node = start_cri_node(
        client.clone(),
        NODE.into(),
        options(&containerd),
        &containerd.endpoint(),
    )
    .await?;
    apply(
        &cluster,
        pod(
            "steady",
            serde_json::json!({
                "terminationGracePeriodSeconds": 2,
                "containers": [busybox("main", "exec sleep 3600")],
            }),
        ),
    )?;
    let before = main_status(&until_running(&client, "steady").await?);

    // The kubelet goes away and comes back; the container keeps running.
    node.stop().await;
    let node = start_cri_node(
        client.clone(),
        NODE.into(),
        options(&containerd),
        &containerd.endpoint(),
    )
    .await?;
    // A second pod shows the new kubelet is working through the pods bound to it.
    apply(
        &cluster,
        pod(
            "after",
            serde_json::json!({"containers": [busybox("main", "exec sleep 3600")]}),
        ),
    )?;
    until_running(&client, "after").await?;
    let after = main_status(&get_pod(&client, "steady").await?);
    assert_eq!(after.container_id, before.container_id);
    assert_eq!(after.restart_count, 0);
    assert!(after.state.and_then(|s| s.running).is_some());

    let cri = CriRuntime::connect(&containerd.endpoint(), Duration::from_secs(60)).await?;
    let uid = get_pod(&client, "steady")
        .await?
        .metadata
        .uid
        .unwrap_or_default();
    let sandbox = cri.find_pod_sandbox(&uid).await?.context("sandbox")?;
    assert_eq!(
        cri.list_containers(&sandbox).await?.len(),
        1,
        "no second container was started"
    );

    // Deleting the pod stops its container (sleep ignores SIGTERM as PID 1, so it is killed
    // after the 2 s grace period) and the pod object goes away.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.delete("steady", &Default::default()).await?;
    until("the deleted pod to go away", START_TIMEOUT, || async {
        match pods.get_opt("steady").await {
            Ok(None) => Some(()),
            _ => None,
        }
    })
    .await?;
    assert_eq!(
        cri.find_pod_sandbox(&uid).await?,
        None,
        "the pod's sandbox is stopped and removed"
    );

    node.stop().await;
    clean_up(&containerd).await
}
