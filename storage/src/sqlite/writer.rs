//! Group commit: one thread owns the write connection, drains every pending request, applies
//! them in order in one transaction (each with its own revision and its own compare-and-swap
//! check), commits once, publishes the new state and events, then answers every caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};

use bytes::Bytes;
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::Shared;
use crate::{EventKind, KeyValue, Revision, StorageError, WatchEvent};

/// The most requests committed in one transaction.
const MAX_BATCH: usize = 4096;

/// A change to one key, checked against the latest state when its batch is applied.
pub(super) enum WriteOp {
    /// Create a key that must not exist.
    Create { key: String, value: Bytes },
    /// Replace a key whose modification revision must be `expected`.
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    /// Delete a key, checking its modification revision when `expected` is given.
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

/// A request to the writer thread.
pub(super) enum Command {
    /// Apply one write and answer with the key as written (or deleted).
    Write {
        op: WriteOp,
        reply: oneshot::Sender<Result<KeyValue, StorageError>>,
    },
    /// Forget history at and below `revision`.
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
}

/// The result of one command inside a batch, before the batch is committed.
enum Outcome {
    Written(KeyValue),
    Compacted,
    Refused(StorageError),
}

/// What a batch changes, built up while its commands are applied inside the transaction.
struct Staged {
    revision: Revision,
    compacted: Revision,
    /// The latest value (or deletion) of every key this batch wrote.
    changes: HashMap<String, Option<KeyValue>>,
    events: Vec<WatchEvent>,
    outcomes: Vec<Outcome>,
}

/// The writer thread's state: the write connection and the command queue.
pub(super) struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    commands: Receiver<Command>,
    history_revisions: Option<Revision>,
}

impl Writer {
    /// Prepares a writer; [`Writer::run`] is the thread's body.
    pub(super) fn new(
        conn: Connection,
        shared: Arc<Shared>,
        commands: Receiver<Command>,
        history_revisions: Option<Revision>,
    ) -> Self {
        Self {
            conn,
            shared,
            commands,
            history_revisions,
        }
    }

    /// Serves batches until every sender is gone, then closes the event feed.
    pub(super) fn run(mut self) {
        while let Ok(first) = self.commands.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.commands.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.apply(batch);
            self.compact_old_history();
        }
        let mut state = self.shared.write();
        state.events = None;
        tracing::debug!(revision = state.revision, "sqlite writer stopped");
    }

    /// Compacts automatically so that about `history_revisions` revisions of history remain.
    fn compact_old_history(&mut self) {
        let Some(keep) = self.history_revisions else {
            return;
        };
        let (revision, compacted) = {
            let state = self.shared.read();
            (state.revision, state.compacted)
        };
        let target = revision - keep.max(0);
        let step = (keep / 10).max(1);
        if target - compacted >= step {
            let (reply, _) = oneshot::channel();
            tracing::debug!(revision = target, "compacting old history");
            self.apply(vec![Command::Compact {
                revision: target,
                reply,
            }]);
        }
    }

    /// Applies one batch in one transaction, publishes it, and answers its callers.
    fn apply(&mut self, batch: Vec<Command>) {
        let mut staged = {
            let state = self.shared.read();
            Staged {
                revision: state.revision,
                compacted: state.compacted,
                changes: HashMap::new(),
                events: Vec::new(),
                outcomes: Vec::with_capacity(batch.len()),
            }
        };
        let committed = self.stage(&batch, &mut staged);
        match committed {
            Ok(()) => self.publish(&mut staged),
            Err(error) => {
                tracing::error!(%error, requests = batch.len(), "sqlite write batch failed");
                let error = Arc::new(error);
                staged.outcomes = batch
                    .iter()
                    .map(|_| Outcome::Refused(StorageError::Commit(error.clone())))
                    .collect();
            }
        }
        for (command, outcome) in batch.into_iter().zip(staged.outcomes) {
            // A caller that went away does not want its answer; that is fine.
            match (command, outcome) {
                (Command::Write { reply, .. }, Outcome::Written(kv)) => {
                    let _ = reply.send(Ok(kv));
                }
                (Command::Write { reply, .. }, Outcome::Refused(error)) => {
                    let _ = reply.send(Err(error));
                }
                (Command::Compact { reply, .. }, Outcome::Compacted) => {
                    let _ = reply.send(Ok(()));
                }
                (Command::Compact { reply, .. }, Outcome::Refused(error)) => {
                    let _ = reply.send(Err(error));
                }
                // `stage` records a write's outcome for a write and a compaction's for a
                // compaction; a mismatch cannot happen, and dropping the reply would answer
                // `Closed`.
                (Command::Write { .. }, Outcome::Compacted)
                | (Command::Compact { .. }, Outcome::Written(_)) => {}
            }
        }
    }

    /// Runs every command of the batch inside one transaction and commits it.
    fn stage(&mut self, batch: &[Command], staged: &mut Staged) -> Result<(), rusqlite::Error> {
        let tx = self.conn.transaction()?;
        let previous_compacted = staged.compacted;
        {
            let state = self.shared.read();
            let mut insert = tx.prepare_cached(
                "INSERT INTO log (revision, key, value, create_revision, prev_revision, deleted) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for command in batch {
                let op = match command {
                    Command::Write { op, .. } => op,
                    Command::Compact { revision, .. } => {
                        let outcome = compact(&tx, staged, *revision)?;
                        staged.outcomes.push(outcome);
                        continue;
                    }
                };
                let key = match op {
                    WriteOp::Create { key, .. }
                    | WriteOp::Update { key, .. }
                    | WriteOp::Delete { key, .. } => key,
                };
                let current = match staged.changes.get(key) {
                    Some(change) => change.clone(),
                    None => state.index.get(key).cloned(),
                };
                let outcome = match (op, current) {
                    (WriteOp::Create { key, .. }, Some(_)) => {
                        Outcome::Refused(StorageError::AlreadyExists { key: key.clone() })
                    }
                    (WriteOp::Create { key, value }, None) => {
                        staged.revision += 1;
                        let revision = staged.revision;
                        insert.execute(params![revision, key, &value[..], revision, 0, false])?;
                        let kv = KeyValue {
                            key: key.clone(),
                            value: value.clone(),
                            create_revision: revision,
                            mod_revision: revision,
                        };
                        staged.record(EventKind::Put, kv, None)
                    }
                    (WriteOp::Update { key, .. } | WriteOp::Delete { key, .. }, None) => {
                        Outcome::Refused(StorageError::NotFound { key: key.clone() })
                    }
                    (WriteOp::Update { key, expected, .. }, Some(current))
                    | (
                        WriteOp::Delete {
                            key,
                            expected: Some(expected),
                        },
                        Some(current),
                    ) if current.mod_revision != *expected => {
                        Outcome::Refused(StorageError::Conflict {
                            key: key.clone(),
                            expected: *expected,
                            actual: current.mod_revision,
                        })
                    }
                    (WriteOp::Update { key, value, .. }, Some(current)) => {
                        staged.revision += 1;
                        let revision = staged.revision;
                        insert.execute(params![
                            revision,
                            key,
                            &value[..],
                            current.create_revision,
                            current.mod_revision,
                            false
                        ])?;
                        let kv = KeyValue {
                            key: key.clone(),
                            value: value.clone(),
                            create_revision: current.create_revision,
                            mod_revision: revision,
                        };
                        staged.record(EventKind::Put, kv, Some(current))
                    }
                    (WriteOp::Delete { key, .. }, Some(current)) => {
                        staged.revision += 1;
                        let revision = staged.revision;
                        insert.execute(params![
                            revision,
                            key,
                            &current.value[..],
                            current.create_revision,
                            current.mod_revision,
                            true
                        ])?;
                        let kv = KeyValue {
                            mod_revision: revision,
                            ..current.clone()
                        };
                        staged.record(EventKind::Delete, kv, Some(current))
                    }
                };
                staged.outcomes.push(outcome);
            }
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'revision'",
            [staged.revision],
        )?;
        if staged.compacted != previous_compacted {
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE name = 'compacted'",
                [staged.compacted],
            )?;
        }
        tx.commit()
    }

    /// Makes a committed batch visible: new index entries, revisions, then the events, all
    /// under the write lock so a watcher subscribing under the read lock sees either the
    /// state before the batch (and gets its events live) or after it (and replays them).
    fn publish(&self, staged: &mut Staged) {
        let mut state = self.shared.write();
        for (key, change) in staged.changes.drain() {
            match change {
                Some(kv) => {
                    state.index.insert(key, kv);
                }
                None => {
                    state.index.remove(&key);
                }
            }
        }
        state.revision = staged.revision;
        state.compacted = staged.compacted;
        if !staged.events.is_empty()
            && let Some(events) = &state.events
        {
            // No receivers is fine: nobody is watching.
            let _ = events.send(Arc::from(std::mem::take(&mut staged.events)));
        }
    }
}

impl Staged {
    /// Records a successful write: its change to the key, its event, and its answer.
    fn record(&mut self, kind: EventKind, kv: KeyValue, prev_kv: Option<KeyValue>) -> Outcome {
        let change = match kind {
            EventKind::Put => Some(kv.clone()),
            EventKind::Delete => None,
        };
        self.changes.insert(kv.key.clone(), change);
        self.events.push(WatchEvent {
            kind,
            kv: kv.clone(),
            prev_kv,
        });
        Outcome::Written(kv)
    }
}

/// Deletes the history at and below `revision`, keeping the newest live row of every key (so
/// the latest values and the `prev_kv` of later events stay readable).
///
/// Only rows superseded by a write in `(compacted, revision]` and tombstones in that range can
/// become deletable: everything older was already reduced by the previous compaction.
fn compact(
    tx: &rusqlite::Transaction<'_>,
    staged: &mut Staged,
    revision: Revision,
) -> Result<Outcome, rusqlite::Error> {
    if revision > staged.revision {
        return Ok(Outcome::Refused(StorageError::FutureRevision {
            requested: revision,
            current: staged.revision,
        }));
    }
    if revision <= staged.compacted {
        return Ok(Outcome::Compacted);
    }
    tx.execute(
        "DELETE FROM log WHERE revision IN ( \
             SELECT prev_revision FROM log \
             WHERE revision > ?1 AND revision <= ?2 AND prev_revision > 0) \
         OR (revision > ?1 AND revision <= ?2 AND deleted = 1)",
        params![staged.compacted, revision],
    )?;
    staged.compacted = revision;
    Ok(Outcome::Compacted)
}
