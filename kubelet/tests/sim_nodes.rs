//! Many simulated nodes in one process: `ferrokube kubelet --runtime sim --sim-nodes 3` hosts
//! three nodes that each run their own pods with IPs from their own pod CIDR, and
//! ReplicaSet-created pods bound to sim nodes through `pods/binding` become Ready so the
//! ReplicaSet (run by `ferrokube controller-manager`) reports them ready.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Result;
use common::{fast_options, pod, until, until_pod_shows};
use ferrokube_kubelet::start_sim_nodes;
use ferrokube_tests::{Cluster, ferrokube_bin};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{ListParams, PostParams};

/// A `ferrokube` process (kubelet, controller manager), killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sim_nodes_in_one_process_each_run_their_pods() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let log = std::fs::File::create(cluster.scratch().join("kubelet.log"))?;
    let _kubelet = Process(
        Command::new(ferrokube_bin())
            .arg("kubelet")
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args([
                "--runtime",
                "sim",
                "--sim-nodes",
                "3",
                "--hostname-override",
                "sim",
            ])
            .args(["--sim-start-delay", "50ms"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    until("three Ready nodes", Duration::from_secs(20), || async {
        let out = cluster.kubectl_ok(&["get", "nodes", "--no-headers"]).ok()?;
        let ready = out
            .lines()
            .filter(|l| l.starts_with("sim-") && l.split_whitespace().nth(1) == Some("Ready"))
            .count();
        (ready == 3).then_some(())
    })
    .await?;

    for i in 0..3 {
        cluster.kubectl_stdin(
            &["apply", "-f", "-"],
            &pod(&format!("web-{i}"), &format!("sim-{i}"), "sleep 3600"),
        )?;
    }
    for i in 0..3 {
        until_pod_shows(&cluster, &format!("web-{i}"), "1/1", "Running").await?;
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    for i in 0..3 {
        let node = nodes.get(&format!("sim-{i}")).await?;
        let cidr = node.spec.unwrap_or_default().pod_cidr.unwrap_or_default();
        assert_eq!(cidr, format!("10.244.{i}.0/24"));
        let internal_ip = node
            .status
            .unwrap_or_default()
            .addresses
            .unwrap_or_default()[0]
            .address
            .clone();
        let status = pods
            .get(&format!("web-{i}"))
            .await?
            .status
            .unwrap_or_default();
        let ip = status.pod_ip.unwrap_or_default();
        assert!(
            ip.starts_with(&format!("10.244.{i}.")),
            "pod IP {ip} outside {cidr}"
        );
        assert_eq!(status.host_ip.as_deref(), Some(internal_ip.as_str()));
    }
    Ok(())
}

const RS: &str = r#"{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web"},
  "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
  "template":{"metadata":{"labels":{"app":"web"}},
  "spec":{"containers":[{"name":"c","image":"nginx","command":["nginx","-g","daemon off;"]}]}}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_pods_bound_to_sim_nodes_become_ready() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let names = vec!["sim-a".to_string(), "sim-b".to_string()];
    let nodes = start_sim_nodes(client.clone(), names.clone(), fast_options()).await?;
    let log = std::fs::File::create(cluster.scratch().join("controller-manager.log"))?;
    let _controller_manager = Process(
        Command::new(ferrokube_bin())
            .arg("controller-manager")
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args([
                "--secure-port",
                "0",
                "--leader-elect=false",
                "--controllers=replicaset",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    cluster.kubectl_stdin(&["apply", "-f", "-"], RS)?;

    // Bind each pod the ReplicaSet creates, round-robin, as a scheduler would (a scheduler
    // in the server may get there first; then the binding is refused and that is fine).
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let next = std::sync::atomic::AtomicUsize::new(0);
    until("three bound pods", Duration::from_secs(30), || {
        let pods = pods.clone();
        let names = names.clone();
        let next = &next;
        async move {
            let list = pods.list(&ListParams::default().labels("app=web")).await.ok()?;
            let mut bound = 0;
            for p in list.items {
                let name = p.metadata.name.clone().unwrap_or_default();
                if p.spec.and_then(|s| s.node_name).is_some() {
                    bound += 1;
                    continue;
                }
                let binding = serde_json::json!({
                    "apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": name},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": names[next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % names.len()]},
                });
                let r = pods
                    .create_subresource::<_, serde_json::Value>(
                        "binding",
                        &name,
                        &PostParams::default(),
                        &binding,
                    )
                    .await;
                if r.is_ok() {
                    bound += 1;
                }
            }
            (bound == 3).then_some(())
        }
    })
    .await?;

    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    until(
        "readyReplicas to reach 3",
        Duration::from_secs(30),
        || async {
            let rs = replicasets.get("web").await.ok()?;
            (rs.status?.ready_replicas == Some(3)).then_some(())
        },
    )
    .await?;
    let table = cluster.kubectl_ok(&["get", "rs", "web", "--no-headers"])?;
    let cells: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(&cells[1..4], ["3", "3", "3"], "{table}");
    let running = cluster.kubectl_ok(&["get", "pods", "-l", "app=web", "--no-headers"])?;
    assert_eq!(
        running
            .lines()
            .filter(|l| l.contains("1/1") && l.contains("Running"))
            .count(),
        3,
        "{running}"
    );
    nodes.stop().await;
    Ok(())
}
