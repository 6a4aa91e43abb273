//! Preemption as a user sees it, against our real API server with the scheduler in-process:
//! a high-priority pod that fits nowhere evicts a lower-priority pod (which gets a
//! `Preempted` event), is nominated to the freed node and then bound there; a pod with
//! `preemptionPolicy: Never` stays pending instead.

mod support;

use anyhow::Result;
use serde_json::{Value, json};
use support::{Env, NO_LABELS, NO_TAINTS, eventually};

/// A pod requesting `cpu` at `priority`, plus extra spec fields. Victims are deleted at
/// once (no kubelet runs here), so their grace period is 0.
async fn pod_at(env: &Env, name: &str, cpu: &str, priority: i32, extra: Value) -> Result<()> {
    let mut spec = json!({"priority": priority, "terminationGracePeriodSeconds": 0});
    for (k, v) in extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    env.pod_requesting(name, json!({"cpu": cpu}), spec).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_priority_pod_preempts_a_low_priority_one_on_a_full_node() -> Result<()> {
    let env = Env::scheduler().await?;
    env.node("only", "2", "8Gi", NO_LABELS, NO_TAINTS).await?;
    pod_at(&env, "low", "1500m", 1, json!({})).await?;
    pod_at(&env, "mid", "500m", 100, json!({})).await?;
    assert_eq!(env.scheduled("low").await?, "only");
    assert_eq!(env.scheduled("mid").await?, "only");

    pod_at(&env, "high", "1", 1000, json!({})).await?;
    let preempted = env.event("low", "Preempted").await?;
    let uid = env
        .pods()
        .get("high")
        .await?
        .metadata
        .uid
        .unwrap_or_default();
    assert_eq!(preempted, format!("Preempted by pod {uid} on node only"));
    eventually("the low-priority victim to be deleted", || async {
        matches!(env.pods().get_opt("low").await, Ok(None)).then_some(())
    })
    .await?;
    assert_eq!(env.scheduled("high").await?, "only");
    let high = env.pods().get("high").await?;
    assert_eq!(
        high.status.and_then(|s| s.nominated_node_name).as_deref(),
        Some("only"),
        "the preemptor was nominated to the node it freed"
    );
    assert!(
        env.pods().get_opt("mid").await?.is_some(),
        "only the victim needed was evicted"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_never_preempts_stays_pending() -> Result<()> {
    let env = Env::scheduler().await?;
    env.node("only", "1", "8Gi", NO_LABELS, NO_TAINTS).await?;
    pod_at(&env, "low", "1", 1, json!({})).await?;
    assert_eq!(env.scheduled("low").await?, "only");
    pod_at(
        &env,
        "polite",
        "1",
        1000,
        json!({"preemptionPolicy": "Never"}),
    )
    .await?;
    let message = env.event("polite", "FailedScheduling").await?;
    assert_eq!(
        message,
        "0/1 nodes are available: 1 Insufficient cpu. \
         preemption: not eligible due to preemptionPolicy=Never."
    );
    let low = env.pods().get("low").await?;
    assert_eq!(
        low.spec.and_then(|s| s.node_name).as_deref(),
        Some("only"),
        "the low-priority pod keeps running"
    );
    assert!(
        env.pods()
            .get("polite")
            .await?
            .spec
            .and_then(|s| s.node_name)
            .is_none()
    );
    Ok(())
}
