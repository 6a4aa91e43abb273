//! The EndpointSlice controller end to end: a real API server and the controller manager (only
//! the `endpointslice` controller) started in-process. There is no kubelet: tests play it by
//! writing pod IPs and the Ready condition through `pods/status`.

mod support;

use std::collections::BTreeMap;

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use support::{Env, readiness_of, slice_readiness, until};

impl Env {
    /// A cluster running only the EndpointSlice controller, with one Node, node-a, in zone-a.
    async fn with_endpointslice_controller() -> Result<Env> {
        let env = Env::start(&["endpointslice"]).await?;
        env.create_node(json!({"metadata": {"name": "node-a",
            "labels": {"topology.kubernetes.io/zone": "zone-a"}}}))
            .await?;
        Ok(env)
    }

    fn pods(&self) -> Api<Pod> {
        self.api()
    }

    async fn create_service(&self, name: &str, ports: Value) -> Result<Service> {
        self.create(json!({"metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": ports}}))
            .await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_services_slices_list_its_pods_with_their_readiness() -> Result<()> {
    let env = Env::with_endpointslice_controller().await?;
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

    let want = readiness_of(&[("10.1.0.10", true), ("10.1.0.11", false)]);
    let slices = env
        .slices_until("web", "web's two pods in its slices", |s| {
            slice_readiness(s) == want
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
    let flipped = readiness_of(&[("10.1.0.10", false), ("10.1.0.11", true)]);
    env.slices_until("web", "readiness to flip", |s| {
        slice_readiness(s) == flipped
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_target_ports_resolve_per_pod_into_separate_slices() -> Result<()> {
    let env = Env::with_endpointslice_controller().await?;
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
    let env = Env::with_endpointslice_controller().await?;
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
    assert!(!slice_readiness(&slices).contains_key("10.3.0.8"));
    Ok(())
}
