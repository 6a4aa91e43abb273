//! A [`Backend`] wrapper that records the latency of every store call in the API server's
//! metrics (`etcd_request_duration_seconds{operation}`), whatever the backend.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use ferrokube_storage::{Backend, KeyValue, ListResult, Revision, StorageError, WatchStream};

use crate::metrics::Metrics;

/// The instrumented backend.
pub struct Instrumented {
    inner: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
}

impl Instrumented {
    /// Wraps `inner`, recording into `metrics`.
    pub fn wrap(inner: Arc<dyn Backend>, metrics: Arc<Metrics>) -> Arc<dyn Backend> {
        Arc::new(Instrumented { inner, metrics })
    }
}

macro_rules! timed {
    ($self:ident, $op:literal, $call:expr) => {{
        let start = Instant::now();
        let out = $call.await;
        $self.metrics.observe_storage($op, start.elapsed());
        out
    }};
}

#[async_trait]
impl Backend for Instrumented {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StorageError> {
        timed!(self, "get", self.inner.get(key))
    }
    async fn list(&self, prefix: &str) -> Result<ListResult, StorageError> {
        timed!(self, "list", self.inner.list(prefix))
    }
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StorageError> {
        timed!(self, "create", self.inner.create(key, value))
    }
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StorageError> {
        timed!(self, "update", self.inner.update(key, value, expected))
    }
    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<KeyValue, StorageError> {
        timed!(self, "delete", self.inner.delete(key, expected))
    }
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StorageError> {
        self.inner.watch(prefix, after).await
    }
    async fn current_revision(&self) -> Result<Revision, StorageError> {
        timed!(self, "current_revision", self.inner.current_revision())
    }
    async fn compact(&self, revision: Revision) -> Result<(), StorageError> {
        timed!(self, "compact", self.inner.compact(revision))
    }
    async fn compacted_revision(&self) -> Result<Revision, StorageError> {
        self.inner.compacted_revision().await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}
