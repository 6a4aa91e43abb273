//! The EndpointSlice mirroring controller end to end: a real API server and only the
//! `endpointslicemirroring` controller in-process; the tests write selectorless Services and
//! their Endpoints by hand, as a user pointing a Service at servers outside the cluster does.

mod support;

use anyhow::Result;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use support::{Env, readiness_of, slice_readiness, until};

impl Env {
    async fn create_service(&self, name: &str, selector: Option<Value>) -> Result<()> {
        let mut spec = json!({"ports": [{"name": "sql", "port": 5432}]});
        if let Some(s) = selector {
            spec["selector"] = s;
        }
        self.create::<Service>(json!({"metadata": {"name": name}, "spec": spec}))
            .await?;
        Ok(())
    }

    fn endpoints(&self) -> Api<Endpoints> {
        self.api()
    }

    async fn create_endpoints(&self, name: &str, labels: Value, subsets: Value) -> Result<()> {
        self.create::<Endpoints>(json!({
            "metadata": {"name": name, "labels": labels}, "subsets": subsets}))
            .await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_endpoints_is_mirrored_and_its_updates_followed() -> Result<()> {
    let env = Env::start(&["endpointslicemirroring"]).await?;
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
        let done = slice_readiness(&s)
            == readiness_of(&[
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
        let done =
            slice_readiness(&s) == readiness_of(&[("192.168.1.11", true), ("192.168.1.12", true)]);
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
    let env = Env::start(&["endpointslicemirroring"]).await?;
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
