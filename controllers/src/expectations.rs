//! Controller expectations, as upstream's `UIDTrackingControllerExpectations`: after a
//! controller asks for N creations (or the deletion of given pods) it does not act on that
//! controller's key again until its cache has observed them, or until they expire (5 min), so
//! a stale cache never causes duplicate creates or deletes.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Upstream's `ExpectationsTimeout`.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Record {
    add: i64,
    del: i64,
    /// Keys of the pods whose deletion is awaited.
    deleting: HashSet<String>,
    set_at: Instant,
}

/// Outstanding creations and deletions per controller key (`namespace/name`).
#[derive(Debug)]
pub struct Expectations {
    records: Mutex<HashMap<String, Record>>,
    timeout: Duration,
}

impl Default for Expectations {
    fn default() -> Self {
        Self::new(EXPECTATIONS_TIMEOUT)
    }
}

impl Expectations {
    /// Expectations that expire after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Expectations {
            records: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the controller may act on `key`: nothing outstanding, or the record expired.
    pub fn satisfied(&self, key: &str) -> bool {
        match self.records().get(key) {
            None => true,
            Some(r) => (r.add <= 0 && r.del <= 0) || r.set_at.elapsed() > self.timeout,
        }
    }

    /// Records that `count` creations are in flight for `key` (replacing any old record).
    pub fn expect_creations(&self, key: &str, count: usize) {
        self.records().insert(
            key.to_string(),
            Record {
                add: count as i64,
                del: 0,
                deleting: HashSet::new(),
                set_at: Instant::now(),
            },
        );
    }

    /// Records that the pods with `pod_keys` are being deleted for `key`.
    pub fn expect_deletions(&self, key: &str, pod_keys: impl IntoIterator<Item = String>) {
        let deleting: HashSet<String> = pod_keys.into_iter().collect();
        self.records().insert(
            key.to_string(),
            Record {
                add: 0,
                del: deleting.len() as i64,
                deleting,
                set_at: Instant::now(),
            },
        );
    }

    /// The cache saw one of `key`'s pods appear (or a create was given up).
    pub fn creation_observed(&self, key: &str) {
        if let Some(r) = self.records().get_mut(key) {
            r.add -= 1;
        }
    }

    /// The cache saw the pod `pod_key` go (or start terminating); counted once per pod.
    pub fn deletion_observed(&self, key: &str, pod_key: &str) {
        if let Some(r) = self.records().get_mut(key)
            && r.deleting.remove(pod_key)
        {
            r.del -= 1;
        }
    }

    /// Forgets `key` (its object was deleted).
    pub fn delete(&self, key: &str) {
        self.records().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_without_expectations_is_satisfied() {
        assert!(Expectations::default().satisfied("ns/rs"));
    }

    #[test]
    fn creations_must_all_be_observed() {
        let e = Expectations::default();
        e.expect_creations("ns/rs", 2);
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(e.satisfied("ns/rs"));
    }

    #[test]
    fn a_deletion_counts_once_per_pod() {
        let e = Expectations::default();
        e.expect_deletions("ns/rs", ["ns/a".to_string(), "ns/b".to_string()]);
        e.deletion_observed("ns/rs", "ns/a");
        e.deletion_observed("ns/rs", "ns/a");
        e.deletion_observed("ns/rs", "ns/other");
        assert!(!e.satisfied("ns/rs"));
        e.deletion_observed("ns/rs", "ns/b");
        assert!(e.satisfied("ns/rs"));
    }

    #[tokio::test(start_paused = true)]
    async fn expectations_expire() {
        let e = Expectations::default();
        e.expect_creations("ns/rs", 1);
        tokio::time::advance(EXPECTATIONS_TIMEOUT + Duration::from_secs(1)).await;
        assert!(e.satisfied("ns/rs"));
    }
}
