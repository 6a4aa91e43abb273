//! The ReplicaSet controller, as upstream's `pkg/controller/replicaset`: keeps the number of
//! active pods that a ReplicaSet owns at `spec.replicas`.
//!
//! Each sync ([`reconcile`]) reads the ReplicaSet and the pods from the shared caches, claims
//! pods (adopting matching orphans, releasing owned pods that no longer match — [`claim`]),
//! creates or deletes pods when the expectations from the previous sync are met
//! ([`replicas`], ranking victims with [`ranking`]), and writes the status subresource
//! ([`status`]). Pod changes map to the ReplicaSets they concern as upstream's event handlers
//! do, and also settle the expectations.

pub mod claim;
pub mod ranking;
pub mod replicas;
pub mod status;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info_span};

use crate::events::Recorder;
use crate::expectations::Expectations;
use crate::informer::Change;
use crate::metrics::QueueMetrics;
use crate::retry::Failures;
use crate::runner::{self, Retry};
use crate::{Error, pod_util};

/// The controller's name in `--controllers`, events (`source.component`) and metrics.
pub const NAME: &str = "replicaset-controller";

/// Upstream's `BurstReplicas`: at most this many creates or deletes per sync.
pub const BURST_REPLICAS: usize = 500;

/// What a sync needs: the client, the shared caches and the controller's own state.
pub struct Context {
    client: Client,
    pods: Store<Pod>,
    replicasets: Store<ReplicaSet>,
    expectations: Expectations,
    recorder: Recorder,
    queue: QueueMetrics,
    failures: Failures,
    burst_replicas: usize,
}

impl Context {
    /// A context over the shared pod and ReplicaSet caches.
    pub fn new(
        client: Client,
        pods: Store<Pod>,
        replicasets: Store<ReplicaSet>,
        recorder: Recorder,
        queue: QueueMetrics,
    ) -> Self {
        Context {
            client,
            pods,
            replicasets,
            expectations: Expectations::default(),
            recorder,
            queue,
            failures: Failures::default(),
            burst_replicas: BURST_REPLICAS,
        }
    }
}

/// Runs the controller with `concurrency` parallel syncs until `stop` turns true. The caches
/// must have synced; `pod_changes` and `rs_changes` are subscriptions to their informers.
pub async fn run(
    ctx: Arc<Context>,
    pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    rs_changes: mpsc::UnboundedReceiver<Change<ReplicaSet>>,
    concurrency: u16,
    stop: watch::Receiver<bool>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let router = tokio::spawn(route(ctx.clone(), pod_changes, rs_changes, tx));
    let workers = runner::Workers::new("replicaset controller", concurrency, &stop);
    workers
        .run(ctx.replicasets.clone(), rx, reconcile, error_policy, ctx)
        .await;
    router.abort();
}

/// Turns cache changes into ReplicaSet keys to sync, settling expectations on the way.
async fn route(
    ctx: Arc<Context>,
    mut pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    mut rs_changes: mpsc::UnboundedReceiver<Change<ReplicaSet>>,
    tx: mpsc::UnboundedSender<ObjectRef<ReplicaSet>>,
) {
    let enqueue = |rs: &ReplicaSet| {
        ctx.queue.added(&pod_util::key(&rs.metadata));
        let _ = tx.send(ObjectRef::from_obj(rs));
    };
    loop {
        tokio::select! {
            c = rs_changes.recv() => match c {
                None => return,
                Some(Change::Added(rs)) => enqueue(&rs),
                Some(Change::Updated { old, new }) => {
                    if old.uid() != new.uid() {
                        ctx.expectations.delete(&pod_util::key(&old.metadata));
                    }
                    enqueue(&new);
                }
                Some(Change::Deleted(rs)) => ctx.expectations.delete(&pod_util::key(&rs.metadata)),
            },
            c = pod_changes.recv() => match c {
                None => return,
                Some(Change::Added(pod)) => {
                    if pod.metadata.deletion_timestamp.is_some() {
                        pod_deleted(&ctx, &pod, &enqueue);
                    } else if let Some(rs) = owner(&ctx, &pod) {
                        ctx.expectations.creation_observed(&pod_util::key(&rs.metadata));
                        enqueue(&rs);
                    } else {
                        matching(&ctx, &pod).iter().for_each(|rs| enqueue(rs));
                    }
                }
                Some(Change::Updated { old, new }) => pod_updated(&ctx, &old, &new, &enqueue),
                Some(Change::Deleted(pod)) => pod_deleted(&ctx, &pod, &enqueue),
            },
        }
    }
}

/// Upstream's `updatePod`.
fn pod_updated(ctx: &Context, old: &Pod, new: &Pod, enqueue: &impl Fn(&ReplicaSet)) {
    if old.resource_version() == new.resource_version() {
        return;
    }
    let labels_changed = old.labels() != new.labels();
    if new.metadata.deletion_timestamp.is_some() {
        // Terminating counts as deleted, so replacements start at once.
        pod_deleted(ctx, new, enqueue);
        if labels_changed {
            pod_deleted(ctx, old, enqueue);
        }
        return;
    }
    let old_ref = pod_util::controller_of(&old.metadata);
    let new_ref = pod_util::controller_of(&new.metadata);
    let ref_changed = old_ref.map(|r| &r.uid) != new_ref.map(|r| &r.uid);
    if ref_changed && let Some(rs) = old_ref.and_then(|r| resolve(ctx, old, r)) {
        enqueue(&rs);
    }
    if let Some(r) = new_ref {
        if let Some(rs) = resolve(ctx, new, r) {
            enqueue(&rs);
        }
        return;
    }
    if labels_changed || ref_changed {
        matching(ctx, new).iter().for_each(|rs| enqueue(rs));
    }
}

/// Upstream's `deletePod`.
fn pod_deleted(ctx: &Context, pod: &Pod, enqueue: &impl Fn(&ReplicaSet)) {
    if let Some(rs) = owner(ctx, pod) {
        ctx.expectations
            .deletion_observed(&pod_util::key(&rs.metadata), &pod_util::key(&pod.metadata));
        enqueue(&rs);
    }
}

/// The cached ReplicaSet that `pod`'s controller reference names, if it is one.
fn owner(ctx: &Context, pod: &Pod) -> Option<Arc<ReplicaSet>> {
    pod_util::controller_of(&pod.metadata).and_then(|r| resolve(ctx, pod, r))
}

fn resolve(ctx: &Context, pod: &Pod, r: &OwnerReference) -> Option<Arc<ReplicaSet>> {
    if r.kind != "ReplicaSet" || r.api_version.split('/').next() != Some("apps") {
        return None;
    }
    let ns = pod.namespace().unwrap_or_default();
    ctx.replicasets
        .get(&ObjectRef::new(&r.name).within(&ns))
        .filter(|rs| rs.uid().as_deref() == Some(r.uid.as_str()))
}

/// The ReplicaSets in `pod`'s namespace whose (non-empty) selector matches it.
fn matching(ctx: &Context, pod: &Pod) -> Vec<Arc<ReplicaSet>> {
    let ns = pod.namespace();
    let labels = pod.labels();
    ctx.replicasets.state_filter(|rs| {
        rs.namespace() == ns && selector(rs).is_ok_and(|s| !s.selects_all() && s.matches(labels))
    })
}

/// The ReplicaSet's pod selector.
pub fn selector(rs: &ReplicaSet) -> Result<Selector, Error> {
    let spec = rs
        .spec
        .as_ref()
        .ok_or_else(|| Error::InvalidObject("replicaset has no spec".into()))?;
    Selector::try_from(spec.selector.clone()).map_err(|e| Error::Selector(e.to_string()))
}

/// One sync of one ReplicaSet (upstream's `syncReplicaSet`), in a span naming it.
pub async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = pod_util::key(&rs.metadata);
    let span = info_span!("reconcile", replicaset = %key);
    runner::sync(&ctx.queue, &ctx.failures, &key, span, sync(&rs, &ctx)).await
}

/// Requeues a failed sync with upstream's per-item exponential backoff (5 ms doubling, capped at
/// 1000 s).
pub fn error_policy(rs: Arc<ReplicaSet>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = pod_util::key(&rs.metadata);
    Retry::warn("replicaset").requeue(&ctx.queue, &ctx.failures, &key, error)
}

async fn sync(rs: &ReplicaSet, ctx: &Context) -> Result<Action, Error> {
    let key = pod_util::key(&rs.metadata);
    let needs_sync = ctx.expectations.satisfied(&key) && rs.metadata.deletion_timestamp.is_none();
    let selector = selector(rs)?;
    let ns = rs.namespace();
    let active: Vec<Arc<Pod>> = ctx
        .pods
        .state_filter(|p| p.namespace() == ns && pod_util::is_active(p));
    let pods = claim::claim_pods(ctx, rs, &selector, active).await?;
    let manage_error = if needs_sync {
        replicas::manage(ctx, rs, &pods).await.err()
    } else {
        debug!("waiting for expectations");
        None
    };
    let now = jiff::Timestamp::now();
    let new_status = status::calculate(rs, &pods, manage_error.as_ref(), now);
    status::update(ctx, rs, new_status).await?;
    if let Some(e) = manage_error {
        return Err(e);
    }
    let min_ready = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    if let Some(wait) = status::next_available_in(&pods, min_ready, now) {
        return Ok(Action::requeue(wait));
    }
    Ok(Action::await_change())
}
