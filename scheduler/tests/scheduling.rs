//! The scheduler as a user sees it, against our real API server: nodes are created through the
//! API (capacity, allocatable, a Ready condition; no kubelet), pods are created pending, and
//! the scheduler — started in-process with upstream's defaults — binds them, or says why not.

mod support;

use anyhow::{Result, bail};
use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::{Env, NO_LABELS, NO_TAINTS, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_fit_by_resources_and_spread_to_the_least_allocated_node() -> Result<()> {
    let env = Env::scheduler().await?;
    env.node("small-a", "2", "4Gi", NO_LABELS, NO_TAINTS)
        .await?;
    env.node("small-b", "2", "4Gi", NO_LABELS, NO_TAINTS)
        .await?;
    let mut placed = Vec::new();
    for i in 0..4 {
        let name = format!("web-{i}");
        env.pod(&name, "500m", json!({})).await?;
        placed.push(env.scheduled(&name).await?);
    }
    let on_a = placed.iter().filter(|n| *n == "small-a").count();
    assert_eq!(
        on_a, 2,
        "least-allocated spreads four pods two per node: {placed:?}"
    );
    let message = env.event("web-0", "Scheduled").await?;
    assert_eq!(
        message,
        format!("Successfully assigned default/web-0 to {}", placed[0])
    );

    env.pod("big", "1500m", json!({})).await?;
    env.event("big", "FailedScheduling").await?;
    env.node("large", "8", "16Gi", NO_LABELS, NO_TAINTS).await?;
    assert_eq!(env.scheduled("big").await?, "large");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unschedulable_pod_says_why_and_is_scheduled_when_a_fitting_node_appears() -> Result<()>
{
    let env = Env::scheduler().await?;
    let taint = json!([{"key": "k", "value": "v", "effect": "NoSchedule"}]);
    env.node("tainted-1", "8", "16Gi", NO_LABELS, taint.clone())
        .await?;
    env.node("tainted-2", "8", "16Gi", NO_LABELS, taint).await?;
    env.node("small", "1", "4Gi", NO_LABELS, NO_TAINTS).await?;
    env.pod("needy", "2", json!({})).await?;
    let message = env.event("needy", "FailedScheduling").await?;
    assert_eq!(
        message,
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}. \
         preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, \
         2 Preemption is not helpful for scheduling."
    );
    let condition = eventually("the PodScheduled=False condition", || async {
        let p = env.pods().get("needy").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await?;
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(condition.message.as_deref(), Some(message.as_str()));

    env.node("roomy", "4", "8Gi", NO_LABELS, NO_TAINTS).await?;
    assert_eq!(env.scheduled("needy").await?, "roomy");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taints_tolerations_and_node_selection_decide_the_node() -> Result<()> {
    let env = Env::scheduler().await?;
    env.node(
        "gpu",
        "4",
        "8Gi",
        json!({"dedicated": "gpu"}),
        json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
    )
    .await?;
    env.node("ssd", "4", "8Gi", json!({"disk": "ssd"}), NO_TAINTS)
        .await?;
    env.node("plain", "4", "8Gi", json!({"zone": "b"}), NO_TAINTS)
        .await?;

    env.pod(
        "wants-ssd",
        "100m",
        json!({"nodeSelector": {"disk": "ssd"}}),
    )
    .await?;
    assert_eq!(env.scheduled("wants-ssd").await?, "ssd");

    let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}}});
    env.pod("wants-zone-b", "100m", affinity).await?;
    assert_eq!(env.scheduled("wants-zone-b").await?, "plain");

    let tolerating = json!({
        "nodeSelector": {"dedicated": "gpu"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
    });
    env.pod("tolerates-gpu", "100m", tolerating).await?;
    assert_eq!(env.scheduled("tolerates-gpu").await?, "gpu");

    env.pod(
        "intolerant",
        "100m",
        json!({"nodeSelector": {"dedicated": "gpu"}}),
    )
    .await?;
    assert_eq!(
        env.event("intolerant", "FailedScheduling").await?,
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, \
         2 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_pod_waits_until_its_gate_is_removed() -> Result<()> {
    let env = Env::scheduler().await?;
    env.node("n", "4", "8Gi", NO_LABELS, NO_TAINTS).await?;
    env.pod(
        "gated",
        "100m",
        json!({"schedulingGates": [{"name": "example.com/wait"}]}),
    )
    .await?;
    env.pod("free", "100m", json!({})).await?;
    env.scheduled("free").await?;
    assert_eq!(
        env.node_of("gated").await,
        None,
        "a gated pod is not scheduled"
    );

    let ungate = json!({"spec": {"schedulingGates": null}});
    env.pods()
        .patch("gated", &PatchParams::default(), &Patch::Merge(ungate))
        .await?;
    assert_eq!(env.scheduled("gated").await?, "n");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_for_another_scheduler_is_left_alone() -> Result<()> {
    let env = Env::scheduler().await?;
    env.node("n", "4", "8Gi", NO_LABELS, NO_TAINTS).await?;
    env.pod(
        "theirs",
        "100m",
        json!({"schedulerName": "other-scheduler"}),
    )
    .await?;
    env.pod("ours", "100m", json!({})).await?;
    env.scheduled("ours").await?;
    assert_eq!(env.node_of("theirs").await, None);
    let events = env.cluster.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=theirs",
        "-o",
        "name",
    ])?;
    if !events.trim().is_empty() {
        bail!("the other scheduler's pod got events from us: {events}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_bound_pod_makes_room_for_a_pending_one() -> Result<()> {
    let env = Env::scheduler().await?;
    env.node("n", "1", "4Gi", NO_LABELS, NO_TAINTS).await?;
    env.pod("first", "800m", json!({})).await?;
    env.scheduled("first").await?;
    env.pod("second", "800m", json!({})).await?;
    assert!(
        env.event("second", "FailedScheduling")
            .await?
            .starts_with("0/1 nodes are available: 1 Insufficient cpu.")
    );
    env.pods()
        .delete("first", &kube::api::DeleteParams::default().grace_period(0))
        .await?;
    assert_eq!(env.scheduled("second").await?, "n");
    Ok(())
}
