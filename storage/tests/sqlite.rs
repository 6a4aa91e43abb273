//! Behaviour only the embedded backend has: persistence across reopening and crashes,
//! automatic compaction, watchers that fall behind, and closing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use common::{assert_quiet, next_event, watch_error};
use ferrokube_storage::{Backend, EventKind, SqliteBackend, SqliteOptions, StorageError};
use futures::StreamExt;

#[tokio::test]
async fn data_and_the_revision_counter_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteBackend::open(&path).await.unwrap();
    let a = store.create("/a", Bytes::from("a1")).await.unwrap();
    let b = store.create("/b", Bytes::from("b1")).await.unwrap();
    let a2 = store
        .update("/a", Bytes::from("a2"), a.mod_revision)
        .await
        .unwrap();
    let gone = store.delete("/b", None).await.unwrap();
    store.close().await;

    let store = SqliteBackend::open(&path).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), gone.mod_revision);
    assert_eq!(store.get("/a").await.unwrap(), Some(a2.clone()));
    assert_eq!(store.get("/b").await.unwrap(), None);
    let next = store.create("/c", Bytes::from("c")).await.unwrap();
    assert_eq!(
        next.mod_revision,
        gone.mod_revision + 1,
        "revisions continue"
    );

    // The history survives too: a watch from the start replays it with previous values.
    let mut watch = store.watch("/", 0).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv, a);
    assert_eq!(next_event(&mut watch).await.kv, b);
    let update = next_event(&mut watch).await;
    assert_eq!((update.kv, update.prev_kv), (a2, Some(a)));
    let delete = next_event(&mut watch).await;
    assert_eq!(delete.kind, EventKind::Delete);
    assert_eq!(delete.kv.value, Bytes::from("b1"));
    assert_eq!(next_event(&mut watch).await.kv, next);
}

#[tokio::test]
async fn a_database_with_the_earlier_key_index_opens_with_its_data_and_without_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteBackend::open(&path).await.unwrap();
    let a = store.create("/a", Bytes::from("a1")).await.unwrap();
    store.close().await;
    // Databases written before this version carried an index no query used.
    let indexes = |path: &Path| -> Vec<String> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log'")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE INDEX log_key_revision ON log (key, revision)")
        .unwrap();
    assert_eq!(indexes(&path), ["log_key_revision"]);

    let store = SqliteBackend::open(&path).await.unwrap();
    assert_eq!(store.get("/a").await.unwrap(), Some(a));
    store.close().await;
    assert!(indexes(&path).is_empty(), "the unused index is dropped");
}

#[tokio::test]
async fn a_compaction_survives_reopening_and_a_deleted_key_stays_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteBackend::open(&path).await.unwrap();
    let a = store.create("/a", Bytes::from("a")).await.unwrap();
    store.create("/b", Bytes::from("b")).await.unwrap();
    let gone = store.delete("/b", None).await.unwrap();
    store.compact(gone.mod_revision).await.unwrap();
    store.close().await;

    let store = SqliteBackend::open(&path).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), gone.mod_revision);
    assert_eq!(store.current_revision().await.unwrap(), gone.mod_revision);
    assert_eq!(store.list("/").await.unwrap().kvs, vec![a]);
    let error = watch_error(&store, "/", 0).await;
    assert!(matches!(error, StorageError::Compacted { .. }), "{error:?}");
}

#[tokio::test]
async fn history_is_compacted_automatically_to_the_configured_window() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        history_revisions: Some(10),
        ..SqliteOptions::default()
    };
    let store = SqliteBackend::open_with(dir.path().join("store.db"), options)
        .await
        .unwrap();
    let first = store.create("/keep", Bytes::from("0")).await.unwrap();
    let mut last = first.clone();
    for i in 1..100 {
        last = store
            .update("/keep", Bytes::from(i.to_string()), last.mod_revision)
            .await
            .unwrap();
    }
    // Automatic compaction runs after a batch is answered; any request queued behind it (here a
    // compaction that changes nothing) waits for it.
    store.compact(0).await.unwrap();
    let compacted = store.compacted_revision().await.unwrap();
    assert_eq!(
        compacted,
        last.mod_revision - 10,
        "10 revisions of history remain"
    );
    let error = watch_error(&store, "/", 0).await;
    assert!(matches!(error, StorageError::Compacted { .. }), "{error:?}");
    let mut watch = store.watch("/", compacted).await.unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!(event.revision(), compacted + 1);
    assert_eq!(store.get("/keep").await.unwrap(), Some(last.clone()));
    assert_eq!(
        store.get("/keep").await.unwrap().unwrap().create_revision,
        1
    );
}

#[tokio::test]
async fn a_watcher_that_lags_behind_the_broadcast_still_gets_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        watch_buffer: 2,
        ..SqliteOptions::default()
    };
    let store = SqliteBackend::open_with(dir.path().join("store.db"), options)
        .await
        .unwrap();
    let mut watch = store.watch("/lag/", 0).await.unwrap();
    // Nobody reads the watch while 200 batches are committed: it must lag.
    let mut written = Vec::new();
    for i in 0..200 {
        written.push(
            store
                .create(&format!("/lag/{i:03}"), Bytes::from("x"))
                .await
                .unwrap(),
        );
        store
            .create(&format!("/other/{i:03}"), Bytes::from("x"))
            .await
            .unwrap();
    }
    for expected in &written {
        assert_eq!(&next_event(&mut watch).await.kv, expected);
    }
    let live = store.create("/lag/live", Bytes::from("x")).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv, live);
    assert_quiet(&mut watch).await;
}

#[tokio::test]
async fn a_lagging_watcher_whose_history_was_compacted_ends_with_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        watch_buffer: 1,
        history_revisions: Some(5),
    };
    let store = SqliteBackend::open_with(dir.path().join("store.db"), options)
        .await
        .unwrap();
    let mut watch = store.watch("/", 0).await.unwrap();
    for i in 0..50 {
        store
            .create(&format!("/k{i}"), Bytes::from("x"))
            .await
            .unwrap();
    }
    let error = tokio::time::timeout(common::WATCH_TIMEOUT, watch.next())
        .await
        .expect("the watch answers")
        .expect("the watch yields an error")
        .expect_err("the missed history is gone");
    assert!(matches!(error, StorageError::Compacted { .. }), "{error:?}");
    assert!(
        watch.next().await.is_none(),
        "the watch ends after its error"
    );
}

#[tokio::test]
async fn closing_ends_watches_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteBackend::open(dir.path().join("store.db"))
        .await
        .unwrap();
    let mut watch = store.watch("/", 0).await.unwrap();
    store.create("/a", Bytes::from("a")).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv.key, "/a");
    store.close().await;
    let end = tokio::time::timeout(common::WATCH_TIMEOUT, watch.next())
        .await
        .expect("the watch ends promptly");
    assert!(matches!(end, Some(Err(StorageError::Closed))), "{end:?}");
    let error = store.create("/b", Bytes::from("b")).await.unwrap_err();
    assert!(matches!(error, StorageError::Closed), "{error:?}");
    assert!(matches!(store.get("/a").await, Err(StorageError::Closed)));
}

/// The environment variable that turns this test binary into the crashing writer.
const CRASH_CHILD: &str = "FERROKUBE_STORAGE_CRASH_CHILD";

/// Kills the child process (SIGKILL) when dropped, so a failing test leaves nothing behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_acknowledged_write_survives_kill_9() {
    if let Ok(path) = std::env::var(CRASH_CHILD) {
        write_until_killed(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_acknowledged_write_survives_kill_9",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("the child's output is readable");
        if let Some(ack) = line.strip_prefix("acked ") {
            let (key, revision) = ack.split_once(' ').unwrap();
            acked.push((key.to_string(), revision.parse::<i64>().unwrap()));
            if acked.len() == 500 {
                break;
            }
        }
    }
    assert_eq!(acked.len(), 500, "the child acknowledged writes");
    drop(child); // SIGKILL, mid-write: its writers never stop on their own.
    drop(lines);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = SqliteBackend::open(&path).await.unwrap();
        let current = store.current_revision().await.unwrap();
        for (key, revision) in &acked {
            let kv = store
                .get(key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged {key} is lost"));
            assert_eq!(kv.mod_revision, *revision);
            assert!(current >= *revision);
        }
        let next = store.create("/after-crash", Bytes::new()).await.unwrap();
        assert_eq!(next.mod_revision, current + 1);
    });
}

/// The child side: 16 writers create keys as fast as they can and report each acknowledgement.
fn write_until_killed(path: &Path) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = std::sync::Arc::new(SqliteBackend::open(path).await.unwrap());
        let mut writers = Vec::new();
        for writer in 0..16 {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("/crash/{writer}/{i}");
                    let kv = store
                        .create(&key, Bytes::from(vec![7u8; 512]))
                        .await
                        .unwrap();
                    // Once the parent stops reading, the writes go on until the kill.
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "acked {key} {}", kv.mod_revision);
                    let _ = out.flush();
                }
            }));
        }
        for writer in writers {
            let _ = writer.await;
        }
    });
}
