//! The node lifecycle and taint-eviction controllers end to end: a real API server, the
//! `ferrokube scheduler` binary, the controller manager in-process (node lifecycle, taint
//! eviction, Deployment and ReplicaSet controllers; a 1 s monitor period and a 4.5 s grace
//! period) and simulated nodes whose heartbeats the tests stop and resume.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Result;
use ferrokube_controllers::Config;
use ferrokube_controllers::nodelifecycle;
use ferrokube_kubelet::{NodeOptions, SimNodes, start_sim_nodes};
use ferrokube_tests::ferrokube_bin;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};
use support::{Env, ready as running_and_ready, until_within};

/// How long a wait may take: the grace period plus scheduling and start-up on a loaded
/// machine.
const GRACE: Duration = Duration::from_secs(45);

/// The scheduler binary, killed (by its own pid) when dropped.
struct Scheduler(Child);

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A cluster with the scheduler binary and simulated nodes besides the controller manager.
struct Lifecycle {
    nodes: SimNodes,
    _scheduler: Scheduler,
    env: Env,
}

impl std::ops::Deref for Lifecycle {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

impl Lifecycle {
    /// A cluster with simulated nodes `names`, all in zone `zone-a`.
    async fn start(names: &[&str]) -> Result<Lifecycle> {
        let env = Env::start_with(Config {
            controllers: [
                "nodelifecycle",
                "taint-eviction-controller",
                "deployment",
                "replicaset",
            ]
            .map(String::from)
            .to_vec(),
            leader_elect: false,
            health_addr: None,
            node_lifecycle: nodelifecycle::Settings {
                monitor_period: Duration::from_secs(1),
                grace_period: Duration::from_millis(4500),
                startup_grace_period: Duration::from_secs(10),
                ..Default::default()
            },
            ..Default::default()
        })
        .await?;
        let cluster = &env.cluster;
        let scheduler = Scheduler(
            Command::new(ferrokube_bin())
                .args(["scheduler", "--leader-elect=false", "--secure-port", "0"])
                .arg("--kubeconfig")
                .arg(cluster.kubeconfig())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        let mut options = NodeOptions {
            lease_renew_interval: Duration::from_millis(300),
            node_status_update_frequency: Duration::from_millis(300),
            root_dir: cluster.scratch().join("kubelet"),
            pod_logs_dir: cluster.scratch().join("pods"),
            ..Default::default()
        };
        options
            .node_labels
            .insert("topology.kubernetes.io/zone".into(), "zone-a".into());
        options.sim.start_delay = Duration::from_millis(100);
        options.sim.stop_delay = Duration::from_millis(100);
        let names = names.iter().map(|n| n.to_string()).collect();
        let nodes = start_sim_nodes(env.client.clone(), names, options).await?;
        Ok(Lifecycle {
            nodes,
            _scheduler: scheduler,
            env,
        })
    }

    fn pods(&self) -> Api<Pod> {
        self.api()
    }

    fn node_api(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// Pods (not terminating) labelled `app=<app>`.
    async fn live_pods(&self, app: &str) -> Result<Vec<Pod>> {
        let lp = ListParams::default().labels(&format!("app={app}"));
        Ok(self
            .pods()
            .list(&lp)
            .await?
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect())
    }

    async fn ready(&self, node: &str) -> Result<Option<String>> {
        let n = self.node_api().get(node).await?;
        Ok(n.status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status))
    }

    /// The node's taints as `key:Effect`.
    async fn taints(&self, node: &str) -> Result<Vec<String>> {
        let n = self.node_api().get(node).await?;
        Ok(n.spec
            .and_then(|s| s.taints)
            .unwrap_or_default()
            .into_iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect())
    }
}

fn node_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

fn tolerate_unreachable_for(seconds: i64) -> Value {
    json!([
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": seconds},
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": seconds}
    ])
}

const UNREACHABLE_NO_SCHEDULE: &str = "node.kubernetes.io/unreachable:NoSchedule";
const UNREACHABLE_NO_EXECUTE: &str = "node.kubernetes.io/unreachable:NoExecute";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_node_is_tainted_its_pods_move_and_it_heals_when_heartbeats_return() -> Result<()>
{
    let env = Lifecycle::start(&["node-a", "node-b", "node-c"]).await?;
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"tolerations": tolerate_unreachable_for(0),
                    "containers": [{"name": "web", "image": "nginx"}]}}}}))?;
    Api::<Deployment>::namespaced(env.client.clone(), "default")
        .create(&PostParams::default(), &deployment)
        .await?;
    let pods = until_within("six ready web pods", GRACE, || async {
        let pods = env.live_pods("web").await?;
        Ok((pods.len() == 6 && pods.iter().all(running_and_ready)).then_some(pods))
    })
    .await?;
    let victim = node_of(&pods[0]);
    let patient: Pod = serde_json::from_value(json!({
        "metadata": {"name": "patient", "labels": {"app": "patient"}},
        "spec": {"nodeName": victim, "tolerations": tolerate_unreachable_for(60),
            "containers": [{"name": "c", "image": "busybox"}]}}))?;
    env.pods().create(&PostParams::default(), &patient).await?;

    assert!(env.nodes.stop_heartbeat(&victim));

    until_within(
        "the silent node to turn Unknown and be tainted",
        GRACE,
        || async {
            let taints = env.taints(&victim).await?;
            let tainted = taints.iter().any(|t| t == UNREACHABLE_NO_SCHEDULE)
                && taints.iter().any(|t| t == UNREACHABLE_NO_EXECUTE);
            Ok((env.ready(&victim).await?.as_deref() == Some("Unknown") && tainted).then_some(()))
        },
    )
    .await?;
    let node = env.node_api().get(&victim).await?;
    let ready = node
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("a Ready condition");
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        ready.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );

    let moved = until_within(
        "six ready web pods, none on the silent node",
        GRACE,
        || async {
            let pods = env.live_pods("web").await?;
            let ok = pods.len() == 6
                && pods.iter().all(running_and_ready)
                && pods.iter().all(|p| node_of(p) != victim);
            Ok(ok.then_some(pods))
        },
    )
    .await?;
    assert!(moved.iter().all(|p| node_of(p) != victim));
    let evictions = env.event_messages("TaintManagerEviction").await?;
    assert!(
        evictions
            .iter()
            .any(|m| m.starts_with("Marking for deletion Pod default/web-")),
        "{evictions:?}"
    );
    let not_ready = env.event_messages("NodeNotReady").await?;
    assert!(
        not_ready.contains(&format!("Node {victim} status is now: NodeNotReady")),
        "{not_ready:?}"
    );
    let patient = env.pods().get("patient").await?;
    assert!(
        patient.metadata.deletion_timestamp.is_none(),
        "a pod tolerating the taint for 60 s stays"
    );

    assert!(env.nodes.resume_heartbeat(&victim));
    until_within(
        "the node to be Ready and untainted again",
        GRACE,
        || async {
            let taints = env.taints(&victim).await?;
            let untainted = !taints.iter().any(|t| t.starts_with("node.kubernetes.io/"));
            Ok((env.ready(&victim).await?.as_deref() == Some("True") && untainted).then_some(()))
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_failing_at_once_evicts_nothing() -> Result<()> {
    let names = ["node-a", "node-b", "node-c"];
    let env = Lifecycle::start(&names).await?;
    for (i, node) in names.iter().enumerate() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("pod-{i}"), "labels": {"app": "pinned"}},
            "spec": {"nodeName": node, "tolerations": tolerate_unreachable_for(0),
                "containers": [{"name": "c", "image": "busybox"}]}}))?;
        env.pods().create(&PostParams::default(), &pod).await?;
    }
    until_within("three running pods", GRACE, || async {
        let pods = env.live_pods("pinned").await?;
        Ok((pods.len() == 3 && pods.iter().all(running_and_ready)).then_some(()))
    })
    .await?;

    for node in names {
        env.nodes.stop_heartbeat(node);
    }
    until_within("every node Unknown and unschedulable", GRACE, || async {
        for node in names {
            let unknown = env.ready(node).await?.as_deref() == Some("Unknown");
            if !unknown
                || !env
                    .taints(node)
                    .await?
                    .iter()
                    .any(|t| t == UNREACHABLE_NO_SCHEDULE)
            {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .await?;
    // A few more monitor passes (1 s each): the zone is fully disrupted, so nothing is tainted
    // NoExecute and no pod is deleted.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for node in names {
        let taints = env.taints(node).await?;
        assert!(
            !taints.iter().any(|t| t.ends_with(":NoExecute")),
            "{node}: {taints:?}"
        );
    }
    assert_eq!(env.live_pods("pinned").await?.len(), 3);

    for node in names {
        env.nodes.resume_heartbeat(node);
    }
    until_within("every node Ready and untainted again", GRACE, || async {
        for node in names {
            let ready = env.ready(node).await?.as_deref() == Some("True");
            if !ready || !env.taints(node).await?.is_empty() {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .await?;
    Ok(())
}
