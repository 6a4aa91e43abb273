//! The token bucket behind `--kube-api-qps` / `--kube-api-burst`, as client-go's
//! `flowcontrol.NewTokenBucketRateLimiter` (golang.org/x/time/rate): the bucket holds up to
//! `burst` tokens and refills at `qps` per second; each request takes one token, and when none
//! is left it reserves the next one and waits until it has accrued.

use std::time::{Duration, Instant};

/// A token bucket; pure arithmetic over the instants it is given.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    /// Tokens available at `last` (negative: reserved ahead of time).
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens (at least 1) refilling at `qps` per second, as of `now`.
    pub fn new(qps: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            qps,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token at `now` and returns how long the caller must wait before using it
    /// (zero when a token was in the bucket).
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        if now > self.last {
            self.last = now;
        }
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 || self.qps <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(-self.tokens / self.qps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_a_burst_through_at_once() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(20.0, 30, t0);
        for _ in 0..30 {
            assert_eq!(b.reserve(t0), Duration::ZERO);
        }
        assert_eq!(b.reserve(t0), Duration::from_millis(50));
        assert_eq!(b.reserve(t0), Duration::from_millis(100));
    }

    #[test]
    fn an_empty_bucket_refills_at_qps_up_to_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 5, t0);
        for _ in 0..5 {
            b.reserve(t0);
        }
        // 200 ms later two tokens have accrued.
        let t1 = t0 + Duration::from_millis(200);
        assert_eq!(b.reserve(t1), Duration::ZERO);
        assert_eq!(b.reserve(t1), Duration::ZERO);
        assert_eq!(b.reserve(t1), Duration::from_millis(100));
        // Much later the bucket is full again, never fuller.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(b.reserve(t2), Duration::ZERO);
        }
        assert!(b.reserve(t2) > Duration::ZERO);
    }

    #[test]
    fn a_steady_rate_of_n_requests_takes_n_minus_burst_over_qps_seconds() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(20.0, 30, t0);
        let last = (0..1000).map(|_| b.reserve(t0)).max().unwrap();
        // 970 requests beyond the burst at 20/s: the last may go after 48.5 s.
        assert_eq!(last, Duration::from_millis(48_500));
    }
}
