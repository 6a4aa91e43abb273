//! Pod topology spread as a user sees it: a real API server, the in-process controller
//! manager and scheduler, and simulated nodes in three zones
//! (`topology.kubernetes.io/zone`). A Deployment with a `maxSkew: 1` zone constraint ends up
//! with per-zone counts differing by at most one.

use std::collections::BTreeMap;
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
    _nodes: Vec<SimNodes>,
    _stop: oneshot::Sender<()>,
}

async fn env(zones: &[(&str, &[&str])]) -> Result<Env> {
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
    let mut sims = Vec::new();
    for (i, (zone, nodes)) in zones.iter().enumerate() {
        let mut options = NodeOptions {
            root_dir: cluster.scratch().join("kubelet"),
            pod_logs_dir: cluster.scratch().join("pods"),
            node_labels: [("topology.kubernetes.io/zone".to_string(), zone.to_string())].into(),
            node_ip: std::net::Ipv4Addr::new(10, 0, i as u8 + 1, 2),
            pod_cidr: format!("10.{}.0.0/16", 100 + i),
            ..Default::default()
        };
        options.sim.start_delay = Duration::from_millis(50);
        sims.push(
            start_sim_nodes(
                client.clone(),
                nodes.iter().map(|n| n.to_string()).collect(),
                options,
            )
            .await?,
        );
    }
    Ok(Env {
        _cluster: cluster,
        client,
        _nodes: sims,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_spreads_across_three_zones_within_max_skew_one() -> Result<()> {
    let env = env(&[
        ("zone-a", &["ts-a0", "ts-a1"]),
        ("zone-b", &["ts-b0", "ts-b1"]),
        ("zone-c", &["ts-c0"]),
    ])
    .await?;
    let node_zone: BTreeMap<&str, &str> = [
        ("ts-a0", "zone-a"),
        ("ts-a1", "zone-a"),
        ("ts-b0", "zone-b"),
        ("ts-b1", "zone-b"),
        ("ts-c0", "zone-c"),
    ]
    .into();
    env.create_deployment(
        "web",
        8,
        json!({"topologySpreadConstraints": [{"maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}}]}),
    )
    .await?;

    let placed = eventually("all eight web pods bound", || async {
        let pods = env.pods_of("web").await.ok()?;
        let nodes: Vec<String> = pods
            .iter()
            .filter_map(|p| node_of(p).map(str::to_string))
            .collect();
        (pods.len() == 8 && nodes.len() == 8).then_some(nodes)
    })
    .await?;

    let mut per_zone: BTreeMap<&str, i64> = BTreeMap::new();
    for n in &placed {
        *per_zone.entry(node_zone[n.as_str()]).or_default() += 1;
    }
    let counts: Vec<i64> = per_zone.values().copied().collect();
    assert_eq!(counts.len(), 3, "every zone got pods: {per_zone:?}");
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(
        max - min <= 1,
        "zone counts differ by at most maxSkew 1: {per_zone:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_would_break_the_skew_waits_with_the_upstream_reason() -> Result<()> {
    // Only zone-a has room for this pod's node selector, and zone-a already holds one more
    // matching pod than zone-b: the pod may not go there.
    let env = env(&[("zone-a", &["sk-a0"]), ("zone-b", &["sk-b0"])]).await?;
    let bare = |name: &str, spread: bool| -> Result<Pod> {
        let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}],
            "nodeSelector": {"topology.kubernetes.io/zone": "zone-a"}});
        if spread {
            spec["topologySpreadConstraints"] = json!([{"maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "nodeAffinityPolicy": "Ignore",
                "labelSelector": {"matchLabels": {"group": "g"}}}]);
        }
        Ok(serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"group": "g"}},
            "spec": spec,
        }))?)
    };
    env.pods()
        .create(&PostParams::default(), &bare("seed", false)?)
        .await?;
    eventually("the seed pod bound in zone-a", || async {
        let p = env.pods().get("seed").await.ok()?;
        node_of(&p).map(|_| ())
    })
    .await?;
    env.pods()
        .create(&PostParams::default(), &bare("late", true)?)
        .await?;
    let message = eventually("the late pod reported unschedulable", || async {
        let p = env.pods().get("late").await.ok()?;
        unschedulable_message(&p)
    })
    .await?;
    assert!(
        message.contains("1 node(s) didn't match pod topology spread constraints"),
        "{message}"
    );
    assert!(message.starts_with("0/2 nodes are available:"), "{message}");
    Ok(())
}
