//! The EndpointSlice controller, as upstream's `pkg/controller/endpointslice`: keeps the
//! `EndpointSlice`s of every selector Service — per address family, at most
//! `--max-endpoints-per-slice` endpoints each, labelled `kubernetes.io/service-name` and
//! `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, owned by the
//! Service.
//!
//! Each sync ([`reconcile`]) reads the Service, its pods, their nodes (for the zone) and its
//! slices from the caches, plans the writes with [`reconciler`] (which packs slices so churn
//! rewrites few of them), refuses to act on a cache older than its own writes ([`tracker`]),
//! and then creates, updates and deletes slices. [`util`] holds the pod facts it shares with
//! the Endpoints controller.

pub mod reconciler;
pub mod tracker;
pub mod util;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tracing::info_span;

use crate::endpoint::ANNOTATION_LAST_CHANGE_TRIGGER_TIME;
use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informer, Watched};
use crate::metrics::QueueMetrics;
use crate::retry::{self, Failures};
use crate::runner::{self, Retry};
use crate::{Error, api_message, is_not_found, pod_util};

use reconciler::{LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY};

/// The controller's name in `--controllers`, events and metrics.
pub const NAME: &str = "endpointslice-controller";

/// `--max-endpoints-per-slice`'s default.
pub const DEFAULT_MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The largest `--max-endpoints-per-slice` the API allows in one slice.
pub const MAX_ENDPOINTS_PER_SLICE_LIMIT: usize = 1000;

/// What a sync needs: the client, the caches and the controller's own state.
pub struct Context {
    client: Client,
    services: Store<Service>,
    pods: Store<Pod>,
    nodes: Store<Node>,
    slices: Store<EndpointSlice>,
    recorder: Recorder,
    queue: QueueMetrics,
    failures: Failures,
    triggers: util::TriggerTimeTracker,
    tracker: tracker::Tracker,
    max_endpoints_per_slice: usize,
    /// `--endpointslice-updates-batch-period`: pod changes wait this long before a sync.
    batch_period: Duration,
}

/// Runs the controller with `concurrency` parallel syncs until `stop` turns true. `pods` is the
/// shared (synced) pod cache and `pod_changes` a subscription to it, `services` and `nodes` the
/// shared Service and Node caches; this controller's EndpointSlices are watched here. `max_endpoints_per_slice` is clamped to
/// 1..=1000. Pod changes are synced `batch_period` after they happen (0: at once).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    client: Client,
    pods: Store<Pod>,
    pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    services: Watched<Service>,
    nodes: Store<Node>,
    recorder: Recorder,
    queue: QueueMetrics,
    concurrency: u16,
    max_endpoints_per_slice: usize,
    batch_period: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut slices = Informer::<EndpointSlice>::new(
        Api::all(client.clone()),
        watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY}")),
    );
    let ctx = Arc::new(Context {
        client,
        services: services.store,
        pods,
        nodes,
        slices: slices.store(),
        recorder,
        queue,
        failures: Failures::default(),
        triggers: util::TriggerTimeTracker::default(),
        tracker: tracker::Tracker::default(),
        max_endpoints_per_slice: max_endpoints_per_slice.clamp(1, MAX_ENDPOINTS_PER_SLICE_LIMIT),
        batch_period,
    });
    let svc_changes = services.changes;
    let slice_changes = slices.subscribe();
    let informer = slices.spawn(stop.clone());
    let synced = async {
        ctx.services.wait_until_ready().await.is_ok()
            && ctx.nodes.wait_until_ready().await.is_ok()
            && ctx.slices.wait_until_ready().await.is_ok()
    };
    let mut stopped = stop.clone();
    let ok = tokio::select! {
        _ = stopped.wait_for(|s| *s) => false,
        ok = synced => ok,
    };
    if ok {
        let (tx, rx) = mpsc::unbounded_channel();
        let router = tokio::spawn(route(
            ctx.clone(),
            pod_changes,
            svc_changes,
            slice_changes,
            tx,
        ));
        let workers = runner::Workers::new("endpointslice controller", concurrency, &stop);
        workers
            .run(ctx.services.clone(), rx, reconcile, error_policy, ctx)
            .await;
        router.abort();
    }
    let _ = informer.await;
}

/// Turns cache changes into Service keys to sync (upstream's event handlers).
async fn route(
    ctx: Arc<Context>,
    mut pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    mut svc_changes: mpsc::UnboundedReceiver<Change<Service>>,
    mut slice_changes: mpsc::UnboundedReceiver<Change<EndpointSlice>>,
    tx: mpsc::UnboundedSender<ObjectRef<Service>>,
) {
    let enqueue = |key: &str| {
        let Some((ns, name)) = key.split_once('/') else {
            return;
        };
        ctx.queue.added(key);
        let _ = tx.send(ObjectRef::new(name).within(ns));
    };
    loop {
        tokio::select! {
            c = svc_changes.recv() => match c {
                None => return,
                Some(Change::Added(s) | Change::Updated { new: s, .. }) => {
                    enqueue(&pod_util::key(&s.metadata))
                }
                Some(Change::Deleted(s)) => {
                    // Slices go with their owner (garbage collection).
                    let key = pod_util::key(&s.metadata);
                    ctx.triggers.delete_service(&key);
                    ctx.tracker.delete_service(&key);
                }
            },
            c = pod_changes.recv() => {
                let services = ctx.services.state();
                let svcs = services.iter().map(|s| &**s);
                let keys = match c {
                    None => return,
                    Some(Change::Added(p) | Change::Deleted(p)) => {
                        util::pod_service_memberships(svcs, &p)
                    }
                    Some(Change::Updated { old, new }) => {
                        util::services_to_update_on_pod_change(svcs, &old, &new)
                    }
                };
                if ctx.batch_period.is_zero() {
                    keys.iter().for_each(|k| enqueue(k));
                } else {
                    for key in keys {
                        let Some((ns, name)) = key.split_once('/') else { continue };
                        ctx.queue.added(&key);
                        let (tx, at) = (tx.clone(), ObjectRef::new(name).within(ns));
                        let delay = ctx.batch_period;
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = tx.send(at);
                        });
                    }
                }
            }
            c = slice_changes.recv() => {
                let key = match c {
                    None => return,
                    Some(Change::Added(s)) => ctx.tracker.should_sync(&s).then(|| tracker::service_key(&s)),
                    Some(Change::Updated { old, new }) => {
                        if tracker::service_key(&old) != tracker::service_key(&new)
                            && let Some(k) = tracker::service_key(&old)
                        {
                            enqueue(&k);
                        }
                        ctx.tracker.should_sync(&new).then(|| tracker::service_key(&new))
                    }
                    Some(Change::Deleted(s)) => {
                        ctx.tracker.handle_deletion(&s).then(|| tracker::service_key(&s))
                    }
                };
                if let Some(Some(k)) = key {
                    enqueue(&k);
                }
            }
        }
    }
}

/// One sync of one Service (upstream's `syncService`), in a span naming it.
pub async fn reconcile(svc: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = pod_util::key(&svc.metadata);
    let span = info_span!("reconcile", service = %key);
    runner::sync(
        &ctx.queue,
        &ctx.failures,
        &key,
        span,
        sync(&svc, &ctx, &key),
    )
    .await?;
    Ok(Action::await_change())
}

/// Requeues a failed sync with upstream's per-item exponential backoff (1 s doubling, capped
/// at 1000 s, as upstream's endpointslice queue), retrying a stale cache sooner.
pub fn error_policy(svc: Arc<Service>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = pod_util::key(&svc.metadata);
    let how = Retry {
        backoff: if matches!(error, Error::StaleCache(_)) {
            |n| backoff(n, true)
        } else {
            |n| backoff(n, false)
        },
        ..Retry::warn("service")
    };
    how.requeue(&ctx.queue, &ctx.failures, &key, error)
}

/// The delay before retry `n` (1-based): 1 s doubling (upstream's `defaultSyncBackOff`), or
/// 5 ms doubling while the cache catches up, both capped at 1000 s.
fn backoff(n: u32, stale: bool) -> Duration {
    let base = if stale {
        retry::DEFAULT_BASE
    } else {
        Duration::from_secs(1)
    };
    retry::backoff(n, base)
}

async fn sync(svc: &Service, ctx: &Context, key: &str) -> Result<(), Error> {
    if !util::wants_endpoints(svc) {
        return Ok(());
    }
    let selector = util::selector(svc).cloned().unwrap_or_default();
    let ns = svc.namespace();
    let pods = ctx
        .pods
        .state_filter(|p| p.namespace() == ns && util::selects(&selector, p.labels()));
    let pods: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
    let name = svc.name_any();
    let slices = ctx.slices.state_filter(|s| {
        s.namespace() == ns
            && s.labels().get(LABEL_SERVICE_NAME) == Some(&name)
            && s.metadata.deletion_timestamp.is_none()
    });
    let slices: Vec<&EndpointSlice> = slices.iter().map(|s| &**s).collect();
    if ctx.tracker.stale(key, &slices) {
        return Err(Error::StaleCache(
            "EndpointSlice informer cache is out of date".into(),
        ));
    }
    let trigger_time = ctx.triggers.compute(key, svc, &pods);
    let node = |n: &str| ctx.nodes.get(&ObjectRef::new(n));
    let plan = reconciler::plan(svc, &pods, node, &slices, ctx.max_endpoints_per_slice);
    let result = write(
        svc,
        ctx,
        plan.create,
        plan.update,
        plan.delete,
        trigger_time,
    )
    .await;
    if let Err(e) = result {
        // The retry must still report the changes this write failed to record.
        ctx.triggers.delete_service(key);
        ctx.recorder.publish(
            svc,
            EventType::Warning,
            "FailedToUpdateEndpointSlices",
            format!("Error updating Endpoint Slices for Service {key}: {e}"),
        );
        return Err(Error::UpdateEndpointSlices(e));
    }
    if !plan.skipped.is_empty() {
        return Err(Error::UpdateEndpointSlices(plan.skipped.join("; ")));
    }
    Ok(())
}

fn set_trigger_time(slice: &mut EndpointSlice, t: Option<jiff::Timestamp>) {
    let annotations = slice.metadata.annotations.get_or_insert_with(BTreeMap::new);
    match t {
        Some(t) => {
            annotations.insert(
                ANNOTATION_LAST_CHANGE_TRIGGER_TIME.into(),
                t.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
            );
        }
        None => {
            annotations.remove(ANNOTATION_LAST_CHANGE_TRIGGER_TIME);
        }
    }
    if annotations.is_empty() {
        slice.metadata.annotations = None;
    }
}

/// Upstream's `finalize`: creates (not while the Service is being deleted), updates, deletes.
async fn write(
    svc: &Service,
    ctx: &Context,
    create: Vec<EndpointSlice>,
    update: Vec<EndpointSlice>,
    delete: Vec<EndpointSlice>,
    trigger_time: Option<jiff::Timestamp>,
) -> Result<(), String> {
    let ns = svc.namespace().unwrap_or_default();
    let key = pod_util::key(&svc.metadata);
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    if svc.metadata.deletion_timestamp.is_none() {
        for mut slice in create {
            set_trigger_time(&mut slice, trigger_time);
            let created = api
                .create(&PostParams::default(), &slice)
                .await
                .map_err(|e| {
                    format!(
                        "failed to create EndpointSlice for Service {key}: {}",
                        api_message(&e)
                    )
                })?;
            ctx.tracker.update(&created);
        }
    }
    for mut slice in update {
        set_trigger_time(&mut slice, trigger_time);
        slice.metadata.managed_fields = None;
        let name = slice.name_any();
        let updated = api
            .replace(&name, &PostParams::default(), &slice)
            .await
            .map_err(|e| {
                format!(
                    "failed to update {name} EndpointSlice for Service {key}: {}",
                    api_message(&e)
                )
            })?;
        ctx.tracker.update(&updated);
    }
    for slice in delete {
        let name = slice.name_any();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(format!(
                    "failed to delete {name} EndpointSlice for Service {key}: {}",
                    api_message(&e)
                ));
            }
        }
        ctx.tracker.expect_deletion(&slice);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_one_second_and_stale_caches_retry_sooner() {
        assert_eq!(backoff(1, false), Duration::from_secs(1));
        assert_eq!(backoff(3, false), Duration::from_secs(4));
        assert_eq!(backoff(30, false), Duration::from_secs(1000));
        assert_eq!(backoff(1, true), Duration::from_millis(5));
    }
}
