//! Watches: replay the log from the requested revision, then follow the writer's broadcast.
//!
//! The hand-over is gap-free because the writer updates the state and broadcasts a batch under
//! the state's write lock, while a watcher subscribes and reads the current revision `upto`
//! under the read lock: every event at or below `upto` is committed (so the log has it) and
//! every event above it arrives on the new subscription. A watcher that falls more than the
//! broadcast buffer behind re-subscribes the same way and re-reads what it missed from the log
//! (or ends with `Compacted` if that history is gone).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use rusqlite::Connection;
use tokio::sync::broadcast::{self, error::RecvError};

use super::{Shared, schema};
use crate::{EventKind, KeyValue, Revision, StorageError, WatchEvent, WatchStream};

/// How many events one replay query reads.
const REPLAY_PAGE: usize = 512;

/// One watcher's position: every event at or below `cursor` has been queued in `pending`.
struct Watcher {
    shared: Arc<Shared>,
    prefix: String,
    cursor: Revision,
    /// The revision up to which events must come from the log rather than from `live`.
    upto: Revision,
    live: broadcast::Receiver<Arc<[WatchEvent]>>,
    pending: VecDeque<WatchEvent>,
    done: bool,
}

/// Starts a watch of `prefix` for events after `after_revision`.
pub(super) fn start(
    shared: Arc<Shared>,
    prefix: String,
    after_revision: Revision,
) -> Result<WatchStream, StorageError> {
    let (live, upto) = {
        let state = shared.read();
        let Some(events) = &state.events else {
            return Err(StorageError::Closed);
        };
        if after_revision < state.compacted {
            return Err(StorageError::Compacted {
                requested: after_revision,
                compacted: state.compacted,
            });
        }
        (events.subscribe(), state.revision)
    };
    let watcher = Watcher {
        shared,
        prefix,
        cursor: after_revision,
        upto,
        live,
        pending: VecDeque::new(),
        done: false,
    };
    Ok(futures::stream::unfold(watcher, |mut watcher| async move {
        let item = watcher.next().await?;
        Some((item, watcher))
    })
    .boxed())
}

impl Watcher {
    async fn next(&mut self) -> Option<Result<WatchEvent, StorageError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            let step = if self.cursor < self.upto {
                self.replay().await
            } else {
                self.follow().await
            };
            if let Err(error) = step {
                self.done = true;
                return Some(Err(error));
            }
        }
    }

    /// Queues the next page of history in `(cursor, upto]` from the log.
    async fn replay(&mut self) -> Result<(), StorageError> {
        let shared = self.shared.clone();
        let prefix = self.prefix.clone();
        let (after, upto) = (self.cursor, self.upto);
        let page = tokio::task::spawn_blocking(move || {
            shared.with_reader(|conn| read_history(conn, &prefix, after, upto))
        })
        .await
        .map_err(|_| StorageError::Closed)??;
        self.cursor = match page.last() {
            Some(last) if page.len() == REPLAY_PAGE => last.revision(),
            _ => upto,
        };
        self.pending.extend(page);
        Ok(())
    }

    /// Queues the matching events of the next live batch, or recovers from lagging behind.
    async fn follow(&mut self) -> Result<(), StorageError> {
        match self.live.recv().await {
            Ok(batch) => {
                for event in batch.iter() {
                    if event.revision() > self.cursor && event.kv.key.starts_with(&self.prefix) {
                        self.pending.push_back(event.clone());
                    }
                }
                if let Some(last) = batch.last() {
                    self.cursor = self.cursor.max(last.revision());
                }
                Ok(())
            }
            Err(RecvError::Lagged(missed)) => {
                let state = self.shared.read();
                let Some(events) = &state.events else {
                    return Err(StorageError::Closed);
                };
                tracing::debug!(
                    missed,
                    cursor = self.cursor,
                    "watcher fell behind; replaying from the log"
                );
                self.live = events.subscribe();
                self.upto = state.revision;
                Ok(())
            }
            Err(RecvError::Closed) => Err(StorageError::Closed),
        }
    }
}

/// The smallest string greater than every string that starts with `prefix` (None: no bound).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(next) = char::from_u32(next) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Reads up to [`REPLAY_PAGE`] events of `prefix` in `(after, upto]`, in one snapshot that
/// also checks that this history has not been compacted.
fn read_history(
    conn: &Connection,
    prefix: &str,
    after: Revision,
    upto: Revision,
) -> Result<Vec<WatchEvent>, StorageError> {
    let tx = conn.unchecked_transaction()?;
    let compacted = schema::read_meta(&tx, "compacted")?;
    if after < compacted {
        return Err(StorageError::Compacted {
            requested: after,
            compacted,
        });
    }
    let end = prefix_end(prefix);
    let mut stmt = tx.prepare_cached(
        "SELECT l.revision, l.key, l.value, l.create_revision, l.deleted, \
                p.revision, p.value, p.create_revision \
         FROM log AS l LEFT JOIN log AS p ON p.revision = l.prev_revision \
         WHERE l.revision > ?1 AND l.revision <= ?2 \
           AND l.key >= ?3 AND (?4 IS NULL OR l.key < ?4) \
         ORDER BY l.revision LIMIT ?5",
    )?;
    let mut rows = stmt.query(rusqlite::params![
        after,
        upto,
        prefix,
        end,
        REPLAY_PAGE as i64
    ])?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        let key: String = row.get(1)?;
        let value: Vec<u8> = row.get(2)?;
        let kind = if row.get::<_, bool>(4)? {
            EventKind::Delete
        } else {
            EventKind::Put
        };
        let prev_revision: Option<Revision> = row.get(5)?;
        let prev_kv = match prev_revision {
            Some(mod_revision) => Some(KeyValue {
                key: key.clone(),
                value: Bytes::from(row.get::<_, Vec<u8>>(6)?),
                create_revision: row.get(7)?,
                mod_revision,
            }),
            None => None,
        };
        events.push(WatchEvent {
            kind,
            kv: KeyValue {
                key,
                value: Bytes::from(value),
                create_revision: row.get(3)?,
                mod_revision: row.get(0)?,
            },
            prev_kv,
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn the_prefix_end_bounds_exactly_the_keys_with_that_prefix() {
        let end = prefix_end("/registry/pods/").unwrap();
        assert_eq!(end, "/registry/pods0");
        assert!("/registry/pods/zzz" < end.as_str());
        assert!("/registry/pods0" >= end.as_str());
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{10FFFF}"), Some("b".to_string()));
    }
}
