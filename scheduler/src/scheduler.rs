//! The scheduling cycle, as upstream's `ScheduleOne`: pop a pod, take a snapshot, run the
//! framework (filter, score, select), assume the pod on the chosen node, reserve and permit,
//! then bind in the background; on failure record why and park the pod in the queue. Also
//! the event handlers that keep the cache and the queue in step with the watches.

use std::sync::{Arc, Mutex};

use ferrokube_controllers::events::Recorder;
use ferrokube_controllers::informer::Change;
use k8s_openapi::api::core::v1::{Node, Pod};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span};

use crate::cache::Cache;
use crate::cluster_event::{
    ActionType, ClusterEvent, EventResource, assigned_pod_update, node_update,
};
use crate::events::{self, REASON_SCHEDULER_ERROR, REASON_UNSCHEDULABLE};
use crate::framework::{CycleState, Framework, pod_key};
use crate::metrics::{Metrics, PLUGIN_METRICS_SAMPLE_PERCENT};
use crate::queue::{QueuedPodInfo, SchedulingQueue};
use crate::snapshot::{self, Snapshot};

/// One profile's scheduler: its framework, queue and cache.
pub struct Scheduler {
    framework: Arc<Framework>,
    queue: Arc<SchedulingQueue>,
    cache: Mutex<Cache>,
    /// The snapshot of the last cycle, brought up to date by the cache before the next.
    snapshot: Mutex<Arc<Snapshot>>,
    client: kube::Client,
    recorder: Recorder,
    metrics: Metrics,
}

fn assigned(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn pod_event(action: ActionType) -> ClusterEvent {
    ClusterEvent::new(EventResource::AssignedPod, action)
}

fn node_event(action: ActionType) -> ClusterEvent {
    ClusterEvent::new(EventResource::Node, action)
}

impl Scheduler {
    /// A scheduler for `framework`'s profile.
    pub fn new(
        framework: Arc<Framework>,
        client: kube::Client,
        recorder: Recorder,
        metrics: Metrics,
    ) -> Self {
        let fw = framework.clone();
        Scheduler {
            queue: Arc::new(SchedulingQueue::new(Box::new(move |p| {
                fw.run_pre_enqueue(p)
            }))),
            framework,
            cache: Mutex::default(),
            snapshot: Mutex::default(),
            client,
            recorder,
            metrics,
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The snapshot for the next cycle: the last one with the nodes changed since replaced.
    fn update_snapshot(&self) -> Arc<Snapshot> {
        let mut kept = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        // Unshared unless an earlier cycle's state still holds it (then this copies it once).
        self.cache().update_snapshot(Arc::make_mut(&mut kept));
        kept.clone()
    }

    /// The queue (for metrics and tests).
    pub fn queue(&self) -> &SchedulingQueue {
        &self.queue
    }

    /// Whether the pod asks for this profile.
    pub fn responsible_for(&self, pod: &Pod) -> bool {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .filter(|n| !n.is_empty())
            .unwrap_or(crate::config::DEFAULT_SCHEDULER_NAME);
        name == self.framework.scheduler_name
    }

    /// Applies a pod watch change to the cache (bound pods) or the queue (pending pods).
    pub fn on_pod_change(&self, change: Change<Pod>) {
        match change {
            Change::Added(pod) => {
                if assigned(&pod) {
                    if !terminal(&pod) {
                        self.cache().add_or_update_pod(pod);
                        self.queue
                            .move_all_to_active_or_backoff(pod_event(ActionType::ADD));
                    }
                } else if self.responsible_for(&pod) && !terminal(&pod) {
                    self.queue.add(pod);
                }
            }
            Change::Updated { old, new } => {
                if assigned(&new) {
                    if !assigned(&old) {
                        self.queue.delete(&new);
                        self.framework.nominator.remove(&new);
                    }
                    let event = if !assigned(&old) {
                        Some(ActionType::ADD)
                    } else if terminal(&new) {
                        (!terminal(&old)).then_some(ActionType::DELETE)
                    } else {
                        assigned_pod_update(&old, &new)
                    };
                    if terminal(&new) {
                        self.cache().remove_pod(&new);
                    } else {
                        self.cache().add_or_update_pod(new);
                    }
                    if let Some(action) = event {
                        self.queue.move_all_to_active_or_backoff(pod_event(action));
                    }
                } else if self.responsible_for(&new) {
                    let nominated = |p: &Pod| {
                        p.status
                            .as_ref()
                            .and_then(|s| s.nominated_node_name.clone())
                            .filter(|n| !n.is_empty())
                    };
                    // Only a change of nominatedNodeName matters: the scheduler's own
                    // nomination may be ahead of the watch.
                    match (nominated(&old), nominated(&new)) {
                        (a, Some(b)) if a.as_ref() != Some(&b) => {
                            self.framework.nominator.add(new.clone(), &b)
                        }
                        (Some(_), None) => self.framework.nominator.remove(&new),
                        _ => {}
                    }
                    self.queue.update(&old, new);
                }
            }
            Change::Deleted(pod) => {
                if assigned(&pod) {
                    self.cache().remove_pod(&pod);
                    self.queue
                        .move_all_to_active_or_backoff(pod_event(ActionType::DELETE));
                } else {
                    self.framework.nominator.remove(&pod);
                    self.queue.delete(&pod);
                }
            }
        }
    }

    /// Applies a node watch change to the cache, moving unschedulable pods back when the
    /// change could help them.
    pub fn on_node_change(&self, change: Change<Node>) {
        match change {
            Change::Added(node) => {
                self.cache().add_or_update_node(node);
                self.queue
                    .move_all_to_active_or_backoff(node_event(ActionType::ADD));
            }
            Change::Updated { old, new } => {
                let action = node_update(&old, &new);
                self.cache().add_or_update_node(new);
                if let Some(action) = action {
                    self.queue.move_all_to_active_or_backoff(node_event(action));
                }
            }
            Change::Deleted(node) => {
                self.cache()
                    .remove_node(node.metadata.name.as_deref().unwrap_or_default());
                self.queue
                    .move_all_to_active_or_backoff(node_event(ActionType::DELETE));
            }
        }
    }

    /// Schedules pods until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let ticker = {
            let me = self.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return,
                        _ = tick.tick() => {
                            me.queue.flush();
                            me.metrics.queue_sizes(me.queue.sizes());
                        }
                    }
                }
            })
        };
        loop {
            let next = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                next = self.queue.pop() => next,
            };
            let Some(info) = next else { break };
            let span = info_span!("schedule", pod = %pod_key(&info.pod), attempt = info.attempts);
            self.clone().schedule_one(info).instrument(span).await;
        }
        self.queue.close();
        let _ = ticker.await;
    }

    /// One scheduling cycle for one pod; the binding continues in the background.
    pub async fn schedule_one(self: Arc<Self>, mut info: QueuedPodInfo) {
        let pod = info.pod.clone();
        if pod.metadata.deletion_timestamp.is_some() {
            debug!("skipping a pod that is being deleted");
            self.queue.done(&pod);
            return;
        }
        let start = Instant::now();
        let snapshot = self.update_snapshot();
        let mut state = CycleState::default();
        state.sample_plugin_metrics = rand::random_range(0..100) < PLUGIN_METRICS_SAMPLE_PERCENT;
        snapshot::remember(&mut state, snapshot.clone());
        let result = self.framework.schedule(&mut state, &pod, &snapshot.nodes);
        snapshot::forget(&mut state);
        drop(snapshot);
        let host = match result {
            Ok(r) => r.suggested_host,
            Err(fit) => {
                let unschedulable = fit.error.is_none();
                let message = fit.message();
                info!(%message, "unable to schedule pod");
                let (result, reason) = if unschedulable {
                    ("unschedulable", REASON_UNSCHEDULABLE)
                } else {
                    ("error", REASON_SCHEDULER_ERROR)
                };
                self.metrics
                    .attempt(result, &self.framework.scheduler_name, start.elapsed());
                if let Some(node) = &fit.nominated_node {
                    self.framework.nominator.add(pod.clone(), node);
                }
                info.unschedulable_plugins = fit.rejecting_plugins();
                self.record_failure(&pod, reason, message, fit.nominated_node);
                self.queue.add_unschedulable(info, unschedulable);
                return;
            }
        };
        self.cache().assume_pod(&pod, &host);
        let reserved = self.framework.run_reserve(&state, &pod, &host);
        let permitted = if reserved.is_success() {
            self.framework.run_permit(&state, &pod, &host)
        } else {
            reserved.clone()
        };
        if !permitted.is_success() {
            if reserved.is_success() {
                self.framework.run_unreserve(&state, &pod, &host);
            }
            self.cache().forget_pod(&pod);
            let unschedulable = permitted.is_rejected();
            self.metrics.attempt(
                if unschedulable {
                    "unschedulable"
                } else {
                    "error"
                },
                &self.framework.scheduler_name,
                start.elapsed(),
            );
            let reason = if unschedulable {
                REASON_UNSCHEDULABLE
            } else {
                REASON_SCHEDULER_ERROR
            };
            self.record_failure(&pod, reason, permitted.message(), None);
            info.unschedulable_plugins = [permitted.plugin]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect();
            self.queue.add_unschedulable(info, unschedulable);
            return;
        }
        let me = self.clone();
        tokio::spawn(
            async move {
                let mut bound = me.framework.run_pre_bind(&state, &pod, &host).await;
                if bound.is_success() {
                    bound = me.framework.run_bind(&pod, &host).await;
                }
                if bound.is_success() {
                    info!(node = %host, "bound pod");
                    me.metrics
                        .attempt("scheduled", &me.framework.scheduler_name, start.elapsed());
                    me.metrics
                        .pod_scheduled(info.attempts, info.initial_attempt.elapsed());
                    events::scheduled(&me.recorder, &pod, &host);
                    me.framework.nominator.remove(&pod);
                    me.queue.done(&pod);
                    return;
                }
                me.framework.run_unreserve(&state, &pod, &host);
                me.cache().forget_pod(&pod);
                me.metrics
                    .attempt("error", &me.framework.scheduler_name, start.elapsed());
                let message = format!("binding rejected: {}", bound.message());
                info!(%message, "binding failed");
                me.record_failure(&pod, REASON_SCHEDULER_ERROR, message, None);
                me.queue.add_unschedulable(info, false);
            }
            .in_current_span(),
        );
    }

    fn record_failure(
        &self,
        pod: &Arc<Pod>,
        reason: &'static str,
        message: String,
        nominated: Option<String>,
    ) {
        let client = self.client.clone();
        let recorder = self.recorder.clone();
        let pod = pod.clone();
        tokio::spawn(async move {
            events::failed(
                &client,
                &recorder,
                &pod,
                reason,
                &message,
                nominated.as_deref(),
            )
            .await;
        });
    }
}
