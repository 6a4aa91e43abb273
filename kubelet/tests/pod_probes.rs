//! Probes on a simulated node, where a pod annotation injects their outcome
//! (`sim.ferrokube.io/probe-<container>-<kind>: fail`): a failing liveness probe restarts the
//! container with upstream's `Unhealthy` and `Killing` events, a failing readiness probe keeps
//! the pod running but not Ready until it passes, and a startup probe holds `started` until it
//! passes.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{fast_options, get_pod, until, until_pod_shows};
use ferrokube_kubelet::start_sim_nodes;
use ferrokube_tests::Cluster;

fn probed_pod(name: &str, probe: &str, annotation: Option<(&str, &str)>) -> String {
    let annotations = annotation
        .map(|(kind, value)| {
            format!(r#","annotations":{{"sim.ferrokube.io/probe-main-{kind}":"{value}"}}"#)
        })
        .unwrap_or_default();
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"{annotations}}},
  "spec":{{"nodeName":"node-1","containers":[{{"name":"main","image":"busybox",
  "command":["sh","-c","sleep 3600"],
  "{probe}":{{"exec":{{"command":["cat","/tmp/healthy"]}},"periodSeconds":1,"failureThreshold":1}}}}]}}}}"#
    )
}

fn events_of(cluster: &Cluster, pod: &str) -> String {
    cluster
        .kubectl_ok(&[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={pod}"),
            "-o",
            "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
        ])
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_liveness_probe_restarts_the_container() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let root = tempfile::tempdir()?;
    let mut options = fast_options();
    options.root_dir = root.path().to_path_buf();
    let nodes = start_sim_nodes(client.clone(), vec!["node-1".into()], options).await?;
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &probed_pod("sick", "livenessProbe", Some(("liveness", "fail"))),
    )?;

    until(
        "the container to be restarted",
        Duration::from_secs(30),
        || async {
            let pod = get_pod(&client, "sick").await.ok()?;
            let status = pod.status?.container_statuses?.into_iter().next()?;
            (status.restart_count >= 1).then_some(())
        },
    )
    .await?;

    let events = until(
        "Unhealthy and Killing events",
        Duration::from_secs(20),
        || async {
            let events = events_of(&cluster, "sick");
            (events.contains("Killing:") && events.contains("Unhealthy:")).then_some(events)
        },
    )
    .await?;
    assert!(
        events.contains("Killing: Container main failed liveness probe, will be restarted"),
        "{events}"
    );
    assert!(
        events.contains("Unhealthy: Liveness probe failed: simulated failure"),
        "{events}"
    );
    nodes.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_readiness_probe_keeps_the_pod_running_but_not_ready() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let root = tempfile::tempdir()?;
    let mut options = fast_options();
    options.root_dir = root.path().to_path_buf();
    let nodes = start_sim_nodes(client.clone(), vec!["node-1".into()], options).await?;
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &probed_pod("shy", "readinessProbe", Some(("readiness", "fail"))),
    )?;

    until_pod_shows(&cluster, "shy", "0/1", "Running").await?;
    until("an Unhealthy event", Duration::from_secs(20), || async {
        events_of(&cluster, "shy")
            .contains("Unhealthy: Readiness probe failed: simulated failure")
            .then_some(())
    })
    .await?;
    let pod = get_pod(&client, "shy").await?;
    let status = pod.status.unwrap_or_default();
    let ready = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("a Ready condition");
    assert_eq!(ready.status, "False");
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [main]")
    );
    let container = &status.container_statuses.unwrap_or_default()[0];
    assert!(!container.ready);
    assert_eq!(container.started, Some(true));
    assert_eq!(container.restart_count, 0);

    cluster.kubectl_ok(&[
        "annotate",
        "pod",
        "shy",
        "--overwrite",
        "sim.ferrokube.io/probe-main-readiness=pass",
    ])?;
    until_pod_shows(&cluster, "shy", "1/1", "Running").await?;
    nodes.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_probe_holds_started_until_it_passes() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let root = tempfile::tempdir()?;
    let mut options = fast_options();
    options.root_dir = root.path().to_path_buf();
    let nodes = start_sim_nodes(client.clone(), vec!["node-1".into()], options).await?;
    // failureThreshold 1000: the failing startup probe does not restart it during the test.
    let manifest = probed_pod("slow", "startupProbe", Some(("startup", "fail")))
        .replace(r#""failureThreshold":1"#, r#""failureThreshold":1000"#);
    cluster.kubectl_stdin(&["apply", "-f", "-"], &manifest)?;

    until_pod_shows(&cluster, "slow", "0/1", "Running").await?;
    let pod = get_pod(&client, "slow").await?;
    let container = &pod
        .status
        .unwrap_or_default()
        .container_statuses
        .unwrap_or_default()[0];
    assert_eq!(container.started, Some(false));

    cluster.kubectl_ok(&[
        "annotate",
        "pod",
        "slow",
        "--overwrite",
        "sim.ferrokube.io/probe-main-startup=pass",
    ])?;
    until_pod_shows(&cluster, "slow", "1/1", "Running").await?;
    let pod = get_pod(&client, "slow").await?;
    let container = &pod
        .status
        .unwrap_or_default()
        .container_statuses
        .unwrap_or_default()[0];
    assert_eq!(container.started, Some(true));
    nodes.stop().await;
    Ok(())
}
