//! What the controllers' end-to-end tests share: [`Env`] starts a real API server (the
//! `ferrokube` binary, through [`Cluster`]) and the controller manager in-process against it,
//! with the helpers a test reads as sentences (kubectl, apply, create, the default namespace's
//! APIs, events); [`fake_kubelet`] plays the kubelet for tests without nodes; [`until`] waits
//! for what a test expects to see.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Result, bail};
use ferrokube_controllers::Config;
use ferrokube_tests::Cluster;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An API server with the controller manager running against it; both stop when dropped.
pub struct Env {
    /// The API server (and kubectl pointed at it).
    pub cluster: Cluster,
    /// An admin client of the API server.
    pub client: kube::Client,
    /// Where the controller manager serves `/healthz` and `/metrics`, when asked to.
    pub health: Option<SocketAddr>,
    _stop: oneshot::Sender<()>,
    kubelet: Option<JoinHandle<()>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(k) = &self.kubelet {
            k.abort();
        }
    }
}

impl Env {
    /// A cluster whose controller manager runs `controllers`, named as `--controllers` takes
    /// them (`"*"`: every default one), without leader election or a health server.
    pub async fn start(controllers: &[&str]) -> Result<Env> {
        Self::start_with(Config {
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            leader_elect: false,
            health_addr: None,
            ..Default::default()
        })
        .await
    }

    /// A cluster whose controller manager runs with `config` (pointed at the cluster).
    pub async fn start_with(config: Config) -> Result<Env> {
        let cluster = Cluster::start()?;
        let client = cluster.client().await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let running = ferrokube_controllers::start(
            Config {
                kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
                ..config
            },
            async move {
                let _ = stopped.await;
            },
        )
        .await?;
        Ok(Env {
            cluster,
            client,
            health: running.health_addr,
            _stop: stop,
            kubelet: None,
        })
    }

    /// The same cluster with [`fake_kubelet`] starting its pods.
    pub fn with_fake_kubelet(mut self) -> Env {
        self.kubelet = Some(tokio::spawn(fake_kubelet(self.client.clone())));
        self
    }

    /// `kubectl <args>`; its stdout, or an error with its stderr.
    pub fn kubectl(&self, args: &[&str]) -> Result<String> {
        self.cluster.kubectl_ok(args)
    }

    /// `kubectl apply -f -` of `manifest`.
    pub fn apply(&self, manifest: Value) -> Result<String> {
        self.cluster
            .kubectl_stdin(&["apply", "-f", "-"], &manifest.to_string())
    }

    /// The API of `K` in the `default` namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Creates `manifest` as a `K` in the `default` namespace.
    pub async fn create<K>(&self, manifest: Value) -> Result<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug,
    {
        let object: K = serde_json::from_value(manifest)?;
        Ok(self.api().create(&PostParams::default(), &object).await?)
    }

    /// Creates the Node `manifest` (a node object only: no kubelet runs it).
    pub async fn create_node(&self, manifest: Value) -> Result<Node> {
        let node: Node = serde_json::from_value(manifest)?;
        Ok(Api::<Node>::all(self.client.clone())
            .create(&PostParams::default(), &node)
            .await?)
    }

    /// Creates pod `name` labelled `app=<app>` on node-a with `ports` (name -> containerPort),
    /// then plays the kubelet: Running with `ip`, Ready as given.
    pub async fn create_pod(
        &self,
        name: &str,
        app: &str,
        ip: &str,
        ports: &[(&str, i32)],
        ready: bool,
    ) -> Result<()> {
        self.create_pod_with(name, app, ip, ports, ready, json!({}))
            .await
    }

    /// [`Env::create_pod`] with `extra_spec` merged into the pod's spec.
    pub async fn create_pod_with(
        &self,
        name: &str,
        app: &str,
        ip: &str,
        ports: &[(&str, i32)],
        ready: bool,
        extra_spec: Value,
    ) -> Result<()> {
        let ports: Vec<Value> = ports
            .iter()
            .map(|(n, p)| json!({"name": n, "containerPort": p}))
            .collect();
        let mut spec = json!({"nodeName": "node-a",
            "containers": [{"name": "c", "image": "busybox", "ports": ports}]});
        if let (Some(s), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
            s.extend(extra.clone());
        }
        self.create::<Pod>(json!({
            "metadata": {"name": name, "labels": {"app": app}}, "spec": spec,
        }))
        .await?;
        let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}});
        self.api::<Pod>()
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        // Started long ago, so a later transition always has a newer time.
        self.set_ready_since(name, ready, "2024-01-01T00:00:00Z")
            .await
    }

    /// Plays the kubelet's readiness probe: the pod's Ready condition changes now.
    pub async fn set_ready(&self, name: &str, ready: bool) -> Result<()> {
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        self.set_ready_since(name, ready, &now).await
    }

    /// Sets the pod's Ready condition, changed at `since`.
    pub async fn set_ready_since(&self, name: &str, ready: bool, since: &str) -> Result<()> {
        let status = json!({"status": {"conditions": [{
            "type": "Ready", "status": if ready { "True" } else { "False" },
            "lastTransitionTime": since,
        }]}});
        self.api::<Pod>()
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(&status))
            .await?;
        Ok(())
    }

    /// The EndpointSlices labelled as belonging to Service `service` in `default`.
    pub async fn slices(&self, service: &str) -> Result<Vec<EndpointSlice>> {
        let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
        Ok(self.api::<EndpointSlice>().list(&lp).await?.items)
    }

    /// The messages of the events with `reason` in the `default` namespace.
    pub async fn event_messages(&self, reason: &str) -> Result<Vec<String>> {
        Ok(self
            .api::<Event>()
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter_map(|e| e.message)
            .collect())
    }
}

/// Plays the kubelet for tests without nodes: marks every pending pod in `default` whose image
/// is not `broken` Running and Ready, and leaves pods that have started, failed or succeeded
/// alone.
pub async fn fake_kubelet(client: kube::Client) {
    let pods: Api<Pod> = Api::namespaced(client, "default");
    loop {
        if let Ok(list) = pods.list(&ListParams::default()).await {
            for pod in list.items {
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                let started = !matches!(phase, None | Some("Pending"));
                if started || image(&pod) == "broken" || pod.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let now = jiff::Timestamp::now()
                    .strftime("%Y-%m-%dT%H:%M:%SZ")
                    .to_string();
                let status = json!({"status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": now}
                ]}});
                let _ = pods
                    .patch_status(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&status),
                    )
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The image of the pod's first container.
pub fn image(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Whether the pod's Ready condition is True.
pub fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Every endpoint's first address with its `ready` condition, across `slices`.
pub fn slice_readiness(slices: &[EndpointSlice]) -> BTreeMap<String, bool> {
    slices
        .iter()
        .flat_map(|s| &s.endpoints)
        .map(|e| {
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
            (e.addresses[0].clone(), ready)
        })
        .collect()
}

/// `(address, ready)` pairs as [`slice_readiness`] returns them.
pub fn readiness_of(entries: &[(&str, bool)]) -> BTreeMap<String, bool> {
    entries.iter().map(|(a, r)| (a.to_string(), *r)).collect()
}

/// Polls `f` until it yields `Some`, for at most 30 s (a generous bound for a loaded machine);
/// `what` says what was awaited.
pub async fn until<T, F, Fut>(what: &str, f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    until_within(what, Duration::from_secs(30), f).await
}

/// Polls `f` every 100 ms until it yields `Some`, for at most `timeout`; `what` says what was
/// awaited, and the error names it with the last failure seen.
pub async fn until_within<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = f().await;
        if let Ok(Some(v)) = last {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "timed out after {} s waiting for {what} (last: {:?})",
                timeout.as_secs(),
                last.err()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
