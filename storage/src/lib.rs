//! The revisioned key-value store behind the Ferrokube API server.
//!
//! The entry point is [`open`], which turns a `--datastore` URL (`sqlite://PATH` or
//! `etcd://HOST:PORT[,HOST:PORT...]`) into a [`Backend`]. Every backend is etcd-shaped: one
//! global revision counter that every write bumps, each key carrying the revision of its
//! creation and of its last modification, compare-and-swap on the modification revision,
//! watches that replay history from a revision, and compaction that forgets old history.
//!
//! With the `testing` feature, [`testing::EtcdServer`] starts a private etcd for tests and
//! benchmarks.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

mod etcd;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use etcd::EtcdBackend;
pub use sqlite::{SqliteBackend, SqliteOptions};

/// A store revision: the value of the global write counter. The first write gets revision 1;
/// revision 0 means "before anything was written".
pub type Revision = i64;

/// One key with its value as stored, and the revisions the store keeps for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The full key, e.g. `/registry/pods/default/web-0`.
    pub key: String,
    /// The stored bytes (the API server stores JSON).
    pub value: Bytes,
    /// The revision of the write that created this key (unchanged by updates).
    pub create_revision: Revision,
    /// The revision of the last write to this key; the API server's `resourceVersion`.
    pub mod_revision: Revision,
}

/// What happened to a key in a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or updated.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change seen by a watch, in revision order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// Whether the key was written or deleted.
    pub kind: EventKind,
    /// For `Put`: the key as written (its `mod_revision` is the event's revision).
    /// For `Delete`: the key with the *last value it had* and `mod_revision` set to the
    /// revision of the deletion (so consumers always have the object's final content).
    pub kv: KeyValue,
    /// The key as it was before this event (None for a create).
    pub prev_kv: Option<KeyValue>,
}

impl WatchEvent {
    /// The revision at which this event happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// The result of a range read: the matching keys and the revision the read was made at.
#[derive(Clone, Debug, Default)]
pub struct ListResult {
    /// Matching keys in ascending key order.
    pub kvs: Vec<KeyValue>,
    /// The store revision the read observed.
    pub revision: Revision,
}

/// A watch: a stream of events in revision order, or one error after which it ends.
pub type WatchStream = BoxStream<'static, Result<WatchEvent, StorageError>>;

/// The failures a backend reports.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// `create` found the key already present.
    #[error("key {key} already exists")]
    AlreadyExists {
        /// The key that exists.
        key: String,
    },
    /// `update` or `delete` found no such key.
    #[error("key {key} not found")]
    NotFound {
        /// The key that was missing.
        key: String,
    },
    /// `update` or `delete` found the key at a different modification revision.
    #[error("key {key} was modified: expected revision {expected}, found {actual}")]
    Conflict {
        /// The key that changed.
        key: String,
        /// The revision the caller expected.
        expected: Revision,
        /// The key's current modification revision.
        actual: Revision,
    },
    /// A watch or read asked for a revision older than the compacted one.
    #[error("revision {requested} has been compacted (oldest available {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The compaction revision: history at or below it is gone.
        compacted: Revision,
    },
    /// `compact` asked for a revision that has not been written yet.
    #[error("cannot compact at revision {requested}: the current revision is {current}")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },
    /// The `--datastore` URL could not be understood.
    #[error("invalid datastore {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The directory for the SQLite database could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDirectory {
        /// The directory.
        path: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The SQLite database refused to switch to WAL journaling.
    #[error("sqlite: cannot enable WAL journaling (journal_mode is {mode})")]
    JournalMode {
        /// The journal mode SQLite reported instead.
        mode: String,
    },
    /// Opening the backend failed for a reason other than SQLite itself.
    #[error("cannot open the datastore: {reason}")]
    Open {
        /// What went wrong.
        reason: String,
    },
    /// Opening, migrating or reading the SQLite database failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Committing a batch of writes to SQLite failed; none of the batch was applied.
    #[error("sqlite commit: {0}")]
    Commit(#[source] Arc<rusqlite::Error>),
    /// A call to etcd failed.
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    /// etcd ended a watch for a reason other than compaction.
    #[error("etcd canceled the watch: {reason}")]
    WatchCanceled {
        /// The cancel reason etcd gave.
        reason: String,
    },
    /// The backend's worker is gone (the store was closed).
    #[error("storage backend is closed")]
    Closed,
}

/// An etcd-shaped revisioned key-value store.
///
/// All writes are linearizable and durable when they return: an acknowledged write survives a
/// crash of the process. Revisions are strictly increasing and every write (create, update,
/// delete) gets its own revision.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Reads one key at the current revision.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StorageError>;

    /// Reads every key that starts with `prefix`, in key order, at the current revision.
    async fn list(&self, prefix: &str) -> Result<ListResult, StorageError>;

    /// Creates `key`; fails with [`StorageError::AlreadyExists`] if it exists. Returns the
    /// written key (its `create_revision == mod_revision` is the new revision).
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StorageError>;

    /// Replaces the value of `key` if its `mod_revision` equals `expected_revision`; fails
    /// with [`StorageError::Conflict`] otherwise, or [`StorageError::NotFound`].
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_revision: Revision,
    ) -> Result<KeyValue, StorageError>;

    /// Deletes `key`, if `expected_revision` is given only when its `mod_revision` equals it.
    /// Returns the deleted key as it was, with `mod_revision` set to the deletion's revision.
    async fn delete(
        &self,
        key: &str,
        expected_revision: Option<Revision>,
    ) -> Result<KeyValue, StorageError>;

    /// Watches every key under `prefix` for changes with a revision *greater than*
    /// `after_revision`, replaying history first, then following live writes, in revision
    /// order, without gaps or duplicates. Fails (immediately, or as the stream's one error)
    /// with [`StorageError::Compacted`] when that history is gone.
    async fn watch(
        &self,
        prefix: &str,
        after_revision: Revision,
    ) -> Result<WatchStream, StorageError>;

    /// The current revision of the whole store (the revision of the last write).
    async fn current_revision(&self) -> Result<Revision, StorageError>;

    /// Forgets history at and below `revision`; watches from there fail with `Compacted`.
    /// The latest value of every key is kept whatever its revision. Compacting at or below
    /// the compacted revision does nothing; above the current revision it fails with
    /// [`StorageError::FutureRevision`].
    async fn compact(&self, revision: Revision) -> Result<(), StorageError>;

    /// The revision of the last compaction (0 if none). The etcd backend knows only the
    /// compactions it made or saw reported by a watch (etcd v3.4 does not expose it otherwise).
    async fn compacted_revision(&self) -> Result<Revision, StorageError>;

    /// Finishes what was already sent, releases the store, and ends every watch; later calls
    /// fail with [`StorageError::Closed`] (sqlite). The etcd backend has nothing to release.
    async fn close(&self) {}
}

/// Opens the backend a `--datastore` URL names: `sqlite://PATH` (PATH may be relative) or
/// `etcd://HOST:PORT[,HOST:PORT...]`. Keys given to an etcd backend are stored as is, so
/// several API servers sharing one etcd see one store.
pub async fn open(url: &str) -> Result<Arc<dyn Backend>, StorageError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(StorageError::InvalidUrl {
                url: url.to_string(),
                reason: "no database path after sqlite://".to_string(),
            });
        }
        Ok(Arc::new(SqliteBackend::open(path).await?))
    } else if let Some(hosts) = url.strip_prefix("etcd://") {
        let endpoints: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| format!("http://{h}"))
            .collect();
        if endpoints.is_empty() {
            return Err(StorageError::InvalidUrl {
                url: url.to_string(),
                reason: "no etcd endpoints after etcd://".to_string(),
            });
        }
        Ok(Arc::new(EtcdBackend::connect(&endpoints).await?))
    } else {
        Err(StorageError::InvalidUrl {
            url: url.to_string(),
            reason: "expected sqlite://PATH or etcd://HOST:PORT[,HOST:PORT...]".to_string(),
        })
    }
}
