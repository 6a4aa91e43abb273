//! etcd watches as [`WatchStream`]s: start at `after_revision + 1` with `prev_kv`, fill each
//! Delete event's value from its `prev_kv`, and turn etcd's compaction cancellation into
//! [`StorageError::Compacted`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use etcd_client::{EventType, WatchClient, WatchOptions, WatchResponse};
use futures::StreamExt;

use super::key_value;
use crate::{EventKind, KeyValue, Revision, StorageError, WatchEvent, WatchStream};

/// One etcd watch and what it has not handed out yet.
struct Watcher {
    stream: etcd_client::WatchStream,
    /// The revision of the last event queued (or the requested start).
    cursor: Revision,
    compacted: Arc<AtomicI64>,
    pending: VecDeque<WatchEvent>,
    done: bool,
}

/// Starts an etcd watch of `prefix` after `after_revision` and waits until etcd created it.
pub(super) async fn start(
    mut client: WatchClient,
    prefix: &str,
    after_revision: Revision,
    compacted: Arc<AtomicI64>,
) -> Result<WatchStream, StorageError> {
    let options = WatchOptions::new()
        .with_prefix()
        .with_prev_key()
        .with_start_revision(after_revision + 1);
    let stream = client.watch(prefix, Some(options)).await?;
    let mut watcher = Watcher {
        stream,
        cursor: after_revision,
        compacted,
        pending: VecDeque::new(),
        done: false,
    };
    loop {
        let Some(response) = watcher.stream.message().await? else {
            return Err(StorageError::WatchCanceled {
                reason: "etcd closed the watch stream before creating the watch".to_string(),
            });
        };
        let created = response.created();
        watcher.absorb(response)?;
        if created {
            break;
        }
    }
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
            let received = match self.stream.message().await {
                Ok(Some(response)) => self.absorb(response),
                Ok(None) => Err(StorageError::WatchCanceled {
                    reason: "etcd closed the watch stream".to_string(),
                }),
                Err(error) => Err(error.into()),
            };
            if let Err(error) = received {
                self.done = true;
                return Some(Err(error));
            }
        }
    }

    /// Queues the events of one response, or turns its cancellation into an error.
    fn absorb(&mut self, response: WatchResponse) -> Result<(), StorageError> {
        if response.compact_revision() != 0 {
            // etcd keeps its compaction revision itself; history *below* it is gone.
            let compacted = response.compact_revision() - 1;
            self.compacted.fetch_max(compacted, Ordering::SeqCst);
            return Err(StorageError::Compacted {
                requested: self.cursor,
                compacted,
            });
        }
        if response.canceled() {
            return Err(StorageError::WatchCanceled {
                reason: response.cancel_reason().to_string(),
            });
        }
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            let prev_kv = event.prev_kv().map(key_value).transpose()?;
            let event = match event.event_type() {
                EventType::Put => WatchEvent {
                    kind: EventKind::Put,
                    kv: key_value(kv)?,
                    prev_kv,
                },
                EventType::Delete => {
                    let key = kv.key_str()?.to_string();
                    let (value, create_revision) = prev_kv
                        .as_ref()
                        .map(|prev| (prev.value.clone(), prev.create_revision))
                        .unwrap_or_default();
                    WatchEvent {
                        kind: EventKind::Delete,
                        kv: KeyValue {
                            key,
                            value,
                            create_revision,
                            mod_revision: kv.mod_revision(),
                        },
                        prev_kv,
                    }
                }
            };
            self.cursor = event.revision();
            self.pending.push_back(event);
        }
        Ok(())
    }
}
