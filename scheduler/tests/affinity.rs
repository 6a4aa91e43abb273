//! Inter-pod affinity as a user sees it: a real API server, the in-process controller
//! manager (ReplicaSets, Deployments) and scheduler, and simulated nodes. Required
//! anti-affinity spreads a Deployment one pod per node and leaves the extra replica Pending
//! with upstream's FailedScheduling message; required affinity puts pods next to the pod
//! they ask for.

mod support;

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::{Value, json};
use support::{Env, eventually, node_of, unschedulable_message};

/// Deployments, the scheduler and simulated nodes with these names.
async fn env(nodes: &[&str]) -> Result<Env> {
    let mut env = Env::with_deployments().await?;
    env.sim_nodes(nodes, None).await?;
    Ok(env)
}

fn anti_affinity_to_self(app: &str) -> Value {
    json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}},
         "topologyKey": "kubernetes.io/hostname"}]}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_anti_affinity_spreads_a_deployment_one_pod_per_node() -> Result<()> {
    let env = env(&["aa-0", "aa-1", "aa-2"]).await?;
    env.create_deployment("web", 4, anti_affinity_to_self("web"))
        .await?;

    let (placed, pending) = eventually(
        "three web pods bound and the fourth reported unschedulable",
        || async {
            let pods = env.pods_of("web").await.ok()?;
            let placed: Vec<String> = pods
                .iter()
                .filter_map(|p| node_of(p).map(str::to_string))
                .collect();
            let pending: Vec<String> = pods
                .iter()
                .filter(|p| node_of(p).is_none())
                .filter_map(unschedulable_message)
                .collect();
            (pods.len() == 4 && placed.len() == 3 && pending.len() == 1)
                .then_some((placed, pending))
        },
    )
    .await?;

    let distinct: BTreeSet<&String> = placed.iter().collect();
    assert_eq!(distinct.len(), 3, "one web pod per node, got {placed:?}");
    assert!(
        pending[0].starts_with(
            "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
        ),
        "the extra replica says why it waits: {}",
        pending[0]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_affinity_places_pods_next_to_the_pod_they_ask_for() -> Result<()> {
    let env = env(&["af-0", "af-1", "af-2"]).await?;
    env.create_deployment("db", 1, json!({})).await?;
    let db_node = eventually("the db pod to be bound", || async {
        let pods = env.pods_of("db").await.ok()?;
        pods.first().and_then(node_of).map(str::to_string)
    })
    .await?;

    env.create_deployment(
        "web",
        3,
        json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}},
             "topologyKey": "kubernetes.io/hostname"}]}}}),
    )
    .await?;
    let placed = eventually("three web pods bound", || async {
        let pods = env.pods_of("web").await.ok()?;
        let nodes: Vec<String> = pods
            .iter()
            .filter_map(|p| node_of(p).map(str::to_string))
            .collect();
        (nodes.len() == 3).then_some(nodes)
    })
    .await?;
    assert!(
        placed.iter().all(|n| *n == db_node),
        "every web pod runs on the db pod's node {db_node}: {placed:?}"
    );
    Ok(())
}
