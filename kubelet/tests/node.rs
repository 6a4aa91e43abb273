//! A simulated node as a cluster sees it: registered Ready with upstream's conditions, node
//! info, labels and taints, and a Lease in kube-node-lease that keeps being renewed.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{fast_options, until};
use ferrokube_kubelet::node::register::parse_taint;
use ferrokube_kubelet::start_sim_nodes;
use ferrokube_tests::Cluster;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sim_node_registers_ready_and_renews_its_lease() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let mut options = fast_options();
    options.node_labels.insert("tier".into(), "edge".into());
    options.register_with_taints =
        vec![parse_taint("dedicated=sim:NoSchedule").map_err(anyhow::Error::msg)?];
    let nodes = start_sim_nodes(client.clone(), vec!["sim-a".into()], options).await?;

    let node = Api::<Node>::all(client.clone()).get("sim-a").await?;
    let status = node.status.clone().unwrap_or_default();
    let conditions: Vec<(String, String, String)> = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.status, c.reason.unwrap_or_default()))
        .collect();
    assert_eq!(
        conditions,
        [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID"),
            ("Ready", "True", "KubeletReady"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    let info = status.node_info.unwrap_or_default();
    assert_eq!(info.container_runtime_version, "sim://0.1");
    assert!(
        info.kubelet_version.starts_with("v1.33."),
        "{}",
        info.kubelet_version
    );
    assert_eq!(info.operating_system, "linux");
    let capacity = status.capacity.unwrap_or_default();
    assert_eq!(capacity["pods"].0, "110");
    assert_eq!(capacity["cpu"].0, "32");
    assert_eq!(status.allocatable.unwrap_or_default()["memory"].0, "256Gi");
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["kubernetes.io/hostname"], "sim-a");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert!(labels.contains_key("kubernetes.io/arch"));
    assert_eq!(labels["tier"], "edge");
    let taints = node
        .spec
        .clone()
        .unwrap_or_default()
        .taints
        .unwrap_or_default();
    assert_eq!(taints.len(), 1);
    assert_eq!(taints[0].key, "dedicated");
    assert_eq!(taints[0].effect, "NoSchedule");

    let table = cluster.kubectl_ok(&["get", "nodes", "--no-headers"])?;
    assert!(
        table.contains("sim-a") && table.contains(" Ready "),
        "{table}"
    );

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = leases.get("sim-a").await?;
    let spec = lease.spec.clone().unwrap_or_default();
    assert_eq!(spec.holder_identity.as_deref(), Some("sim-a"));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    let owner = &lease.metadata.owner_references.clone().unwrap_or_default()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Node", "sim-a")
    );
    let first = spec.renew_time.expect("a renew time");
    until("the lease to be renewed", Duration::from_secs(10), || {
        let leases = leases.clone();
        let first = first.clone();
        async move {
            let renewed = leases.get("sim-a").await.ok()?.spec?.renew_time?;
            (renewed.0 > first.0).then_some(())
        }
    })
    .await?;
    nodes.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_kubelet_finds_its_node_registered() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let first = start_sim_nodes(client.clone(), vec!["sim-b".into()], fast_options()).await?;
    first.stop().await;
    let mut options = fast_options();
    options.node_labels.insert("restarted".into(), "yes".into());
    let second = start_sim_nodes(client.clone(), vec!["sim-b".into()], options).await?;
    let node = Api::<Node>::all(client).get("sim-b").await?;
    assert_eq!(node.metadata.labels.unwrap_or_default()["restarted"], "yes");
    second.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_heartbeat_stops_no_longer_renews_its_lease() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let nodes = start_sim_nodes(client.clone(), vec!["sim-c".into()], fast_options()).await?;
    assert!(nodes.stop_heartbeat("sim-c"));
    let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    let renew_time = || async {
        leases
            .get("sim-c")
            .await
            .ok()
            .and_then(|l| l.spec?.renew_time)
    };
    // Let a renewal that was already under way land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let frozen = renew_time().await;
    // Five renew intervals (300 ms each) with no renewal.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(renew_time().await, frozen);
    nodes.stop().await;
    Ok(())
}
