//! `kubectl logs`, `kubectl exec` and `kubectl describe` on a pod that runs on a real
//! containerd: the `cri` kubelet serves `:10250` on its node IP as simulated nodes do, the API
//! server proxies `pods/log` and `pods/exec` to it, logs come from the CRI-format files
//! containerd writes where the kubelet told it, exec (stdin, stdout, stderr, exit code) is
//! bridged to containerd's streaming server, and the pod's Events tell its story as upstream's
//! kubelet tells it.

mod common;

use std::time::Duration;

use anyhow::{Context, Result};
use common::{cri_busybox_pod, cri_node_with_server, until, until_running};
use ferrokube_kubelet::runtime::cri::CriRuntime;
use ferrokube_tests::Cluster;
use ferrokube_tests::containerd::Containerd;
use k8s_openapi::api::core::v1::Event;
use kube::Api;

const NODE: &str = "cri-stream-node";

/// Generous: containers start in well under a second, but the machine is shared.
const START_TIMEOUT: Duration = Duration::from_secs(40);

/// Waits until `kubectl describe pod NAME` shows every one of `lines`.
async fn until_described_with(cluster: &Cluster, name: &str, lines: &[&str]) -> Result<String> {
    until(
        &format!("kubectl describe pod {name} to show {lines:?}"),
        START_TIMEOUT,
        || async {
            let out = cluster.kubectl_ok(&["describe", "pod", name]).ok()?;
            lines.iter().all(|l| out.contains(l)).then_some(out)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_exec_and_describe_work_for_a_containerd_pod() -> Result<()> {
    let containerd = Containerd::start()?;
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let node = cri_node_with_server(&cluster, &containerd, NODE).await?;
    assert!(node.server_address().is_some(), "the node serves :10250");

    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &cri_busybox_pod(
            "talker",
            NODE,
            "echo hello from containerd; exec sleep 3600",
        ),
    )?;
    let never = cri_busybox_pod("never", NODE, "sleep 3600")
        .replace("IfNotPresent", "Never")
        .replace(r#""busybox""#, r#""nosuch:2""#);
    cluster.kubectl_stdin(&["apply", "-f", "-"], &never)?;
    until_running(&client, "talker", START_TIMEOUT).await?;

    // The log file is written by containerd, read by the kubelet, proxied by the API server.
    let logs = until("kubectl logs to show the echo", START_TIMEOUT, || async {
        let out = cluster.kubectl_ok(&["logs", "talker"]).ok()?;
        out.contains("hello from containerd").then_some(out)
    })
    .await?;
    assert_eq!(logs.trim(), "hello from containerd");

    // exec runs in the container: its hostname is the pod's name.
    let hostname = cluster.kubectl_ok(&["exec", "talker", "--", "cat", "/etc/hostname"])?;
    assert_eq!(hostname.trim(), "talker");
    let both =
        cluster.kubectl_ok(&["exec", "talker", "--", "sh", "-c", "echo out; echo err >&2"])?;
    assert!(both.contains("out"), "{both}");
    // A failing command's exit code reaches kubectl.
    let status = cluster
        .kubectl()
        .args(["exec", "talker", "--", "sh", "-c", "exit 3"])
        .stderr(std::process::Stdio::null())
        .status()?;
    assert_eq!(status.code(), Some(3));
    // Standard input reaches the command (which ends after five bytes, without EOF).
    let echoed = cluster.kubectl_stdin(
        &["exec", "-i", "talker", "--", "head", "-c", "5"],
        "hello, stdin",
    )?;
    assert_eq!(echoed, "hello");

    // describe tells the story with upstream's reasons and messages, from the kubelet.
    let described = until("the Started event", START_TIMEOUT, || async {
        let out = cluster.kubectl_ok(&["describe", "pod", "talker"]).ok()?;
        out.contains("Started container main").then_some(out)
    })
    .await?;
    for line in [
        r#"Container image "busybox" already present on machine"#,
        "Created container: main",
        "Started container main",
    ] {
        assert!(
            described.contains(line),
            "missing {line:?} in:\n{described}"
        );
    }
    // A missing image with pull policy Never fails as upstream reports it.
    until_described_with(
        &cluster,
        "never",
        &[
            r#"Container image "nosuch:2" is not present with pull policy of Never"#,
            "Error: ErrImageNeverPull",
        ],
    )
    .await?;

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let started = events
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("Started"))
        .context("a Started event")?;
    let source = started.source.unwrap_or_default();
    assert_eq!(
        (source.component.as_deref(), source.host.as_deref()),
        (Some("kubelet"), Some(NODE))
    );

    node.stop().await;
    let cri = CriRuntime::connect(&containerd.endpoint(), Duration::from_secs(60)).await?;
    cri.remove_all_pod_sandboxes().await?;
    Ok(())
}
