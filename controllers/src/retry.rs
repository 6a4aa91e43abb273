//! Per-item retries shared by the controllers: how many times in a row each key's sync
//! failed, and upstream's per-item exponential backoff (`ItemExponentialFailureRateLimiter`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The longest wait between retries (upstream's 1000 s cap).
pub const MAX_BACKOFF: Duration = Duration::from_secs(1000);

/// Upstream's default first retry delay (5 ms).
pub const DEFAULT_BASE: Duration = Duration::from_millis(5);

/// Consecutive failures per key.
#[derive(Debug, Default)]
pub struct Failures(Mutex<HashMap<String, u32>>);

impl Failures {
    /// Counts one more failure of `key`; returns how many in a row (1-based).
    pub fn record(&self, key: &str) -> u32 {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key.to_string()).or_default();
        *n += 1;
        *n
    }

    /// Forgets `key`'s failures after a successful sync.
    pub fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// The delay before retry `n` (1-based): `base` doubling, capped at [`MAX_BACKOFF`].
pub fn backoff(n: u32, base: Duration) -> Duration {
    base.saturating_mul(1u32 << n.saturating_sub(1).min(30))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_1000_seconds() {
        assert_eq!(backoff(1, DEFAULT_BASE), Duration::from_millis(5));
        assert_eq!(backoff(2, DEFAULT_BASE), Duration::from_millis(10));
        assert_eq!(backoff(5, DEFAULT_BASE), Duration::from_millis(80));
        assert_eq!(backoff(40, DEFAULT_BASE), Duration::from_secs(1000));
    }

    #[test]
    fn failures_count_in_a_row_until_forgotten() {
        let f = Failures::default();
        assert_eq!((f.record("a"), f.record("a"), f.record("b")), (1, 2, 1));
        f.forget("a");
        assert_eq!(f.record("a"), 1);
    }
}
