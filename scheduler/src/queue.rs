//! The scheduling queue, as upstream's `PriorityQueue`: the active queue (highest priority
//! first, then arrival), the backoff queue (1 s doubling per attempt up to 10 s), the
//! unschedulable pods (moved back when a cluster event could help them, and after 5 minutes
//! regardless) and the gated pods (kept out until PreEnqueue lets them in).

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::Notify;
use tokio::time::Instant;

pub use crate::cluster_event::ClusterEvent;
use crate::cluster_event::worth_requeuing;
use crate::framework::{Status, pod_key};
use crate::plugins::default_preemption::priority;

/// How long an unschedulable pod waits at most before it is retried anyway.
pub const POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION: Duration = Duration::from_secs(300);

/// A pod in the queue with its scheduling history.
#[derive(Clone, Debug)]
pub struct QueuedPodInfo {
    /// The pod as last seen.
    pub pod: Arc<Pod>,
    /// Scheduling attempts so far.
    pub attempts: u32,
    /// When it was first queued (for the e2e latency).
    pub initial_attempt: Instant,
    /// When it last entered a queue.
    pub timestamp: Instant,
    /// The scheduling cycle of its last attempt.
    pub cycle: u64,
    /// The plugins that rejected it in its last attempt: only cluster events they registered
    /// for move it back (none: any event does).
    pub unschedulable_plugins: BTreeSet<&'static str>,
}

/// Cluster events kept while pods are in flight, at most (older ones are summarised as
/// "something happened up to this cycle").
const MAX_IN_FLIGHT_EVENTS: usize = 4096;

/// Lets pods into the active queue (the profile's PreEnqueue plugins).
pub type PreEnqueue = Box<dyn Fn(&Pod) -> Status + Send + Sync>;

#[derive(PartialEq, Eq)]
struct HeapEntry {
    priority: i32,
    seq: u64,
    key: String,
}

impl Ord for HeapEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for HeapEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Default)]
struct Inner {
    heap: BinaryHeap<HeapEntry>,
    /// Active pods and the sequence number of their heap entry.
    active: HashMap<String, (QueuedPodInfo, u64)>,
    backoff: HashMap<String, QueuedPodInfo>,
    unschedulable: HashMap<String, QueuedPodInfo>,
    gated: HashMap<String, QueuedPodInfo>,
    in_flight: HashMap<String, QueuedPodInfo>,
    /// Pods updated while being scheduled: retried at once if the attempt fails.
    updated_in_flight: HashSet<String>,
    seq: u64,
    scheduling_cycle: u64,
    /// Cluster events since the oldest in-flight attempt started, with the cycle they came in.
    in_flight_events: VecDeque<(u64, ClusterEvent)>,
    /// Pods whose attempt started at or before this cycle count as having seen an event.
    dropped_events_cycle: u64,
    closed: bool,
}

impl Inner {
    /// Whether an event that could help a pod rejected by `plugins` came since `cycle`.
    fn event_since(&self, cycle: u64, plugins: &BTreeSet<&'static str>) -> bool {
        cycle <= self.dropped_events_cycle
            || self
                .in_flight_events
                .iter()
                .rev()
                .take_while(|(c, _)| *c >= cycle)
                .any(|(_, e)| worth_requeuing(plugins, e))
    }

    /// Forgets events no in-flight attempt can still be told about.
    fn prune_events(&mut self) {
        if self.in_flight.is_empty() {
            self.in_flight_events.clear();
            return;
        }
        if self.in_flight_events.len() < MAX_IN_FLIGHT_EVENTS {
            return;
        }
        let oldest = self.in_flight.values().map(|i| i.cycle).min().unwrap_or(0);
        while self
            .in_flight_events
            .front()
            .is_some_and(|(c, _)| *c < oldest)
        {
            self.in_flight_events.pop_front();
        }
        while self.in_flight_events.len() >= MAX_IN_FLIGHT_EVENTS {
            if let Some((c, _)) = self.in_flight_events.pop_front() {
                self.dropped_events_cycle = self.dropped_events_cycle.max(c);
            }
        }
    }
}

/// Sizes of the queue's parts, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueSizes {
    /// Pods ready to be scheduled.
    pub active: usize,
    /// Pods waiting out their backoff.
    pub backoff: usize,
    /// Pods waiting for a cluster change (gated pods included, as upstream counts them).
    pub unschedulable: usize,
    /// Pods held by scheduling gates.
    pub gated: usize,
}

/// The queue.
pub struct SchedulingQueue {
    inner: Mutex<Inner>,
    notify: Notify,
    pre_enqueue: PreEnqueue,
    initial_backoff: Duration,
    max_backoff: Duration,
}

fn pod_changed(old: &Pod, new: &Pod) -> bool {
    old.spec != new.spec
        || old.metadata.labels != new.metadata.labels
        || old.metadata.annotations != new.metadata.annotations
}

impl SchedulingQueue {
    /// A queue with upstream's backoff (1 s to 10 s).
    pub fn new(pre_enqueue: PreEnqueue) -> Self {
        SchedulingQueue {
            inner: Mutex::default(),
            notify: Notify::new(),
            pre_enqueue,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The backoff after `attempts` attempts: 1 s doubling, at most 10 s.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(16);
        (self.initial_backoff * (1u32 << shift)).min(self.max_backoff)
    }

    fn backoff_expiry(&self, info: &QueuedPodInfo) -> Instant {
        info.timestamp + self.backoff_duration(info.attempts)
    }

    /// Puts a pod in the active queue, or among the gated pods if PreEnqueue says no.
    fn to_active_or_gated(&self, inner: &mut Inner, key: String, mut info: QueuedPodInfo) {
        if !(self.pre_enqueue)(&info.pod).is_success() {
            inner.gated.insert(key, info);
            return;
        }
        info.timestamp = Instant::now();
        inner.seq += 1;
        inner.heap.push(HeapEntry {
            priority: priority(&info.pod),
            seq: inner.seq,
            key: key.clone(),
        });
        let seq = inner.seq;
        inner.active.insert(key, (info, seq));
        self.notify.notify_one();
    }

    /// A new pending pod.
    pub fn add(&self, pod: Arc<Pod>) {
        let key = pod_key(&pod);
        let mut inner = self.lock();
        if inner.active.contains_key(&key)
            || inner.backoff.contains_key(&key)
            || inner.unschedulable.contains_key(&key)
            || inner.gated.contains_key(&key)
            || inner.in_flight.contains_key(&key)
        {
            drop(inner);
            return self.update(&pod.clone(), pod);
        }
        let now = Instant::now();
        let info = QueuedPodInfo {
            pod,
            attempts: 0,
            initial_attempt: now,
            timestamp: now,
            cycle: 0,
            unschedulable_plugins: BTreeSet::new(),
        };
        self.to_active_or_gated(&mut inner, key, info);
    }

    /// A pending pod changed: queued pods get the new object; gated and unschedulable pods
    /// whose spec changed are given another try.
    pub fn update(&self, old: &Pod, new: Arc<Pod>) {
        let key = pod_key(&new);
        let mut inner = self.lock();
        if let Some((info, _)) = inner.active.get_mut(&key) {
            info.pod = new;
            return;
        }
        if let Some(info) = inner.backoff.get_mut(&key) {
            info.pod = new;
            return;
        }
        if inner.in_flight.contains_key(&key) {
            if pod_changed(old, &new) {
                inner.updated_in_flight.insert(key.clone());
            }
            if let Some(info) = inner.in_flight.get_mut(&key) {
                info.pod = new;
            }
            return;
        }
        let from_gated = inner.gated.contains_key(&key);
        let parked = inner
            .gated
            .remove(&key)
            .or_else(|| inner.unschedulable.remove(&key));
        match parked {
            Some(mut info) => {
                let changed = pod_changed(old, &new);
                info.pod = new;
                if !changed && from_gated {
                    inner.gated.insert(key, info);
                } else if !changed {
                    inner.unschedulable.insert(key, info);
                } else if info.attempts > 0 && Instant::now() < self.backoff_expiry(&info) {
                    inner.backoff.insert(key, info);
                } else {
                    self.to_active_or_gated(&mut inner, key, info);
                }
            }
            None => {
                drop(inner);
                self.add(new);
            }
        }
    }

    /// A pending pod was deleted (or bound by someone else).
    pub fn delete(&self, pod: &Pod) {
        let key = pod_key(pod);
        let mut inner = self.lock();
        inner.active.remove(&key);
        inner.backoff.remove(&key);
        inner.unschedulable.remove(&key);
        inner.gated.remove(&key);
        inner.in_flight.remove(&key);
        inner.updated_in_flight.remove(&key);
        inner.prune_events();
    }

    /// Waits for the next pod to schedule; None once closed.
    pub async fn pop(&self) -> Option<QueuedPodInfo> {
        loop {
            let notified = self.notify.notified();
            {
                let mut inner = self.lock();
                if inner.closed {
                    return None;
                }
                while let Some(entry) = inner.heap.pop() {
                    let current =
                        matches!(inner.active.get(&entry.key), Some((_, s)) if *s == entry.seq);
                    if !current {
                        continue;
                    }
                    let Some((mut info, _)) = inner.active.remove(&entry.key) else {
                        continue;
                    };
                    inner.scheduling_cycle += 1;
                    info.attempts += 1;
                    info.cycle = inner.scheduling_cycle;
                    inner.in_flight.insert(entry.key, info.clone());
                    return Some(info);
                }
            }
            notified.await;
        }
    }

    /// The pod's attempt failed (rejected by `info.unschedulable_plugins`): it waits among
    /// the unschedulable pods, or in the backoff queue when it failed for an internal error,
    /// was updated, or a cluster event one of those plugins cares about came during its
    /// attempt. A pod deleted meanwhile is dropped.
    pub fn add_unschedulable(&self, info: QueuedPodInfo, unschedulable: bool) {
        let key = pod_key(&info.pod);
        let mut inner = self.lock();
        let Some(mut current) = inner.in_flight.remove(&key) else {
            return;
        };
        current.timestamp = Instant::now();
        current.unschedulable_plugins = info.unschedulable_plugins;
        let updated = inner.updated_in_flight.remove(&key);
        let missed_event = inner.event_since(info.cycle, &current.unschedulable_plugins);
        if unschedulable && !updated && !missed_event {
            inner.unschedulable.insert(key, current);
        } else {
            inner.backoff.insert(key, current);
        }
        inner.prune_events();
    }

    /// The pod's attempt ended (bound, or given up on).
    pub fn done(&self, pod: &Pod) {
        let key = pod_key(pod);
        let mut inner = self.lock();
        inner.in_flight.remove(&key);
        inner.updated_in_flight.remove(&key);
        inner.prune_events();
    }

    /// A cluster event (upstream's `MoveAllToActiveOrBackoffQueue` with queueing hints):
    /// every unschedulable pod rejected by a plugin that registered for the event goes to
    /// the backoff queue if still backing off, else to the active queue; pods in flight
    /// remember it for when their attempt fails.
    pub fn move_all_to_active_or_backoff(&self, event: ClusterEvent) {
        let mut inner = self.lock();
        if !inner.unschedulable.is_empty() {
            let keys: Vec<String> = inner
                .unschedulable
                .iter()
                .filter(|(_, i)| worth_requeuing(&i.unschedulable_plugins, &event))
                .map(|(k, _)| k.clone())
                .collect();
            let pods = keys
                .into_iter()
                .filter_map(|k| inner.unschedulable.remove(&k).map(|i| (k, i)))
                .collect();
            self.requeue(&mut inner, pods);
        }
        if !inner.in_flight.is_empty() {
            let cycle = inner.scheduling_cycle;
            inner.in_flight_events.push_back((cycle, event));
            inner.prune_events();
        }
    }

    fn requeue(&self, inner: &mut Inner, pods: Vec<(String, QueuedPodInfo)>) {
        let now = Instant::now();
        for (key, info) in pods {
            if now < self.backoff_expiry(&info) {
                inner.backoff.insert(key, info);
            } else {
                self.to_active_or_gated(inner, key, info);
            }
        }
    }

    /// Moves pods whose backoff ended to the active queue, and pods unschedulable for longer
    /// than five minutes back into play (upstream runs these every second and 30 seconds).
    pub fn flush(&self) {
        let now = Instant::now();
        let mut inner = self.lock();
        let done: Vec<String> = inner
            .backoff
            .iter()
            .filter(|(_, i)| self.backoff_expiry(i) <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in done {
            if let Some(info) = inner.backoff.remove(&key) {
                self.to_active_or_gated(&mut inner, key, info);
            }
        }
        let stale: Vec<String> = inner
            .unschedulable
            .iter()
            .filter(|(_, i)| {
                now.duration_since(i.timestamp) > POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION
            })
            .map(|(k, _)| k.clone())
            .collect();
        let pods = stale
            .into_iter()
            .filter_map(|k| inner.unschedulable.remove(&k).map(|i| (k, i)))
            .collect();
        self.requeue(&mut inner, pods);
    }

    /// How many pods each part holds.
    pub fn sizes(&self) -> QueueSizes {
        let inner = self.lock();
        QueueSizes {
            active: inner.active.len(),
            backoff: inner.backoff.len(),
            unschedulable: inner.unschedulable.len() + inner.gated.len(),
            gated: inner.gated.len(),
        }
    }

    /// Wakes `pop` callers with None.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_event::{ActionType, EventResource};
    use crate::framework::PreEnqueuePlugin;
    use crate::plugins::scheduling_gates::SchedulingGates;
    use crate::plugins::testing::pod;
    use k8s_openapi::api::core::v1::PodSchedulingGate;

    fn node_add() -> ClusterEvent {
        ClusterEvent::new(EventResource::Node, ActionType::ADD)
    }

    fn queue() -> SchedulingQueue {
        SchedulingQueue::new(Box::new(|p| SchedulingGates.pre_enqueue(p)))
    }

    fn with_priority(name: &str, prio: i32) -> Arc<Pod> {
        let mut p = pod(name, &[]);
        p.spec.as_mut().unwrap().priority = Some(prio);
        Arc::new(p)
    }

    async fn pop_name(q: &SchedulingQueue) -> String {
        let info = tokio::time::timeout(Duration::from_secs(1), q.pop())
            .await
            .expect("a pod is ready: the test queued one")
            .expect("queue open");
        info.pod.metadata.name.clone().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn pods_pop_by_priority_then_arrival() {
        let q = queue();
        q.add(with_priority("low", 1));
        q.add(with_priority("high-first", 10));
        q.add(with_priority("high-second", 10));
        assert_eq!(pop_name(&q).await, "high-first");
        assert_eq!(pop_name(&q).await, "high-second");
        assert_eq!(pop_name(&q).await, "low");
    }

    #[tokio::test(start_paused = true)]
    async fn a_gated_pod_waits_until_its_gates_are_gone() {
        let q = queue();
        let mut gated = pod("gated", &[]);
        gated.spec.as_mut().unwrap().scheduling_gates =
            Some(vec![PodSchedulingGate { name: "g".into() }]);
        q.add(Arc::new(gated.clone()));
        assert_eq!(q.sizes().gated, 1);
        assert!(
            tokio::time::timeout(Duration::from_secs(1), q.pop())
                .await
                .is_err()
        );
        let mut open = gated.clone();
        open.spec.as_mut().unwrap().scheduling_gates = None;
        q.update(&gated, Arc::new(open));
        assert_eq!(pop_name(&q).await, "gated");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unschedulable_pod_returns_on_a_node_event_after_its_backoff() {
        let q = queue();
        q.add(with_priority("p", 0));
        let info = q.pop().await.unwrap();
        q.add_unschedulable(info, true);
        assert_eq!(q.sizes().unschedulable, 1);
        q.move_all_to_active_or_backoff(node_add());
        assert_eq!(q.sizes().backoff, 1, "still within its 1 s backoff");
        tokio::time::advance(Duration::from_millis(1001)).await;
        q.flush();
        assert_eq!(pop_name(&q).await, "p");
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_during_the_attempt_sends_the_pod_to_backoff() {
        let q = queue();
        q.add(with_priority("p", 0));
        let info = q.pop().await.unwrap();
        q.move_all_to_active_or_backoff(node_add());
        q.add_unschedulable(info, true);
        assert_eq!(q.sizes().backoff, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn only_events_its_rejecting_plugins_registered_for_move_a_pod() {
        let q = queue();
        q.add(with_priority("p", 0));
        let mut info = q.pop().await.unwrap();
        info.unschedulable_plugins.insert("VolumeBinding");
        q.add_unschedulable(info, true);
        q.move_all_to_active_or_backoff(ClusterEvent::new(
            EventResource::AssignedPod,
            ActionType::DELETE,
        ));
        assert_eq!(q.sizes().unschedulable, 1, "a pod deletion frees no claim");
        q.move_all_to_active_or_backoff(ClusterEvent::new(
            EventResource::PersistentVolumeClaim,
            ActionType::ADD,
        ));
        assert_eq!(q.sizes().backoff, 1, "a new claim may be the missing one");
    }

    #[tokio::test(start_paused = true)]
    async fn an_irrelevant_event_during_the_attempt_leaves_the_pod_unschedulable() {
        let q = queue();
        q.add(with_priority("p", 0));
        let mut info = q.pop().await.unwrap();
        q.move_all_to_active_or_backoff(ClusterEvent::new(
            EventResource::StorageClass,
            ActionType::ADD,
        ));
        info.unschedulable_plugins.insert("NodeResourcesFit");
        q.add_unschedulable(info, true);
        assert_eq!(q.sizes().unschedulable, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn unschedulable_pods_are_flushed_after_five_minutes() {
        let q = queue();
        q.add(with_priority("p", 0));
        let info = q.pop().await.unwrap();
        q.add_unschedulable(info, true);
        tokio::time::advance(Duration::from_secs(299)).await;
        q.flush();
        assert_eq!(q.sizes().unschedulable, 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        q.flush();
        assert_eq!(pop_name(&q).await, "p");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pod_deleted_during_its_attempt_is_dropped() {
        let q = queue();
        let p = with_priority("p", 0);
        q.add(p.clone());
        let info = q.pop().await.unwrap();
        q.delete(&p);
        q.add_unschedulable(info, true);
        assert_eq!(q.sizes(), QueueSizes::default());
    }

    #[test]
    fn backoff_doubles_from_one_to_ten_seconds() {
        let q = queue();
        let secs: Vec<u64> = (1..=6).map(|a| q.backoff_duration(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    }
}
