//! The EndpointSlice controller end to end: a real API server and the controller manager (only
//! the `endpointslice` controller) started in-process. There is no kubelet: tests play it by
//! writing pod IPs and the Ready condition through `pods/status`.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::{Result, bail};
use ferrokube_controllers::Config;
use ferrokube_tests::Cluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A cluster with the EndpointSlice controller running against it.
struct Env {
    _cluster: Cluster,
    client: kube::Client,
    _stop: oneshot::Sender<()>,
}

impl Env {
    async fn start() -> Result<Env> {
        let cluster = Cluster::start()?;
        let client = cluster.client().await?;
        let (stop, stopped) = oneshot::channel::<()>();
        ferrokube_controllers::start(
            Config {
                kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
                controllers: vec!["endpointslice".into()],
                leader_elect: false,
                health_addr: None,
                ..Default::default()
            },
            async move {
                let _ = stopped.await;
            },
        )
        .await?;
        let env = Env {
            _cluster: cluster,
            client,
            _stop: stop,
        };
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "node-a",
            "labels": {"topology.kubernetes.io/zone": "zone-a"}}}))?;
        Api::<Node>::all(env.client.clone())
            .create(&PostParams::default(), &node)
            .await?;
        Ok(env)
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn create_service(&self, name: &str, ports: Value) -> Result<Service> {
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": ports}}))?;
        Ok(Api::namespaced(self.client.clone(), "default")
            .create(&PostParams::default(), &svc)
            .await?)
    }

    /// Creates pod `name` labelled `app=<app>` on node-a with `ports` (name -> containerPort),
    /// then plays the kubelet: Running with `ip`, Ready as given.
    async fn create_pod(
        &self,
        name: &str,
        app: &str,
        ip: &str,
        ports: &[(&str, i32)],
        ready: bool,
    ) -> Result<()> {
        let ports: Vec<Value> = ports
            .iter()
            .map(|(n, p)| json!({"name": n, "containerPort": p}))
            .collect();
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeName": "node-a",
                "containers": [{"name": "c", "image": "busybox", "ports": ports}]},
        }))?;
        self.pods().create(&PostParams::default(), &pod).await?;
        let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        self.pods()
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        Ok(())
    }

    /// Plays the kubelet's readiness probe.
    async fn set_ready(&self, name: &str, ready: bool) -> Result<()> {
        let status = json!({"status": {"conditions": [
            {"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        self.pods()
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(&status))
            .await?;
        Ok(())
    }

    async fn slices(&self, service: &str) -> Result<Vec<EndpointSlice>> {
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), "default");
        let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
        Ok(api.list(&lp).await?.items)
    }

    /// Waits until the Service's slices satisfy `ok`, returning them.
    async fn slices_until(
        &self,
        service: &str,
        why: &str,
        ok: impl Fn(&[EndpointSlice]) -> bool,
    ) -> Result<Vec<EndpointSlice>> {
        until(why, || async {
            let slices = self.slices(service).await?;
            Ok(ok(&slices).then_some(slices))
        })
        .await
    }
}

/// Polls `f` until it yields `Some` (every 100 ms, at most 30 s: a generous bound for a
/// loaded machine; `what` says what was awaited).
async fn until<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let last = f().await;
        if let Ok(Some(v)) = last {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "timed out after 30 s waiting for {what} (last: {:?})",
                last.err()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every endpoint's first address with its `ready` condition.
fn readiness(slices: &[EndpointSlice]) -> BTreeMap<String, bool> {
    slices
        .iter()
        .flat_map(|s| &s.endpoints)
        .map(|e| {
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
            (e.addresses[0].clone(), ready)
        })
        .collect()
}

fn ready_map(entries: &[(&str, bool)]) -> BTreeMap<String, bool> {
    entries.iter().map(|(ip, r)| (ip.to_string(), *r)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_services_slices_list_its_pods_with_their_readiness() -> Result<()> {
    let env = Env::start().await?;
    let svc = env
        .create_service(
            "web",
            json!([{"name": "http", "port": 80, "targetPort": 8080}]),
        )
        .await?;
    env.create_pod("web-0", "web", "10.1.0.10", &[], true)
        .await?;
    env.create_pod("web-1", "web", "10.1.0.11", &[], false)
        .await?;
    env.create_pod("other-0", "other", "10.1.0.99", &[], true)
        .await?;

    let want = ready_map(&[("10.1.0.10", true), ("10.1.0.11", false)]);
    let slices = env
        .slices_until("web", "web's two pods in its slices", |s| {
            readiness(s) == want
        })
        .await?;
    assert_eq!(slices.len(), 1);
    let slice = &slices[0];
    assert!(slice.name_any().starts_with("web-"), "{}", slice.name_any());
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(
        slice
            .labels()
            .get("endpointslice.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    let owner = &slice.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.clone()),
        ("Service", svc.uid().unwrap_or_default())
    );
    assert_eq!(owner.controller, Some(true));
    let port = &slice.ports.as_deref().unwrap_or_default()[0];
    assert_eq!(
        (port.name.as_deref(), port.port),
        (Some("http"), Some(8080))
    );
    let e = slice
        .endpoints
        .iter()
        .find(|e| e.addresses == ["10.1.0.10"])
        .expect("web-0's endpoint");
    assert_eq!(e.node_name.as_deref(), Some("node-a"));
    assert_eq!(e.zone.as_deref(), Some("zone-a"));
    assert_eq!(
        e.target_ref.as_ref().and_then(|r| r.name.as_deref()),
        Some("web-0")
    );
    let c = e.conditions.clone().unwrap_or_default();
    assert_eq!((c.serving, c.terminating), (Some(true), Some(false)));

    env.set_ready("web-0", false).await?;
    env.set_ready("web-1", true).await?;
    let flipped = ready_map(&[("10.1.0.10", false), ("10.1.0.11", true)]);
    env.slices_until("web", "readiness to flip", |s| readiness(s) == flipped)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_target_ports_resolve_per_pod_into_separate_slices() -> Result<()> {
    let env = Env::start().await?;
    env.create_service(
        "api",
        json!([{"name": "web", "port": 80, "targetPort": "http"}]),
    )
    .await?;
    env.create_pod("api-0", "api", "10.2.0.10", &[("http", 8080)], true)
        .await?;
    env.create_pod("api-1", "api", "10.2.0.11", &[("http", 9090)], true)
        .await?;

    let slices = env
        .slices_until("api", "one slice per resolved port", |s| {
            s.iter().filter(|s| !s.endpoints.is_empty()).count() == 2
        })
        .await?;
    let by_port: BTreeMap<i32, Vec<String>> = slices
        .iter()
        .map(|s| {
            let port = s.ports.as_deref().unwrap_or_default()[0]
                .port
                .unwrap_or_default();
            (
                port,
                s.endpoints.iter().map(|e| e.addresses[0].clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        by_port,
        BTreeMap::from([
            (8080, vec!["10.2.0.10".to_string()]),
            (9090, vec!["10.2.0.11".to_string()])
        ])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_fifty_pods_split_into_three_slices_and_deleted_pods_leave() -> Result<()> {
    let env = Env::start().await?;
    env.create_service("big", json!([{"port": 80}])).await?;
    futures::stream::iter(0..250)
        .map(|i| {
            let env = &env;
            async move {
                let ip = format!("10.3.{}.{}", i / 200, i % 200 + 1);
                env.create_pod(&format!("big-{i}"), "big", &ip, &[], true)
                    .await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;

    let count = |s: &[EndpointSlice]| s.iter().map(|s| s.endpoints.len()).sum::<usize>();
    let slices = env
        .slices_until("big", "all 250 pods in slices", |s| count(s) == 250)
        .await?;
    let sizes: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
    assert_eq!(slices.len(), 3, "slice sizes: {sizes:?}");
    assert!(sizes.iter().all(|n| *n <= 100), "slice sizes: {sizes:?}");

    env.pods()
        .delete("big-7", &DeleteParams::default().grace_period(0))
        .await?;
    let slices = env
        .slices_until("big", "the deleted pod to leave", |s| count(s) == 249)
        .await?;
    assert_eq!(
        slices.len(),
        3,
        "a removal rewrites a slice, it does not add one"
    );
    assert!(!readiness(&slices).contains_key("10.3.0.8"));
    Ok(())
}
