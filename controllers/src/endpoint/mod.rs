//! The Endpoints controller, as upstream's `pkg/controller/endpoint`: keeps one `Endpoints`
//! object per selector Service (same name) listing the selected pods' addresses.
//!
//! Each sync ([`reconcile`]) reads the Service and its pods from the caches, turns every pod
//! with an IP into a ready or not-ready address per Service port (named target ports resolved
//! per pod), repacks and sorts the subsets, caps them at 1,000 addresses
//! ([`subsets`]), and creates or updates the Endpoints only when something changed. Services
//! without a selector (and `ExternalName` ones) are left to whoever writes their Endpoints; the
//! Endpoints of a deleted Service are deleted.

pub mod subsets;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{EndpointSubset, Endpoints, Pod, Service};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info_span, warn};

use crate::endpointslice::util::{self, TriggerTimeTracker};
use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informer, Watched};
use crate::metrics::QueueMetrics;
use crate::retry::Failures;
use crate::runner::{self, Retry};
use crate::{Error, api_message, is_not_found, pod_util};

/// The controller's name in `--controllers`, events and metrics.
pub const NAME: &str = "endpoints-controller";

/// The label marking Endpoints this controller writes (new in v1.33).
pub const LABEL_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";

/// The value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "endpoint-controller";

/// Set (to `truncated`) when the Service selects more than 1,000 addresses.
pub const ANNOTATION_OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

/// The earliest pod or Service change the written Endpoints first reflects.
pub const ANNOTATION_LAST_CHANGE_TRIGGER_TIME: &str =
    "endpoints.kubernetes.io/last-change-trigger-time";

/// The label on the Endpoints (and slices) of a headless Service.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";

/// Leader-election records kept in Endpoints; never cleaned up as leftovers.
const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";

/// What a sync needs: the client, the caches and the controller's own state.
pub struct Context {
    client: Client,
    services: Store<Service>,
    pods: Store<Pod>,
    endpoints: Store<Endpoints>,
    recorder: Recorder,
    queue: QueueMetrics,
    failures: Failures,
    triggers: TriggerTimeTracker,
    /// Per key, a resourceVersion this controller already replaced: seeing it in the cache
    /// means the cache is behind (upstream's `staleEndpointsTracker`).
    stale: Mutex<HashMap<String, String>>,
}

/// Runs the controller with `concurrency` parallel syncs until `stop` turns true. `pods` is the
/// shared (synced) pod cache and `pod_changes` a subscription to it, `services` the shared
/// Service cache; Endpoints are watched here.
#[allow(clippy::too_many_arguments)] // the shared caches, then the controller's settings
pub async fn run(
    client: Client,
    pods: Store<Pod>,
    pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    services: Watched<Service>,
    recorder: Recorder,
    queue: QueueMetrics,
    concurrency: u16,
    stop: watch::Receiver<bool>,
) {
    let mut endpoints =
        Informer::<Endpoints>::new(Api::all(client.clone()), watcher::Config::default());
    let ctx = Arc::new(Context {
        client,
        services: services.store,
        pods,
        endpoints: endpoints.store(),
        recorder,
        queue,
        failures: Failures::default(),
        triggers: TriggerTimeTracker::default(),
        stale: Mutex::default(),
    });
    let svc_changes = services.changes;
    let ep_changes = endpoints.subscribe();
    let informer = endpoints.spawn(stop.clone());
    let synced = async {
        ctx.services.wait_until_ready().await.is_ok()
            && ctx.endpoints.wait_until_ready().await.is_ok()
    };
    let mut stopped = stop.clone();
    let ok = tokio::select! {
        _ = stopped.wait_for(|s| *s) => false,
        ok = synced => ok,
    };
    if ok {
        check_leftover_endpoints(&ctx);
        let (tx, rx) = mpsc::unbounded_channel();
        let router = tokio::spawn(route(ctx.clone(), pod_changes, svc_changes, ep_changes, tx));
        let workers = runner::Workers::new("endpoints controller", concurrency, &stop);
        workers
            .run(ctx.services.clone(), rx, reconcile, error_policy, ctx)
            .await;
        router.abort();
    }
    let _ = informer.await;
}

/// Upstream's `checkLeftoverEndpoints`: Endpoints whose Service is gone (left behind while the
/// controller was down) are deleted once at start.
fn check_leftover_endpoints(ctx: &Arc<Context>) {
    for ep in ctx.endpoints.state() {
        if ep.annotations().contains_key(LEADER_ANNOTATION) {
            continue;
        }
        let ns = ep.namespace().unwrap_or_default();
        let svc = ObjectRef::<Service>::new(&ep.name_any()).within(&ns);
        if ctx.services.get(&svc).is_none() {
            delete_endpoints(ctx, ns, ep.name_any());
        }
    }
}

/// Deletes the Endpoints of a Service that is gone (in the background).
fn delete_endpoints(ctx: &Arc<Context>, ns: String, name: String) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let key = format!("{ns}/{name}");
        ctx.triggers.delete_service(&key);
        let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &ns);
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => debug!(endpoints = %key, "deleted endpoints of a deleted service"),
            Err(e) if is_not_found(&e) => {}
            Err(e) => warn!(endpoints = %key, error = %api_message(&e), "delete endpoints"),
        }
    });
}

/// Turns cache changes into Service keys to sync (upstream's event handlers).
async fn route(
    ctx: Arc<Context>,
    mut pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    mut svc_changes: mpsc::UnboundedReceiver<Change<Service>>,
    mut ep_changes: mpsc::UnboundedReceiver<Change<Endpoints>>,
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
                    delete_endpoints(&ctx, s.namespace().unwrap_or_default(), s.name_any())
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
                keys.iter().for_each(|k| enqueue(k));
            }
            c = ep_changes.recv() => match c {
                None => return,
                // Someone deleted the Endpoints of a live Service: write them again.
                Some(Change::Deleted(ep)) => enqueue(&pod_util::key(&ep.metadata)),
                Some(_) => {}
            },
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

/// Requeues a failed sync with upstream's per-item exponential backoff (5 ms doubling, capped
/// at 1000 s).
pub fn error_policy(svc: Arc<Service>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = pod_util::key(&svc.metadata);
    Retry::warn("service").requeue(&ctx.queue, &ctx.failures, &key, error)
}

/// The labels the Endpoints of `svc` carry: the Service's, the managed-by label, and the
/// headless label when the Service has no ClusterIP.
pub fn desired_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.labels().clone();
    labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
    if util::is_service_ip_set(svc) {
        labels.remove(LABEL_HEADLESS);
    } else {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels
}

/// Subsets equal, ignoring the pods' resourceVersions in target references.
fn subsets_equal(a: &[EndpointSubset], b: &[EndpointSubset]) -> bool {
    let strip = |s: &[EndpointSubset]| {
        let mut s = s.to_vec();
        for sub in &mut s {
            for list in [&mut sub.addresses, &mut sub.not_ready_addresses]
                .into_iter()
                .flatten()
            {
                for a in list {
                    if let Some(r) = a.target_ref.as_mut() {
                        r.resource_version = None;
                    }
                }
            }
            for l in [&mut sub.addresses, &mut sub.not_ready_addresses] {
                if l.as_ref().is_some_and(Vec::is_empty) {
                    *l = None;
                }
            }
            if sub.ports.as_ref().is_some_and(Vec::is_empty) {
                sub.ports = None;
            }
        }
        s
    };
    strip(a) == strip(b)
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
    let mut desired = subsets::repack(&subsets::unpacked_subsets(svc, &pods));

    let name = svc.name_any();
    let ns = ns.unwrap_or_default();
    let current = ctx.endpoints.get(&ObjectRef::new(&name).within(&ns));
    if let Some(cur) = &current {
        let stale = ctx.stale.lock().unwrap_or_else(|e| e.into_inner());
        if cur.resource_version().is_some() && stale.get(key) == cur.resource_version().as_ref() {
            return Err(Error::StaleCache(format!(
                "endpoints informer cache is out of date, resource version {} already processed for endpoints {key}",
                cur.resource_version().unwrap_or_default()
            )));
        }
    }
    // Computed even when nothing is written, so the tracker follows every sync.
    let trigger_time = ctx.triggers.compute(key, svc, &pods);
    let labels = desired_labels(svc);
    if let Some(cur) = &current {
        let cur_subsets = cur.subsets.as_deref().unwrap_or_default();
        let capacity_ok = subsets::count(cur_subsets) <= subsets::MAX_CAPACITY
            && !cur.annotations().contains_key(ANNOTATION_OVER_CAPACITY);
        if subsets_equal(cur_subsets, &desired) && cur.labels() == &labels && capacity_ok {
            debug!("endpoints are equal, skipping update");
            return Ok(());
        }
    }
    let mut new = current.as_deref().cloned().unwrap_or_else(|| Endpoints {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        ..Default::default()
    });
    new.metadata.managed_fields = None;
    let annotations = new.metadata.annotations.get_or_insert_with(BTreeMap::new);
    match trigger_time {
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
    if subsets::truncate(&mut desired) {
        annotations.insert(ANNOTATION_OVER_CAPACITY.into(), "truncated".into());
    } else {
        annotations.remove(ANNOTATION_OVER_CAPACITY);
    }
    if annotations.is_empty() {
        new.metadata.annotations = None;
    }
    new.metadata.labels = Some(labels);
    new.subsets = (!desired.is_empty()).then_some(desired);
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &ns);
    let result = match &current {
        None => api.create(&PostParams::default(), &new).await.map(|_| ()),
        Some(cur) => api
            .replace(&name, &PostParams::default(), &new)
            .await
            .map(|updated| {
                if updated.resource_version() != cur.resource_version()
                    && let Some(rv) = cur.resource_version()
                {
                    ctx.stale
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key.to_string(), rv);
                }
            }),
    };
    if let Err(e) = result {
        let msg = api_message(&e);
        let (reason, message) = if current.is_none() {
            (
                "FailedToCreateEndpoint",
                format!("Failed to create endpoint for service {key}: {msg}"),
            )
        } else {
            (
                "FailedToUpdateEndpoint",
                format!("Failed to update endpoint {key}: {msg}"),
            )
        };
        ctx.recorder
            .publish(&new, EventType::Warning, reason, message);
        // The retry must still report the changes this write failed to record.
        ctx.triggers.delete_service(key);
        return Err(Error::UpdateEndpoints(msg));
    }
    Ok(())
}
