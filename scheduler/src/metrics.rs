//! The scheduler's Prometheus metrics, named as upstream's: `scheduler_schedule_attempts_total`
//! by result and profile, `scheduler_pending_pods` by queue, and
//! `scheduler_scheduling_attempt_duration_seconds`, and
//! `scheduler_pod_scheduling_sli_duration_seconds` (first queued to bound, by attempts),
//! `scheduler_framework_extension_point_duration_seconds` (every cycle) and
//! `scheduler_plugin_execution_duration_seconds` (in a sample of the cycles, as upstream's
//! 10%).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::queue::QueueSizes;

/// `result` (`scheduled`, `unschedulable`, `error`) and `profile`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// How the attempt ended.
    pub result: String,
    /// The scheduler name.
    pub profile: String,
}

/// `queue` (`active`, `backoff`, `unschedulable`, `gated`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    /// The part of the queue.
    pub queue: String,
}

/// The share of scheduling cycles whose plugin calls are timed (upstream: 10%).
pub const PLUGIN_METRICS_SAMPLE_PERCENT: u32 = 10;

/// `extension_point`, `status` and `profile`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExtensionPointLabels {
    /// The extension point (`PreFilter`, `Filter`, ...).
    pub extension_point: &'static str,
    /// The status code (`Success`, `Unschedulable`, ...).
    pub status: &'static str,
    /// The scheduler name.
    pub profile: &'static str,
}

/// `plugin`, `extension_point` and `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// The plugin.
    pub plugin: &'static str,
    /// The extension point.
    pub extension_point: &'static str,
    /// The status code.
    pub status: &'static str,
}

fn extension_point_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 12))
}

fn plugin_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00001, 1.5, 20))
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The scheduler's metric families.
#[derive(Clone)]
pub struct Metrics {
    attempts: Family<AttemptLabels, Counter>,
    pending: Family<QueueLabel, Gauge>,
    duration: Family<AttemptLabels, Histogram, fn() -> Histogram>,
    sli: Family<SliLabels, Histogram, fn() -> Histogram>,
    extension_point: Family<ExtensionPointLabels, Histogram, fn() -> Histogram>,
    plugin: Family<PluginLabels, Histogram, fn() -> Histogram>,
}

/// `attempts` (how many attempts the pod needed, capped as upstream's label values).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SliLabels {
    /// Attempts until the pod was scheduled.
    pub attempts: String,
}

fn sli_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 20))
}

impl Metrics {
    /// Registers the families in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics {
            attempts: Family::default(),
            pending: Family::default(),
            duration: Family::new_with_constructor(histogram),
            sli: Family::new_with_constructor(sli_histogram),
            extension_point: Family::new_with_constructor(extension_point_histogram),
            plugin: Family::new_with_constructor(plugin_histogram),
        };
        let sub = registry.sub_registry_with_prefix("scheduler");
        sub.register(
            "schedule_attempts",
            "Number of attempts to schedule pods, by the result",
            m.attempts.clone(),
        );
        sub.register(
            "pending_pods",
            "Number of pending pods, by the queue type",
            m.pending.clone(),
        );
        sub.register(
            "scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
            m.duration.clone(),
        );
        sub.register(
            "pod_scheduling_sli_duration_seconds",
            "E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue until it is bound",
            m.sli.clone(),
        );
        sub.register(
            "framework_extension_point_duration_seconds",
            "Latency for running all plugins of a specific extension point",
            m.extension_point.clone(),
        );
        sub.register(
            "plugin_execution_duration_seconds",
            "Duration for running a plugin at a specific extension point",
            m.plugin.clone(),
        );
        m
    }

    /// Records how long one extension point's plugins took together.
    pub fn extension_point(
        &self,
        extension_point: &'static str,
        status: &'static str,
        profile: &'static str,
        took: Duration,
    ) {
        self.extension_point
            .get_or_create(&ExtensionPointLabels {
                extension_point,
                status,
                profile,
            })
            .observe(took.as_secs_f64());
    }

    /// Records how long one plugin call took (in sampled cycles only).
    pub fn plugin(
        &self,
        plugin: &'static str,
        extension_point: &'static str,
        status: &'static str,
        took: Duration,
    ) {
        self.plugin
            .get_or_create(&PluginLabels {
                plugin,
                extension_point,
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// The `scheduler_plugin_execution_duration_seconds` series of one plugin, extension
    /// point and status, to observe many calls without looking the series up for each.
    pub fn plugin_series(
        &self,
        plugin: &'static str,
        extension_point: &'static str,
        status: &'static str,
    ) -> Histogram {
        self.plugin
            .get_or_create(&PluginLabels {
                plugin,
                extension_point,
                status,
            })
            .clone()
    }

    /// Records a scheduled pod's end-to-end latency and how many attempts it took.
    pub fn pod_scheduled(&self, attempts: u32, since_first_queued: Duration) {
        let attempts = if attempts >= 16 {
            "16+".to_string()
        } else {
            attempts.to_string()
        };
        self.sli
            .get_or_create(&SliLabels { attempts })
            .observe(since_first_queued.as_secs_f64());
    }

    /// Counts one attempt and its duration.
    pub fn attempt(&self, result: &str, profile: &str, took: Duration) {
        let labels = AttemptLabels {
            result: result.into(),
            profile: profile.into(),
        };
        self.attempts.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Publishes the queue sizes.
    pub fn queue_sizes(&self, sizes: QueueSizes) {
        for (queue, n) in [
            ("active", sizes.active),
            ("backoff", sizes.backoff),
            ("unschedulable", sizes.unschedulable),
            ("gated", sizes.gated),
        ] {
            self.pending
                .get_or_create(&QueueLabel {
                    queue: queue.into(),
                })
                .set(n as i64);
        }
    }
}
