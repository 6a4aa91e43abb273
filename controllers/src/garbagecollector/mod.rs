//! The garbage collector, as upstream's `pkg/controller/garbagecollector`: deletes objects
//! whose owners are all gone, and carries out the `Foreground` and `Orphan` propagation
//! policies that the API server records as the `foregroundDeletion` and `orphan` finalizers.
//!
//! [`run`] keeps three parts going until shutdown:
//! - [`monitors`] — discovery (refreshed every [`DISCOVERY_PERIOD`], so custom resources are
//!   picked up as they appear) and one watch per listable, deletable resource feeding the
//!   ownership [`graph`]. Watches read metadata only ([`metadata`]);
//! - the `attemptToDelete` workers ([`delete`]) — an object whose owners are all absent is
//!   deleted; an owner being deleted in the foreground loses its finalizer once no dependent
//!   with `blockOwnerDeletion` remains;
//! - the `attemptToOrphan` workers ([`orphan`]) — references to an owner being deleted with
//!   `orphan` are removed from its dependents, then the finalizer.

pub mod delete;
pub mod graph;
pub mod metadata;
pub mod monitors;
pub mod orphan;
pub mod queue;
pub mod resources;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{Instrument, debug, info_span};

use self::graph::{Graph, Identity, Work};
use self::queue::WorkQueue;
use self::resources::{Resolved, Resources};
use crate::metrics::Metrics;

/// The controller's name in `--controllers`, events and metrics.
pub const NAME: &str = "garbage-collector-controller";

/// How often discovery is read again to start and stop watches (upstream: 30 s).
pub const DISCOVERY_PERIOD: Duration = Duration::from_secs(30);

/// Workers per queue (upstream's `--concurrent-gc-syncs` default).
pub const CONCURRENT_GC_SYNCS: u16 = 20;

/// Why one step of the collector failed; the item is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading discovery failed.
    #[error("discover resources: {0}")]
    Discover(#[source] kube::Error),
    /// An ownerReference or object names a kind the server does not serve.
    #[error("unable to get REST mapping for {0}")]
    ResolveKind(String),
    /// Reading an object failed.
    #[error("get {0}: {1}")]
    GetObject(String, #[source] kube::Error),
    /// A virtual owner exists but its watch has not reported it yet.
    #[error("{0} hasn't been observed via informer yet")]
    NotObserved(String),
    /// Deleting an object failed.
    #[error("delete {0}: {1}")]
    DeleteObject(String, #[source] kube::Error),
    /// Removing owner references from a dependent failed.
    #[error("remove owner references from {0}: {1}")]
    PatchOwnerReferences(String, #[source] kube::Error),
    /// Removing a finalizer from an owner failed.
    #[error("remove finalizer from {0}: {1}")]
    RemoveFinalizer(String, #[source] kube::Error),
}

/// The collector's shared state.
pub struct Context {
    client: Client,
    graph: Mutex<Graph>,
    resources: RwLock<Resources>,
    attempt_to_delete: WorkQueue,
    attempt_to_orphan: WorkQueue,
    discovery_period: Duration,
}

impl Context {
    /// A collector using `client`, reporting its two queues to `metrics`.
    pub fn new(client: Client, metrics: &Metrics) -> Self {
        Context {
            client,
            graph: Mutex::default(),
            resources: RwLock::default(),
            attempt_to_delete: WorkQueue::new(metrics.queue("garbage_collector_attempt_to_delete")),
            attempt_to_orphan: WorkQueue::new(metrics.queue("garbage_collector_attempt_to_orphan")),
            discovery_period: DISCOVERY_PERIOD,
        }
    }

    /// Reads discovery every `period` instead of [`DISCOVERY_PERIOD`].
    pub fn with_discovery_period(mut self, period: Duration) -> Self {
        self.discovery_period = period;
        self
    }

    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues what a graph change asks for.
    fn schedule(&self, work: Work) {
        for uid in &work.attempt_to_delete {
            self.attempt_to_delete.add(uid);
        }
        for uid in &work.attempt_to_orphan {
            self.attempt_to_orphan.add(uid);
        }
    }

    fn resolve(&self, identity: &Identity) -> Result<Resolved, Error> {
        self.resources
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .resolve(&identity.api_version, &identity.kind)
            .cloned()
            .ok_or_else(|| {
                Error::ResolveKind(format!("{}, Kind={}", identity.api_version, identity.kind))
            })
    }

    /// The API for `identity`'s resource; None for a namespaced kind named without a namespace.
    fn api(&self, identity: &Identity) -> Result<Option<Api<DynamicObject>>, Error> {
        let r = self.resolve(identity)?;
        Ok(match (&identity.namespace, r.namespaced) {
            (_, false) => Some(Api::all_with(self.client.clone(), &r.resource)),
            (Some(ns), true) => Some(Api::namespaced_with(self.client.clone(), ns, &r.resource)),
            (None, true) => None,
        })
    }

    /// The object as the server has it now; None when it is gone or was replaced by another
    /// object of the same name (a different UID).
    async fn get_live(&self, identity: &Identity) -> Result<Option<DynamicObject>, Error> {
        let Some(api) = self.api(identity)? else {
            return Ok(None);
        };
        let found = api
            .get_opt(&identity.name)
            .await
            .map_err(|e| Error::GetObject(identity.to_string(), e))?;
        Ok(found.filter(|o| o.metadata.uid.as_deref() == Some(identity.uid.as_str())))
    }

    /// Merge-patches `metadata` of the object (guarded by its UID and resourceVersion); a
    /// failure is reported as `step`.
    async fn patch_metadata(
        &self,
        identity: &Identity,
        resource_version: Option<&str>,
        metadata: serde_json::Value,
        step: fn(String, kube::Error) -> Error,
    ) -> Result<(), Error> {
        let Some(api) = self.api(identity)? else {
            return Ok(());
        };
        let mut patch = serde_json::json!({"metadata": metadata});
        patch["metadata"]["uid"] = serde_json::json!(identity.uid);
        if let Some(rv) = resource_version {
            patch["metadata"]["resourceVersion"] = serde_json::json!(rv);
        }
        match api
            .patch(
                &identity.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if crate::is_not_found(&e) => Ok(()),
            Err(e) => Err(step(identity.to_string(), e)),
        }
    }
}

/// Runs the collector with `workers` workers per queue until `stop` turns true.
pub async fn run(ctx: Arc<Context>, workers: u16, stop: watch::Receiver<bool>) {
    let mut tasks = vec![tokio::spawn(monitors::run(ctx.clone(), stop.clone()))];
    for _ in 0..workers.max(1) {
        tasks.push(tokio::spawn(work(ctx.clone(), Queue::Delete)));
        tasks.push(tokio::spawn(work(ctx.clone(), Queue::Orphan)));
    }
    let mut stop = stop;
    let _ = stop.wait_for(|s| *s).await;
    for t in tasks {
        t.abort();
    }
}

#[derive(Clone, Copy)]
enum Queue {
    Delete,
    Orphan,
}

async fn work(ctx: Arc<Context>, which: Queue) {
    let queue = match which {
        Queue::Delete => ctx.attempt_to_delete.clone(),
        Queue::Orphan => ctx.attempt_to_orphan.clone(),
    };
    loop {
        let uid = queue.next().await;
        let started = Instant::now();
        let result = match which {
            Queue::Delete => {
                delete::attempt_to_delete(&ctx, &uid)
                    .instrument(info_span!("attempt_to_delete", uid = %uid))
                    .await
            }
            Queue::Orphan => {
                orphan::attempt_to_orphan(&ctx, &uid)
                    .instrument(info_span!("attempt_to_orphan", uid = %uid))
                    .await
            }
        };
        debug!(uid = %uid, took = ?started.elapsed(), "processed");
        match result {
            Ok(()) => queue.forget(&uid),
            Err(e) => {
                debug!(uid = %uid, error = %e, "will retry");
                queue.retry(&uid);
            }
        }
        queue.done(&uid);
    }
}
