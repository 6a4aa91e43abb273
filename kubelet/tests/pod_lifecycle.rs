//! Pods on a simulated node, as a user sees them: bound pods become Running and Ready with an
//! upstream-shaped status, init containers run first, containers that exit end their pods per
//! `restartPolicy`, and a deleted pod goes away only after the kubelet stopped it.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{fast_options, get_pod, pod, ready_and_status, until, until_pod_shows};
use ferrokube_kubelet::start_sim_nodes;
use ferrokube_tests::Cluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{WatchEvent, WatchParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_pod_becomes_running_and_ready_with_upstream_status() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let nodes = start_sim_nodes(client.clone(), vec!["node-1".into()], fast_options()).await?;
    cluster.kubectl_stdin(&["apply", "-f", "-"], &pod("web", "node-1", "sleep 3600"))?;

    until_pod_shows(&cluster, "web", "1/1", "Running").await?;

    let p = get_pod(&client, "web").await?;
    let status = p.status.unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let conditions: Vec<(String, String)> = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    for t in [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ] {
        assert!(
            conditions.contains(&(t.to_string(), "True".to_string())),
            "{t} should be True: {conditions:?}"
        );
    }
    let c = &status.container_statuses.unwrap_or_default()[0];
    assert!(c.ready);
    assert_eq!(c.started, Some(true));
    assert_eq!(c.restart_count, 0);
    assert_eq!(c.image, "docker.io/library/busybox:latest");
    assert!(
        c.image_id.starts_with("docker.io/library/busybox@sha256:"),
        "{}",
        c.image_id
    );
    assert!(
        c.container_id
            .as_deref()
            .unwrap_or("")
            .starts_with("sim://")
    );
    let running = c
        .state
        .clone()
        .unwrap_or_default()
        .running
        .expect("running");
    assert!(running.started_at.is_some());
    assert!(
        status
            .pod_ip
            .as_deref()
            .unwrap_or("")
            .starts_with("10.244.")
    );
    assert_eq!(status.host_ip.as_deref(), Some("10.0.0.2"));
    assert!(status.start_time.is_some());
    assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));

    let wide = cluster.kubectl_ok(&["get", "pod", "web", "-o", "wide", "--no-headers"])?;
    assert!(
        wide.contains("node-1") && wide.contains("10.244."),
        "{wide}"
    );
    nodes.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_container_runs_to_completion_before_the_containers() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let mut options = fast_options();
    // Long enough for kubectl to see the init container at work.
    options.sim.run_duration = Duration::from_millis(1500);
    let nodes = start_sim_nodes(client.clone(), vec!["node-1".into()], options).await?;
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app"},
  "spec":{"nodeName":"node-1",
  "initContainers":[{"name":"setup","image":"busybox","command":["sh","-c","echo setting up"]}],
  "containers":[{"name":"main","image":"busybox","command":["sleep","3600"]}]}}"#,
    )?;
    until_pod_shows(&cluster, "app", "0/1", "Init:0/1").await?;
    until_pod_shows(&cluster, "app", "1/1", "Running").await?;

    let status = get_pod(&client, "app").await?.status.unwrap_or_default();
    let setup = &status.init_container_statuses.unwrap_or_default()[0];
    let done = setup
        .state
        .clone()
        .unwrap_or_default()
        .terminated
        .expect("terminated");
    assert_eq!(done.reason.as_deref(), Some("Completed"));
    assert_eq!(done.exit_code, 0);
    assert!(setup.ready);
    nodes.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_that_exit_end_their_pods_per_restart_policy() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let nodes = start_sim_nodes(client.clone(), vec!["node-1".into()], fast_options()).await?;
    let job = |name: &str, policy: &str, command: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"}},
  "spec":{{"nodeName":"node-1","restartPolicy":"{policy}",
  "containers":[{{"name":"main","image":"busybox","command":["sh","-c","{command}"]}}]}}}}"#
        )
    };
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &job("ok", "Never", "echo done; exit 0"),
    )?;
    cluster.kubectl_stdin(&["apply", "-f", "-"], &job("broken", "Never", "exit 3"))?;
    cluster.kubectl_stdin(&["apply", "-f", "-"], &job("crashy", "Always", "exit 1"))?;

    until_pod_shows(&cluster, "ok", "0/1", "Completed").await?;
    until_pod_shows(&cluster, "broken", "0/1", "Error").await?;
    let broken = get_pod(&client, "broken").await?.status.unwrap_or_default();
    assert_eq!(broken.phase.as_deref(), Some("Failed"));
    let exit = broken.container_statuses.unwrap_or_default()[0]
        .state
        .clone()
        .unwrap_or_default()
        .terminated
        .expect("terminated");
    assert_eq!(exit.exit_code, 3);
    assert_eq!(
        get_pod(&client, "ok")
            .await?
            .status
            .unwrap_or_default()
            .phase
            .as_deref(),
        Some("Succeeded")
    );

    // A crashing container with restartPolicy Always is restarted, then backs off.
    until(
        "the crashing container to back off",
        Duration::from_secs(20),
        || async {
            let (_, status) = ready_and_status(&cluster, "crashy")?;
            (status == "CrashLoopBackOff").then_some(())
        },
    )
    .await?;
    until("a second restart", Duration::from_secs(20), || async {
        let p = get_pod(&client, "crashy").await.ok()?;
        let restarts = p.status?.container_statuses?.first()?.restart_count;
        (restarts >= 2).then_some(())
    })
    .await?;
    nodes.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pod_is_removed_after_the_kubelet_stops_it() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let nodes = start_sim_nodes(client.clone(), vec!["node-1".into()], fast_options()).await?;
    cluster.kubectl_stdin(&["apply", "-f", "-"], &pod("web", "node-1", "sleep 3600"))?;
    until_pod_shows(&cluster, "web", "1/1", "Running").await?;

    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rv = api
        .get("web")
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut events = api
        .watch(&WatchParams::default().fields("metadata.name=web"), &rv)
        .await?
        .boxed();
    cluster.kubectl_ok(&["delete", "pod", "web", "--timeout=30s"])?;

    let mut stopped_before_removal = false;
    let mut removed = false;
    let watched = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.try_next().await? {
            match event {
                WatchEvent::Modified(p) => {
                    let all_terminated = p
                        .status
                        .and_then(|s| s.container_statuses)
                        .unwrap_or_default()
                        .iter()
                        .all(|c| c.state.as_ref().is_some_and(|s| s.terminated.is_some()));
                    if p.metadata.deletion_timestamp.is_some() && all_terminated {
                        stopped_before_removal = true;
                    }
                }
                WatchEvent::Deleted(_) => {
                    removed = true;
                    break;
                }
                _ => {}
            }
        }
        anyhow::Ok(())
    })
    .await;
    assert!(watched.is_ok(), "the pod was not removed within 30 s");
    assert!(removed, "the watch ended before the pod was removed");
    assert!(
        stopped_before_removal,
        "the pod was removed before its containers were reported stopped"
    );
    assert!(
        cluster
            .kubectl_ok(&["get", "pods", "--no-headers"])?
            .trim()
            .is_empty()
    );
    nodes.stop().await;
    Ok(())
}
