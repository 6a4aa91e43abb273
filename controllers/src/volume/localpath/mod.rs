//! The `local-path` provisioner: an external provisioner (as upstream's
//! sig-storage-lib-external-provisioner drives one) whose volumes are directories on a node.
//!
//! Entry point: [`run`]. At start it makes sure a default StorageClass exists — `local-path`
//! (provisioner [`PROVISIONER`], `WaitForFirstConsumer`, reclaim `Delete`) unless another class
//! is already the default. It provisions each claim the binder handed to it (the
//! `volume.kubernetes.io/storage-provisioner` annotation) once the scheduler has picked a node
//! (`volume.kubernetes.io/selected-node`), creating the PersistentVolume of [`volume::build`];
//! and it deletes its Released volumes whose policy is `Delete`. It never touches a node's disk:
//! the kubelet creates the `hostPath` directory when it mounts the volume.

pub mod volume;

use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, info_span, warn};

use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informer};
use crate::metrics::{Metrics, QueueMetrics};
use crate::retry::{self, Failures};
use crate::runner::{self, Retry};
use crate::volume::persistentvolume::binding::volume_phase;
use crate::volume::persistentvolume::claim_sync::{
    ANN_BETA_STORAGE_PROVISIONER, ANN_DEFAULT_CLASS, ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER,
    default_class,
};
use crate::volume::persistentvolume::matching::claim_class;
use crate::volume::persistentvolume::volume_sync::ANN_PROVISIONED_BY;
use crate::{api_message, is_not_found, pod_util};

/// The controller's name in `--controllers` and metrics.
pub const NAME: &str = "local-path-provisioner";

/// The provisioner name StorageClasses refer to.
pub const PROVISIONER: &str = "ferrokube.io/local-path";

/// The default StorageClass this provisioner makes.
pub const STORAGE_CLASS: &str = "local-path";

/// Where the volumes' directories go on each node by default.
pub const DEFAULT_BASE_DIR: &str = "/var/lib/ferrokube/storage";

/// Why provisioning or deleting a volume failed; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Creating the default StorageClass failed.
    #[error("create storage class: {0}")]
    CreateStorageClass(String),
    /// Reading the selected node failed.
    #[error("failed to get target node: {0}")]
    GetNode(String),
    /// Creating the PersistentVolume failed.
    #[error("create volume: {0}")]
    CreateVolume(String),
    /// Deleting a released PersistentVolume failed.
    #[error("delete volume: {0}")]
    DeleteVolume(String),
}

/// What a sync needs.
pub struct Context {
    client: Client,
    base_dir: PathBuf,
    claims: Store<PersistentVolumeClaim>,
    volumes: Store<PersistentVolume>,
    classes: Store<StorageClass>,
    recorder: Recorder,
    queue: QueueMetrics,
    failures: Failures,
}

/// Runs the provisioner until `stop` turns true; volume directories go under `base_dir`.
pub async fn run(
    client: Client,
    base_dir: PathBuf,
    metrics: &Metrics,
    stop: watch::Receiver<bool>,
) {
    let mut claims = Informer::<PersistentVolumeClaim>::new(
        Api::all(client.clone()),
        watcher::Config::default(),
    );
    let mut volumes =
        Informer::<PersistentVolume>::new(Api::all(client.clone()), watcher::Config::default());
    let classes =
        Informer::<StorageClass>::new(Api::all(client.clone()), watcher::Config::default());
    let ctx = Arc::new(Context {
        client: client.clone(),
        base_dir,
        claims: claims.store(),
        volumes: volumes.store(),
        classes: classes.store(),
        recorder: Recorder::new(client, PROVISIONER, None),
        queue: metrics.queue("local-path-provisioner"),
        failures: Failures::default(),
    });
    let (claim_tx, claim_rx) = mpsc::unbounded_channel();
    let (volume_tx, volume_rx) = mpsc::unbounded_channel();
    let router = tokio::spawn(route(
        ctx.clone(),
        claims.subscribe(),
        volumes.subscribe(),
        claim_tx,
        volume_tx,
    ));
    let watching = [
        claims.spawn(stop.clone()),
        volumes.spawn(stop.clone()),
        classes.spawn(stop.clone()),
    ];
    let synced = async {
        ctx.claims.wait_until_ready().await.is_ok()
            && ctx.volumes.wait_until_ready().await.is_ok()
            && ctx.classes.wait_until_ready().await.is_ok()
    };
    let mut stopped = stop.clone();
    let ok = tokio::select! {
        _ = stopped.wait_for(|s| *s) => false,
        ok = synced => ok,
    };
    if ok {
        ensure_default_class(&ctx, stop.clone()).await;
        let workers = runner::Workers::new("local-path provisioner", 4, &stop);
        let (claims, volumes) = (ctx.claims.clone(), ctx.volumes.clone());
        let provisioning = workers.run(claims, claim_rx, provision, error_policy, ctx.clone());
        let deleting = workers.run(volumes, volume_rx, delete, error_policy, ctx.clone());
        futures::future::join(provisioning, deleting).await;
    }
    router.abort();
    for w in watching {
        let _ = w.await;
    }
}

/// Creates the `local-path` StorageClass as the default unless a default class exists; retries
/// until it is written or `stop` turns true.
async fn ensure_default_class(ctx: &Context, mut stop: watch::Receiver<bool>) {
    let mut attempt = 0;
    loop {
        match create_default_class(ctx).await {
            Ok(()) => return,
            Err(e) => {
                attempt += 1;
                warn!(error = %e, "could not create the default storage class; retrying");
                let wait = retry::backoff(attempt, std::time::Duration::from_millis(200));
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

async fn create_default_class(ctx: &Context) -> Result<(), Error> {
    let classes = ctx.classes.state();
    if let Some(existing) = default_class(&classes) {
        debug!(class = %existing, "a default storage class exists");
        return Ok(());
    }
    if classes.iter().any(|c| c.name_any() == STORAGE_CLASS) {
        return Ok(());
    }
    let class = StorageClass {
        metadata: ObjectMeta {
            name: Some(STORAGE_CLASS.into()),
            annotations: Some([(ANN_DEFAULT_CLASS.to_string(), "true".to_string())].into()),
            ..Default::default()
        },
        provisioner: PROVISIONER.into(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        ..Default::default()
    };
    match Api::<StorageClass>::all(ctx.client.clone())
        .create(&PostParams::default(), &class)
        .await
    {
        Ok(_) => {
            info!(class = STORAGE_CLASS, "created the default storage class");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(Error::CreateStorageClass(api_message(&e))),
    }
}

/// Queues claims that may need a volume and volumes that may need deleting.
async fn route(
    ctx: Arc<Context>,
    mut claim_changes: mpsc::UnboundedReceiver<Change<PersistentVolumeClaim>>,
    mut volume_changes: mpsc::UnboundedReceiver<Change<PersistentVolume>>,
    claim_tx: mpsc::UnboundedSender<ObjectRef<PersistentVolumeClaim>>,
    volume_tx: mpsc::UnboundedSender<ObjectRef<PersistentVolume>>,
) {
    loop {
        tokio::select! {
            c = claim_changes.recv() => match c {
                None => return,
                Some(Change::Added(c) | Change::Updated { new: c, .. }) => {
                    if is_ours(&c) {
                        ctx.queue.added(&pod_util::key(&c.metadata));
                        let _ = claim_tx.send(ObjectRef::from_obj(&*c));
                    }
                }
                Some(Change::Deleted(_)) => {}
            },
            c = volume_changes.recv() => match c {
                None => return,
                Some(Change::Added(v) | Change::Updated { new: v, .. }) => {
                    if v.annotations().get(ANN_PROVISIONED_BY).map(String::as_str) == Some(PROVISIONER) {
                        ctx.queue.added(&v.name_any());
                        let _ = volume_tx.send(ObjectRef::from_obj(&*v));
                    }
                }
                Some(Change::Deleted(_)) => {}
            },
        }
    }
}

/// Whether the binder handed this claim to this provisioner.
fn is_ours(claim: &PersistentVolumeClaim) -> bool {
    [ANN_STORAGE_PROVISIONER, ANN_BETA_STORAGE_PROVISIONER]
        .iter()
        .any(|a| claim.annotations().get(*a).map(String::as_str) == Some(PROVISIONER))
}

/// Provisions a volume for one claim if it should have one (the library's `shouldProvision`).
async fn provision(claim: Arc<PersistentVolumeClaim>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = pod_util::key(&claim.metadata);
    let span = info_span!("provision", persistentvolumeclaim = %key);
    let work = provision_claim(&ctx, &claim);
    runner::sync(&ctx.queue, &ctx.failures, &key, span, work).await?;
    Ok(Action::await_change())
}

async fn provision_claim(ctx: &Context, claim: &PersistentVolumeClaim) -> Result<(), Error> {
    let bound = claim
        .spec
        .as_ref()
        .is_some_and(|s| s.volume_name.as_deref().is_some_and(|v| !v.is_empty()));
    if bound || !is_ours(claim) || claim.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    let Some(class) = ctx.classes.get(&ObjectRef::new(&claim_class(claim))) else {
        return Ok(());
    };
    if class.provisioner != PROVISIONER {
        return Ok(());
    }
    let name = volume::volume_name(claim);
    if ctx.volumes.get(&ObjectRef::new(&name)).is_some() {
        return Ok(());
    }
    // A host directory needs a node: wait until the scheduler has picked one.
    let Some(node) = claim.annotations().get(ANN_SELECTED_NODE).cloned() else {
        return Ok(());
    };
    ctx.recorder.publish(
        claim,
        EventType::Normal,
        "Provisioning",
        format!(
            "External provisioner is provisioning volume for claim \"{}\"",
            pod_util::key(&claim.metadata)
        ),
    );
    let hostname = match Api::<Node>::all(ctx.client.clone()).get(&node).await {
        Ok(n) => n
            .labels()
            .get("kubernetes.io/hostname")
            .cloned()
            .unwrap_or(node),
        Err(e) => {
            let err = Error::GetNode(api_message(&e));
            ctx.recorder.publish(
                claim,
                EventType::Warning,
                "ProvisioningFailed",
                err.to_string(),
            );
            return Err(err);
        }
    };
    let pv = volume::build(claim, &class, PROVISIONER, &ctx.base_dir, &hostname);
    match Api::<PersistentVolume>::all(ctx.client.clone())
        .create(&PostParams::default(), &pv)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => {
            let message = format!(
                "failed to provision volume with StorageClass {:?}: {}",
                class.name_any(),
                api_message(&e)
            );
            ctx.recorder.publish(
                claim,
                EventType::Warning,
                "ProvisioningFailed",
                message.clone(),
            );
            return Err(Error::CreateVolume(message));
        }
    }
    info!(volume = %name, node = %hostname, "provisioned");
    ctx.recorder.publish(
        claim,
        EventType::Normal,
        "ProvisioningSucceeded",
        format!("Successfully provisioned volume {name}"),
    );
    Ok(())
}

/// Deletes one of this provisioner's volumes once it is Released with policy `Delete`.
async fn delete(volume: Arc<PersistentVolume>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = volume.name_any();
    let span = info_span!("delete", persistentvolume = %key);
    let work = delete_released(&ctx, &volume);
    runner::sync(&ctx.queue, &ctx.failures, &key, span, work).await?;
    Ok(Action::await_change())
}

async fn delete_released(ctx: &Context, volume: &PersistentVolume) -> Result<(), Error> {
    let released = volume_phase(volume) == "Released";
    let policy = volume
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref());
    if !released || policy != Some("Delete") || volume.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    match Api::<PersistentVolume>::all(ctx.client.clone())
        .delete(&volume.name_any(), &DeleteParams::default())
        .await
    {
        Ok(_) => {
            info!("deleted released volume");
            Ok(())
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => {
            ctx.recorder.publish(
                volume,
                EventType::Warning,
                "VolumeFailedDelete",
                api_message(&e),
            );
            Err(Error::DeleteVolume(api_message(&e)))
        }
    }
}

fn error_policy<K: kube::Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = pod_util::key(obj.meta());
    let key = key.trim_start_matches('/');
    let how = Retry::warn("local-path provisioner object");
    how.requeue(&ctx.queue, &ctx.failures, key, error)
}
