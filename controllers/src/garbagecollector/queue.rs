//! A work queue of object UIDs with client-go's semantics: an item is queued at most once, an
//! item added while it is being processed is queued again when that processing is done, and
//! failed items come back after a per-item exponential backoff.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::metrics::QueueMetrics;

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    queued: HashSet<String>,
    processing: HashSet<String>,
    dirty: HashSet<String>,
    failures: HashMap<String, u32>,
}

/// A deduplicating queue of UIDs shared by the collector's workers.
#[derive(Clone)]
pub struct WorkQueue {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    metrics: QueueMetrics,
}

impl WorkQueue {
    /// An empty queue reporting to `metrics`.
    pub fn new(metrics: QueueMetrics) -> Self {
        WorkQueue {
            state: Arc::default(),
            notify: Arc::new(Notify::new()),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `uid` unless it is already waiting.
    pub fn add(&self, uid: &str) {
        let mut s = self.lock();
        if s.queued.contains(uid) {
            return;
        }
        self.metrics.added(uid);
        if s.processing.contains(uid) {
            s.dirty.insert(uid.to_string());
            return;
        }
        s.queued.insert(uid.to_string());
        s.queue.push_back(uid.to_string());
        drop(s);
        self.notify.notify_one();
    }

    /// Queues `uid` again after its backoff (5 ms doubling per failure, capped at 1000 s).
    pub fn retry(&self, uid: &str) {
        let n = {
            let mut s = self.lock();
            let n = s.failures.entry(uid.to_string()).or_default();
            *n += 1;
            *n
        };
        self.metrics.retried();
        let delay = Duration::from_millis(5)
            .saturating_mul(1u32 << (n - 1).min(20))
            .min(Duration::from_secs(1000));
        let queue = self.clone();
        let uid = uid.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(&uid);
        });
    }

    /// Clears `uid`'s failure count after a successful attempt.
    pub fn forget(&self, uid: &str) {
        self.lock().failures.remove(uid);
    }

    /// The next UID to process; pair it with [`WorkQueue::done`].
    pub async fn next(&self) -> String {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.lock();
                if let Some(uid) = s.queue.pop_front() {
                    s.queued.remove(&uid);
                    s.processing.insert(uid.clone());
                    self.metrics.started(&uid);
                    if !s.queue.is_empty() {
                        self.notify.notify_one();
                    }
                    return uid;
                }
            }
            notified.await;
        }
    }

    /// Marks `uid` processed; it is queued again if it was added meanwhile.
    pub fn done(&self, uid: &str) {
        let mut s = self.lock();
        s.processing.remove(uid);
        if s.dirty.remove(uid) && s.queued.insert(uid.to_string()) {
            s.queue.push_back(uid.to_string());
            drop(s);
            self.notify.notify_one();
        }
    }
}
