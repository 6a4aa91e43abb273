//! What every scheduler end-to-end test sets up: our real API server, the scheduler started
//! in-process (with upstream's defaults or a configuration document), optionally the
//! controller manager's ReplicaSet and Deployment controllers and simulated nodes, plus the
//! helpers tests read like sentences with (create a Ready node, a pod, a Deployment; wait
//! until a pod is bound, an event is recorded, a condition says why).
//!
//! Entry point: [`Env::scheduler`] (or [`Env::with_config`], [`Env::with_deployments`]).

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context, Result};
use ferrokube_kubelet::{NodeOptions, SimNodes, start_sim_nodes};
use ferrokube_scheduler::Config;
use ferrokube_tests::Cluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::watch;

/// No node labels.
pub const NO_LABELS: Value = Value::Null;
/// No node taints.
pub const NO_TAINTS: Value = Value::Null;

/// A cluster with our scheduler (and whatever else the test asked for) running against it;
/// everything stops when this is dropped.
pub struct Env {
    /// The API server.
    pub cluster: Cluster,
    /// A client for it.
    pub client: kube::Client,
    sims: Vec<SimNodes>,
    _stop: watch::Sender<bool>,
    stopped: watch::Receiver<bool>,
}

fn scheduler_config(cluster: &Cluster) -> Config {
    Config {
        kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
        leader_elect: false,
        health_addr: None,
        ..Default::default()
    }
}

impl Env {
    /// A cluster and the scheduler with upstream's default profile.
    pub async fn scheduler() -> Result<Env> {
        let cluster = Cluster::start()?;
        let config = scheduler_config(&cluster);
        Env::start(cluster, config, false).await
    }

    /// A cluster and the scheduler started from this `KubeSchedulerConfiguration` document.
    pub async fn with_config(document: &str) -> Result<Env> {
        let cluster = Cluster::start()?;
        let mut config = scheduler_config(&cluster);
        let path = cluster.scratch().join("scheduler.yaml");
        std::fs::write(&path, document)?;
        config.apply_file(&path)?;
        Env::start(cluster, config, false).await
    }

    /// A cluster, the ReplicaSet and Deployment controllers and the default scheduler (add
    /// nodes with [`Env::sim_nodes`]).
    pub async fn with_deployments() -> Result<Env> {
        let cluster = Cluster::start()?;
        let config = scheduler_config(&cluster);
        Env::start(cluster, config, true).await
    }

    async fn start(cluster: Cluster, config: Config, controllers: bool) -> Result<Env> {
        let client = cluster.client().await?;
        let (stop, stopped) = watch::channel(false);
        let env = Env {
            cluster,
            client,
            sims: Vec::new(),
            _stop: stop,
            stopped,
        };
        if controllers {
            ferrokube_controllers::start(
                ferrokube_controllers::Config {
                    kubeconfig: Some(env.cluster.kubeconfig().to_path_buf()),
                    controllers: vec!["replicaset".into(), "deployment".into()],
                    leader_elect: false,
                    health_addr: None,
                    ..Default::default()
                },
                env.stop_signal(),
            )
            .await?;
        }
        ferrokube_scheduler::start(config, env.stop_signal()).await?;
        Ok(env)
    }

    /// Resolves when the environment is dropped.
    fn stop_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopped = self.stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    }

    /// Starts simulated nodes (kubelets) with these names, labelled with `zone` if given.
    pub async fn sim_nodes(&mut self, names: &[&str], zone: Option<&str>) -> Result<()> {
        let i = self.sims.len();
        let mut options = NodeOptions {
            root_dir: self.cluster.scratch().join("kubelet"),
            pod_logs_dir: self.cluster.scratch().join("pods"),
            node_labels: zone
                .map(|z| ("topology.kubernetes.io/zone".to_string(), z.to_string()))
                .into_iter()
                .collect(),
            node_ip: std::net::Ipv4Addr::new(10, 0, i as u8 + 1, 2),
            pod_cidr: format!("10.{}.0.0/16", 100 + i),
            ..Default::default()
        };
        options.sim.start_delay = Duration::from_millis(50);
        let sim = start_sim_nodes(
            self.client.clone(),
            names.iter().map(|n| n.to_string()).collect(),
            options,
        )
        .await?;
        self.sims.push(sim);
        Ok(())
    }

    /// Creates a Ready node through the API (no kubelet) with `cpu` and `memory`
    /// allocatable, 110 pods, and these labels and taints.
    pub async fn node(
        &self,
        name: &str,
        cpu: &str,
        memory: &str,
        labels: Value,
        taints: Value,
    ) -> Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
        }))?;
        api.create(&PostParams::default(), &node).await?;
        let resources = json!({"cpu": cpu, "memory": memory, "pods": "110"});
        let status = json!({"status": {
            "capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await?;
        Ok(())
    }

    /// Pods in `default`.
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Creates an object of any kind from JSON.
    pub async fn create<K>(&self, api: Api<K>, body: Value) -> Result<()>
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let obj: K = serde_json::from_value(body)?;
        api.create(&PostParams::default(), &obj).await?;
        Ok(())
    }

    /// Creates a pod in `default` with one busybox container requesting `requests`, plus
    /// these `spec` fields.
    pub async fn pod_requesting(&self, name: &str, requests: Value, spec: Value) -> Result<()> {
        let mut body = json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": requests}}]},
        });
        for (k, v) in spec.as_object().into_iter().flatten() {
            body["spec"][k] = v.clone();
        }
        self.create(self.pods(), body).await
    }

    /// Creates a pod in `default` with one container requesting `cpu` and 100Mi memory,
    /// plus these `spec` fields.
    pub async fn pod(&self, name: &str, cpu: &str, spec: Value) -> Result<()> {
        self.pod_requesting(name, json!({"cpu": cpu, "memory": "100Mi"}), spec)
            .await
    }

    /// The node a pod in `default` is bound to.
    pub async fn node_of(&self, pod: &str) -> Option<String> {
        let p = self.pods().get(pod).await.ok()?;
        node_of(&p).map(str::to_string)
    }

    /// Waits until the pod is bound; its node.
    pub async fn scheduled(&self, pod: &str) -> Result<String> {
        let why = format!("pod {pod} to be bound (the scheduler binds within a second or two)");
        eventually(&why, || self.node_of(pod)).await
    }

    /// The message of the pod's `PodScheduled=False` condition, if it has one.
    pub async fn unschedulable_message(&self, pod: &str) -> Option<String> {
        unschedulable_message(&self.pods().get(pod).await.ok()?)
    }

    /// Waits for an event about the pod with this reason; its message.
    pub async fn event(&self, pod: &str, reason: &str) -> Result<String> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), "default");
        let why = format!("a {reason} event for {pod}");
        eventually(&why, || async {
            let list = api.list(&ListParams::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|e| {
                    e.involved_object.name.as_deref() == Some(pod)
                        && e.reason.as_deref() == Some(reason)
                })
                .and_then(|e| e.message)
        })
        .await
    }

    /// Creates a Deployment `name` of busybox pods labelled `app: name`, with these extra
    /// pod `spec` fields.
    pub async fn create_deployment(
        &self,
        name: &str,
        replicas: i32,
        pod_spec: Value,
    ) -> Result<()> {
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

    /// The pods labelled `app: <app>`.
    pub async fn pods_of(&self, app: &str) -> Result<Vec<Pod>> {
        Ok(self
            .pods()
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await?
            .items)
    }
}

/// The node a pod is bound to.
pub fn node_of(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// The message of the pod's `PodScheduled=False` condition.
pub fn unschedulable_message(p: &Pod) -> Option<String> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .and_then(|c| c.message.clone())
}

/// Polls `f` every 100 ms until it yields, for at most 40 s (a loaded machine binds, evicts
/// and starts a few pods within seconds).
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
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
