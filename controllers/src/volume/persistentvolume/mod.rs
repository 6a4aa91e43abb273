//! The PersistentVolume binder, as upstream's `pkg/controller/volume/persistentvolume`
//! (`persistentvolume-binder-controller`): binds each PersistentVolumeClaim to the best
//! matching PersistentVolume ([`matching`], [`binding`]), hands claims with no match to their
//! StorageClass's provisioner — after the scheduler picked a node for `WaitForFirstConsumer`
//! classes ([`claim_sync`]) — and releases and reclaims volumes whose claims are gone
//! ([`volume_sync`]).
//!
//! Entry point: [`run`]. Claims and volumes have a queue each (upstream runs one worker per
//! queue); pending claims are resynced every [`CLAIM_RESYNC`] as upstream's
//! `--pvclaimbinder-sync-period`.

pub mod binding;
pub mod claim_sync;
pub mod matching;
pub mod quantity;
pub mod volume_sync;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tracing::info_span;

use crate::events::Recorder;
use crate::informer::{Change, Informer};
use crate::metrics::Metrics;
use crate::metrics::QueueMetrics;
use crate::pod_util;
use crate::retry::Failures;
use crate::runner::{self, Retry};

/// The controller's name in `--controllers` and metrics.
pub const NAME: &str = "persistentvolume-binder-controller";

/// The `source.component` of its events, as upstream's.
pub const EVENT_SOURCE: &str = "persistentvolume-controller";

/// How often an unbound claim is looked at again (upstream's `--pvclaimbinder-sync-period`).
pub const CLAIM_RESYNC: Duration = Duration::from_secs(15);

/// Why a claim or volume sync failed; it is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Looking up matching volumes failed (an invalid selector).
    #[error("{0}")]
    FindVolume(String),
    /// Reading a claim from the API server failed.
    #[error("get claim: {0}")]
    GetClaim(String),
    /// Writing a volume (its `claimRef`, annotations) failed.
    #[error("update volume: {0}")]
    UpdateVolume(String),
    /// Writing a volume's status failed.
    #[error("update volume status: {0}")]
    UpdateVolumeStatus(String),
    /// Writing a claim (its `volumeName`, annotations, class) failed.
    #[error("update claim: {0}")]
    UpdateClaim(String),
    /// Writing a claim's status failed.
    #[error("update claim status: {0}")]
    UpdateClaimStatus(String),
    /// The claim and volume point at each other inconsistently.
    #[error("{0}")]
    InvalidBinding(String),
}

/// What the syncs need: the client, the caches and the two queues.
pub struct Context {
    client: Client,
    volumes: Store<PersistentVolume>,
    claims: Store<PersistentVolumeClaim>,
    classes: Store<StorageClass>,
    pods: Store<Pod>,
    recorder: Recorder,
    claim_queue: QueueMetrics,
    volume_queue: QueueMetrics,
    claim_tx: mpsc::UnboundedSender<ObjectRef<PersistentVolumeClaim>>,
    failures: Failures,
}

impl Context {
    /// Queues the claim `ns/name` for a sync.
    fn enqueue_claim(&self, ns: &str, name: &str) {
        self.claim_queue.added(&format!("{ns}/{name}"));
        let _ = self.claim_tx.send(ObjectRef::new(name).within(ns));
    }
}

/// Runs the binder until `stop` turns true. `pods` is the shared pod cache (it names the pods
/// a delayed-binding claim waits for).
pub async fn run(client: Client, pods: Store<Pod>, metrics: &Metrics, stop: watch::Receiver<bool>) {
    let mut volumes =
        Informer::<PersistentVolume>::new(Api::all(client.clone()), watcher::Config::default());
    let mut claims = Informer::<PersistentVolumeClaim>::new(
        Api::all(client.clone()),
        watcher::Config::default(),
    );
    let classes =
        Informer::<StorageClass>::new(Api::all(client.clone()), watcher::Config::default());
    let (claim_tx, claim_rx) = mpsc::unbounded_channel();
    let (volume_tx, volume_rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(Context {
        client: client.clone(),
        volumes: volumes.store(),
        claims: claims.store(),
        classes: classes.store(),
        pods,
        recorder: Recorder::new(client, EVENT_SOURCE, None),
        claim_queue: metrics.queue("persistentvolume-claims"),
        volume_queue: metrics.queue("persistentvolume-volumes"),
        claim_tx,
        failures: Failures::default(),
    });
    let router = tokio::spawn(route(
        ctx.clone(),
        volumes.subscribe(),
        claims.subscribe(),
        volume_tx,
    ));
    let watching = [
        volumes.spawn(stop.clone()),
        claims.spawn(stop.clone()),
        classes.spawn(stop.clone()),
    ];
    let synced = async {
        ctx.volumes.wait_until_ready().await.is_ok()
            && ctx.claims.wait_until_ready().await.is_ok()
            && ctx.classes.wait_until_ready().await.is_ok()
    };
    let mut stopped = stop.clone();
    let ok = tokio::select! {
        _ = stopped.wait_for(|s| *s) => false,
        ok = synced => ok,
    };
    if ok {
        let workers = runner::Workers::new("persistentvolume binder", 1, &stop);
        let (claims, volumes) = (ctx.claims.clone(), ctx.volumes.clone());
        let claim_loop = workers.run(claims, claim_rx, reconcile_claim, error_policy, ctx.clone());
        let volume_loop = workers.run(
            volumes,
            volume_rx,
            reconcile_volume,
            error_policy,
            ctx.clone(),
        );
        futures::future::join(claim_loop, volume_loop).await;
    }
    router.abort();
    for w in watching {
        let _ = w.await;
    }
}

/// Turns cache changes into claim and volume syncs.
async fn route(
    ctx: Arc<Context>,
    mut volume_changes: mpsc::UnboundedReceiver<Change<PersistentVolume>>,
    mut claim_changes: mpsc::UnboundedReceiver<Change<PersistentVolumeClaim>>,
    volume_tx: mpsc::UnboundedSender<ObjectRef<PersistentVolume>>,
) {
    let enqueue_volume = |name: &str| {
        ctx.volume_queue.added(name);
        let _ = volume_tx.send(ObjectRef::new(name));
    };
    loop {
        tokio::select! {
            c = volume_changes.recv() => match c {
                None => return,
                Some(Change::Added(v) | Change::Updated { new: v, .. }) => {
                    enqueue_volume(&v.name_any());
                    if binding::volume_phase(&v) == "Available" {
                        // A newly available volume may serve a waiting claim.
                        let class = matching::volume_class(&v);
                        for c in ctx.claims.state_filter(|c| {
                            binding::claim_phase(c) != "Bound" && matching::claim_class(c) == class
                        }) {
                            ctx.enqueue_claim(&c.namespace().unwrap_or_default(), &c.name_any());
                        }
                    }
                }
                Some(Change::Deleted(v)) => {
                    if let Some(r) = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
                        ctx.enqueue_claim(
                            r.namespace.as_deref().unwrap_or_default(),
                            r.name.as_deref().unwrap_or_default(),
                        );
                    }
                }
            },
            c = claim_changes.recv() => match c {
                None => return,
                Some(Change::Added(c) | Change::Updated { new: c, .. }) => {
                    ctx.enqueue_claim(&c.namespace().unwrap_or_default(), &c.name_any());
                }
                Some(Change::Deleted(c)) => {
                    // Its volume is released now.
                    let uid = c.uid();
                    for v in ctx.volumes.state_filter(|v| {
                        v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_some_and(|r| r.uid == uid)
                    }) {
                        enqueue_volume(&v.name_any());
                    }
                }
            },
        }
    }
}

/// One claim's sync in a span naming it; unbound claims come back every [`CLAIM_RESYNC`].
async fn reconcile_claim(
    claim: Arc<PersistentVolumeClaim>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let key = pod_util::key(&claim.metadata);
    let span = info_span!("reconcile", persistentvolumeclaim = %key);
    let work = claim_sync::sync_claim(&ctx, &claim);
    runner::sync(&ctx.claim_queue, &ctx.failures, &key, span, work).await?;
    let bound = claim
        .annotations()
        .contains_key(binding::ANN_BIND_COMPLETED);
    Ok(if bound {
        Action::await_change()
    } else {
        Action::requeue(CLAIM_RESYNC)
    })
}

/// One volume's sync in a span naming it.
async fn reconcile_volume(
    volume: Arc<PersistentVolume>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let key = volume.name_any();
    let span = info_span!("reconcile", persistentvolume = %key);
    let work = volume_sync::sync_volume(&ctx, &volume);
    runner::sync(&ctx.volume_queue, &ctx.failures, &key, span, work).await?;
    Ok(Action::await_change())
}

/// Requeues a failed sync with upstream's per-item exponential backoff. Claims are keyed
/// `namespace/name` and volumes (cluster-scoped) by name, as their queues are.
fn error_policy<K: kube::Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let (queue, key) = match obj.meta().namespace {
        Some(_) => (&ctx.claim_queue, pod_util::key(obj.meta())),
        None => (&ctx.volume_queue, obj.name_any()),
    };
    Retry::warn("object").requeue(queue, &ctx.failures, &key, error)
}
