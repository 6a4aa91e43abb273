//! The embedded backend: one SQLite database in WAL mode, written by a single group-commit
//! writer thread, read from an in-memory index of the latest values.
//!
//! Phases: [`schema`] opens the database and loads the state, [`writer`] applies writes in
//! batches (one transaction and one fsync per batch), [`watch`] replays history from the log and
//! then follows the writer's in-process broadcast.

mod schema;
mod watch;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};

use crate::{Backend, KeyValue, ListResult, Revision, StorageError, WatchEvent, WatchStream};
use writer::{Command, WriteOp};

/// How many idle read connections (used by watch replay) are kept open.
const READER_POOL: usize = 4;

/// Tuning for [`SqliteBackend::open_with`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How many of the newest revisions of history to keep for watches; older history is
    /// compacted automatically (in steps of a tenth of this, so the log stays bounded).
    /// `None` keeps everything until [`Backend::compact`] is called.
    pub history_revisions: Option<Revision>,
    /// How many committed write batches a watcher may fall behind before it stops receiving
    /// them live and re-reads the missed events from the log instead.
    pub watch_buffer: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            history_revisions: Some(10_000),
            watch_buffer: 1024,
        }
    }
}

/// The state every reader sees: replaced by the writer, under the write lock, after each commit.
pub(crate) struct State {
    /// The latest value of every live key.
    index: BTreeMap<String, KeyValue>,
    /// The revision of the last committed write.
    revision: Revision,
    /// The revision of the last compaction.
    compacted: Revision,
    /// The live event feed, one message per committed batch; `None` once the writer is gone.
    events: Option<broadcast::Sender<Arc<[WatchEvent]>>>,
}

/// What the backend handle, the writer thread and the watchers share.
pub(crate) struct Shared {
    state: RwLock<State>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn readers(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on a pooled read connection (blocking: call from `spawn_blocking`).
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let pooled = self.readers().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => schema::open_reader(&self.path)?,
        };
        let result = f(&conn);
        let mut pool = self.readers();
        if pool.len() < READER_POOL {
            pool.push(conn);
        }
        result
    }
}

/// The embedded store: a SQLite database file (plus its `-wal` and `-shm` companions).
///
/// Writes are durable when acknowledged (`synchronous=FULL` in WAL mode) and are committed in
/// groups by one writer thread, so concurrent writers share one fsync. Reads are served from
/// memory and never wait for the writer. Only one `SqliteBackend` may have a database open.
pub struct SqliteBackend {
    shared: Arc<Shared>,
    commands: Mutex<Option<std::sync::mpsc::Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path` with the default options.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Opens (creating if needed) the database at `path`, loads its latest state into memory
    /// and starts the writer thread.
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        let opening = path.clone();
        let (conn, loaded) = tokio::task::spawn_blocking(move || {
            let conn = schema::open_writer(&opening)?;
            let loaded = schema::load(&conn)?;
            Ok::<_, StorageError>((conn, loaded))
        })
        .await
        .map_err(|e| StorageError::Open {
            reason: e.to_string(),
        })??;
        tracing::info!(
            path = %path.display(),
            revision = loaded.revision,
            compacted = loaded.compacted,
            keys = loaded.index.len(),
            "opened sqlite datastore"
        );
        let (events, _) = broadcast::channel(options.watch_buffer.max(1));
        let shared = Arc::new(Shared {
            state: RwLock::new(State {
                index: loaded.index,
                revision: loaded.revision,
                compacted: loaded.compacted,
                events: Some(events),
            }),
            path,
            readers: Mutex::new(Vec::new()),
        });
        let (commands, receiver) = std::sync::mpsc::channel();
        let writer = writer::Writer::new(conn, shared.clone(), receiver, options.history_revisions);
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".to_string())
            .spawn(move || writer.run())
            .map_err(|e| StorageError::Open {
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Self {
            shared,
            commands: Mutex::new(Some(commands)),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Stops the writer after it has committed everything already sent, ends every watch
    /// with [`StorageError::Closed`] and closes the database. Later calls fail with `Closed`.
    pub async fn close(&self) {
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            // The writer only panics on a bug; there is nothing more to clean up then.
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        self.shared.readers().clear();
    }

    fn send(&self, command: Command) -> Result<(), StorageError> {
        let commands = self.commands.lock().unwrap_or_else(PoisonError::into_inner);
        match commands.as_ref() {
            Some(sender) => sender.send(command).map_err(|_| StorageError::Closed),
            None => Err(StorageError::Closed),
        }
    }

    async fn write(&self, op: WriteOp) -> Result<KeyValue, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Write { op, reply })?;
        answer.await.map_err(|_| StorageError::Closed)?
    }

    fn open_state(&self) -> Result<RwLockReadGuard<'_, State>, StorageError> {
        let state = self.shared.read();
        if state.events.is_none() {
            return Err(StorageError::Closed);
        }
        Ok(state)
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        // Dropping the sender lets the writer finish what it has and exit on its own.
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StorageError> {
        Ok(self.open_state()?.index.get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<ListResult, StorageError> {
        let state = self.open_state()?;
        let kvs = state
            .index
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, kv)| kv.clone())
            .collect();
        Ok(ListResult {
            kvs,
            revision: state.revision,
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StorageError> {
        self.write(WriteOp::Create {
            key: key.to_string(),
            value,
        })
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_revision: Revision,
    ) -> Result<KeyValue, StorageError> {
        self.write(WriteOp::Update {
            key: key.to_string(),
            value,
            expected: expected_revision,
        })
        .await
    }

    async fn delete(
        &self,
        key: &str,
        expected_revision: Option<Revision>,
    ) -> Result<KeyValue, StorageError> {
        self.write(WriteOp::Delete {
            key: key.to_string(),
            expected: expected_revision,
        })
        .await
    }

    async fn watch(
        &self,
        prefix: &str,
        after_revision: Revision,
    ) -> Result<WatchStream, StorageError> {
        watch::start(self.shared.clone(), prefix.to_string(), after_revision)
    }

    async fn current_revision(&self) -> Result<Revision, StorageError> {
        Ok(self.open_state()?.revision)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StorageError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Compact { revision, reply })?;
        answer.await.map_err(|_| StorageError::Closed)?
    }

    async fn compacted_revision(&self) -> Result<Revision, StorageError> {
        Ok(self.open_state()?.compacted)
    }

    async fn close(&self) {
        SqliteBackend::close(self).await
    }
}
