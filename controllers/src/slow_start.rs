//! Slow-start batching, as upstream's `slowStartBatch`: create `count` objects in batches of
//! 1, 2, 4, ... so that a systematic failure (quota, admission) costs one request, not
//! hundreds. The arithmetic is pure; [`run`] drives it.

use std::future::Future;

/// Upstream's `SlowStartInitialBatchSize`.
pub const INITIAL_BATCH_SIZE: usize = 1;

/// The batch sizes used to create `count` objects starting at `initial`: each batch doubles
/// the previous one and the last one takes what remains.
pub fn batch_sizes(count: usize, initial: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut remaining = count;
    let mut batch = remaining.min(initial);
    while batch > 0 {
        sizes.push(batch);
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    sizes
}

/// Calls `f` `count` times in slow-start batches, each batch concurrently; stops after the
/// first batch with a failure. Returns how many calls succeeded and the first error seen.
pub async fn run<F, Fut, E>(count: usize, initial: usize, f: F) -> (usize, Option<E>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut successes = 0;
    for size in batch_sizes(count, initial) {
        let results = futures::future::join_all((0..size).map(|_| f())).await;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(()) => successes += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if first_error.is_some() {
            return (successes, first_error);
        }
    }
    (successes, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_double_until_the_remainder() {
        assert_eq!(batch_sizes(10, 1), vec![1, 2, 4, 3]);
        assert_eq!(batch_sizes(7, 1), vec![1, 2, 4]);
        assert_eq!(batch_sizes(1, 1), vec![1]);
        assert_eq!(batch_sizes(5, 2), vec![2, 3]);
    }

    #[test]
    fn nothing_to_create_means_no_batches() {
        assert!(batch_sizes(0, 1).is_empty());
    }

    #[test]
    fn the_batches_always_add_up_to_the_count() {
        for n in 0..600 {
            assert_eq!(batch_sizes(n, 1).iter().sum::<usize>(), n);
        }
        assert_eq!(batch_sizes(500, 1).len(), 9);
    }

    #[tokio::test]
    async fn a_failing_batch_stops_the_next_ones() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = AtomicUsize::new(0);
        let (ok, err) = run(10, 1, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { if n == 2 { Err("quota") } else { Ok(()) } }
        })
        .await;
        // Batches 1 and 2 ran (3 calls); the third call failed, so the batch of 4 never ran.
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!((ok, err), (2, Some("quota")));
    }

    #[tokio::test]
    async fn all_successes_are_counted() {
        let (ok, err) = run(7, 1, || async { Ok::<(), ()>(()) }).await;
        assert_eq!((ok, err), (7, None));
    }
}
