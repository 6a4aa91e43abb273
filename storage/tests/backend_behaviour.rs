//! One suite of behaviour tests, written against `Arc<dyn Backend>` and run against both the
//! sqlite and the etcd backend (a private etcd per test binary; each test uses its own prefix).

mod common;

use std::collections::HashSet;

use bytes::Bytes;
use common::{Fixture, assert_quiet, next_event, watch_error};
use ferrokube_storage::{EventKind, StorageError};

async fn a_created_key_can_be_read_listed_updated_and_deleted(f: Fixture) {
    let key = f.key("web-0");
    let created = f.backend.create(&key, Bytes::from("v1")).await.unwrap();
    assert_eq!(created.key, key);
    assert_eq!(created.value, Bytes::from("v1"));
    assert_eq!(created.create_revision, created.mod_revision);

    let read = f.backend.get(&key).await.unwrap().expect("the key exists");
    assert_eq!(read, created);
    let listed = f.backend.list(&f.prefix).await.unwrap();
    assert_eq!(listed.kvs, vec![created.clone()]);

    let updated = f
        .backend
        .update(&key, Bytes::from("v2"), created.mod_revision)
        .await
        .unwrap();
    assert_eq!(updated.value, Bytes::from("v2"));
    assert_eq!(updated.create_revision, created.create_revision);
    assert!(updated.mod_revision > created.mod_revision);
    assert_eq!(f.backend.get(&key).await.unwrap(), Some(updated.clone()));

    let deleted = f
        .backend
        .delete(&key, Some(updated.mod_revision))
        .await
        .unwrap();
    assert_eq!(
        deleted.value,
        Bytes::from("v2"),
        "delete returns the last value"
    );
    assert_eq!(deleted.create_revision, created.create_revision);
    assert!(deleted.mod_revision > updated.mod_revision);
    assert_eq!(f.backend.get(&key).await.unwrap(), None);
    assert!(f.backend.list(&f.prefix).await.unwrap().kvs.is_empty());

    let again = f.backend.create(&key, Bytes::from("v3")).await.unwrap();
    assert!(
        again.create_revision > deleted.mod_revision,
        "a re-created key starts a new life"
    );
}

async fn creating_an_existing_key_fails_with_already_exists(f: Fixture) {
    let key = f.key("dup");
    let first = f.backend.create(&key, Bytes::from("a")).await.unwrap();
    let error = f.backend.create(&key, Bytes::from("b")).await.unwrap_err();
    assert!(
        matches!(&error, StorageError::AlreadyExists { key: k } if *k == key),
        "{error:?}"
    );
    assert_eq!(f.backend.get(&key).await.unwrap(), Some(first));
}

async fn a_stale_update_is_a_conflict(f: Fixture) {
    let key = f.key("cm");
    let v1 = f.backend.create(&key, Bytes::from("1")).await.unwrap();
    let v2 = f
        .backend
        .update(&key, Bytes::from("2"), v1.mod_revision)
        .await
        .unwrap();
    let error = f
        .backend
        .update(&key, Bytes::from("3"), v1.mod_revision)
        .await
        .unwrap_err();
    match error {
        StorageError::Conflict {
            key: k,
            expected,
            actual,
        } => {
            assert_eq!(k, key);
            assert_eq!(expected, v1.mod_revision);
            assert_eq!(actual, v2.mod_revision);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let error = f
        .backend
        .delete(&key, Some(v1.mod_revision))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StorageError::Conflict { actual, .. } if actual == v2.mod_revision),
        "a stale delete is a conflict too: {error:?}"
    );
    assert_eq!(f.backend.get(&key).await.unwrap(), Some(v2));
}

async fn updating_or_deleting_a_missing_key_is_not_found(f: Fixture) {
    let key = f.key("missing");
    let error = f
        .backend
        .update(&key, Bytes::from("x"), 1)
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::NotFound { .. }), "{error:?}");
    let error = f
        .backend
        .update(&key, Bytes::from("x"), 0)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StorageError::NotFound { .. }),
        "expected revision 0 does not create: {error:?}"
    );
    let error = f.backend.delete(&key, None).await.unwrap_err();
    assert!(matches!(error, StorageError::NotFound { .. }), "{error:?}");
    let error = f.backend.delete(&key, Some(0)).await.unwrap_err();
    assert!(matches!(error, StorageError::NotFound { .. }), "{error:?}");
    assert_eq!(f.backend.get(&key).await.unwrap(), None);
}

async fn revisions_strictly_increase_across_keys(f: Fixture) {
    let start = f.backend.current_revision().await.unwrap();
    let mut last = start;
    for i in 0..10 {
        let kv = f
            .backend
            .create(&f.key(&format!("k{i}")), Bytes::from("x"))
            .await
            .unwrap();
        assert!(kv.mod_revision > last, "{} after {last}", kv.mod_revision);
        last = kv.mod_revision;
        let kv = f
            .backend
            .update(&kv.key, Bytes::from("y"), last)
            .await
            .unwrap();
        assert!(kv.mod_revision > last);
        last = kv.mod_revision;
    }
    let deleted = f.backend.delete(&f.key("k0"), None).await.unwrap();
    assert!(deleted.mod_revision > last);
    assert!(f.backend.current_revision().await.unwrap() >= deleted.mod_revision);
}

async fn list_returns_keys_in_order_with_the_current_revision(f: Fixture) {
    let dir = f.key("pods/");
    for name in ["c", "a", "b/x", "b"] {
        f.backend
            .create(&format!("{dir}{name}"), Bytes::from(name))
            .await
            .unwrap();
    }
    // Keys that share the prefix's characters but are not under it.
    f.backend
        .create(&f.key("pods0"), Bytes::from("out"))
        .await
        .unwrap();
    let last = f
        .backend
        .create(&f.key("podsx"), Bytes::from("out"))
        .await
        .unwrap();

    let listed = f.backend.list(&dir).await.unwrap();
    let keys: Vec<&str> = listed.kvs.iter().map(|kv| kv.key.as_str()).collect();
    let expected: Vec<String> = ["a", "b", "b/x", "c"]
        .iter()
        .map(|n| format!("{dir}{n}"))
        .collect();
    assert_eq!(keys, expected);
    assert!(listed.revision >= last.mod_revision);
    assert!(f.backend.current_revision().await.unwrap() >= listed.revision);

    let all = f.backend.list(&f.prefix).await.unwrap();
    assert_eq!(all.kvs.len(), 6);
    let everything = f.backend.list("").await.unwrap();
    assert!(
        everything.kvs.len() >= 6,
        "the empty prefix lists every key"
    );
}

async fn a_watch_replays_history_then_follows_live_writes(f: Fixture) {
    let key = f.key("obj");
    let v1 = f.backend.create(&key, Bytes::from("1")).await.unwrap();
    let v2 = f
        .backend
        .update(&key, Bytes::from("2"), v1.mod_revision)
        .await
        .unwrap();
    let other = f
        .backend
        .create(&f.key("other"), Bytes::from("o"))
        .await
        .unwrap();

    let mut watch = f
        .backend
        .watch(&f.prefix, v1.mod_revision - 1)
        .await
        .unwrap();
    let e1 = next_event(&mut watch).await;
    assert_eq!((e1.kind, &e1.kv), (EventKind::Put, &v1));
    assert_eq!(e1.prev_kv, None, "a create has no previous value");
    let e2 = next_event(&mut watch).await;
    assert_eq!((e2.kind, &e2.kv), (EventKind::Put, &v2));
    assert_eq!(e2.prev_kv.as_ref(), Some(&v1));
    let e3 = next_event(&mut watch).await;
    assert_eq!(e3.kv, other);

    let v3 = f
        .backend
        .update(&key, Bytes::from("3"), v2.mod_revision)
        .await
        .unwrap();
    let e4 = next_event(&mut watch).await;
    assert_eq!(e4.kv, v3);
    assert_eq!(e4.prev_kv.as_ref(), Some(&v2));

    let mut revisions = vec![e1.revision(), e2.revision(), e3.revision(), e4.revision()];
    for i in 0..20 {
        let kv = f
            .backend
            .create(&f.key(&format!("live-{i}")), Bytes::from("x"))
            .await
            .unwrap();
        let event = next_event(&mut watch).await;
        assert_eq!(event.kv, kv);
        revisions.push(event.revision());
    }
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "events arrive in revision order: {revisions:?}"
    );
    assert_quiet(&mut watch).await;

    // A watch from the middle starts right after the given revision.
    let mut later = f.backend.watch(&f.prefix, v2.mod_revision).await.unwrap();
    assert_eq!(next_event(&mut later).await.kv, other);
}

async fn a_watch_of_a_prefix_ignores_other_prefixes(f: Fixture) {
    let start = f.backend.current_revision().await.unwrap();
    let pods = f.key("pods/");
    let mut watch = f.backend.watch(&pods, start).await.unwrap();
    f.backend
        .create(&f.key("services/a"), Bytes::from("s"))
        .await
        .unwrap();
    f.backend
        .create(&f.key("pods0"), Bytes::from("s"))
        .await
        .unwrap();
    let pod = f
        .backend
        .create(&format!("{pods}a"), Bytes::from("p"))
        .await
        .unwrap();
    f.backend
        .create(&f.key("podsa"), Bytes::from("s"))
        .await
        .unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!(event.kv, pod);
    assert_quiet(&mut watch).await;
}

async fn a_delete_event_carries_the_last_value(f: Fixture) {
    let key = f.key("gone");
    let v1 = f.backend.create(&key, Bytes::from("first")).await.unwrap();
    let v2 = f
        .backend
        .update(&key, Bytes::from("last"), v1.mod_revision)
        .await
        .unwrap();
    let mut live = f.backend.watch(&f.prefix, v2.mod_revision).await.unwrap();
    let deleted = f.backend.delete(&key, None).await.unwrap();

    let mut replay = f.backend.watch(&f.prefix, v2.mod_revision).await.unwrap();
    for watch in [&mut live, &mut replay] {
        let event = next_event(watch).await;
        assert_eq!(event.kind, EventKind::Delete);
        assert_eq!(event.kv.key, key);
        assert_eq!(event.kv.value, Bytes::from("last"));
        assert_eq!(event.kv.create_revision, v1.create_revision);
        assert_eq!(event.kv.mod_revision, deleted.mod_revision);
        assert_eq!(event.revision(), deleted.mod_revision);
        assert_eq!(event.prev_kv.as_ref(), Some(&v2));
    }
}

async fn compaction_makes_older_watches_fail_and_keeps_latest_values(f: Fixture) {
    let a1 = f
        .backend
        .create(&f.key("a"), Bytes::from("a1"))
        .await
        .unwrap();
    let b1 = f
        .backend
        .create(&f.key("b"), Bytes::from("b1"))
        .await
        .unwrap();
    let a2 = f
        .backend
        .update(&a1.key, Bytes::from("a2"), a1.mod_revision)
        .await
        .unwrap();
    let c1 = f
        .backend
        .create(&f.key("c"), Bytes::from("c1"))
        .await
        .unwrap();
    let b2 = f
        .backend
        .update(&b1.key, Bytes::from("b2"), b1.mod_revision)
        .await
        .unwrap();
    assert_eq!(f.backend.compacted_revision().await.unwrap(), 0);

    f.backend.compact(a2.mod_revision).await.unwrap();
    assert_eq!(
        f.backend.compacted_revision().await.unwrap(),
        a2.mod_revision
    );

    for after in [0, a1.mod_revision, a2.mod_revision - 1] {
        let error = watch_error(f.backend.as_ref(), &f.prefix, after).await;
        assert!(
            matches!(error, StorageError::Compacted { .. }),
            "watch after {after}: {error:?}"
        );
    }
    let mut watch = f.backend.watch(&f.prefix, a2.mod_revision).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv, c1);
    let event = next_event(&mut watch).await;
    assert_eq!(event.kv, b2);
    assert_eq!(
        event.prev_kv.as_ref(),
        Some(&b1),
        "the previous value survives compaction"
    );

    let listed = f.backend.list(&f.prefix).await.unwrap();
    assert_eq!(listed.kvs, vec![a2.clone(), b2.clone(), c1.clone()]);
    assert_eq!(f.backend.get(&a1.key).await.unwrap(), Some(a2.clone()));
    let a3 = f
        .backend
        .update(&a2.key, Bytes::from("a3"), a2.mod_revision)
        .await
        .unwrap();
    assert_eq!(a3.create_revision, a1.create_revision);

    // Compacting again at or below the compacted revision changes nothing.
    f.backend.compact(a1.mod_revision).await.unwrap();
    assert_eq!(
        f.backend.compacted_revision().await.unwrap(),
        a2.mod_revision
    );
}

async fn compacting_a_future_revision_is_refused(f: Fixture) {
    let current = f.backend.current_revision().await.unwrap();
    let error = f.backend.compact(current + 1_000_000).await.unwrap_err();
    assert!(
        matches!(error, StorageError::FutureRevision { .. }),
        "{error:?}"
    );
}

async fn concurrent_writers_all_succeed_with_distinct_revisions(f: Fixture) {
    const WRITERS: usize = 64;
    const CREATES: usize = 50;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let backend = f.backend.clone();
        let prefix = f.prefix.clone();
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::with_capacity(CREATES);
            for i in 0..CREATES {
                let kv = backend
                    .create(&format!("{prefix}w{writer}/{i}"), Bytes::from("x"))
                    .await
                    .expect("every concurrent create succeeds");
                revisions.push(kv.mod_revision);
            }
            revisions
        }));
    }
    let mut all = HashSet::new();
    for task in tasks {
        let revisions = task.await.expect("the writer task finishes");
        assert!(
            revisions.windows(2).all(|w| w[0] < w[1]),
            "one writer's revisions increase"
        );
        all.extend(revisions);
    }
    assert_eq!(
        all.len(),
        WRITERS * CREATES,
        "every write has its own revision"
    );
    let listed = f.backend.list(&f.prefix).await.unwrap();
    assert_eq!(listed.kvs.len(), WRITERS * CREATES);
}

/// Instantiates every behaviour for both backends: `shared` tests may share an etcd with
/// other tests (they use their own prefix); `isolated` ones change the whole store.
macro_rules! behaviours {
    (shared: [$($shared:ident),* $(,)?], isolated: [$($isolated:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $shared() {
                    super::$shared(crate::common::sqlite().await).await
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $isolated() {
                    super::$isolated(crate::common::sqlite().await).await
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $shared() {
                    super::$shared(crate::common::etcd().await).await
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $isolated() {
                    super::$isolated(crate::common::private_etcd().await).await
                }
            )*
        }
    };
}

behaviours!(
    shared: [
        a_created_key_can_be_read_listed_updated_and_deleted,
        creating_an_existing_key_fails_with_already_exists,
        a_stale_update_is_a_conflict,
        updating_or_deleting_a_missing_key_is_not_found,
        revisions_strictly_increase_across_keys,
        list_returns_keys_in_order_with_the_current_revision,
        a_watch_replays_history_then_follows_live_writes,
        a_watch_of_a_prefix_ignores_other_prefixes,
        a_delete_event_carries_the_last_value,
        compacting_a_future_revision_is_refused,
        concurrent_writers_all_succeed_with_distinct_revisions,
    ],
    isolated: [compaction_makes_older_watches_fail_and_keeps_latest_values],
);

#[tokio::test]
async fn open_understands_both_datastore_urls_and_rejects_others() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sub/store.db").display());
    let sqlite = ferrokube_storage::open(&url).await.unwrap();
    sqlite.create("/k", Bytes::from("v")).await.unwrap();

    let etcd = ferrokube_storage::open(&common::shared_etcd().datastore_url())
        .await
        .unwrap();
    etcd.current_revision().await.unwrap();

    for bad in ["sqlite://", "etcd://", "mysql://localhost", "store.db"] {
        let error = ferrokube_storage::open(bad).await.err();
        assert!(
            matches!(error, Some(StorageError::InvalidUrl { .. })),
            "{bad}: {error:?}"
        );
    }
}
