//! The per-zone tainting queue, as upstream's `RateLimitedTimedQueue`: nodes waiting for their
//! `NoExecute` taint, handed out no faster than a token bucket (burst 1) allows. A node stays
//! remembered after it was handed out, so it is not queued again until [`TaintQueue::remove`]
//! (it became Ready). Pure: every call takes the current instant.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket with a burst of one; a rate of zero (or less) never accepts.
#[derive(Debug)]
pub struct TokenBucket {
    qps: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilling at `qps` tokens per second.
    pub fn new(qps: f64, now: Instant) -> Self {
        TokenBucket {
            qps,
            tokens: 1.0,
            last: now,
        }
    }

    /// The refill rate.
    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// Takes a token if one is there.
    pub fn try_accept(&mut self, now: Instant) -> bool {
        if self.qps <= 0.0 {
            return false;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(1.0);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One zone's queue of node names.
#[derive(Debug)]
pub struct TaintQueue {
    /// (process at, insertion order, node name), earliest first.
    queue: BTreeSet<(Instant, u64, String)>,
    /// Every node added and not removed since (handed out or still waiting).
    known: HashSet<String>,
    seq: u64,
    limiter: TokenBucket,
}

impl TaintQueue {
    /// An empty queue handing out `qps` nodes per second.
    pub fn new(qps: f64, now: Instant) -> Self {
        TaintQueue {
            queue: BTreeSet::new(),
            known: HashSet::new(),
            seq: 0,
            limiter: TokenBucket::new(qps, now),
        }
    }

    /// Queues `node` for now unless it is already known; returns whether it was added.
    pub fn add(&mut self, node: &str, now: Instant) -> bool {
        if !self.known.insert(node.to_string()) {
            return false;
        }
        self.push(node, now);
        true
    }

    fn push(&mut self, node: &str, at: Instant) {
        self.seq += 1;
        self.queue.insert((at, self.seq, node.to_string()));
    }

    /// Forgets `node` (queued or handed out); returns whether it was known.
    pub fn remove(&mut self, node: &str) -> bool {
        self.queue.retain(|(_, _, n)| n != node);
        self.known.remove(node)
    }

    /// The next node due by `now` if the rate allows one more.
    pub fn pop_due(&mut self, now: Instant) -> Option<String> {
        let first = self.queue.first()?;
        if first.0 > now || !self.limiter.try_accept(now) {
            return None;
        }
        self.queue.pop_first().map(|(_, _, n)| n)
    }

    /// Puts back a node whose tainting failed, due again after `wait`.
    pub fn retry(&mut self, node: &str, now: Instant, wait: Duration) {
        if self.known.contains(node) {
            self.push(node, now + wait);
        }
    }

    /// Changes the rate (upstream's `SwapLimiter`); a fresh bucket starts empty when the old
    /// one was, so swapping is no way around the limit.
    pub fn swap_limiter(&mut self, qps: f64, now: Instant) {
        if (self.limiter.qps() - qps).abs() < f64::EPSILON {
            return;
        }
        let mut fresh = TokenBucket::new(qps, now);
        if !self.limiter.try_accept(now) {
            fresh.try_accept(now);
        }
        self.limiter = fresh;
    }

    /// Nodes waiting to be handed out.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no node is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_node_goes_at_once_and_the_next_after_one_period() {
        let t0 = Instant::now();
        let mut q = TaintQueue::new(0.1, t0);
        assert!(q.add("a", t0));
        assert!(q.add("b", t0));
        assert_eq!(q.pop_due(t0).as_deref(), Some("a"));
        assert_eq!(q.pop_due(t0 + Duration::from_secs(5)), None);
        assert_eq!(
            q.pop_due(t0 + Duration::from_secs(10)).as_deref(),
            Some("b")
        );
        assert!(q.is_empty());
    }

    #[test]
    fn a_handed_out_node_is_not_queued_again_until_removed() {
        let t0 = Instant::now();
        let mut q = TaintQueue::new(10.0, t0);
        q.add("a", t0);
        assert_eq!(q.pop_due(t0).as_deref(), Some("a"));
        assert!(!q.add("a", t0), "still remembered");
        assert!(q.remove("a"));
        assert!(q.add("a", t0));
    }

    #[test]
    fn a_zero_rate_hands_out_nothing() {
        let t0 = Instant::now();
        let mut q = TaintQueue::new(0.1, t0);
        q.swap_limiter(0.0, t0);
        q.add("a", t0);
        assert_eq!(q.pop_due(t0 + Duration::from_secs(100)), None);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_failed_node_is_retried_after_its_wait() {
        let t0 = Instant::now();
        let mut q = TaintQueue::new(100.0, t0);
        q.add("a", t0);
        assert_eq!(q.pop_due(t0).as_deref(), Some("a"));
        q.retry("a", t0, Duration::from_millis(50));
        assert_eq!(q.pop_due(t0 + Duration::from_millis(20)), None);
        assert_eq!(
            q.pop_due(t0 + Duration::from_millis(60)).as_deref(),
            Some("a")
        );
    }
}
