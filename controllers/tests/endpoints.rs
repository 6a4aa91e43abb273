//! The Endpoints controller end to end: a real API server and the controller manager (only the
//! `endpoint` controller) started in-process. There is no kubelet: tests play it by writing
//! pod IPs and the Ready condition through `pods/status`.

mod support;

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::{EndpointSubset, Endpoints, Pod, Service};
use kube::ResourceExt;
use kube::api::DeleteParams;
use serde_json::{Value, json};
use support::{Env, until};

impl Env {
    /// A cluster running only the Endpoints controller, with one Node, node-a.
    async fn with_endpoints_controller() -> Result<Env> {
        let env = Env::start(&["endpoint"]).await?;
        env.create_node(json!({"metadata": {"name": "node-a"}}))
            .await?;
        Ok(env)
    }

    async fn create_service(&self, spec: Value) -> Result<Service> {
        self.create(spec).await
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
    let env = Env::with_endpoints_controller().await?;
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
    let env = Env::with_endpoints_controller().await?;
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
    let env = Env::with_endpoints_controller().await?;
    // A selectorless Service's hand-written Endpoints are left alone.
    env.create_service(json!({"metadata": {"name": "external"},
        "spec": {"ports": [{"port": 5432}]}}))
        .await?;
    env.create::<Endpoints>(json!({"metadata": {"name": "external"},
        "subsets": [{"addresses": [{"ip": "192.168.1.5"}], "ports": [{"port": 5432}]}]}))
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
