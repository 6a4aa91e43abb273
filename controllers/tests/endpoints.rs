//! The Endpoints controller end to end: a real API server and the controller manager (only the
//! `endpoint` controller) started in-process. There is no kubelet: tests play it by writing
//! pod IPs and the Ready condition through `pods/status`.

use std::collections::BTreeMap;
use std::time::Duration;

use std::future::Future;

use anyhow::{Context as _, Result, bail};
use ferrokube_controllers::Config;
use ferrokube_tests::Cluster;
use k8s_openapi::api::core::v1::{EndpointSubset, Endpoints, Node, Pod, Service};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A cluster with the Endpoints controller running against it.
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
                controllers: vec!["endpoint".into()],
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
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "node-a"}}))?;
        Api::<Node>::all(env.client.clone())
            .create(&PostParams::default(), &node)
            .await?;
        Ok(env)
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn create_service(&self, spec: Value) -> Result<Service> {
        let svc: Service = serde_json::from_value(spec)?;
        Ok(self.api().create(&PostParams::default(), &svc).await?)
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
        self.create_pod_with(name, app, ip, ports, ready, json!({}))
            .await
    }

    async fn create_pod_with(
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
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": app}}, "spec": spec,
        }))?;
        self.api::<Pod>()
            .create(&PostParams::default(), &pod)
            .await?;
        let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}});
        self.api::<Pod>()
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        // Started long ago, so a later transition always has a newer time.
        self.set_ready_since(name, ready, "2024-01-01T00:00:00Z")
            .await
    }

    /// Plays the kubelet's readiness probe: the Ready condition changes now.
    async fn set_ready(&self, name: &str, ready: bool) -> Result<()> {
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        self.set_ready_since(name, ready, &now).await
    }

    async fn set_ready_since(&self, name: &str, ready: bool, since: &str) -> Result<()> {
        let status = json!({"status": {"conditions": [{
            "type": "Ready", "status": if ready { "True" } else { "False" },
            "lastTransitionTime": since,
        }]}});
        self.api::<Pod>()
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(&status))
            .await?;
        Ok(())
    }

    async fn delete_pod_now(&self, name: &str) -> Result<()> {
        self.api::<Pod>()
            .delete(name, &DeleteParams::default().grace_period(0))
            .await?;
        Ok(())
    }

    /// Waits until the Endpoints `name` satisfy `ok`, returning them.
    async fn endpoints_until(
        &self,
        name: &str,
        why: &str,
        ok: impl Fn(&Endpoints) -> bool,
    ) -> Result<Endpoints> {
        let api = self.api::<Endpoints>();
        until(why, || async {
            match api.get_opt(name).await? {
                Some(ep) if ok(&ep) => Ok(Some(ep)),
                _ => Ok(None),
            }
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

fn service(name: &str, ports: Value) -> Value {
    json!({"metadata": {"name": name, "labels": {"team": "blue"}},
        "spec": {"selector": {"app": name}, "ports": ports}})
}

/// The (ready, not ready) IPs over all subsets, sorted.
fn ips(ep: &Endpoints) -> (Vec<String>, Vec<String>) {
    let subsets: &[EndpointSubset] = ep.subsets.as_deref().unwrap_or_default();
    let collect =
        |f: fn(&EndpointSubset) -> Option<&Vec<k8s_openapi::api::core::v1::EndpointAddress>>| {
            let mut v: Vec<String> = subsets
                .iter()
                .flat_map(|s| f(s).cloned().unwrap_or_default())
                .map(|a| a.ip)
                .collect();
            v.sort();
            v.dedup();
            v
        };
    (
        collect(|s| s.addresses.as_ref()),
        collect(|s| s.not_ready_addresses.as_ref()),
    )
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_services_endpoints_list_its_ready_and_not_ready_pods_and_follow_them() -> Result<()> {
    let env = Env::start().await?;
    env.create_service(service(
        "web",
        json!([{"name": "http", "port": 80, "targetPort": 8080}]),
    ))
    .await?;
    env.create_pod("web-0", "web", "10.1.0.10", &[], true)
        .await?;
    env.create_pod("web-1", "web", "10.1.0.11", &[], true)
        .await?;
    env.create_pod("web-2", "web", "10.1.0.12", &[], false)
        .await?;
    env.create_pod("other-0", "other", "10.1.0.99", &[], true)
        .await?;

    let ep = env
        .endpoints_until("web", "web's three pods to be listed", |ep| {
            ips(ep) == (strs(&["10.1.0.10", "10.1.0.11"]), strs(&["10.1.0.12"]))
        })
        .await?;
    let subsets = ep.subsets.as_deref().unwrap_or_default();
    assert_eq!(subsets.len(), 1, "one port set, one subset: {subsets:?}");
    let port = &subsets[0].ports.as_deref().unwrap_or_default()[0];
    assert_eq!((port.name.as_deref(), port.port), (Some("http"), 8080));
    let first = &subsets[0].addresses.as_deref().unwrap_or_default()[0];
    assert_eq!(first.node_name.as_deref(), Some("node-a"));
    let target = first.target_ref.as_ref().context("targetRef")?;
    assert_eq!(
        (target.kind.as_deref(), target.name.as_deref()),
        (Some("Pod"), Some("web-0"))
    );
    assert_eq!(ep.labels().get("team").map(String::as_str), Some("blue"));
    assert_eq!(
        ep.labels()
            .get("endpoints.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("endpoint-controller")
    );

    env.set_ready("web-0", false).await?;
    let ep = env
        .endpoints_until("web", "web-0 to move to notReadyAddresses", |ep| {
            ips(ep) == (strs(&["10.1.0.11"]), strs(&["10.1.0.10", "10.1.0.12"]))
        })
        .await?;
    assert!(
        ep.annotations()
            .contains_key("endpoints.kubernetes.io/last-change-trigger-time"),
        "a readiness change is recorded as the trigger: {:?}",
        ep.annotations()
    );

    env.delete_pod_now("web-1").await?;
    env.endpoints_until("web", "the deleted pod to be dropped", |ep| {
        ips(ep) == (vec![], strs(&["10.1.0.10", "10.1.0.12"]))
    })
    .await?;

    env.api::<Service>()
        .delete("web", &DeleteParams::default())
        .await?;
    until("the Endpoints of a deleted Service to go", || async {
        Ok(env
            .api::<Endpoints>()
            .get_opt("web")
            .await?
            .is_none()
            .then_some(()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_target_ports_resolve_per_pod() -> Result<()> {
    let env = Env::start().await?;
    env.create_service(service(
        "api",
        json!([{"name": "web", "port": 80, "targetPort": "http"}]),
    ))
    .await?;
    env.create_pod("api-0", "api", "10.2.0.10", &[("http", 8080)], true)
        .await?;
    env.create_pod("api-1", "api", "10.2.0.11", &[("http", 9090)], true)
        .await?;
    env.create_pod("api-2", "api", "10.2.0.12", &[("grpc", 7070)], true)
        .await?;

    let ep = env
        .endpoints_until("api", "both pods with an http port", |ep| {
            ips(ep).0 == strs(&["10.2.0.10", "10.2.0.11"])
        })
        .await?;
    let mut by_port: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for s in ep.subsets.as_deref().unwrap_or_default() {
        for p in s.ports.as_deref().unwrap_or_default() {
            for a in s.addresses.as_deref().unwrap_or_default() {
                by_port.entry(p.port).or_default().push(a.ip.clone());
            }
        }
    }
    assert_eq!(
        by_port,
        BTreeMap::from([(8080, strs(&["10.2.0.10"])), (9090, strs(&["10.2.0.11"]))])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_hostnames_published_not_ready_and_selectorless_services() -> Result<()> {
    let env = Env::start().await?;
    // A selectorless Service's hand-written Endpoints are left alone.
    env.create_service(json!({"metadata": {"name": "external"},
        "spec": {"ports": [{"port": 5432}]}}))
        .await?;
    let manual: Endpoints = serde_json::from_value(json!({"metadata": {"name": "external"},
        "subsets": [{"addresses": [{"ip": "192.168.1.5"}], "ports": [{"port": 5432}]}]}))?;
    env.api::<Endpoints>()
        .create(&PostParams::default(), &manual)
        .await?;

    env.create_service(json!({"metadata": {"name": "db"}, "spec": {
        "clusterIP": "None", "publishNotReadyAddresses": true,
        "selector": {"app": "db"}, "ports": [{"port": 5432}]}}))
        .await?;
    env.create_pod_with(
        "db-0",
        "db",
        "10.3.0.10",
        &[],
        false,
        json!({"hostname": "db-0", "subdomain": "db"}),
    )
    .await?;

    let ep = env
        .endpoints_until("db", "the unready pod published as ready", |ep| {
            ips(ep).0 == strs(&["10.3.0.10"])
        })
        .await?;
    let address = &ep.subsets.as_deref().unwrap_or_default()[0]
        .addresses
        .as_deref()
        .unwrap_or_default()[0];
    assert_eq!(address.hostname.as_deref(), Some("db-0"));
    assert!(ep.labels().contains_key("service.kubernetes.io/headless"));

    // The controller has synced "db" since "external" existed; its Endpoints are untouched.
    let external = env.api::<Endpoints>().get("external").await?;
    assert_eq!(ips(&external).0, strs(&["192.168.1.5"]));
    assert!(
        !external
            .labels()
            .contains_key("endpoints.kubernetes.io/managed-by")
    );
    Ok(())
}
