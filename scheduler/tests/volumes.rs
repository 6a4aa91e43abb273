//! Volume binding as a user sees it, against our real API server with the in-process
//! scheduler and nodes created through the API: a pod follows its bound volume's node
//! affinity, waits while an `Immediate` claim is unbound, and for a `WaitForFirstConsumer`
//! claim the scheduler picks the node, annotates the claim with it and binds the pod once
//! the claim is Bound (the test plays the volume binder).

use std::time::Duration;

use anyhow::{Context, Result};
use ferrokube_tests::Cluster;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A cluster with our scheduler running against it; the scheduler stops when this is dropped.
struct Env {
    _cluster: Cluster,
    client: kube::Client,
    _stop: oneshot::Sender<()>,
}

async fn env() -> Result<Env> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let (stop, stopped) = oneshot::channel::<()>();
    ferrokube_scheduler::start(
        ferrokube_scheduler::Config {
            kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
            leader_elect: false,
            health_addr: None,
            ..Default::default()
        },
        async move {
            let _ = stopped.await;
        },
    )
    .await?;
    let env = Env {
        _cluster: cluster,
        client,
        _stop: stop,
    };
    for (name, zone) in [("vol-a", "zone-a"), ("vol-b", "zone-b")] {
        env.node(name, zone).await?;
    }
    Ok(env)
}

impl Env {
    /// Creates a Ready node in `zone`.
    async fn node(&self, name: &str, zone: &str) -> Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(json!({"metadata": {"name": name,
            "labels": {"topology.kubernetes.io/zone": zone, "kubernetes.io/hostname": name}}}))?;
        api.create(&PostParams::default(), &node).await?;
        let resources = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
        let status = json!({"status": {
            "capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await?;
        Ok(())
    }

    async fn create<K>(&self, api: Api<K>, body: Value) -> Result<()>
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let obj: K = serde_json::from_value(body)?;
        api.create(&PostParams::default(), &obj).await?;
        Ok(())
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    fn claims(&self) -> Api<PersistentVolumeClaim> {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn pod_using(&self, name: &str, claim: &str) -> Result<()> {
        self.create(
            self.pods(),
            json!({"metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": "busybox"}],
                    "volumes": [{"name": "data",
                        "persistentVolumeClaim": {"claimName": claim}}]}}),
        )
        .await
    }

    async fn claim(&self, name: &str, class: &str, volume: Option<&str>) -> Result<()> {
        let mut spec = json!({"accessModes": ["ReadWriteOnce"], "storageClassName": class,
            "resources": {"requests": {"storage": "1Gi"}}});
        if let Some(v) = volume {
            spec["volumeName"] = json!(v);
        }
        self.create(
            self.claims(),
            json!({"metadata": {"name": name}, "spec": spec}),
        )
        .await
    }

    async fn node_of(&self, pod: &str) -> Option<String> {
        let p = self.pods().get(pod).await.ok()?;
        p.spec.and_then(|s| s.node_name).filter(|n| !n.is_empty())
    }

    async fn unschedulable_message(&self, pod: &str) -> Option<String> {
        let p = self.pods().get(pod).await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .and_then(|c| c.message)
    }
}

/// Polls `f` every 100 ms until it yields, for at most 30 s.
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
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), poll)
        .await
        .with_context(|| format!("timed out waiting for {what}"))
}

fn volume_in_zone(name: &str, zone: &str, class: &str) -> Value {
    json!({"metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "storageClassName": class, "hostPath": {"path": "/tmp/data"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}]}]}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_follows_its_bound_volumes_node_affinity() -> Result<()> {
    let env = env().await?;
    let pvs: Api<PersistentVolume> = Api::all(env.client.clone());
    env.create(pvs, volume_in_zone("pv-b", "zone-b", "manual"))
        .await?;
    env.claim("data", "manual", Some("pv-b")).await?;
    env.pod_using("app", "data").await?;
    let node = eventually("the pod to be bound", || env.node_of("app")).await?;
    assert_eq!(node, "vol-b", "the volume only reaches zone-b");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbound_immediate_claim_keeps_the_pod_pending() -> Result<()> {
    let env = env().await?;
    env.claim("later", "", None).await?;
    env.pod_using("waiting", "later").await?;
    let message = eventually("the pod reported unschedulable", || {
        env.unschedulable_message("waiting")
    })
    .await?;
    assert!(
        message.starts_with(
            "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        ),
        "{message}"
    );
    let missing = "0/2 nodes are available: persistentvolumeclaim \"nowhere\" not found.";
    env.pod_using("orphan", "nowhere").await?;
    let message = eventually("the orphan pod reported unschedulable", || {
        env.unschedulable_message("orphan")
    })
    .await?;
    assert!(message.starts_with(missing), "{message}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_first_consumer_claim_is_bound_on_the_chosen_node_before_the_pod() -> Result<()>
{
    let env = env().await?;
    let classes: Api<StorageClass> = Api::all(env.client.clone());
    env.create(
        classes,
        json!({"metadata": {"name": "late-binding"}, "provisioner": "example.com/test",
            "volumeBindingMode": "WaitForFirstConsumer"}),
    )
    .await?;
    env.claim("scratch", "late-binding", None).await?;
    env.pod_using("consumer", "scratch").await?;

    let selected = eventually("the claim annotated with the selected node", || async {
        let pvc = env.claims().get("scratch").await.ok()?;
        pvc.metadata
            .annotations?
            .get("volume.kubernetes.io/selected-node")
            .cloned()
    })
    .await?;
    assert!(
        env.node_of("consumer").await.is_none(),
        "the pod waits for its claim before it is bound"
    );

    // Play the provisioner: a volume on the selected node, and the claim bound to it.
    let pvs: Api<PersistentVolume> = Api::all(env.client.clone());
    let zone = if selected == "vol-a" {
        "zone-a"
    } else {
        "zone-b"
    };
    env.create(pvs, volume_in_zone("pv-scratch", zone, "late-binding"))
        .await?;
    env.claims()
        .patch(
            "scratch",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"volumeName": "pv-scratch"}})),
        )
        .await?;
    env.claims()
        .patch_status(
            "scratch",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Bound"}})),
        )
        .await?;

    let node = eventually("the consumer pod to be bound", || env.node_of("consumer")).await?;
    assert_eq!(
        node, selected,
        "the pod runs where its volume was provisioned"
    );
    Ok(())
}
