//! The Deployment controller, as upstream's `pkg/controller/deployment`: rolls a Deployment's
//! pods from one template to the next through ReplicaSets.
//!
//! Each sync ([`reconcile`]) claims the Deployment's ReplicaSets (adopting matching orphans,
//! releasing ones that no longer match), then either only resizes ([`sync`], when paused or
//! when `spec.replicas` changed — proportionally across ReplicaSets mid-rollout) or rolls out
//! with the strategy ([`rolling`] with maxSurge / maxUnavailable, or [`recreate`]), and writes
//! the status with the Progressing / Available / ReplicaFailure conditions ([`progress`]).
//! The arithmetic lives in [`util`].

pub mod progress;
pub mod recreate;
pub mod rolling;
pub mod sync;
pub mod util;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, info_span};

use crate::events::{EventType, Recorder};
use crate::informer::Change;
use crate::metrics::QueueMetrics;
use crate::retry::Failures;
use crate::runner::{self, Retry};
use crate::{Error, api_message, is_not_found, pod_util};

/// The controller's name in `--controllers`, events (`source.component`) and metrics.
pub const NAME: &str = "deployment-controller";

/// What a sync needs: the client, the shared caches and the controller's own state.
pub struct Context {
    client: Client,
    deployments: Store<Deployment>,
    replicasets: Store<ReplicaSet>,
    pods: Store<Pod>,
    recorder: Recorder,
    queue: QueueMetrics,
    failures: Failures,
}

impl Context {
    /// A context over the shared caches.
    pub fn new(
        client: Client,
        deployments: Store<Deployment>,
        replicasets: Store<ReplicaSet>,
        pods: Store<Pod>,
        recorder: Recorder,
        queue: QueueMetrics,
    ) -> Self {
        Context {
            client,
            deployments,
            replicasets,
            pods,
            recorder,
            queue,
            failures: Failures::default(),
        }
    }

    fn rs_api(&self, d: &Deployment) -> Api<ReplicaSet> {
        Api::namespaced(self.client.clone(), &d.namespace().unwrap_or_default())
    }

    /// Records a Normal event on the Deployment.
    fn event(&self, d: &Deployment, reason: &str, message: String) {
        self.recorder.publish(d, EventType::Normal, reason, message);
    }
}

/// Runs the controller with `concurrency` parallel syncs until `stop` turns true. The caches
/// must have synced; the receivers are subscriptions to their informers.
pub async fn run(
    ctx: Arc<Context>,
    deployment_changes: mpsc::UnboundedReceiver<Change<Deployment>>,
    rs_changes: mpsc::UnboundedReceiver<Change<ReplicaSet>>,
    pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    concurrency: u16,
    stop: watch::Receiver<bool>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let router = tokio::spawn(route(
        ctx.clone(),
        deployment_changes,
        rs_changes,
        pod_changes,
        tx,
    ));
    let workers = runner::Workers::new("deployment controller", concurrency, &stop);
    workers
        .run(ctx.deployments.clone(), rx, reconcile, error_policy, ctx)
        .await;
    router.abort();
}

async fn route(
    ctx: Arc<Context>,
    mut deployment_changes: mpsc::UnboundedReceiver<Change<Deployment>>,
    mut rs_changes: mpsc::UnboundedReceiver<Change<ReplicaSet>>,
    mut pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    tx: mpsc::UnboundedSender<ObjectRef<Deployment>>,
) {
    let enqueue = |d: &Deployment| {
        ctx.queue.added(&pod_util::key(&d.metadata));
        let _ = tx.send(ObjectRef::from_obj(d));
    };
    loop {
        tokio::select! {
            c = deployment_changes.recv() => match c {
                None => return,
                Some(Change::Added(d)) | Some(Change::Updated { new: d, .. }) => enqueue(&d),
                Some(Change::Deleted(_)) => {}
            },
            c = rs_changes.recv() => match c {
                None => return,
                Some(Change::Added(rs)) => {
                    if let Some(d) = owner(&ctx, &rs) {
                        enqueue(&d);
                    } else if rs.metadata.deletion_timestamp.is_none() {
                        matching(&ctx, &rs).iter().for_each(|d| enqueue(d));
                    }
                }
                Some(Change::Updated { old, new }) => {
                    if old.resource_version() == new.resource_version() {
                        continue;
                    }
                    let old_ref = pod_util::controller_of(&old.metadata).map(|r| r.uid.clone());
                    let new_ref = pod_util::controller_of(&new.metadata).map(|r| r.uid.clone());
                    if old_ref != new_ref && let Some(d) = owner(&ctx, &old) {
                        enqueue(&d);
                    }
                    if new_ref.is_some() {
                        if let Some(d) = owner(&ctx, &new) {
                            enqueue(&d);
                        }
                    } else if old.labels() != new.labels() || old_ref != new_ref {
                        matching(&ctx, &new).iter().for_each(|d| enqueue(d));
                    }
                }
                Some(Change::Deleted(rs)) => {
                    if let Some(d) = owner(&ctx, &rs) {
                        enqueue(&d);
                    }
                }
            },
            c = pod_changes.recv() => match c {
                None => return,
                // Recreate waits for the old pods to be gone.
                Some(Change::Deleted(pod)) => {
                    let rs = pod_util::controller_of(&pod.metadata)
                        .filter(|r| r.kind == "ReplicaSet")
                        .and_then(|r| {
                            ctx.replicasets.get(
                                &ObjectRef::new(&r.name).within(&pod.namespace().unwrap_or_default()),
                            )
                        });
                    if let Some(d) = rs.and_then(|rs| owner(&ctx, &rs))
                        && util::is_recreate(&d)
                    {
                        enqueue(&d);
                    }
                }
                Some(_) => {}
            },
        }
    }
}

/// The cached Deployment that `rs`'s controller reference names.
fn owner(ctx: &Context, rs: &ReplicaSet) -> Option<Arc<Deployment>> {
    let r = pod_util::controller_of(&rs.metadata)?;
    resolve(ctx, rs, r)
}

fn resolve(ctx: &Context, rs: &ReplicaSet, r: &OwnerReference) -> Option<Arc<Deployment>> {
    if r.kind != "Deployment" || r.api_version.split('/').next() != Some("apps") {
        return None;
    }
    ctx.deployments
        .get(&ObjectRef::new(&r.name).within(&rs.namespace().unwrap_or_default()))
        .filter(|d| d.uid().as_deref() == Some(r.uid.as_str()))
}

/// Deployments in `rs`'s namespace whose (non-empty) selector matches it.
fn matching(ctx: &Context, rs: &ReplicaSet) -> Vec<Arc<Deployment>> {
    let ns = rs.namespace();
    ctx.deployments.state_filter(|d| {
        d.namespace() == ns && selector(d).is_ok_and(|s| !s.selects_all() && s.matches(rs.labels()))
    })
}

/// The Deployment's selector.
pub fn selector(d: &Deployment) -> Result<Selector, Error> {
    let spec = d
        .spec
        .as_ref()
        .ok_or_else(|| Error::InvalidObject("deployment has no spec".into()))?;
    Selector::try_from(spec.selector.clone()).map_err(|e| Error::Selector(e.to_string()))
}

/// One sync of one Deployment (upstream's `syncDeployment`), in a span naming it.
pub async fn reconcile(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = pod_util::key(&d.metadata);
    let span = info_span!("reconcile", deployment = %key);
    runner::sync(
        &ctx.queue,
        &ctx.failures,
        &key,
        span,
        sync_deployment(&d, &ctx),
    )
    .await
}

/// Requeues a failed sync with per-item exponential backoff (5 ms doubling, capped at 1000 s).
pub fn error_policy(d: Arc<Deployment>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = pod_util::key(&d.metadata);
    Retry::warn("deployment").requeue(&ctx.queue, &ctx.failures, &key, error)
}

async fn sync_deployment(cached: &Deployment, ctx: &Context) -> Result<Action, Error> {
    debug!("syncing deployment");
    // Work on a copy: the cache is never mutated.
    let mut d = cached.clone();
    let sel = selector(&d)?;
    if sel.selects_all() {
        ctx.recorder.publish(
            &d,
            EventType::Warning,
            "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.".into(),
        );
        let status = d.status.get_or_insert_with(Default::default);
        if status.observed_generation < d.metadata.generation {
            status.observed_generation = d.metadata.generation;
            sync::update_status(ctx, &mut d).await?;
        }
        return Ok(Action::await_change());
    }
    let rs_list = claim_replicasets(ctx, &d, &sel).await?;
    if d.metadata.deletion_timestamp.is_some() {
        sync::sync_status_only(ctx, &mut d, rs_list).await?;
        return Ok(Action::await_change());
    }
    progress::check_paused_conditions(ctx, &mut d).await?;
    if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        sync::sync(ctx, &mut d, rs_list).await?;
        return Ok(Action::await_change());
    }
    if sync::is_scaling_event(&d, &rs_list) {
        sync::sync(ctx, &mut d, rs_list).await?;
        return Ok(Action::await_change());
    }
    let requeue = if util::is_recreate(&d) {
        let pods = pods_by_replicaset(ctx, &d, &sel, &rs_list);
        recreate::rollout(ctx, &mut d, rs_list, &pods).await?
    } else {
        rolling::rollout(ctx, &mut d, rs_list).await?
    };
    Ok(match requeue {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// Active pods matching the Deployment, by the UID of the ReplicaSet that controls them.
fn pods_by_replicaset(
    ctx: &Context,
    d: &Deployment,
    sel: &Selector,
    rs_list: &[ReplicaSet],
) -> HashMap<String, Vec<Arc<Pod>>> {
    let ns = d.namespace();
    let mut map: HashMap<String, Vec<Arc<Pod>>> = rs_list
        .iter()
        .map(|rs| (rs.uid().unwrap_or_default(), Vec::new()))
        .collect();
    for pod in ctx
        .pods
        .state_filter(|p| p.namespace() == ns && sel.matches(p.labels()))
    {
        if let Some(r) = pod_util::controller_of(&pod.metadata)
            && let Some(list) = map.get_mut(&r.uid)
        {
            list.push(pod);
        }
    }
    map
}

/// The controller reference a Deployment puts on its ReplicaSets.
pub fn controller_ref(d: &Deployment) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: d.name_any(),
        uid: d.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Upstream's `getReplicaSetsForDeployment`: the ReplicaSets this Deployment owns after
/// adopting matching orphans and releasing owned ones that no longer match.
async fn claim_replicasets(
    ctx: &Context,
    d: &Deployment,
    sel: &Selector,
) -> Result<Vec<ReplicaSet>, Error> {
    let uid = d.uid().unwrap_or_default();
    let ns = d.namespace();
    let deleting = d.metadata.deletion_timestamp.is_some();
    let api = ctx.rs_api(d);
    let mut can_adopt: Option<Result<(), String>> = None;
    let mut owned = Vec::new();
    let mut first_error = None;
    for rs in ctx.replicasets.state_filter(|rs| rs.namespace() == ns) {
        let matches = sel.matches(rs.labels());
        match pod_util::controller_of(&rs.metadata) {
            Some(r) if r.uid != uid => {}
            Some(_) if matches => owned.push((*rs).clone()),
            Some(_) if deleting => {}
            Some(_) => {
                let patch = json!({"metadata": {
                    "ownerReferences": [{"$patch": "delete", "uid": uid}],
                    "uid": rs.uid(),
                }});
                info!(replicaset = %rs.name_any(), "releasing replica set that no longer matches");
                if let Err(e) = api
                    .patch(
                        &rs.name_any(),
                        &PatchParams::default(),
                        &Patch::Strategic(&patch),
                    )
                    .await
                    && !is_not_found(&e)
                {
                    first_error.get_or_insert(api_message(&e));
                }
            }
            None if deleting || !matches || rs.metadata.deletion_timestamp.is_some() => {}
            None => {
                if can_adopt.is_none() {
                    can_adopt = Some(recheck(ctx, d).await);
                }
                if let Some(Err(why)) = &can_adopt {
                    first_error.get_or_insert(why.clone());
                    continue;
                }
                let patch = json!({"metadata": {
                    "ownerReferences": [controller_ref(d)],
                    "uid": rs.uid(),
                }});
                info!(replicaset = %rs.name_any(), "adopting orphan replica set");
                match api
                    .patch(
                        &rs.name_any(),
                        &PatchParams::default(),
                        &Patch::Strategic(&patch),
                    )
                    .await
                {
                    Ok(adopted) => owned.push(adopted),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        first_error.get_or_insert(api_message(&e));
                    }
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(Error::ClaimPods(e)),
        None => Ok(owned),
    }
}

/// An uncached read proving the Deployment is still the one in the cache and not being deleted.
async fn recheck(ctx: &Context, d: &Deployment) -> Result<(), String> {
    let api: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
    let fresh = api.get(&d.name_any()).await.map_err(|e| api_message(&e))?;
    if fresh.uid() != d.uid() {
        return Err(format!(
            "original Deployment {}/{} is gone: got uid {}, wanted {}",
            d.namespace().unwrap_or_default(),
            d.name_any(),
            fresh.uid().unwrap_or_default(),
            d.uid().unwrap_or_default()
        ));
    }
    if fresh.metadata.deletion_timestamp.is_some() {
        return Err(format!(
            "{}/{} has just been deleted",
            d.namespace().unwrap_or_default(),
            d.name_any()
        ));
    }
    Ok(())
}

/// Creates `rs` (used for a new ReplicaSet).
async fn create_rs(ctx: &Context, d: &Deployment, rs: &ReplicaSet) -> kube::Result<ReplicaSet> {
    ctx.rs_api(d).create(&PostParams::default(), rs).await
}
