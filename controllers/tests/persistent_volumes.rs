//! The PersistentVolume binder and the `local-path` provisioner end to end: a real API server
//! (`ferrokube apiserver`) and the controller manager running just those two controllers
//! in-process. There is no scheduler here, so tests play its VolumeBinding plugin by setting
//! `volume.kubernetes.io/selected-node` on delayed-binding claims.

mod support;

use anyhow::Result;
use ferrokube_controllers::Config;
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::{Env, until};

/// Where this suite's `local-path` volumes live (only written into PV specs).
const BASE_DIR: &str = "/srv/ferrokube-test-volumes";

impl Env {
    /// A cluster running only the PersistentVolume binder and the `local-path` provisioner.
    async fn with_volume_controllers() -> Result<Env> {
        Env::start_with(Config {
            controllers: vec!["persistentvolume-binder".into(), "local-path".into()],
            local_path_base_dir: BASE_DIR.into(),
            leader_elect: false,
            health_addr: None,
            ..Default::default()
        })
        .await
    }

    fn volumes(&self) -> Api<PersistentVolume> {
        Api::all(self.client.clone())
    }

    fn claims(&self) -> Api<PersistentVolumeClaim> {
        self.api()
    }

    /// Creates a hostPath volume of `size` in class `class` with reclaim `policy`.
    async fn create_volume(&self, name: &str, size: &str, class: &str, policy: &str) -> Result<()> {
        let pv: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": class,
                "persistentVolumeReclaimPolicy": policy,
                "hostPath": {"path": format!("/mnt/{name}")},
            },
        }))?;
        self.volumes().create(&PostParams::default(), &pv).await?;
        Ok(())
    }

    /// Creates claim `name` for `size`; `spec` adds to its spec.
    async fn create_claim(&self, name: &str, size: &str, spec: serde_json::Value) -> Result<()> {
        let mut body = json!({
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
            },
        });
        if let (Some(s), Some(extra)) = (body["spec"].as_object_mut(), spec.as_object()) {
            s.extend(extra.clone());
        }
        let claim: PersistentVolumeClaim = serde_json::from_value(body)?;
        self.claims().create(&PostParams::default(), &claim).await?;
        Ok(())
    }

    /// Waits until claim `name` is Bound and returns it.
    async fn bound_claim(&self, name: &str) -> Result<PersistentVolumeClaim> {
        until(&format!("claim {name} to be Bound"), || async {
            let c = self.claims().get(name).await?;
            Ok((phase_of_claim(&c) == "Bound").then_some(c))
        })
        .await
    }

    /// Waits until volume `name` reaches `phase` and returns it.
    async fn volume_in_phase(&self, name: &str, phase: &str) -> Result<PersistentVolume> {
        until(&format!("volume {name} to be {phase}"), || async {
            let v = self.volumes().get(name).await?;
            Ok((phase_of_volume(&v) == phase).then_some(v))
        })
        .await
    }

    /// Waits for an event with `reason` about object `name` and returns its message.
    async fn event(&self, name: &str, reason: &str) -> Result<String> {
        until(&format!("a {reason} event about {name}"), || async {
            let events: Api<Event> = Api::all(self.client.clone());
            let list = events.list(&ListParams::default()).await?;
            Ok(list
                .items
                .into_iter()
                .find(|e| {
                    e.involved_object.name.as_deref() == Some(name)
                        && e.reason.as_deref() == Some(reason)
                })
                .and_then(|e| e.message))
        })
        .await
    }
}

fn phase_of_claim(c: &PersistentVolumeClaim) -> &str {
    c.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn phase_of_volume(v: &PersistentVolume) -> &str {
    v.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn volume_name(c: &PersistentVolumeClaim) -> String {
    c.spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_binds_to_the_smallest_available_volume_that_fits() -> Result<()> {
    let env = Env::with_volume_controllers().await?;
    env.create_volume("small", "1Gi", "manual", "Retain")
        .await?;
    env.create_volume("large", "10Gi", "manual", "Retain")
        .await?;
    env.create_volume("medium", "5Gi", "manual", "Retain")
        .await?;
    env.create_volume("other-class", "4Gi", "fast", "Retain")
        .await?;
    // Available means the binder has seen the volume, so the claim has every one to pick from.
    for v in ["small", "large", "medium", "other-class"] {
        env.volume_in_phase(v, "Available").await?;
    }
    env.create_claim("data", "3Gi", json!({"storageClassName": "manual"}))
        .await?;

    let claim = env.bound_claim("data").await?;
    assert_eq!(volume_name(&claim), "medium");
    assert_eq!(
        claim
            .annotations()
            .get("pv.kubernetes.io/bind-completed")
            .map(String::as_str),
        Some("yes")
    );
    let status = claim.status.clone().unwrap_or_default();
    assert_eq!(status.capacity.unwrap_or_default()["storage"].0, "5Gi");
    assert_eq!(status.access_modes.unwrap_or_default(), ["ReadWriteOnce"]);

    let pv = env.volume_in_phase("medium", "Bound").await?;
    let claim_ref = pv.spec.and_then(|s| s.claim_ref).unwrap_or_default();
    assert_eq!(claim_ref.name.as_deref(), Some("data"));
    assert_eq!(claim_ref.uid, claim.uid());
    assert_eq!(
        pv.metadata
            .annotations
            .unwrap_or_default()
            .get("pv.kubernetes.io/bound-by-controller")
            .map(String::as_str),
        Some("yes")
    );
    for other in ["small", "large", "other-class"] {
        env.volume_in_phase(other, "Available").await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_naming_a_volume_binds_to_that_volume() -> Result<()> {
    let env = Env::with_volume_controllers().await?;
    env.create_volume("exact", "1Gi", "manual", "Retain")
        .await?;
    env.create_volume("chosen", "10Gi", "manual", "Retain")
        .await?;
    env.create_claim(
        "pinned",
        "1Gi",
        json!({"storageClassName": "manual", "volumeName": "chosen"}),
    )
    .await?;

    let claim = env.bound_claim("pinned").await?;
    assert_eq!(volume_name(&claim), "chosen");
    // The user chose the volume, so the claim is not marked as bound by the controller.
    assert!(
        !claim
            .annotations()
            .contains_key("pv.kubernetes.io/bound-by-controller")
    );
    env.volume_in_phase("chosen", "Bound").await?;
    env.volume_in_phase("exact", "Available").await?;

    // A claim naming a volume that is too small waits, with an event saying why.
    env.create_claim(
        "too-big",
        "5Gi",
        json!({"storageClassName": "manual", "volumeName": "exact"}),
    )
    .await?;
    let message = env.event("too-big", "VolumeMismatch").await?;
    assert_eq!(
        message,
        "Cannot bind to requested volume \"exact\": requested PV is too small"
    );
    assert_eq!(
        phase_of_claim(&env.claims().get("too-big").await?),
        "Pending"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_on_the_default_local_path_class_is_provisioned_on_the_selected_node() -> Result<()>
{
    let env = Env::with_volume_controllers().await?;
    let classes: Api<StorageClass> = Api::all(env.client.clone());
    let class = until("the local-path StorageClass", || async {
        Ok(classes.get_opt("local-path").await?)
    })
    .await?;
    assert_eq!(class.provisioner, "ferrokube.io/local-path");
    assert_eq!(
        class.volume_binding_mode.as_deref(),
        Some("WaitForFirstConsumer")
    );
    assert_eq!(class.reclaim_policy.as_deref(), Some("Delete"));
    assert_eq!(
        class.annotations()["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "node-a", "labels": {"kubernetes.io/hostname": "host-a"}},
    }))?;
    Api::<Node>::all(env.client.clone())
        .create(&PostParams::default(), &node)
        .await?;

    // A claim without a class gets the default one and waits for a consumer.
    env.create_claim("www", "2Gi", json!({})).await?;
    let message = env.event("www", "WaitForFirstConsumer").await?;
    assert_eq!(
        message,
        "waiting for first consumer to be created before binding"
    );
    let claim = env.claims().get("www").await?;
    assert_eq!(
        claim
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.as_deref()),
        Some("local-path")
    );
    assert_eq!(phase_of_claim(&claim), "Pending");

    // The scheduler picks a node; the volume is provisioned there and bound.
    let selected = json!({"metadata": {"annotations": {
        "volume.kubernetes.io/selected-node": "node-a"}}});
    env.claims()
        .patch("www", &PatchParams::default(), &Patch::Merge(&selected))
        .await?;
    let claim = env.bound_claim("www").await?;
    let pv_name = format!("pvc-{}", claim.uid().unwrap_or_default());
    assert_eq!(volume_name(&claim), pv_name);
    let pv = env.volume_in_phase(&pv_name, "Bound").await?;
    let spec = pv.spec.clone().unwrap_or_default();
    let host_path = spec.host_path.clone().unwrap_or_default();
    assert_eq!(host_path.path, format!("{BASE_DIR}/{pv_name}"));
    assert_eq!(host_path.type_.as_deref(), Some("DirectoryOrCreate"));
    assert_eq!(
        spec.persistent_volume_reclaim_policy.as_deref(),
        Some("Delete")
    );
    assert_eq!(spec.storage_class_name.as_deref(), Some("local-path"));
    let affinity = serde_json::to_value(&spec.node_affinity)?;
    assert_eq!(
        affinity["required"]["nodeSelectorTerms"][0]["matchExpressions"][0],
        json!({"key": "kubernetes.io/hostname", "operator": "In", "values": ["host-a"]})
    );
    assert!(
        env.event("www", "ExternalProvisioning")
            .await?
            .starts_with("Waiting for a volume to be created either by the external provisioner 'ferrokube.io/local-path'")
    );
    assert_eq!(
        env.event("www", "Provisioning").await?,
        "External provisioner is provisioning volume for claim \"default/www\""
    );
    assert_eq!(
        env.event("www", "ProvisioningSucceeded").await?,
        format!("Successfully provisioned volume {pv_name}")
    );

    // Deleting the claim releases the volume, and policy Delete removes it.
    env.claims().delete("www", &DeleteParams::default()).await?;
    until(&format!("volume {pv_name} to be deleted"), || async {
        Ok(env
            .volumes()
            .get_opt(&pv_name)
            .await?
            .is_none()
            .then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_volume_stays_released_after_its_claim_is_deleted() -> Result<()> {
    let env = Env::with_volume_controllers().await?;
    env.create_volume("keep", "1Gi", "manual", "Retain").await?;
    env.create_claim("logs", "1Gi", json!({"storageClassName": "manual"}))
        .await?;
    env.bound_claim("logs").await?;
    env.claims()
        .delete("logs", &DeleteParams::default())
        .await?;
    let pv = env.volume_in_phase("keep", "Released").await?;
    // Released keeps the old claimRef, so no new claim can take the data by accident.
    assert_eq!(
        pv.spec
            .and_then(|s| s.claim_ref)
            .and_then(|r| r.name)
            .as_deref(),
        Some("logs")
    );
    // A new claim that would fit is not given the released volume.
    env.create_claim("again", "1Gi", json!({"storageClassName": "manual"}))
        .await?;
    let again = until("the new claim to be synced as Pending", || async {
        let c = env.claims().get("again").await?;
        Ok((phase_of_claim(&c) == "Pending").then_some(c))
    })
    .await?;
    assert_eq!(volume_name(&again), "");
    assert_eq!(
        phase_of_volume(&env.volumes().get("keep").await?),
        "Released"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_with_no_class_and_no_volume_reports_failed_binding() -> Result<()> {
    let env = Env::with_volume_controllers().await?;
    env.create_claim("lonely", "1Gi", json!({"storageClassName": ""}))
        .await?;
    assert_eq!(
        env.event("lonely", "FailedBinding").await?,
        "no persistent volumes available for this claim and no storage class is set"
    );
    assert_eq!(
        phase_of_claim(&env.claims().get("lonely").await?),
        "Pending"
    );
    // A volume that appears later is bound without waiting for a resync.
    env.create_volume("late", "1Gi", "", "Retain").await?;
    assert_eq!(volume_name(&env.bound_claim("lonely").await?), "late");
    Ok(())
}
