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
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tracing::{Instrument, debug, info_span, warn};

use crate::events::Recorder;
use crate::informer::{Change, Informer};
use crate::metrics::Metrics;
use crate::metrics::QueueMetrics;
use crate::pod_util;
use crate::retry::{self, Failures};

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
        let claim_loop = run_queue(
            ctx.claims.clone(),
            claim_rx,
            reconcile_claim,
            ctx.clone(),
            stop.clone(),
        );
        let volume_loop = run_queue(
            ctx.volumes.clone(),
            volume_rx,
            reconcile_volume,
            ctx.clone(),
            stop.clone(),
        );
        futures::future::join(claim_loop, volume_loop).await;
    }
    router.abort();
    for w in watching {
        let _ = w.await;
    }
}

/// One queue with one worker, as upstream's binder.
async fn run_queue<K, F, Fut>(
    store: Store<K>,
    rx: mpsc::UnboundedReceiver<ObjectRef<K>>,
    reconcile: F,
    ctx: Arc<Context>,
    stop: watch::Receiver<bool>,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    F: FnMut(Arc<K>, Arc<Context>) -> Fut,
    Fut: std::future::Future<Output = Result<Action, Error>> + Send + 'static,
{
    let mut stopped = stop.clone();
    Controller::for_stream(futures::stream::pending(), store)
        .with_config(controller::Config::default().concurrency(1))
        .reconcile_on(UnboundedReceiverStream::new(rx))
        .graceful_shutdown_on(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .run(reconcile, error_policy::<K>, ctx)
        .for_each(|r| {
            if let Err(e) = r {
                debug!(error = %e, "persistentvolume binder");
            }
            futures::future::ready(())
        })
        .await;
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
    ctx.claim_queue.started(&key);
    let started = Instant::now();
    let result = claim_sync::sync_claim(&ctx, &claim)
        .instrument(info_span!("reconcile", persistentvolumeclaim = %key))
        .await;
    ctx.claim_queue.observe(started.elapsed());
    result?;
    ctx.failures.forget(&failure_key(&*claim));
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
    ctx.volume_queue.started(&key);
    let started = Instant::now();
    let result = volume_sync::sync_volume(&ctx, &volume)
        .instrument(info_span!("reconcile", persistentvolume = %key))
        .await;
    ctx.volume_queue.observe(started.elapsed());
    result?;
    ctx.failures.forget(&failure_key(&*volume));
    Ok(Action::await_change())
}

/// Requeues a failed sync with upstream's per-item exponential backoff.
fn error_policy<K: kube::Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = failure_key(&*obj);
    let n = ctx.failures.record(&key);
    warn!(object = %key, error = %error, "sync failed; requeueing");
    ctx.claim_queue.retried();
    Action::requeue(retry::backoff(n, retry::DEFAULT_BASE))
}

/// The key failures are counted under: kind and `namespace/name`.
fn failure_key<K: kube::Resource<DynamicType = ()>>(obj: &K) -> String {
    format!("{}/{}", K::kind(&()), pod_util::key(obj.meta()))
}
