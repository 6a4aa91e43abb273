//! The kubelet's HTTPS server on a simulated node, called as the API server and scrapers call
//! it: only authenticated callers are served; `/healthz`, `/pods`, `/metrics` and
//! `/stats/summary` describe the node; `/containerLogs` reads what the containers wrote, with
//! upstream's `tailLines`, `limitBytes`, `timestamps` and `previous`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::{fast_options, get_pod, pod, until, until_pod_shows};
use ferrokube_kubelet::server::ServerOptions;
use ferrokube_kubelet::{NodeOptions, SimNodes, start_sim_nodes};
use ferrokube_tests::Cluster;
use k8s_openapi::api::core::v1::Node;
use kube::Api;

/// A simulated node `node-1` on 127.0.0.1 whose server listens on a free port, trusting
/// client certificates of the cluster's CA, with its logs in a temporary directory.
async fn node_with_server(cluster: &Cluster, logs: &Path) -> Result<SimNodes> {
    let ca = std::fs::read_to_string(data_dir(cluster).join("tls/ca.crt"))?;
    let options = NodeOptions {
        node_ip: "127.0.0.1".parse()?,
        pod_logs_dir: logs.to_path_buf(),
        server: Some(ServerOptions {
            port: 0,
            client_ca_pem: Some(ca),
            ..Default::default()
        }),
        ..fast_options()
    };
    Ok(start_sim_nodes(cluster.client().await?, vec!["node-1".into()], options).await?)
}

fn data_dir(cluster: &Cluster) -> PathBuf {
    cluster
        .kubeconfig()
        .parent()
        .expect("the kubeconfig is in the data directory")
        .to_path_buf()
}

/// `curl` against the node's server: (HTTP code, body). `auth` is extra curl arguments.
fn curl(nodes: &SimNodes, path: &str, auth: &[&str]) -> Result<(u16, String)> {
    let addr = nodes.server_addresses()[0];
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(auth)
        .arg(format!("https://{addr}{path}"))
        .output()
        .context("running curl")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    Ok((code.trim().parse().unwrap_or(0), body.to_string()))
}

/// Calls the server with the admin client certificate (signed by the cluster CA).
fn curl_as_admin(cluster: &Cluster, nodes: &SimNodes, path: &str) -> Result<String> {
    let tls = data_dir(cluster).join("tls");
    let cert = tls.join("admin.crt").display().to_string();
    let key = tls.join("admin.key").display().to_string();
    let (code, body) = curl(nodes, path, &["--cert", &cert, "--key", &key])?;
    if code != 200 {
        bail!("GET {path} answered {code}: {body}");
    }
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_authenticated_callers_are_served_and_the_node_publishes_the_port() -> Result<()> {
    let cluster = Cluster::start()?;
    let logs = tempfile::tempdir()?;
    let nodes = node_with_server(&cluster, logs.path()).await?;

    let (code, body) = curl(&nodes, "/healthz", &[])?;
    assert_eq!((code, body.trim()), (401, "Unauthorized"));
    let (code, _) = curl(
        &nodes,
        "/pods",
        &["-H", "Authorization: Bearer not-a-token"],
    )?;
    assert_eq!(code, 401, "a token no TokenReview vouches for is refused");
    assert_eq!(curl_as_admin(&cluster, &nodes, "/healthz")?, "ok");

    let node = Api::<Node>::all(cluster.client().await?)
        .get("node-1")
        .await?;
    let port = node
        .status
        .and_then(|s| s.daemon_endpoints)
        .and_then(|d| d.kubelet_endpoint)
        .map(|e| e.port);
    assert_eq!(port, Some(i32::from(nodes.server_addresses()[0].port())));
    nodes.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_metrics_and_stats_describe_what_runs_on_the_node() -> Result<()> {
    let cluster = Cluster::start()?;
    let logs = tempfile::tempdir()?;
    let nodes = node_with_server(&cluster, logs.path()).await?;
    cluster.kubectl_stdin(&["apply", "-f", "-"], &pod("web", "node-1", "sleep 3600"))?;
    until_pod_shows(&cluster, "web", "1/1", "Running").await?;

    let pods: serde_json::Value = serde_json::from_str(&curl_as_admin(&cluster, &nodes, "/pods")?)?;
    assert_eq!(pods["kind"], "PodList");
    assert_eq!(pods["items"][0]["metadata"]["name"], "web");

    let metrics = curl_as_admin(&cluster, &nodes, "/metrics")?;
    assert!(metrics.contains("kubelet_running_pods 1\n"), "{metrics}");
    assert!(
        metrics.contains("kubelet_running_containers{container_state=\"running\"} 1\n"),
        "{metrics}"
    );

    let summary: serde_json::Value =
        serde_json::from_str(&curl_as_admin(&cluster, &nodes, "/stats/summary")?)?;
    assert_eq!(summary["node"]["nodeName"], "node-1");
    assert_eq!(summary["pods"][0]["podRef"]["name"], "web");
    assert_eq!(summary["pods"][0]["containers"][0]["name"], "main");
    assert_eq!(summary["pods"][0]["cpu"]["usageNanoCores"], 0);
    nodes.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_logs_honour_tail_limit_timestamps_and_previous() -> Result<()> {
    let cluster = Cluster::start()?;
    let logs = tempfile::tempdir()?;
    let nodes = node_with_server(&cluster, logs.path()).await?;
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &pod("talk", "node-1", "echo one; echo two; sleep 3600"),
    )?;
    until_pod_shows(&cluster, "talk", "1/1", "Running").await?;

    let base = "/containerLogs/default/talk/main";
    assert_eq!(
        curl_as_admin(&cluster, &nodes, base)?,
        "simulated container main started\none\ntwo\n"
    );
    assert_eq!(
        curl_as_admin(&cluster, &nodes, &format!("{base}?tailLines=1"))?,
        "two\n"
    );
    assert_eq!(
        curl_as_admin(
            &cluster,
            &nodes,
            &format!("{base}?tailLines=2&limitBytes=6")
        )?,
        "one\ntw"
    );
    let stamped = curl_as_admin(
        &cluster,
        &nodes,
        &format!("{base}?timestamps=true&tailLines=1"),
    )?;
    let (stamp, line) = stamped.split_once(' ').context("a timestamp prefix")?;
    assert_eq!(line, "two\n");
    assert!(
        stamp.ends_with('Z') && stamp.len() == "2026-01-01T00:00:00.000000000Z".len(),
        "{stamp}"
    );
    let (code, body) = curl(
        &nodes,
        &format!("{base}?previous=true"),
        &[
            "--cert",
            &data_dir(&cluster)
                .join("tls/admin.crt")
                .display()
                .to_string(),
            "--key",
            &data_dir(&cluster)
                .join("tls/admin.key")
                .display()
                .to_string(),
        ],
    )?;
    assert_eq!(code, 400);
    assert_eq!(
        body.trim(),
        "previous terminated container \"main\" in pod \"talk\" not found"
    );

    // A container that exits is restarted: its previous instance's log stays readable.
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &pod("flaky", "node-1", "echo attempt; exit 1"),
    )?;
    until(
        "flaky to have restarted",
        Duration::from_secs(30),
        || async {
            let p = get_pod(&cluster.client().await.ok()?, "flaky").await.ok()?;
            let s = p.status?.container_statuses?.into_iter().next()?;
            (s.restart_count >= 1 && s.last_state?.terminated.is_some()).then_some(())
        },
    )
    .await?;
    assert_eq!(
        curl_as_admin(
            &cluster,
            &nodes,
            "/containerLogs/default/flaky/main?previous=true"
        )?,
        "simulated container main started\nattempt\n"
    );
    let (code, body) = curl(
        &nodes,
        "/containerLogs/default/nope/main",
        &[
            "--cert",
            &data_dir(&cluster)
                .join("tls/admin.crt")
                .display()
                .to_string(),
            "--key",
            &data_dir(&cluster)
                .join("tls/admin.key")
                .display()
                .to_string(),
        ],
    )?;
    assert_eq!((code, body.trim()), (404, "pod \"nope\" does not exist"));
    nodes.stop().await;
    Ok(())
}
