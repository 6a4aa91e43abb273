//! Shared fixtures: a backend of each kind with a key prefix of its own, and watch helpers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrokube_storage::testing::EtcdServer;
use ferrokube_storage::{
    Backend, EtcdBackend, Revision, SqliteBackend, StorageError, WatchEvent, WatchStream,
};
use futures::StreamExt;

/// How long a test waits for a watch event before failing.
pub const WATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A backend to test, the key prefix this test owns, and what keeps the store alive.
pub struct Fixture {
    pub backend: Arc<dyn Backend>,
    pub prefix: String,
    _dir: Option<tempfile::TempDir>,
    _etcd: Option<EtcdServer>,
}

impl Fixture {
    /// A key under this test's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// A key prefix no other test (in this or a concurrent test binary) uses.
pub fn unique_prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "/test/{}-{nanos}-{}/",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A fresh SQLite database in a temporary directory.
pub async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let backend = SqliteBackend::open(dir.path().join("store.db"))
        .await
        .expect("the sqlite database opens");
    Fixture {
        backend: Arc::new(backend),
        prefix: unique_prefix(),
        _dir: Some(dir),
        _etcd: None,
    }
}

/// The etcd server this test binary shares between its tests (killed when the binary exits).
pub fn shared_etcd() -> &'static EtcdServer {
    static SERVER: OnceLock<EtcdServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        EtcdServer::start().unwrap_or_else(|e| panic!("the etcd tests need etcd: {e}"))
    })
}

/// A client of the shared etcd, with a prefix of its own.
pub async fn etcd() -> Fixture {
    let server = shared_etcd();
    let backend = EtcdBackend::connect(&[server.endpoint().to_string()])
        .await
        .expect("etcd answers");
    Fixture {
        backend: Arc::new(backend),
        prefix: unique_prefix(),
        _dir: None,
        _etcd: None,
    }
}

/// A private etcd, for tests that change the whole store (compaction).
pub async fn private_etcd() -> Fixture {
    let server = EtcdServer::start().unwrap_or_else(|e| panic!("the etcd tests need etcd: {e}"));
    let backend = EtcdBackend::connect(&[server.endpoint().to_string()])
        .await
        .expect("etcd answers");
    Fixture {
        backend: Arc::new(backend),
        prefix: unique_prefix(),
        _dir: None,
        _etcd: Some(server),
    }
}

/// The next event of a watch, failing the test on an error, the end, or a timeout.
pub async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    tokio::time::timeout(WATCH_TIMEOUT, stream.next())
        .await
        .expect("a watch event arrives within the timeout")
        .expect("the watch stream is still open")
        .expect("the watch yields an event, not an error")
}

/// Asserts that no event arrives within a short while.
pub async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
        panic!("expected no watch event, got {item:?}");
    }
}

/// The error a watch fails with: either at once or as the stream's first item.
pub async fn watch_error(backend: &dyn Backend, prefix: &str, after: Revision) -> StorageError {
    match backend.watch(prefix, after).await {
        Err(error) => error,
        Ok(mut stream) => tokio::time::timeout(WATCH_TIMEOUT, stream.next())
            .await
            .expect("the watch fails within the timeout")
            .expect("the watch yields its error before ending")
            .expect_err("the watch fails instead of yielding an event"),
    }
}
