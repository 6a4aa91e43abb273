//! Preemption as a user sees it, against our real API server with the scheduler in-process:
//! a high-priority pod that fits nowhere evicts a lower-priority pod (which gets a
//! `Preempted` event), is nominated to the freed node and then bound there; a pod with
//! `preemptionPolicy: Never` stays pending instead.

use std::time::Duration;

use anyhow::{Context, Result};
use ferrokube_scheduler::Config;
use ferrokube_tests::Cluster;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::oneshot;

struct Env {
    _cluster: Cluster,
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
        _cluster: cluster,
        client,
        _stop: stop,
    })
}

/// Polls `f` every 50 ms until it yields, for at most 30 s (binding and eviction take a
/// second or two on a loaded machine).
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

impl Env {
    async fn node(&self, name: &str, cpu: &str) -> Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        api.create(&PostParams::default(), &node).await?;
        let resources = json!({"cpu": cpu, "memory": "8Gi", "pods": "110"});
        let status = json!({"status": {
            "capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await?;
        Ok(())
    }

    /// A pod requesting `cpu` at `priority`, plus extra spec fields. Victims are deleted at
    /// once (no kubelet runs here), so their grace period is 0.
    async fn pod(&self, name: &str, cpu: &str, priority: i32, extra: Value) -> Result<()> {
        let mut body = json!({
            "metadata": {"name": name},
            "spec": {"priority": priority, "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": cpu}}}]},
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            body["spec"][k] = v.clone();
        }
        let pod: Pod = serde_json::from_value(body)?;
        self.pods().create(&PostParams::default(), &pod).await?;
        Ok(())
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn scheduled(&self, pod: &str) -> Result<String> {
        eventually(&format!("pod {pod} to be bound"), || async {
            let p = self.pods().get(pod).await.ok()?;
            p.spec?.node_name.filter(|n| !n.is_empty())
        })
        .await
    }

    async fn event(&self, pod: &str, reason: &str) -> Result<String> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), "default");
        eventually(&format!("a {reason} event for {pod}"), || async {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_priority_pod_preempts_a_low_priority_one_on_a_full_node() -> Result<()> {
    let env = env().await?;
    env.node("only", "2").await?;
    env.pod("low", "1500m", 1, json!({})).await?;
    env.pod("mid", "500m", 100, json!({})).await?;
    assert_eq!(env.scheduled("low").await?, "only");
    assert_eq!(env.scheduled("mid").await?, "only");

    env.pod("high", "1", 1000, json!({})).await?;
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
    let env = env().await?;
    env.node("only", "1").await?;
    env.pod("low", "1", 1, json!({})).await?;
    assert_eq!(env.scheduled("low").await?, "only");
    env.pod("polite", "1", 1000, json!({"preemptionPolicy": "Never"}))
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
