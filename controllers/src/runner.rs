//! The work-queue bookkeeping every controller shares, so each controller's `run`,
//! `reconcile` and `error_policy` keep only what is its own.
//!
//! Entry points: [`Workers::run`] drives a kube-runtime `Controller` over the keys a
//! controller's router sends, until shutdown; [`sync`] wraps one reconcile (queue metrics,
//! timing, span, forgetting past failures); [`Retry::requeue`] is the error policy (count the
//! failure, log it, back off), and [`Retry::failed`] the same for a controller with its own
//! queue.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tracing::{Instrument, Level, Span, debug, event};

use crate::metrics::QueueMetrics;
use crate::retry::{self, Failures};

/// How one controller's queue is worked: its name in logs, how many keys sync at once, and
/// the signal that stops it.
#[derive(Clone, Copy)]
pub struct Workers<'a> {
    /// The controller's name as its log lines carry it (e.g. `"replicaset controller"`).
    pub controller: &'static str,
    /// How many keys sync in parallel (at least one).
    pub concurrency: u16,
    /// Turns true at shutdown; running syncs finish first.
    pub stop: &'a watch::Receiver<bool>,
}

impl<'a> Workers<'a> {
    /// `concurrency` workers of the controller named `controller`, until `stop` turns true.
    pub fn new(
        controller: &'static str,
        concurrency: u16,
        stop: &'a watch::Receiver<bool>,
    ) -> Self {
        Workers {
            controller,
            concurrency,
            stop,
        }
    }

    /// Syncs the keys that arrive on `keys` with `reconcile` (retrying failures as
    /// `error_policy` says) until [`Workers::stop`] turns true. Objects are read from `store`,
    /// which must have synced; a key whose object is gone from it is skipped.
    pub async fn run<K, Ctx, E, Rec, RecFut, Pol>(
        self,
        store: Store<K>,
        keys: mpsc::UnboundedReceiver<ObjectRef<K>>,
        reconcile: Rec,
        error_policy: Pol,
        ctx: Arc<Ctx>,
    ) where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
        Ctx: Send + Sync + 'static,
        E: std::error::Error + Send + Sync + 'static,
        Rec: FnMut(Arc<K>, Arc<Ctx>) -> RecFut,
        RecFut: Future<Output = Result<Action, E>> + Send + 'static,
        Pol: Fn(Arc<K>, &E, Arc<Ctx>) -> Action,
    {
        let mut stopped = self.stop.clone();
        let controller = self.controller;
        Controller::for_stream(futures::stream::pending(), store)
            .with_config(controller::Config::default().concurrency(self.concurrency))
            .reconcile_on(UnboundedReceiverStream::new(keys))
            .graceful_shutdown_on(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .run(reconcile, error_policy, ctx)
            .for_each(|r| {
                if let Err(e) = r {
                    debug!(error = %e, "{controller}");
                }
                futures::future::ready(())
            })
            .await;
    }
}

/// One sync of `key`: marks it taken off `queue`, runs `work` inside `span`, records how long
/// it took, and forgets the key's past `failures` when it succeeded.
pub async fn sync<T, E>(
    queue: &QueueMetrics,
    failures: &Failures,
    key: &str,
    span: Span,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    queue.started(key);
    let started = Instant::now();
    let result = work.instrument(span).await;
    queue.observe(started.elapsed());
    if result.is_ok() {
        failures.forget(key);
    }
    result
}

/// How a failed sync is logged and retried.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// What the key names, as the log line's field for it (e.g. `"replicaset"`).
    pub kind: &'static str,
    /// The level of the "sync failed" log line: WARN, or DEBUG where failures are routine.
    pub level: Level,
    /// The delay before retry `n` (1-based) of one key.
    pub backoff: fn(u32) -> Duration,
}

impl Retry {
    /// Upstream's default for a key naming a `kind`: a warning, then 5 ms doubling, capped at
    /// [`retry::MAX_BACKOFF`].
    pub fn warn(kind: &'static str) -> Self {
        Retry {
            kind,
            level: Level::WARN,
            backoff: |n| retry::backoff(n, retry::DEFAULT_BASE),
        }
    }

    /// The error policy: counts one more failure of `key`, logs `error`, counts the retry and
    /// the re-add in `queue`, and requeues the key after its per-item backoff.
    pub fn requeue(
        self,
        queue: &QueueMetrics,
        failures: &Failures,
        key: &str,
        error: &dyn Display,
    ) -> Action {
        let wait = self.failed(queue, failures, key, error);
        queue.added(key);
        Action::requeue(wait)
    }

    /// A failed sync of `key` for a controller with its own queue: counts one more failure,
    /// logs `error`, counts the retry in `queue`, and returns how long to wait before re-adding
    /// the key.
    pub fn failed(
        self,
        queue: &QueueMetrics,
        failures: &Failures,
        key: &str,
        error: &dyn Display,
    ) -> Duration {
        let n = failures.record(key);
        let kind = self.kind;
        // `event!` wants a constant level, hence one arm per level used.
        if self.level == Level::WARN {
            event!(Level::WARN, kind, key = %key, error = %error, "sync failed; requeueing");
        } else {
            event!(Level::DEBUG, kind, key = %key, error = %error, "sync failed; requeueing");
        }
        queue.retried();
        (self.backoff)(n)
    }
}
