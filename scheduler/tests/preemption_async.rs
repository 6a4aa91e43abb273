//! Asynchronous preemption as a user sees it, against our real API server with the scheduler
//! in-process: a preemptor evicts only the victims it needs on one node and is bound to the
//! node it was nominated to once they are gone, and a node whose victims a
//! PodDisruptionBudget protects is passed over for one whose victims nothing protects.

mod support;

use anyhow::Result;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;
use support::{Env, NO_LABELS, NO_TAINTS, eventually, node_of};

/// A pod labelled `app: <app>` requesting `cpu` at `priority`; deleted at once when evicted
/// (no kubelet runs here), as upstream's scheduler_perf low-priority template.
async fn pod_at(env: &Env, name: &str, app: &str, cpu: &str, priority: i32) -> Result<()> {
    env.create(
        env.pods(),
        json!({
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"priority": priority, "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "c", "image": "busybox",
                    "resources": {"requests": {"cpu": cpu, "memory": "100Mi"}}}]},
        }),
    )
    .await
}

/// The pods labelled `app: <app>` and the nodes they are bound to.
async fn placed(env: &Env, app: &str) -> Result<Vec<(String, Option<String>)>> {
    let pods = env
        .pods()
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await?;
    let mut out: Vec<_> = pods
        .items
        .iter()
        .map(|p: &Pod| {
            (
                p.metadata.name.clone().unwrap_or_default(),
                node_of(p).map(str::to_string),
            )
        })
        .collect();
    out.sort();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preemptor_evicts_three_of_four_pods_and_is_bound_where_it_was_nominated() -> Result<()> {
    let env = Env::scheduler().await?;
    // Two nodes of 4 CPU, each filled by four 900m low-priority pods (upstream's
    // PreemptionAsync shape).
    for n in ["node-a", "node-b"] {
        env.node(n, "4", "32Gi", NO_LABELS, NO_TAINTS).await?;
    }
    for i in 0..8 {
        pod_at(&env, &format!("low-{i}"), "low", "900m", 0).await?;
    }
    for i in 0..8 {
        env.scheduled(&format!("low-{i}")).await?;
    }

    pod_at(&env, "high", "high", "3", 10).await?;
    let node = env.scheduled("high").await?;
    let high = env.pods().get("high").await?;
    assert_eq!(
        high.status.and_then(|s| s.nominated_node_name),
        Some(node.clone()),
        "the preemptor is bound to the node it was nominated to"
    );
    let low = placed(&env, "low").await?;
    let on_its_node = low
        .iter()
        .filter(|(_, n)| n.as_ref() == Some(&node))
        .count();
    assert_eq!(
        (on_its_node, low.len()),
        (1, 5),
        "exactly three victims were evicted, all from the preemptor's node: {low:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preemptor_passes_over_a_node_whose_victim_a_budget_protects() -> Result<()> {
    let env = Env::scheduler().await?;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(env.client.clone(), "default");
    env.create(
        pdbs.clone(),
        json!({"metadata": {"name": "guarded"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}}}),
    )
    .await?;
    // What the disruption controller would report: no disruption allowed.
    let status = json!({"status": {"currentHealthy": 1, "desiredHealthy": 1,
        "disruptionsAllowed": 0, "expectedPods": 1}});
    pdbs.patch_status("guarded", &PatchParams::default(), &Patch::Merge(status))
        .await?;
    env.node("with-guarded", "1", "8Gi", NO_LABELS, NO_TAINTS)
        .await?;
    pod_at(&env, "guarded-pod", "guarded", "1", 0).await?;
    assert_eq!(env.scheduled("guarded-pod").await?, "with-guarded");
    env.node("with-plain", "1", "8Gi", NO_LABELS, NO_TAINTS)
        .await?;
    pod_at(&env, "plain-pod", "plain", "1", 0).await?;
    assert_eq!(env.scheduled("plain-pod").await?, "with-plain");

    pod_at(&env, "high", "high", "1", 10).await?;
    assert_eq!(
        env.scheduled("high").await?,
        "with-plain",
        "the node whose victim no budget protects is chosen"
    );
    eventually("the unprotected victim to be deleted", || async {
        matches!(env.pods().get_opt("plain-pod").await, Ok(None)).then_some(())
    })
    .await?;
    assert_eq!(
        env.node_of("guarded-pod").await.as_deref(),
        Some("with-guarded"),
        "the protected pod keeps running"
    );
    Ok(())
}
