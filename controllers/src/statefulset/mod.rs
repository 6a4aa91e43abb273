//! The StatefulSet controller, as upstream's `pkg/controller/statefulset`: pods with stable
//! names `<set>-<ordinal>`, stable storage (one claim per `volumeClaimTemplate`), ordered or
//! parallel scaling, and rolling updates between ControllerRevisions.
//!
//! Each sync ([`reconcile`]) reads the set and its pods from the caches, claims pods
//! ([`claim`]), finds or makes the current and update revisions ([`revision`], on
//! [`crate::history`]), runs one pass of the control loop ([`control`]: identity from
//! [`identity`], claims and their retention policy from [`pvc`], the rolling update's choice
//! from [`rolling`]), writes the status ([`status`]) and trims old revisions. Upstream's
//! controller keeps no expectations: a create that finds the pod already there (the cache was
//! behind) just waits for the cache, and deletes carry the pod's UID as a precondition.

pub mod claim;
pub mod control;
pub mod identity;
pub mod pvc;
pub mod revision;
pub mod rolling;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info_span, warn};

use crate::events::Recorder;
use crate::informer::{Change, Informer};
use crate::metrics::QueueMetrics;
use crate::retry::Failures;
use crate::runner::{self, Retry};
use crate::{Error, pod_util};

/// The controller's name in `--controllers`, events (`source.component`) and metrics.
pub const NAME: &str = "statefulset-controller";

/// How soon a sync waiting on a claim the garbage collector has yet to delete looks again.
const STALE_CLAIM_POLL: Duration = Duration::from_secs(1);

/// What a sync needs: the client, the caches and the controller's own state.
pub struct Context {
    client: Client,
    pods: Store<Pod>,
    sets: Store<StatefulSet>,
    revisions: Store<ControllerRevision>,
    claims: Store<PersistentVolumeClaim>,
    recorder: Recorder,
    queue: QueueMetrics,
    failures: Failures,
    /// The MaxUnavailableStatefulSet feature gate (alpha, off by default in v1.33).
    max_unavailable_statefulset: bool,
}

/// The controller reference a StatefulSet puts on its pods and revisions.
pub fn controller_ref(set: &StatefulSet) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": set.name_any(),
        "uid": set.uid().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Runs the controller with `concurrency` parallel syncs until `stop` turns true. `pods` is
/// the shared pod cache (synced) and `pod_changes` a subscription to it; the controller
/// watches StatefulSets, ControllerRevisions and PersistentVolumeClaims itself.
pub async fn run(
    client: Client,
    pods: Store<Pod>,
    pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    recorder: Recorder,
    queue: QueueMetrics,
    concurrency: u16,
    stop: watch::Receiver<bool>,
) {
    let mut sets =
        Informer::<StatefulSet>::new(Api::all(client.clone()), watcher::Config::default());
    let revisions =
        Informer::<ControllerRevision>::new(Api::all(client.clone()), watcher::Config::default());
    let mut claims = Informer::<PersistentVolumeClaim>::new(
        Api::all(client.clone()),
        watcher::Config::default(),
    );
    let set_changes = sets.subscribe();
    let claim_changes = claims.subscribe();
    let ctx = Arc::new(Context {
        client,
        pods,
        sets: sets.store(),
        revisions: revisions.store(),
        claims: claims.store(),
        recorder,
        queue,
        failures: Failures::default(),
        max_unavailable_statefulset: false,
    });
    let informers = [
        sets.spawn(stop.clone()),
        revisions.spawn(stop.clone()),
        claims.spawn(stop.clone()),
    ];
    let mut stopped = stop.clone();
    let synced = async {
        ctx.sets.wait_until_ready().await.is_ok()
            && ctx.revisions.wait_until_ready().await.is_ok()
            && ctx.claims.wait_until_ready().await.is_ok()
    };
    let ready = tokio::select! {
        _ = stopped.wait_for(|s| *s) => false,
        ok = synced => ok,
    };
    if ready {
        let (tx, rx) = mpsc::unbounded_channel();
        let router = tokio::spawn(route(
            ctx.clone(),
            pod_changes,
            set_changes,
            claim_changes,
            tx,
        ));
        let workers = runner::Workers::new("statefulset controller", concurrency, &stop);
        workers
            .run(ctx.sets.clone(), rx, reconcile, error_policy, ctx)
            .await;
        router.abort();
    } else {
        warn!("statefulset caches did not sync");
    }
    for informer in informers {
        let _ = informer.await;
    }
}

/// Turns cache changes into StatefulSet keys to sync, as upstream's event handlers. Claims
/// appearing or going also wake the sets whose selector matches them (upstream waits for its
/// periodic resync), so retention-policy owners and pods blocked on a stale claim catch up.
async fn route(
    ctx: Arc<Context>,
    mut pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    mut set_changes: mpsc::UnboundedReceiver<Change<StatefulSet>>,
    mut claim_changes: mpsc::UnboundedReceiver<Change<PersistentVolumeClaim>>,
    tx: mpsc::UnboundedSender<ObjectRef<StatefulSet>>,
) {
    let enqueue = |set: &StatefulSet| {
        ctx.queue.added(&pod_util::key(&set.metadata));
        let _ = tx.send(ObjectRef::from_obj(set));
    };
    loop {
        tokio::select! {
            c = set_changes.recv() => match c {
                None => return,
                Some(Change::Added(set)) | Some(Change::Updated { new: set, .. }) => enqueue(&set),
                Some(Change::Deleted(_)) => {}
            },
            c = claim_changes.recv() => match c {
                None => return,
                Some(Change::Added(claim)) | Some(Change::Deleted(claim)) => {
                    matching(&ctx, claim.namespace(), claim.labels())
                        .iter()
                        .for_each(|s| enqueue(s));
                }
                Some(Change::Updated { .. }) => {}
            },
            c = pod_changes.recv() => match c {
                None => return,
                Some(Change::Added(pod)) | Some(Change::Deleted(pod)) => {
                    match owner(&ctx, &pod) {
                        Some(set) => enqueue(&set),
                        None if pod.metadata.deletion_timestamp.is_none() => {
                            matching(&ctx, pod.namespace(), pod.labels())
                                .iter()
                                .for_each(|s| enqueue(s))
                        }
                        None => {}
                    }
                }
                Some(Change::Updated { old, new }) => {
                    if old.resource_version() == new.resource_version() {
                        continue;
                    }
                    let old_owner = owner(&ctx, &old);
                    let new_owner = owner(&ctx, &new);
                    if let Some(set) = &old_owner
                        && new_owner.as_ref().map(|s| s.uid()) != Some(set.uid())
                    {
                        enqueue(set);
                    }
                    match new_owner {
                        Some(set) => enqueue(&set),
                        None if old.labels() != new.labels() || old_owner.is_some() => {
                            matching(&ctx, new.namespace(), new.labels())
                                .iter()
                                .for_each(|s| enqueue(s))
                        }
                        None => {}
                    }
                }
            },
        }
    }
}

/// The cached StatefulSet that `pod`'s controller reference names, if it is one.
fn owner(ctx: &Context, pod: &Pod) -> Option<Arc<StatefulSet>> {
    let r: &OwnerReference = pod_util::controller_of(&pod.metadata)?;
    if r.kind != "StatefulSet" || r.api_version.split('/').next() != Some("apps") {
        return None;
    }
    let ns = pod.namespace().unwrap_or_default();
    ctx.sets
        .get(&ObjectRef::new(&r.name).within(&ns))
        .filter(|s| s.uid().as_deref() == Some(r.uid.as_str()))
}

/// The StatefulSets in `ns` whose (non-empty) selector matches `labels`.
fn matching(
    ctx: &Context,
    ns: Option<String>,
    labels: &std::collections::BTreeMap<String, String>,
) -> Vec<Arc<StatefulSet>> {
    ctx.sets.state_filter(|s| {
        s.namespace() == ns
            && selector(s).is_ok_and(|sel| !sel.selects_all() && sel.matches(labels))
    })
}

/// The StatefulSet's pod selector.
pub fn selector(set: &StatefulSet) -> Result<Selector, Error> {
    let spec = set
        .spec
        .as_ref()
        .ok_or_else(|| Error::InvalidObject("statefulset has no spec".into()))?;
    Selector::try_from(spec.selector.clone()).map_err(|e| Error::Selector(e.to_string()))
}

/// One sync of one StatefulSet (upstream's `syncStatefulSet`), in a span naming it.
pub async fn reconcile(set: Arc<StatefulSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = pod_util::key(&set.metadata);
    let span = info_span!("reconcile", statefulset = %key);
    runner::sync(&ctx.queue, &ctx.failures, &key, span, sync(&set, &ctx)).await
}

/// Requeues a failed sync with upstream's per-item exponential backoff.
pub fn error_policy(set: Arc<StatefulSet>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = pod_util::key(&set.metadata);
    Retry::warn("statefulset").requeue(&ctx.queue, &ctx.failures, &key, error)
}

async fn sync(set: &StatefulSet, ctx: &Context) -> Result<Action, Error> {
    let selector = selector(set)?;
    if selector.selects_all() {
        debug!("a statefulset with an empty selector selects no pods");
        return Ok(Action::await_change());
    }
    let ns = set.namespace();
    let all: Vec<Arc<Pod>> = ctx.pods.state_filter(|p| p.namespace() == ns);
    let pods = claim::claim_pods(ctx, set, &selector, all).await?;
    let revisions = revision::list(ctx, set, &selector).await?;
    let (current, update, collision_count) =
        revision::current_and_update(ctx, set, &revisions).await?;
    let outcome = control::update(ctx, set, &current, &update, collision_count, &pods).await?;
    let written = status::update(&ctx.client, set, outcome.status).await;
    let truncated = revision::truncate(
        ctx,
        set,
        &pods,
        &revisions,
        &current.name_any(),
        &update.name_any(),
    )
    .await;
    if let Some(e) = outcome.error {
        return Err(e);
    }
    let written = written?;
    truncated?;
    if outcome.poll {
        return Ok(Action::requeue(STALE_CLAIM_POLL));
    }
    let min_ready = set
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    if min_ready > 0
        && i64::from(written.available_replicas.unwrap_or(0)) != identity::replicas(set)
    {
        return Ok(Action::requeue(Duration::from_secs(min_ready as u64)));
    }
    Ok(Action::await_change())
}
