//! The scheduler as a user sees it, against our real API server: nodes are created through the
//! API (capacity, allocatable, a Ready condition; no kubelet), pods are created pending, and
//! the scheduler — started in-process with upstream's defaults — binds them, or says why not.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use ferrokube_scheduler::Config;
use ferrokube_tests::Cluster;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A cluster with our scheduler running against it; the scheduler stops when this is dropped.
struct Env {
    cluster: Cluster,
    client: kube::Client,
    _stop: oneshot::Sender<()>,
}

async fn env() -> Result<Env> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config {
        kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
        leader_elect: false,
        health_addr: None,
        ..Default::default()
    };
    ferrokube_scheduler::start(config, async move {
        let _ = stopped.await;
    })
    .await?;
    Ok(Env {
        cluster,
        client,
        _stop: stop,
    })
}

impl Env {
    /// Creates a Ready node with `cpu` and `memory` allocatable, labels and taints.
    async fn node(
        &self,
        name: &str,
        cpu: &str,
        memory: &str,
        labels: Value,
        taints: Value,
    ) -> Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
        }))?;
        api.create(&PostParams::default(), &node).await?;
        let resources = json!({"cpu": cpu, "memory": memory, "pods": "110"});
        let status = json!({"status": {
            "capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await?;
        Ok(())
    }

    /// Creates a pod in `default` with one container requesting `cpu`, plus `spec` fields.
    async fn pod(&self, name: &str, cpu: &str, spec: Value) -> Result<()> {
        let mut body = json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": cpu, "memory": "100Mi"}}}]},
        });
        if let (Some(s), Some(extra)) = (body["spec"].as_object_mut(), spec.as_object()) {
            for (k, v) in extra {
                s.insert(k.clone(), v.clone());
            }
        }
        let pod: Pod = serde_json::from_value(body)?;
        self.pods().create(&PostParams::default(), &pod).await?;
        Ok(())
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn node_of(&self, pod: &str) -> Result<Option<String>> {
        let p = self.pods().get(pod).await?;
        Ok(p.spec.and_then(|s| s.node_name).filter(|n| !n.is_empty()))
    }

    /// Waits until the pod is bound; its node.
    async fn scheduled(&self, pod: &str) -> Result<String> {
        let why = format!("pod {pod} to be bound (the scheduler binds within a second or two)");
        eventually(&why, || async { self.node_of(pod).await.ok().flatten() }).await
    }

    /// Waits for an event about the pod with this reason; its message.
    async fn event(&self, pod: &str, reason: &str) -> Result<String> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), "default");
        let why = format!("a {reason} event for {pod}");
        eventually(&why, || async {
            let list = api.list(&ListParams::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|e| {
                    e.involved_object.name.as_deref() == Some(pod)
                        && e.reason.as_deref() == Some(reason)
                })
                .and_then(|e| e.message)
        })
        .await
    }
}

/// Polls `f` every 50 ms until it yields, for at most 30 s.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let poll = async {
        loop {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), poll)
        .await
        .with_context(|| format!("timed out waiting for {what}"))
}

const NO_LABELS: Value = Value::Null;
const NO_TAINTS: Value = Value::Null;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_fit_by_resources_and_spread_to_the_least_allocated_node() -> Result<()> {
    let env = env().await?;
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
    let env = env().await?;
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
    let env = env().await?;
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
    let env = env().await?;
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
        env.node_of("gated").await?,
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
    let env = env().await?;
    env.node("n", "4", "8Gi", NO_LABELS, NO_TAINTS).await?;
    env.pod(
        "theirs",
        "100m",
        json!({"schedulerName": "other-scheduler"}),
    )
    .await?;
    env.pod("ours", "100m", json!({})).await?;
    env.scheduled("ours").await?;
    assert_eq!(env.node_of("theirs").await?, None);
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
    let env = env().await?;
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
