//! The controller manager's Prometheus metrics, named as upstream's workqueue metrics:
//! `workqueue_depth`, `workqueue_adds_total`, `workqueue_retries_total` and
//! `workqueue_work_duration_seconds` (one reconcile), each labelled with the controller name.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `name` label: which controller's queue.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    /// The controller name, e.g. `replicaset`.
    pub name: String,
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-8, 10.0, 10))
}

/// Metric families shared by every controller.
#[derive(Clone)]
pub struct Metrics {
    depth: Family<QueueLabel, Gauge>,
    adds: Family<QueueLabel, Counter>,
    retries: Family<QueueLabel, Counter>,
    work_duration: Family<QueueLabel, Histogram, fn() -> Histogram>,
}

impl Metrics {
    /// Registers the families in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics {
            depth: Family::default(),
            adds: Family::default(),
            retries: Family::default(),
            work_duration: Family::new_with_constructor(histogram),
        };
        registry.register(
            "workqueue_depth",
            "Current depth of the work queue",
            m.depth.clone(),
        );
        registry.register(
            "workqueue_adds",
            "Total number of adds handled by the work queue",
            m.adds.clone(),
        );
        registry.register(
            "workqueue_retries",
            "Total number of retries handled by the work queue",
            m.retries.clone(),
        );
        registry.register(
            "workqueue_work_duration_seconds",
            "How long processing an item from the work queue takes, in seconds",
            m.work_duration.clone(),
        );
        m
    }

    /// The handle one controller's queue reports through.
    pub fn queue(&self, name: &str) -> QueueMetrics {
        QueueMetrics {
            label: QueueLabel { name: name.into() },
            metrics: self.clone(),
            pending: Arc::default(),
        }
    }
}

/// One controller's queue metrics; tracks the distinct keys waiting to be reconciled.
#[derive(Clone)]
pub struct QueueMetrics {
    label: QueueLabel,
    metrics: Metrics,
    pending: Arc<Mutex<HashSet<String>>>,
}

impl QueueMetrics {
    fn set_depth(&self, pending: &HashSet<String>) {
        self.metrics
            .depth
            .get_or_create(&self.label)
            .set(pending.len() as i64);
    }

    /// A key was queued.
    pub fn added(&self, key: &str) {
        self.metrics.adds.get_or_create(&self.label).inc();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.insert(key.to_string());
        self.set_depth(&pending);
    }

    /// A key left the queue to be reconciled.
    pub fn started(&self, key: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.remove(key);
        self.set_depth(&pending);
    }

    /// A failed key was requeued with backoff.
    pub fn retried(&self) {
        self.metrics.retries.get_or_create(&self.label).inc();
    }

    /// A reconcile finished after `took`.
    pub fn observe(&self, took: Duration) {
        self.metrics
            .work_duration
            .get_or_create(&self.label)
            .observe(took.as_secs_f64());
    }
}
