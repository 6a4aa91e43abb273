//! Opening the database: pragmas, tables, and loading the latest state into memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension};

use crate::{KeyValue, Revision, StorageError};

/// The tables. `log` holds one row per write (the store *is* its log): the current state is the
/// newest row of every key unless that row is a tombstone. Compaction at `R` deletes rows at or
/// below `R` except the newest non-tombstone row of each key, so the latest value of every key
/// survives and the previous value of any later write is still there for `prev_kv`.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    revision        INTEGER PRIMARY KEY,
    key             TEXT    NOT NULL,
    value           BLOB    NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,
    deleted         INTEGER NOT NULL
);
-- Earlier versions kept an index on (key, revision) that no query reads (loading scans by
-- revision, watches replay a revision range, compaction deletes by revision); it only cost
-- every write an index page.
DROP INDEX IF EXISTS log_key_revision;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0);
";

/// How long a connection waits on a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the database holds when it is opened.
pub(super) struct Loaded {
    /// The latest value of every live key.
    pub index: BTreeMap<String, KeyValue>,
    /// The revision of the last write.
    pub revision: Revision,
    /// The revision of the last compaction.
    pub compacted: Revision,
}

/// Opens the writer connection: WAL, `synchronous=FULL` (every commit is fsynced, so an
/// acknowledged write survives a crash), and the tables created if missing.
pub(super) fn open_writer(path: &Path) -> Result<Connection, StorageError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| StorageError::CreateDirectory {
            path: parent.display().to_string(),
            source: e,
        })?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::JournalMode { mode });
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens a read connection (used for watch replay); it never writes.
pub(super) fn open_reader(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    Ok(conn)
}

/// Reads a counter from the `meta` table.
pub(super) fn read_meta(conn: &Connection, name: &str) -> Result<Revision, rusqlite::Error> {
    conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |row| {
        row.get(0)
    })
    .optional()
    .map(|v| v.unwrap_or(0))
}

/// Rebuilds the in-memory state by applying the log in revision order.
pub(super) fn load(conn: &Connection) -> Result<Loaded, StorageError> {
    let revision = read_meta(conn, "revision")?;
    let compacted = read_meta(conn, "compacted")?;
    let mut index = BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT key, value, create_revision, revision, deleted FROM log ORDER BY revision",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        if row.get::<_, bool>(4)? {
            index.remove(&key);
        } else {
            let value: Vec<u8> = row.get(1)?;
            let kv = KeyValue {
                key: key.clone(),
                value: Bytes::from(value),
                create_revision: row.get(2)?,
                mod_revision: row.get(3)?,
            };
            index.insert(key, kv);
        }
    }
    Ok(Loaded {
        index,
        revision,
        compacted,
    })
}
