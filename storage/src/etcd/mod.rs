//! The etcd backend: the etcd v3 API through `etcd-client`. Every write is one etcd
//! transaction that does its own compare-and-swap, so several API servers may share one etcd.
//!
//! [`watch`] maps etcd watches (and their compaction cancellation) onto [`WatchStream`].

mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, KvClient, PutOptions,
    Txn, TxnOp, TxnOpResponse, TxnResponse,
};

use crate::{Backend, KeyValue, ListResult, Revision, StorageError, WatchStream};

/// The largest response the client accepts (etcd itself caps requests, not responses).
const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024 * 1024 - 1;

/// How long connecting to etcd may take before `connect` fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The message etcd returns when a revision is below its compaction revision.
const ERR_COMPACTED: &str = "required revision has been compacted";

/// A store kept in etcd. Keys are stored exactly as given.
///
/// [`Backend::compacted_revision`] reports the highest compaction this handle made or learned
/// of from a watch; etcd v3.4 does not expose the compaction revision otherwise.
pub struct EtcdBackend {
    client: Client,
    kv: KvClient,
    compacted: Arc<AtomicI64>,
}

impl EtcdBackend {
    /// Connects to the etcd cluster at `endpoints` (`http://host:port`) and checks it answers.
    pub async fn connect(endpoints: &[String]) -> Result<Self, StorageError> {
        let options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10));
        let client = Client::connect(endpoints, Some(options)).await?;
        let kv = client
            .kv_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES);
        let backend = Self {
            client,
            kv,
            compacted: Arc::new(AtomicI64::new(0)),
        };
        let revision = backend.current_revision().await?;
        tracing::info!(?endpoints, revision, "connected to etcd");
        Ok(backend)
    }

    fn kv(&self) -> KvClient {
        self.kv.clone()
    }
}

/// Converts an etcd key-value pair.
fn key_value(kv: &etcd_client::KeyValue) -> Result<KeyValue, StorageError> {
    Ok(KeyValue {
        key: kv.key_str()?.to_string(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    })
}

/// The revision a response was made at.
fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map(|h| h.revision()).unwrap_or_default()
}

/// The key a failed compare-and-swap found (from the transaction's `else` get), as
/// `NotFound` or `Conflict`.
fn refusal(response: &TxnResponse, key: &str, expected: Revision) -> StorageError {
    let actual = response.op_responses().into_iter().find_map(|op| match op {
        TxnOpResponse::Get(get) => Some(get.kvs().first().map(|kv| kv.mod_revision())),
        _ => None,
    });
    match actual.flatten() {
        Some(actual) => StorageError::Conflict {
            key: key.to_string(),
            expected,
            actual,
        },
        None => StorageError::NotFound {
            key: key.to_string(),
        },
    }
}

/// Whether an etcd error says the revision asked for is compacted.
fn is_compacted(error: &etcd_client::Error) -> bool {
    matches!(error, etcd_client::Error::GRpcStatus(status) if status.message().contains(ERR_COMPACTED))
}

#[async_trait]
impl Backend for EtcdBackend {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StorageError> {
        let response = self.kv().get(key, None).await?;
        response.kvs().first().map(key_value).transpose()
    }

    async fn list(&self, prefix: &str) -> Result<ListResult, StorageError> {
        let mut response = self
            .kv()
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await?;
        let revision = header_revision(response.header());
        let kvs = response
            .take_kvs()
            .into_iter()
            .map(|kv| {
                let (create_revision, mod_revision) = (kv.create_revision(), kv.mod_revision());
                let (key, value) = kv.into_key_value();
                let key = String::from_utf8(key)
                    .map_err(|e| etcd_client::Error::Utf8Error(e.utf8_error()))?;
                Ok(KeyValue {
                    key,
                    value: Bytes::from(value),
                    create_revision,
                    mod_revision,
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(ListResult { kvs, revision })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StorageError> {
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value.to_vec(), None)]);
        let response = self.kv().txn(txn).await?;
        if !response.succeeded() {
            return Err(StorageError::AlreadyExists {
                key: key.to_string(),
            });
        }
        let revision = header_revision(response.header());
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: revision,
            mod_revision: revision,
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_revision: Revision,
    ) -> Result<KeyValue, StorageError> {
        let txn = Txn::new()
            .when([
                Compare::create_revision(key, CompareOp::Greater, 0),
                Compare::mod_revision(key, CompareOp::Equal, expected_revision),
            ])
            .and_then([TxnOp::put(
                key,
                value.to_vec(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let response = self.kv().txn(txn).await?;
        if !response.succeeded() {
            return Err(refusal(&response, key, expected_revision));
        }
        let revision = header_revision(response.header());
        let create_revision = response
            .op_responses()
            .into_iter()
            .find_map(|op| match op {
                TxnOpResponse::Put(put) => put.prev_key().map(|kv| kv.create_revision()),
                _ => None,
            })
            .unwrap_or(revision);
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision,
            mod_revision: revision,
        })
    }

    async fn delete(
        &self,
        key: &str,
        expected_revision: Option<Revision>,
    ) -> Result<KeyValue, StorageError> {
        let compares: Vec<Compare> = expected_revision
            .map(|expected| Compare::mod_revision(key, CompareOp::Equal, expected))
            .into_iter()
            .collect();
        let txn = Txn::new()
            .when(compares)
            .and_then([TxnOp::delete(
                key,
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let response = self.kv().txn(txn).await?;
        if !response.succeeded() {
            return Err(refusal(&response, key, expected_revision.unwrap_or(0)));
        }
        let revision = header_revision(response.header());
        let deleted = response.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Delete(delete) => delete.prev_kvs().first().map(key_value),
            _ => None,
        });
        match deleted {
            Some(kv) => Ok(KeyValue {
                mod_revision: revision,
                ..kv?
            }),
            None => Err(StorageError::NotFound {
                key: key.to_string(),
            }),
        }
    }

    async fn watch(
        &self,
        prefix: &str,
        after_revision: Revision,
    ) -> Result<WatchStream, StorageError> {
        let compacted = self.compacted.load(Ordering::SeqCst);
        if after_revision < compacted {
            return Err(StorageError::Compacted {
                requested: after_revision,
                compacted,
            });
        }
        watch::start(
            self.client.watch_client(),
            prefix,
            after_revision,
            self.compacted.clone(),
        )
        .await
    }

    async fn current_revision(&self) -> Result<Revision, StorageError> {
        let response = self
            .kv()
            .get("\0", Some(GetOptions::new().with_count_only()))
            .await?;
        Ok(header_revision(response.header()))
    }

    /// etcd keeps the state *at* its compaction revision, so compacting at `revision` asks
    /// etcd to compact at `revision + 1` (history at and below `revision` is then gone, as the
    /// trait says); when `revision` is the current revision that is not possible yet, and etcd
    /// compacts at `revision` itself.
    async fn compact(&self, revision: Revision) -> Result<(), StorageError> {
        let current = self.current_revision().await?;
        if revision > current {
            return Err(StorageError::FutureRevision {
                requested: revision,
                current,
            });
        }
        if revision <= 0 {
            return Ok(());
        }
        let target = if revision < current {
            revision + 1
        } else {
            revision
        };
        match self.kv().compact(target, None).await {
            Ok(_) => {}
            Err(error) if is_compacted(&error) => {}
            Err(error) => return Err(error.into()),
        }
        self.compacted.fetch_max(revision, Ordering::SeqCst);
        Ok(())
    }

    async fn compacted_revision(&self) -> Result<Revision, StorageError> {
        Ok(self.compacted.load(Ordering::SeqCst))
    }
}
