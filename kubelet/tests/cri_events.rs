//! The Events the pod worker records, as `kubectl describe pod` and `kubectl events` show
//! them: image pulls, container creation and start, restart back-off, killing on deletion,
//! The worker is the same on both runtimes, so these run on a simulated node (where every
//! image is present); `cri_streaming.rs` checks the events of pods on containerd, failed
//! pulls included.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{fast_options, until};
use ferrokube_kubelet::start_sim_nodes;
use ferrokube_tests::Cluster;

/// Generous: the machine is shared.
const TIMEOUT: Duration = Duration::from_secs(30);

fn pod(name: &str, image: &str, policy: &str, script: &str) -> String {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "nodeName": "node-1",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main", "image": image, "imagePullPolicy": policy,
                "command": ["sh", "-c", script],
            }],
        },
    })
    .to_string()
}

/// Waits until `kubectl describe pod NAME` shows every one of `lines`; returns the output.
async fn until_described(cluster: &Cluster, name: &str, lines: &[&str]) -> Result<String> {
    until(
        &format!("kubectl describe pod {name} to show {lines:?}"),
        TIMEOUT,
        || async {
            let out = cluster.kubectl_ok(&["describe", "pod", name]).ok()?;
            lines.iter().all(|l| out.contains(l)).then_some(out)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_tells_how_a_pod_was_pulled_started_and_killed() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let nodes = start_sim_nodes(client, vec!["node-1".into()], fast_options()).await?;
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &pod("web", "busybox", "Always", "sleep 3600"),
    )?;
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &pod("local", "busybox:1.36", "IfNotPresent", "sleep 3600"),
    )?;

    let described = until_described(
        &cluster,
        "web",
        &[
            r#"Pulling image "busybox""#,
            r#"Successfully pulled image "busybox" in "#,
            "Created container: main",
            "Started container main",
        ],
    )
    .await?;
    assert!(
        described.contains("kubelet"),
        "from the kubelet:\n{described}"
    );
    until_described(
        &cluster,
        "local",
        &[r#"Container image "busybox:1.36" already present on machine"#],
    )
    .await?;

    // `kubectl events` lists the same story for the pod.
    let listed = cluster.kubectl_ok(&["events", "--for", "pod/web"])?;
    for reason in ["Pulling", "Pulled", "Created", "Started"] {
        assert!(listed.contains(reason), "missing {reason} in:\n{listed}");
    }

    // Container events name the container, as upstream's `involvedObject.fieldPath`.
    let paths = cluster.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
        "-o",
        "custom-columns=REASON:.reason,FIELD:.involvedObject.fieldPath",
    ])?;
    assert!(
        paths
            .lines()
            .any(|l| l.starts_with("Started") && l.ends_with("spec.containers{main}")),
        "the Started event names spec.containers{{main}}:\n{paths}"
    );

    // Deleting the pod kills its container first; the Event outlives the pod.
    cluster.kubectl_ok(&["delete", "pod", "web", "--wait=false"])?;
    until("the Killing event", TIMEOUT, || async {
        let out = cluster
            .kubectl_ok(&[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=web",
            ])
            .ok()?;
        out.contains("Stopping container main").then_some(())
    })
    .await?;

    nodes.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_container_backs_off_with_upstreams_message() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let nodes = start_sim_nodes(client, vec!["node-1".into()], fast_options()).await?;
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &pod("crashy", "busybox", "IfNotPresent", "exit 1"),
    )?;

    let uid = cluster.kubectl_ok(&["get", "pod", "crashy", "-o", "jsonpath={.metadata.uid}"])?;
    let back_off =
        format!("Back-off restarting failed container main in pod crashy_default({uid})");
    let described = until_described(&cluster, "crashy", &[&back_off]).await?;
    assert!(described.contains("BackOff"), "{described}");

    nodes.stop().await;
    Ok(())
}
