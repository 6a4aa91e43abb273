//! The EndpointSlice mirroring controller, as upstream's
//! `pkg/controller/endpointslicemirroring`: a Service without a selector whose Endpoints
//! someone wrote by hand gets EndpointSlices mirroring them, labelled
//! `endpointslice.kubernetes.io/managed-by: endpointslicemirroring-controller.k8s.io` and
//! `kubernetes.io/service-name`, owned by the Endpoints.
//!
//! Entry point: [`run`]. Endpoints, Service and mirrored-slice changes queue the
//! `namespace/name` key (after `--mirroring-endpointslice-updates-batch-period`); a sync
//! plans the writes with [`reconciler`] and applies them. Endpoints labelled
//! `endpointslice.kubernetes.io/skip-mirror: "true"`, leader-election Endpoints and the
//! Endpoints of selector Services are not mirrored (their mirrored slices are deleted).

pub mod reconciler;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::{Notify, mpsc, watch};
use tracing::{debug, info_span};

use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informer};
use crate::metrics::QueueMetrics;
use crate::retry::Failures;
use crate::runner::{self, Retry};
use crate::{Error, api_message, is_not_found, pod_util};

use reconciler::{
    ANNOTATION_LEADER, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_SKIP_MIRROR, MANAGED_BY,
};

/// The controller's name in `--controllers` (alias `endpointslicemirroring`) and events.
pub const NAME: &str = "endpointslice-mirroring-controller";

/// `--mirroring-max-endpoints-per-subset`'s default.
pub const DEFAULT_MAX_ENDPOINTS_PER_SUBSET: usize = 1000;

/// The controller's settings (the flags of the same names).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// `--mirroring-concurrent-service-endpoint-syncs` (5).
    pub concurrency: u16,
    /// `--mirroring-max-endpoints-per-subset` (1000).
    pub max_endpoints_per_subset: usize,
    /// `--mirroring-endpointslice-updates-batch-period` (0).
    pub batch_period: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 5,
            max_endpoints_per_subset: DEFAULT_MAX_ENDPOINTS_PER_SUBSET,
            batch_period: Duration::ZERO,
        }
    }
}

/// A work queue with client-go's guarantees: a key is queued once, and never synced by two
/// workers at a time (a key changed while syncing is queued again afterwards).
#[derive(Default)]
struct WorkQueue {
    inner: Mutex<QueueState>,
    notify: Notify,
}

#[derive(Default)]
struct QueueState {
    queue: VecDeque<String>,
    dirty: HashSet<String>,
    processing: HashSet<String>,
}

impl WorkQueue {
    fn add(&self, key: String) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !s.dirty.insert(key.clone()) {
            return;
        }
        if !s.processing.contains(&key) {
            s.queue.push_back(key);
            drop(s);
            self.notify.notify_one();
        }
    }

    async fn get(&self) -> String {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(k) = s.queue.pop_front() {
                    s.dirty.remove(&k);
                    s.processing.insert(k.clone());
                    if !s.queue.is_empty() {
                        self.notify.notify_one();
                    }
                    return k;
                }
            }
            notified.await;
        }
    }

    fn done(&self, key: &str) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.processing.remove(key);
        if s.dirty.contains(key) {
            s.queue.push_back(key.to_string());
            drop(s);
            self.notify.notify_one();
        }
    }
}

struct Context {
    client: Client,
    endpoints: Store<Endpoints>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    recorder: Recorder,
    queue_metrics: QueueMetrics,
    failures: Failures,
    queue: WorkQueue,
    settings: Settings,
    /// Per key, the slices this controller last wrote: name to resourceVersion (None: deleted).
    written: Mutex<HashMap<String, HashMap<String, Option<u64>>>>,
}

fn rv(s: &EndpointSlice) -> u64 {
    s.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Context {
    /// Whether the slice cache still lacks this controller's last writes for `key`.
    fn stale(&self, key: &str, existing: &[&EndpointSlice]) -> bool {
        let written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = written.get(key) else {
            return false;
        };
        w.iter().any(|(name, want)| {
            let have = existing
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name));
            match (want, have) {
                (Some(v), Some(s)) => rv(s) < *v,
                (Some(_), None) => true,
                (None, Some(_)) => true,
                (None, None) => false,
            }
        })
    }
}

impl Context {
    fn enqueue_after(self: &Arc<Self>, key: String, after: Duration) {
        self.queue_metrics.added(&key);
        if after.is_zero() {
            self.queue.add(key);
        } else {
            let ctx = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                ctx.queue.add(key);
            });
        }
    }
}

/// Runs the controller until `stop` turns true; Endpoints, Services and the mirrored slices
/// are watched here.
pub async fn run(
    client: Client,
    recorder: Recorder,
    queue_metrics: QueueMetrics,
    settings: Settings,
    stop: watch::Receiver<bool>,
) {
    let mut endpoints =
        Informer::<Endpoints>::new(Api::all(client.clone()), watcher::Config::default());
    let mut services =
        Informer::<Service>::new(Api::all(client.clone()), watcher::Config::default());
    let mut slices = Informer::<EndpointSlice>::new(
        Api::all(client.clone()),
        watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY}")),
    );
    let ctx = Arc::new(Context {
        client,
        endpoints: endpoints.store(),
        services: services.store(),
        slices: slices.store(),
        recorder,
        queue_metrics,
        failures: Failures::default(),
        queue: WorkQueue::default(),
        settings,
        written: Mutex::default(),
    });
    let changes = (
        endpoints.subscribe(),
        services.subscribe(),
        slices.subscribe(),
    );
    let informers = [
        endpoints.spawn(stop.clone()),
        services.spawn(stop.clone()),
        slices.spawn(stop.clone()),
    ];
    let synced = async {
        ctx.endpoints.wait_until_ready().await.is_ok()
            && ctx.services.wait_until_ready().await.is_ok()
            && ctx.slices.wait_until_ready().await.is_ok()
    };
    let mut stopped = stop.clone();
    let ok = tokio::select! {
        _ = stopped.wait_for(|s| *s) => false,
        ok = synced => ok,
    };
    if ok {
        let workers = (0..settings.concurrency.max(1)).map(|_| worker(ctx.clone()));
        let mut stopped = stop.clone();
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => {}
            _ = route(ctx.clone(), changes.0, changes.1, changes.2) => {}
            _ = futures::future::join_all(workers) => {}
        }
    }
    for informer in informers {
        let _ = informer.await;
    }
}

/// Turns cache changes into keys to sync (upstream's event handlers).
async fn route(
    ctx: Arc<Context>,
    mut endpoints: mpsc::UnboundedReceiver<Change<Endpoints>>,
    mut services: mpsc::UnboundedReceiver<Change<Service>>,
    mut slices: mpsc::UnboundedReceiver<Change<EndpointSlice>>,
) {
    let batch = ctx.settings.batch_period;
    loop {
        tokio::select! {
            c = endpoints.recv() => match c {
                None => return,
                Some(Change::Added(e) | Change::Deleted(e) | Change::Updated { new: e, .. }) => {
                    ctx.enqueue_after(pod_util::key(&e.metadata), batch);
                }
            },
            c = services.recv() => match c {
                None => return,
                Some(Change::Added(s) | Change::Deleted(s) | Change::Updated { new: s, .. }) => {
                    ctx.enqueue_after(pod_util::key(&s.metadata), Duration::ZERO);
                }
            },
            c = slices.recv() => match c {
                None => return,
                Some(Change::Added(s) | Change::Deleted(s) | Change::Updated { new: s, .. }) => {
                    if let Some(name) = s.labels().get(LABEL_SERVICE_NAME) {
                        let key = format!("{}/{name}", s.namespace().unwrap_or_default());
                        ctx.enqueue_after(key, batch);
                    }
                }
            },
        }
    }
}

async fn worker(ctx: Arc<Context>) {
    loop {
        let key = ctx.queue.get().await;
        let span = info_span!("reconcile", endpoints = %key);
        let (queue, failures) = (&ctx.queue_metrics, &ctx.failures);
        let result = runner::sync(queue, failures, &key, span, sync(&ctx, &key)).await;
        ctx.queue.done(&key);
        if let Err(e) = result {
            let wait = Retry::warn("endpoints").failed(queue, failures, &key, &e);
            ctx.enqueue_after(key, wait);
        }
    }
}

/// Whether these Endpoints are to be mirrored (Service present and selectorless, no
/// skip-mirror label, not a leader-election lock).
fn mirrored(svc: Option<&Service>, endpoints: &Endpoints) -> bool {
    let Some(svc) = svc else { return false };
    let selectorless = svc.spec.as_ref().is_none_or(|s| s.selector.is_none());
    let skip = endpoints
        .labels()
        .get(LABEL_SKIP_MIRROR)
        .map(String::as_str)
        == Some("true");
    let leader = endpoints.annotations().contains_key(ANNOTATION_LEADER);
    selectorless && !skip && !leader
}

async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let Some((ns, name)) = key.split_once('/') else {
        return Ok(());
    };
    let svc = ctx.services.get(&ObjectRef::new(name).within(ns));
    let endpoints = ctx.endpoints.get(&ObjectRef::new(name).within(ns));
    let wanted = endpoints.as_deref().filter(|e| {
        mirrored(svc.as_deref(), e)
            && svc
                .as_ref()
                .is_some_and(|s| s.metadata.deletion_timestamp.is_none())
    });
    let existing = ctx.slices.state_filter(|s| {
        s.namespace().as_deref() == Some(ns)
            && s.labels().get(LABEL_SERVICE_NAME).map(String::as_str) == Some(name)
            && s.metadata.deletion_timestamp.is_none()
    });
    let existing: Vec<&EndpointSlice> = existing.iter().map(|s| &**s).collect();
    if wanted.is_none() && existing.is_empty() {
        return Ok(());
    }
    if ctx.stale(key, &existing) {
        return Err(Error::StaleCache(
            "EndpointSlice informer cache is out of date".into(),
        ));
    }
    let plan = reconciler::plan(wanted, &existing, ctx.settings.max_endpoints_per_subset);
    if let Some(e) = wanted {
        if plan.skipped_invalid > 0 {
            ctx.recorder.publish(
                e,
                EventType::Warning,
                "AddressesSkipped",
                format!(
                    "Skipped {} invalid IP addresses when mirroring to EndpointSlices",
                    plan.skipped_invalid
                ),
            );
        }
        if plan.skipped_over_capacity > 0 {
            ctx.recorder.publish(
                e,
                EventType::Warning,
                "TooManyAddressesToMirror",
                format!(
                    "A max of {} addresses can be mirrored to EndpointSlices per Endpoints subset. {} addresses were skipped",
                    ctx.settings.max_endpoints_per_subset, plan.skipped_over_capacity
                ),
            );
        }
    }
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), ns);
    let fail = |what: &str, e: kube::Error| {
        let msg = format!(
            "failed to {what} EndpointSlice for Endpoints {key}: {}",
            api_message(&e)
        );
        if let Some(e) = wanted {
            ctx.recorder.publish(
                e,
                EventType::Warning,
                "FailedToUpdateEndpointSlices",
                format!("Error updating Endpoint Slices for Endpoints {key}: {msg}"),
            );
        }
        Error::UpdateEndpointSlices(msg)
    };
    let mut written = HashMap::new();
    let result = async {
        for s in &plan.create {
            let c = api
                .create(&PostParams::default(), s)
                .await
                .map_err(|e| fail("create", e))?;
            written.insert(c.name_any(), Some(rv(&c)));
        }
        for s in &plan.update {
            let u = api
                .replace(&s.name_any(), &PostParams::default(), s)
                .await
                .map_err(|e| fail("update", e))?;
            written.insert(u.name_any(), Some(rv(&u)));
        }
        for s in &plan.delete {
            match api.delete(&s.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(fail("delete", e)),
            }
            written.insert(s.name_any(), None);
        }
        Ok(())
    }
    .await;
    ctx.written
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.to_string(), written);
    result?;
    debug!(
        created = plan.create.len(),
        updated = plan.update.len(),
        deleted = plan.delete.len(),
        "mirrored"
    );
    Ok(())
}
