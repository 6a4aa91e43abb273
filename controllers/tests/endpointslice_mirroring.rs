//! The EndpointSlice mirroring controller end to end: a real API server and only the
//! `endpointslicemirroring` controller in-process; the tests write selectorless Services and
//! their Endpoints by hand, as a user pointing a Service at servers outside the cluster does.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::{Result, bail};
use ferrokube_controllers::Config;
use ferrokube_tests::Cluster;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;

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
                controllers: vec!["endpointslicemirroring".into()],
                leader_elect: false,
                health_addr: None,
                ..Default::default()
            },
            async move {
                let _ = stopped.await;
            },
        )
        .await?;
        Ok(Env {
            _cluster: cluster,
            client,
            _stop: stop,
        })
    }

    async fn create_service(&self, name: &str, selector: Option<Value>) -> Result<()> {
        let mut spec = json!({"ports": [{"name": "sql", "port": 5432}]});
        if let Some(s) = selector {
            spec["selector"] = s;
        }
        let svc: Service =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec}))?;
        Api::<Service>::namespaced(self.client.clone(), "default")
            .create(&PostParams::default(), &svc)
            .await?;
        Ok(())
    }

    fn endpoints(&self) -> Api<Endpoints> {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn create_endpoints(&self, name: &str, labels: Value, subsets: Value) -> Result<()> {
        let ep: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels}, "subsets": subsets}))?;
        self.endpoints().create(&PostParams::default(), &ep).await?;
        Ok(())
    }

    async fn slices(&self, service: &str) -> Result<Vec<EndpointSlice>> {
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), "default");
        let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
        Ok(api.list(&lp).await?.items)
    }
}

/// Polls `f` until it yields `Some` (every 100 ms, at most 30 s: a generous bound for a loaded
/// machine; `what` says what was awaited).
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

/// Every endpoint's address with its `ready` condition, across slices.
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

fn want(entries: &[(&str, bool)]) -> BTreeMap<String, bool> {
    entries.iter().map(|(a, r)| (a.to_string(), *r)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_endpoints_is_mirrored_and_its_updates_followed() -> Result<()> {
    let env = Env::start().await?;
    env.create_service("db", None).await?;
    env.create_endpoints(
        "db",
        json!({"team": "data"}),
        json!([{"addresses": [{"ip": "192.168.1.10"}, {"ip": "fd00::10"}],
                "notReadyAddresses": [{"ip": "192.168.1.11"}],
                "ports": [{"name": "sql", "port": 5432, "protocol": "TCP"}]}]),
    )
    .await?;

    let slices = until("mirrored slices for both address families", || async {
        let s = env.slices("db").await?;
        let done = readiness(&s)
            == want(&[
                ("192.168.1.10", true),
                ("192.168.1.11", false),
                ("fd00::10", true),
            ]);
        Ok(done.then_some(s))
    })
    .await?;
    assert_eq!(slices.len(), 2);
    let mut families: Vec<&str> = slices.iter().map(|s| s.address_type.as_str()).collect();
    families.sort();
    assert_eq!(families, ["IPv4", "IPv6"]);
    for s in &slices {
        let labels = s.labels();
        assert_eq!(
            labels
                .get("endpointslice.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("endpointslicemirroring-controller.k8s.io")
        );
        assert_eq!(labels.get("team").map(String::as_str), Some("data"));
        assert!(s.name_any().starts_with("db-"), "{}", s.name_any());
        let owner = &s.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("Endpoints", "db")
        );
        let port = &s.ports.as_ref().unwrap()[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("sql"), Some(5432)));
    }

    let mut ep = env.endpoints().get("db").await?;
    ep.subsets = Some(serde_json::from_value(json!([{
        "addresses": [{"ip": "192.168.1.11"}, {"ip": "192.168.1.12"}],
        "ports": [{"name": "sql", "port": 5432, "protocol": "TCP"}]}]))?);
    env.endpoints()
        .replace("db", &PostParams::default(), &ep)
        .await?;
    let slices = until("the slices to follow the update", || async {
        let s = env.slices("db").await?;
        let done = readiness(&s) == want(&[("192.168.1.11", true), ("192.168.1.12", true)]);
        Ok(done.then_some(s))
    })
    .await?;
    assert_eq!(slices.len(), 1, "the IPv6 slice is gone");

    env.endpoints().delete("db", &Default::default()).await?;
    until("the slices to go with the Endpoints", || async {
        Ok(env.slices("db").await?.is_empty().then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_mirror_endpoints_and_selector_services_are_not_mirrored() -> Result<()> {
    let env = Env::start().await?;
    let subsets = json!([{"addresses": [{"ip": "192.168.1.10"}],
        "ports": [{"name": "sql", "port": 5432, "protocol": "TCP"}]}]);
    env.create_service("skipped", None).await?;
    env.create_endpoints(
        "skipped",
        json!({"endpointslice.kubernetes.io/skip-mirror": "true"}),
        subsets.clone(),
    )
    .await?;
    env.create_service("selected", Some(json!({"app": "x"})))
        .await?;
    env.create_endpoints("selected", json!({}), subsets.clone())
        .await?;
    // A third, mirrored Service shows the controller has caught up with the two before it.
    env.create_service("mirrored", None).await?;
    env.create_endpoints("mirrored", json!({}), subsets).await?;
    until("the mirrored Service's slice", || async {
        Ok((!env.slices("mirrored").await?.is_empty()).then_some(()))
    })
    .await?;
    assert!(env.slices("skipped").await?.is_empty());
    assert!(env.slices("selected").await?.is_empty());
    Ok(())
}
