//! Pod topology spread as a user sees it: a real API server, the in-process controller
//! manager and scheduler, and simulated nodes in three zones
//! (`topology.kubernetes.io/zone`). A Deployment with a `maxSkew: 1` zone constraint ends up
//! with per-zone counts differing by at most one.

mod support;

use std::collections::BTreeMap;

use anyhow::Result;
use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use serde_json::json;
use support::{Env, eventually, node_of, unschedulable_message};

/// Deployments, the scheduler and simulated nodes in these zones.
async fn env(zones: &[(&str, &[&str])]) -> Result<Env> {
    let mut env = Env::with_deployments().await?;
    for (zone, nodes) in zones {
        env.sim_nodes(nodes, Some(zone)).await?;
    }
    Ok(env)
}

/// A cluster with our controllers, scheduler and simulated nodes; all stop when dropped.
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
