//! Inter-pod affinity as a user sees it: a real API server, the in-process controller
//! manager (ReplicaSets, Deployments) and scheduler, and simulated nodes. Required
//! anti-affinity spreads a Deployment one pod per node and leaves the extra replica Pending
//! with upstream's FailedScheduling message; required affinity puts pods next to the pod
//! they ask for.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};
use ferrokube_kubelet::{NodeOptions, SimNodes, start_sim_nodes};
use ferrokube_tests::Cluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A cluster with our controllers, scheduler and simulated nodes; all stop when dropped.
struct Env {
    _cluster: Cluster,
    client: kube::Client,
    _nodes: SimNodes,
    _stop: oneshot::Sender<()>,
}

async fn env(nodes: &[&str]) -> Result<Env> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = shared_stop(stopped);
    ferrokube_controllers::start(
        ferrokube_controllers::Config {
            kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
            controllers: vec!["replicaset".into(), "deployment".into()],
            leader_elect: false,
            health_addr: None,
            ..Default::default()
        },
        stopped.clone().wait(),
    )
    .await?;
    ferrokube_scheduler::start(
        ferrokube_scheduler::Config {
            kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
            leader_elect: false,
            health_addr: None,
            ..Default::default()
        },
        stopped.wait(),
    )
    .await?;
    let mut options = NodeOptions {
        root_dir: cluster.scratch().join("kubelet"),
        pod_logs_dir: cluster.scratch().join("pods"),
        ..Default::default()
    };
    options.sim.start_delay = Duration::from_millis(50);
    let sim = start_sim_nodes(
        client.clone(),
        nodes.iter().map(|n| n.to_string()).collect(),
        options,
    )
    .await?;
    Ok(Env {
        _cluster: cluster,
        client,
        _nodes: sim,
        _stop: stop,
    })
}

/// A stop signal several components can wait on.
#[derive(Clone)]
struct Shared(tokio::sync::watch::Receiver<bool>);

fn shared_stop(stopped: oneshot::Receiver<()>) -> Shared {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = stopped.await;
        let _ = tx.send(true);
    });
    Shared(rx)
}

impl Shared {
    async fn wait(mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }
}

impl Env {
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn create_deployment(&self, name: &str, replicas: i32, pod_spec: Value) -> Result<()> {
        let mut spec = json!({"containers": [{"name": "c", "image": "busybox",
            "command": ["sleep", "3600"]}]});
        if let (Some(s), Some(extra)) = (spec.as_object_mut(), pod_spec.as_object()) {
            s.extend(extra.clone());
        }
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
        }))?;
        Api::<Deployment>::namespaced(self.client.clone(), "default")
            .create(&PostParams::default(), &d)
            .await?;
        Ok(())
    }

    async fn pods_of(&self, app: &str) -> Result<Vec<Pod>> {
        Ok(self
            .pods()
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await?
            .items)
    }
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn unschedulable_message(p: &Pod) -> Option<String> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .and_then(|c| c.message.clone())
}

/// Polls `f` every 100 ms until it yields, for at most 40 s (a loaded machine binds a few
/// pods within seconds).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let poll = async {
        loop {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(40), poll)
        .await
        .with_context(|| format!("timed out waiting for {what}"))
}

fn anti_affinity_to_self(app: &str) -> Value {
    json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}},
         "topologyKey": "kubernetes.io/hostname"}]}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_anti_affinity_spreads_a_deployment_one_pod_per_node() -> Result<()> {
    let env = env(&["aa-0", "aa-1", "aa-2"]).await?;
    env.create_deployment("web", 4, anti_affinity_to_self("web"))
        .await?;

    let (placed, pending) = eventually(
        "three web pods bound and the fourth reported unschedulable",
        || async {
            let pods = env.pods_of("web").await.ok()?;
            let placed: Vec<String> = pods
                .iter()
                .filter_map(|p| node_of(p).map(str::to_string))
                .collect();
            let pending: Vec<String> = pods
                .iter()
                .filter(|p| node_of(p).is_none())
                .filter_map(unschedulable_message)
                .collect();
            (pods.len() == 4 && placed.len() == 3 && pending.len() == 1)
                .then_some((placed, pending))
        },
    )
    .await?;

    let distinct: BTreeSet<&String> = placed.iter().collect();
    assert_eq!(distinct.len(), 3, "one web pod per node, got {placed:?}");
    assert!(
        pending[0].starts_with(
            "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
        ),
        "the extra replica says why it waits: {}",
        pending[0]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_affinity_places_pods_next_to_the_pod_they_ask_for() -> Result<()> {
    let env = env(&["af-0", "af-1", "af-2"]).await?;
    env.create_deployment("db", 1, json!({})).await?;
    let db_node = eventually("the db pod to be bound", || async {
        let pods = env.pods_of("db").await.ok()?;
        pods.first().and_then(node_of).map(str::to_string)
    })
    .await?;

    env.create_deployment(
        "web",
        3,
        json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}},
             "topologyKey": "kubernetes.io/hostname"}]}}}),
    )
    .await?;
    let placed = eventually("three web pods bound", || async {
        let pods = env.pods_of("web").await.ok()?;
        let nodes: Vec<String> = pods
            .iter()
            .filter_map(|p| node_of(p).map(str::to_string))
            .collect();
        (nodes.len() == 3).then_some(nodes)
    })
    .await?;
    assert!(
        placed.iter().all(|n| *n == db_node),
        "every web pod runs on the db pod's node {db_node}: {placed:?}"
    );
    Ok(())
}
