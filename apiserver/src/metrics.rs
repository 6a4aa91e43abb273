//! Prometheus metrics: requests by verb, resource and code, request latency, objects stored.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::objects::Objects;

/// Latency bucket bounds in seconds (upstream's apiserver_request_duration_seconds subset).
const BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// The API server's metrics registry.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(String, String, u16), u64>>,
    latency: Mutex<HashMap<(String, String), Histogram>>,
    storage: Mutex<HashMap<&'static str, Histogram>>,
    watches: AtomicI64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"{b}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one finished request.
    pub fn observe(&self, verb: &str, resource: &str, code: u16, took: Duration) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((verb.into(), resource.into(), code))
            .or_default() += 1;
        if verb == "WATCH" {
            return;
        }
        let mut lat = self.latency.lock().expect("metrics lock");
        lat.entry((verb.into(), resource.into()))
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// Records one store call (`create`, `update`, `delete`, `get`, `list`, ...).
    pub fn observe_storage(&self, operation: &'static str, took: Duration) {
        let mut st = self.storage.lock().expect("metrics lock");
        st.entry(operation).or_default().observe(took.as_secs_f64());
    }

    /// A watch started (+1) or ended (-1).
    pub fn watch_delta(&self, delta: i64) {
        self.watches.fetch_add(delta, Ordering::Relaxed);
    }

    /// The text exposition format.
    pub fn render(&self, objects: &Objects) -> String {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, resource and HTTP response code.\n# TYPE apiserver_request_total counter\n");
        let mut reqs: Vec<_> = self
            .requests
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        reqs.sort();
        for ((verb, resource, code), n) in reqs {
            let _ = writeln!(
                out,
                "apiserver_request_total{{code=\"{code}\",resource=\"{resource}\",verb=\"{verb}\"}} {n}"
            );
        }
        out.push_str("# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb and resource.\n# TYPE apiserver_request_duration_seconds histogram\n");
        let lat = self.latency.lock().expect("metrics lock");
        let mut keys: Vec<_> = lat.keys().cloned().collect();
        keys.sort();
        for key in keys {
            let (verb, resource) = &key;
            lat[&key].render(
                &mut out,
                "apiserver_request_duration_seconds",
                &format!("resource=\"{resource}\",verb=\"{verb}\""),
            );
        }
        drop(lat);
        out.push_str("# HELP apiserver_longrunning_requests Gauge of all active long-running apiserver requests.\n# TYPE apiserver_longrunning_requests gauge\n");
        let _ = writeln!(
            out,
            "apiserver_longrunning_requests{{verb=\"WATCH\"}} {}",
            self.watches.load(Ordering::Relaxed)
        );
        out.push_str("# HELP etcd_request_duration_seconds Store request latency in seconds for each operation.\n# TYPE etcd_request_duration_seconds histogram\n");
        let st = self.storage.lock().expect("metrics lock");
        let mut ops: Vec<_> = st.keys().copied().collect();
        ops.sort();
        for op in ops {
            st[op].render(
                &mut out,
                "etcd_request_duration_seconds",
                &format!("operation=\"{op}\""),
            );
        }
        drop(st);
        out.push_str("# HELP apiserver_storage_objects Number of stored objects at the time of last check split by kind.\n# TYPE apiserver_storage_objects gauge\n");
        for r in objects.registry.all() {
            let name = if r.group.is_empty() {
                r.plural.to_string()
            } else {
                format!("{}.{}", r.plural, r.group)
            };
            let _ = writeln!(
                out,
                "apiserver_storage_objects{{resource=\"{name}\"}} {}",
                objects.cache.count(r)
            );
        }
        let _ = writeln!(
            out,
            "# HELP etcd_current_revision The current store revision.\n# TYPE etcd_current_revision gauge\netcd_current_revision {}",
            objects.cache.revision()
        );
        out
    }
}
