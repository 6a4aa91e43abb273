//! The namespace controller, as upstream's `pkg/controller/namespace`: a deleted namespace
//! (Terminating, with `kubernetes` in `spec.finalizers`) has all its namespaced content
//! deleted ([`deleter`]), its status conditions report progress ([`conditions`]), and then
//! the `kubernetes` finalizer is removed through `namespaces/<name>/finalize`, after which
//! the API server deletes the namespace.
//!
//! Entry point: [`run`], which watches namespaces itself.

pub mod conditions;
pub mod deleter;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::PostParams;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, info_span};

use self::conditions::Conditions;
use crate::informer::{Change, Informer};
use crate::metrics::QueueMetrics;
use crate::retry::Failures;
use crate::runner::{self, Retry};

/// The controller's name in `--controllers`, events and metrics.
pub const NAME: &str = "namespace-controller";

/// The `spec.finalizers` entry this controller owns.
pub const FINALIZER: &str = "kubernetes";

/// Parallel syncs (upstream's `--concurrent-namespace-syncs` default).
pub const CONCURRENT_NAMESPACE_SYNCS: u16 = 10;

/// Why a namespace sync failed; it is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the namespace failed.
    #[error("get namespace: {0}")]
    GetNamespace(String),
    /// Writing the namespace's status (phase, conditions) failed.
    #[error("update namespace status: {0}")]
    UpdateStatus(String),
    /// Discovery failed, so the content cannot be enumerated.
    #[error("unable to retrieve the complete list of server APIs: {0}")]
    Discover(#[source] kube::Error),
    /// Deleting some content failed.
    #[error("{0}")]
    DeleteContent(String),
    /// Removing the `kubernetes` finalizer failed.
    #[error("finalize namespace: {0}")]
    Finalize(String),
}

/// What a sync needs.
pub struct Context {
    client: Client,
    queue: QueueMetrics,
    failures: Failures,
}

/// Runs the controller with `concurrency` parallel syncs until `stop` turns true.
pub async fn run(
    client: Client,
    queue: QueueMetrics,
    concurrency: u16,
    stop: watch::Receiver<bool>,
) {
    let mut informer =
        Informer::<Namespace>::new(Api::all(client.clone()), watcher::Config::default());
    let store: Store<Namespace> = informer.store();
    let changes = informer.subscribe();
    let watching = informer.spawn(stop.clone());
    let ctx = Arc::new(Context {
        client,
        queue,
        failures: Failures::default(),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let router = tokio::spawn(route(ctx.clone(), changes, tx));
    let workers = runner::Workers::new("namespace controller", concurrency, &stop);
    workers.run(store, rx, reconcile, error_policy, ctx).await;
    router.abort();
    let _ = watching.await;
}

/// Queues every namespace that is being deleted.
async fn route(
    ctx: Arc<Context>,
    mut changes: mpsc::UnboundedReceiver<Change<Namespace>>,
    tx: mpsc::UnboundedSender<ObjectRef<Namespace>>,
) {
    while let Some(change) = changes.recv().await {
        let ns = match change {
            Change::Added(ns) | Change::Updated { new: ns, .. } => ns,
            Change::Deleted(_) => continue,
        };
        if ns.metadata.deletion_timestamp.is_some() {
            ctx.queue.added(&ns.name_any());
            let _ = tx.send(ObjectRef::from_obj(&*ns));
        }
    }
}

/// One sync of one namespace (upstream's `syncNamespaceFromKey`), in a span naming it.
pub async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = ns.name_any();
    let span = info_span!("reconcile", namespace = %name);
    let work = async {
        if ns.metadata.deletion_timestamp.is_some() {
            sync(&name, &ctx).await
        } else {
            Ok(Action::await_change())
        }
    };
    runner::sync(&ctx.queue, &ctx.failures, &name, span, work).await
}

/// Requeues a failed sync with upstream's backoff (5 ms doubling, capped at 1000 s). Failures
/// are routine while content is still going away, so they are logged at debug level.
pub fn error_policy(ns: Arc<Namespace>, error: &Error, ctx: Arc<Context>) -> Action {
    let how = Retry {
        level: tracing::Level::DEBUG,
        ..Retry::warn("namespace")
    };
    how.requeue(&ctx.queue, &ctx.failures, &ns.name_any(), error)
}

fn has_finalizer(ns: &Namespace) -> bool {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

/// Upstream's `namespacedResourcesDeleter.Delete`.
async fn sync(name: &str, ctx: &Context) -> Result<Action, Error> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let Some(mut ns) = get(&api, name).await? else {
        return Ok(Action::await_change());
    };
    let Some(deleted_at) = ns.metadata.deletion_timestamp.clone() else {
        return Ok(Action::await_change());
    };
    let status = ns.status.get_or_insert_default();
    if status.phase.as_deref() != Some("Terminating") {
        status.phase = Some("Terminating".into());
        ns = match replace_status(&api, &ns).await? {
            Some(ns) => ns,
            None => return Ok(Action::await_change()),
        };
    }
    if !has_finalizer(&ns) {
        return Ok(Action::await_change());
    }
    let mut conds = Conditions::default();
    let resources = match deleter::deletable_resources(ctx).await {
        Ok(r) => r,
        Err(e) => {
            conds.discovery_failed(e.to_string());
            update_conditions(&api, name, &conds).await?;
            return Err(e);
        }
    };
    let pass = deleter::delete_all_content(ctx, name, deleted_at.0, &resources).await;
    conds.content_deletion_failed(&pass.errors);
    conds.content_totals(&pass.totals);
    update_conditions(&api, name, &conds).await?;
    if !pass.errors.is_empty() {
        return Err(Error::DeleteContent(pass.errors.join(", ")));
    }
    if pass.estimate > Duration::ZERO {
        debug!(namespace = %name, estimate = ?pass.estimate, "some content remains in the namespace");
        return Ok(Action::requeue(pass.estimate / 2 + Duration::from_secs(1)));
    }
    finalize(&api, name).await?;
    Ok(Action::await_change())
}

async fn get(api: &Api<Namespace>, name: &str) -> Result<Option<Namespace>, Error> {
    api.get_opt(name)
        .await
        .map_err(|e| Error::GetNamespace(crate::api_message(&e)))
}

/// Writes the status subresource; None when the namespace is gone.
async fn replace_status(api: &Api<Namespace>, ns: &Namespace) -> Result<Option<Namespace>, Error> {
    match api
        .replace_status(&ns.name_any(), &PostParams::default(), ns)
        .await
    {
        Ok(ns) => Ok(Some(ns)),
        Err(e) if crate::is_not_found(&e) => Ok(None),
        Err(e) => Err(Error::UpdateStatus(crate::api_message(&e))),
    }
}

async fn update_conditions(
    api: &Api<Namespace>,
    name: &str,
    conds: &Conditions,
) -> Result<(), Error> {
    let Some(mut ns) = get(api, name).await? else {
        return Ok(());
    };
    let status = ns.status.get_or_insert_default();
    let current = status.conditions.clone().unwrap_or_default();
    if let Some(next) = conds.apply(&current, jiff::Timestamp::now()) {
        status.conditions = Some(next);
        replace_status(api, &ns).await?;
    }
    Ok(())
}

/// Removes `kubernetes` from `spec.finalizers` through `namespaces/<name>/finalize`.
async fn finalize(api: &Api<Namespace>, name: &str) -> Result<(), Error> {
    let Some(mut ns) = get(api, name).await? else {
        return Ok(());
    };
    if let Some(spec) = ns.spec.as_mut() {
        spec.finalizers = Some(
            spec.finalizers
                .take()
                .unwrap_or_default()
                .into_iter()
                .filter(|f| f != FINALIZER)
                .collect(),
        );
    }
    match api
        .replace_subresource("finalize", name, &PostParams::default(), &ns)
        .await
    {
        Ok(_) => {
            info!(namespace = %name, "namespace content removed; finalized");
            Ok(())
        }
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::Finalize(crate::api_message(&e))),
    }
}
