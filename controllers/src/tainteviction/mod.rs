//! The taint-eviction controller, as upstream's `pkg/controller/tainteviction`: deletes the
//! pods of a node with `NoExecute` taints they do not tolerate — at once when some taint is
//! not tolerated at all, otherwise once the shortest matching `tolerationSeconds` has passed
//! ([`tolerations`]).
//!
//! Entry point: [`run`]. Node and pod changes schedule (or cancel) one timed deletion per pod,
//! like upstream's `TimedWorkerQueue`; a deletion records a `TaintManagerEviction` event
//! ("Marking for deletion Pod ns/name"), adds the `DisruptionTarget` condition
//! (`DeletionByTaintManager`) and deletes the pod ([`delete`]). A cancelled deletion records
//! "Cancelling deletion of Pod ns/name".

pub mod delete;
pub mod tolerations;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span};

use crate::events::{EventType, Recorder};
use crate::informer::{Change, Watched};
use crate::pod_util;

use tolerations::Verdict;

/// The controller's name in `--controllers`, events and field managers.
pub const NAME: &str = "taint-eviction-controller";

/// A pod's scheduled deletion; `task` is None once it ran.
struct Work {
    created: Instant,
    task: Option<AbortHandle>,
}

struct Context {
    client: Client,
    pods: Store<Pod>,
    nodes: Store<Node>,
    recorder: Recorder,
    work: Mutex<HashMap<String, Work>>,
}

/// Runs the controller until `stop` turns true. `pods` is the shared (synced) pod cache and
/// `pod_changes` a subscription to it; `nodes` the shared Node cache.
pub async fn run(
    client: Client,
    pods: Store<Pod>,
    pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    nodes: Watched<Node>,
    recorder: Recorder,
    stop: watch::Receiver<bool>,
) {
    let ctx = Arc::new(Context {
        client,
        pods,
        nodes: nodes.store,
        recorder,
        work: Mutex::default(),
    });
    let node_changes = nodes.changes;
    let mut stopped = stop.clone();
    let ok = tokio::select! {
        _ = stopped.wait_for(|s| *s) => false,
        r = ctx.nodes.wait_until_ready() => r.is_ok(),
    };
    if ok {
        // Nodes tainted before this controller started.
        for node in ctx.nodes.state() {
            node_changed(&ctx, &node);
        }
        let mut stopped = stop.clone();
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => {}
            _ = route(ctx.clone(), pod_changes, node_changes) => {}
        }
    }
    for w in ctx.work.lock().unwrap_or_else(|e| e.into_inner()).values() {
        if let Some(t) = &w.task {
            t.abort();
        }
    }
}

async fn route(
    ctx: Arc<Context>,
    mut pod_changes: mpsc::UnboundedReceiver<Change<Pod>>,
    mut node_changes: mpsc::UnboundedReceiver<Change<Node>>,
) {
    loop {
        tokio::select! {
            c = pod_changes.recv() => match c {
                None => return,
                Some(Change::Added(p)) => pod_changed(&ctx, &p),
                Some(Change::Updated { old, new }) => {
                    let spec = |p: &Pod| p.spec.as_ref().map(|s| (s.node_name.clone(), s.tolerations.clone()));
                    if spec(&old) != spec(&new) {
                        pod_changed(&ctx, &new);
                    }
                }
                Some(Change::Deleted(p)) => cancel(&ctx, &pod_util::key(&p.metadata), None),
            },
            c = node_changes.recv() => match c {
                None => return,
                Some(Change::Added(n)) => node_changed(&ctx, &n),
                Some(Change::Updated { old, new }) => {
                    if no_execute(&old) != no_execute(&new) {
                        node_changed(&ctx, &new);
                    }
                }
                Some(Change::Deleted(n)) => {
                    let name = n.name_any();
                    for pod in pods_on(&ctx, &name) {
                        process_pod(&ctx, &pod, &[]);
                    }
                }
            },
        }
    }
}

fn no_execute(node: &Node) -> Vec<Taint> {
    crate::nodelifecycle::taints::no_execute(node)
}

fn pods_on(ctx: &Context, node: &str) -> Vec<Arc<Pod>> {
    ctx.pods
        .state_filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
}

fn node_changed(ctx: &Arc<Context>, node: &Node) {
    let taints = no_execute(node);
    let name = node.name_any();
    for pod in pods_on(ctx, &name) {
        process_pod(ctx, &pod, &taints);
    }
}

fn pod_changed(ctx: &Arc<Context>, pod: &Pod) {
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
        return;
    };
    let taints = ctx
        .nodes
        .get(&ObjectRef::new(node))
        .map(|n| no_execute(&n))
        .unwrap_or_default();
    process_pod(ctx, pod, &taints);
}

/// Schedules, keeps or cancels the pod's deletion (upstream's `processPodOnNode`).
fn process_pod(ctx: &Arc<Context>, pod: &Pod, taints: &[Taint]) {
    let key = pod_util::key(&pod.metadata);
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    let now = Instant::now();
    match tolerations::verdict(taints, tolerations) {
        Verdict::Untainted | Verdict::Tolerated => cancel(ctx, &key, Some(pod)),
        Verdict::DeleteNow => {
            debug!(pod = %key, "not all taints are tolerated; deleting now");
            cancel(ctx, &key, Some(pod));
            schedule(ctx, &key, now, now);
        }
        Verdict::DeleteAfter(d) => {
            let pending = ctx
                .work
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .filter(|w| w.task.is_some())
                .map(|w| w.created);
            if let Some(created) = pending
                && created + d <= now + d
            {
                return;
            }
            cancel(ctx, &key, Some(pod));
            debug!(pod = %key, after = ?d, "scheduling deletion");
            schedule(ctx, &key, now, now + d);
        }
    }
}

/// Cancels a pending deletion, recording that on the pod when it is known.
fn cancel(ctx: &Context, key: &str, pod: Option<&Pod>) {
    let removed = ctx
        .work
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(key);
    if let Some(Work {
        task: Some(task), ..
    }) = removed
    {
        task.abort();
        if let Some(pod) = pod {
            ctx.recorder.publish(
                pod,
                EventType::Normal,
                "TaintManagerEviction",
                format!("Cancelling deletion of Pod {key}"),
            );
        }
    }
}

fn schedule(ctx: &Arc<Context>, key: &str, created: Instant, at: Instant) {
    let Some((ns, name)) = key.split_once('/') else {
        return;
    };
    let (ns, name, k) = (ns.to_string(), name.to_string(), key.to_string());
    let c = ctx.clone();
    let span = info_span!("evict", pod = %key);
    let task = tokio::spawn(
        async move {
            tokio::time::sleep_until(at).await;
            let pod = c.pods.get(&ObjectRef::new(&name).within(&ns));
            if let Some(pod) = &pod {
                c.recorder.publish(
                    &**pod,
                    EventType::Normal,
                    "TaintManagerEviction",
                    format!("Marking for deletion Pod {k}"),
                );
            }
            let done = delete::add_condition_and_delete(&c.client, &ns, &name).await;
            let mut work = c.work.lock().unwrap_or_else(|e| e.into_inner());
            match done {
                Ok(()) => {
                    if let Some(w) = work.get_mut(&k) {
                        w.task = None;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "evicting pod failed");
                    work.remove(&k);
                }
            }
        }
        .instrument(span),
    );
    ctx.work.lock().unwrap_or_else(|e| e.into_inner()).insert(
        key.to_string(),
        Work {
            created,
            task: Some(task.abort_handle()),
        },
    );
}
