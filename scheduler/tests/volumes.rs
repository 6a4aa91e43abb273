//! Volume binding as a user sees it, against our real API server with the in-process
//! scheduler and nodes created through the API: a pod follows its bound volume's node
//! affinity, waits while an `Immediate` claim is unbound, and for a `WaitForFirstConsumer`
//! claim the scheduler picks the node, annotates the claim with it and binds the pod once
//! the claim is Bound (the test plays the volume binder).

mod support;

use anyhow::Result;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use support::{Env, NO_TAINTS, eventually};

/// The scheduler and two Ready nodes, `vol-a` in zone-a and `vol-b` in zone-b.
async fn env() -> Result<Env> {
    let env = Env::scheduler().await?;
    for (name, zone) in [("vol-a", "zone-a"), ("vol-b", "zone-b")] {
        let labels = json!({"topology.kubernetes.io/zone": zone, "kubernetes.io/hostname": name});
        env.node(name, "4", "8Gi", labels, NO_TAINTS).await?;
    }
    Ok(env)
}

fn claims(env: &Env) -> Api<PersistentVolumeClaim> {
    Api::namespaced(env.client.clone(), "default")
}

/// A pod mounting the claim.
async fn pod_using(env: &Env, name: &str, claim: &str) -> Result<()> {
    env.create(
        env.pods(),
        json!({"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}],
                "volumes": [{"name": "data",
                    "persistentVolumeClaim": {"claimName": claim}}]}}),
    )
    .await
}

/// A 1Gi ReadWriteOnce claim of `class`, bound in advance to `volume` if given.
async fn claim(env: &Env, name: &str, class: &str, volume: Option<&str>) -> Result<()> {
    let mut spec = json!({"accessModes": ["ReadWriteOnce"], "storageClassName": class,
        "resources": {"requests": {"storage": "1Gi"}}});
    if let Some(v) = volume {
        spec["volumeName"] = json!(v);
    }
    env.create(
        claims(env),
        json!({"metadata": {"name": name}, "spec": spec}),
    )
    .await
}

/// A cluster with our scheduler running against it; the scheduler stops when this is dropped.
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
    claim(&env, "data", "manual", Some("pv-b")).await?;
    pod_using(&env, "app", "data").await?;
    let node = eventually("the pod to be bound", || env.node_of("app")).await?;
    assert_eq!(node, "vol-b", "the volume only reaches zone-b");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbound_immediate_claim_keeps_the_pod_pending() -> Result<()> {
    let env = env().await?;
    claim(&env, "later", "", None).await?;
    pod_using(&env, "waiting", "later").await?;
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
    pod_using(&env, "orphan", "nowhere").await?;
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
    claim(&env, "scratch", "late-binding", None).await?;
    pod_using(&env, "consumer", "scratch").await?;

    let selected = eventually("the claim annotated with the selected node", || async {
        let pvc = claims(&env).get("scratch").await.ok()?;
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
    claims(&env)
        .patch(
            "scratch",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"volumeName": "pv-scratch"}})),
        )
        .await?;
    claims(&env)
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
