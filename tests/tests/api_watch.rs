//! Watches against the real server: events in order from a resourceVersion, selectors that
//! turn updates into ADDED/DELETED, the initial events of a watch from "0" or unset,
//! `sendInitialEvents` with the `k8s.io/initial-events-end` bookmark, `410 Gone` for a
//! revision that fell out of the watch cache window, `timeoutSeconds`, and kube-rs's
//! `watcher` (with bookmarks, and in streaming-list mode).

mod api_support;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use api_support::{configmap, get, typed};
use ferrokube_tests::{Cluster, Options};
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::json;

/// How long one expected event may take to arrive.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The next event of a watch, or an error when none comes in time.
async fn next<S, T>(stream: &mut S) -> Result<T>
where
    S: Stream<Item = Result<T, kube::Error>> + Unpin,
{
    match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
        Ok(Some(ev)) => Ok(ev?),
        Ok(None) => bail!("the watch ended"),
        Err(_) => bail!("no watch event within {EVENT_TIMEOUT:?}"),
    }
}

/// A short description of an event: `ADDED name`, `BOOKMARK rv`, `ERROR code`.
fn describe(ev: &WatchEvent<ConfigMap>) -> String {
    let name = |cm: &ConfigMap| cm.metadata.name.clone().unwrap_or_default();
    match ev {
        WatchEvent::Added(o) => format!("ADDED {}", name(o)),
        WatchEvent::Modified(o) => format!("MODIFIED {}", name(o)),
        WatchEvent::Deleted(o) => format!("DELETED {}", name(o)),
        WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.metadata.resource_version),
        WatchEvent::Error(s) => format!("ERROR {} {}", s.code, s.reason),
    }
}

async fn namespace_with_configmaps(c: &Cluster) -> Result<Api<ConfigMap>> {
    let client = c.client().await?;
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &typed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "watched"}})),
    )
    .await?;
    let api: Api<ConfigMap> = Api::namespaced(client, "watched");
    // Start with only our own objects in the namespace.
    api.delete("kube-root-ca.crt", &DeleteParams::default())
        .await?;
    Ok(api)
}

#[tokio::test]
async fn a_watch_from_a_list_sees_every_later_change_in_order() -> Result<()> {
    let c = Cluster::start()?;
    let api = namespace_with_configmaps(&c).await?;
    api.create(
        &PostParams::default(),
        &typed(configmap("before", &[], &[])),
    )
    .await?;
    let rv = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("list rv")?;
    let mut events = api
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await?
        .boxed();

    api.create(
        &PostParams::default(),
        &typed(configmap("w", &[], &[("a", "1")])),
    )
    .await?;
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "2"}})),
    )
    .await?;
    api.delete("w", &DeleteParams::default()).await?;

    let mut seen = Vec::new();
    let mut last_rv = rv.parse::<i64>()?;
    for _ in 0..3 {
        let ev = next(&mut events).await?;
        if let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) = &ev {
            let this: i64 = o
                .metadata
                .resource_version
                .as_deref()
                .unwrap_or("0")
                .parse()?;
            assert!(this > last_rv, "resourceVersions increase along the watch");
            last_rv = this;
        }
        seen.push(describe(&ev));
    }
    assert_eq!(
        seen,
        ["ADDED w", "MODIFIED w", "DELETED w"],
        "the object that existed before is not replayed"
    );
    Ok(())
}

#[tokio::test]
async fn a_watch_without_a_resource_version_starts_with_the_current_objects() -> Result<()> {
    let c = Cluster::start()?;
    let api = namespace_with_configmaps(&c).await?;
    for n in ["one", "two"] {
        api.create(&PostParams::default(), &typed(configmap(n, &[], &[])))
            .await?;
    }
    for rv in ["", "0"] {
        let mut events = api
            .watch(&WatchParams::default().disable_bookmarks(), rv)
            .await?
            .boxed();
        let mut seen = vec![
            describe(&next(&mut events).await?),
            describe(&next(&mut events).await?),
        ];
        seen.sort();
        assert_eq!(seen, ["ADDED one", "ADDED two"], "resourceVersion {rv:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_selector_watch_turns_label_changes_into_added_and_deleted() -> Result<()> {
    let c = Cluster::start()?;
    let api = namespace_with_configmaps(&c).await?;
    api.create(
        &PostParams::default(),
        &typed(configmap("moving", &[("stage", "draft")], &[])),
    )
    .await?;
    let rv = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("rv")?;
    let wp = WatchParams::default()
        .labels("stage=live")
        .disable_bookmarks();
    let mut events = api.watch(&wp, &rv).await?.boxed();
    let relabel = |stage: &'static str| {
        let api = api.clone();
        async move {
            api.patch(
                "moving",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"stage": stage}}})),
            )
            .await
        }
    };
    relabel("live").await?;
    api.patch(
        "moving",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await?;
    relabel("archived").await?;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(describe(&next(&mut events).await?));
    }
    assert_eq!(seen, ["ADDED moving", "MODIFIED moving", "DELETED moving"]);

    // A field selector on the name watches one object.
    api.create(&PostParams::default(), &typed(configmap("other", &[], &[])))
        .await?;
    let rv = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("rv")?;
    let mut one = api
        .watch(
            &WatchParams::default()
                .fields("metadata.name=other")
                .disable_bookmarks(),
            &rv,
        )
        .await?
        .boxed();
    api.patch(
        "moving",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "2"}})),
    )
    .await?;
    api.patch(
        "other",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "2"}})),
    )
    .await?;
    assert_eq!(describe(&next(&mut one).await?), "MODIFIED other");
    Ok(())
}

#[tokio::test]
async fn send_initial_events_ends_with_the_initial_events_end_bookmark() -> Result<()> {
    let c = Cluster::start()?;
    let api = namespace_with_configmaps(&c).await?;
    for n in ["a", "b", "c"] {
        api.create(&PostParams::default(), &typed(configmap(n, &[], &[])))
            .await?;
    }
    let list_rv: i64 = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("rv")?
        .parse()?;

    // kube-rs's streaming list: sendInitialEvents=true, resourceVersionMatch=NotOlderThan,
    // allowWatchBookmarks=true and no resourceVersion (a consistent read).
    let mut events = api
        .watch(&WatchParams::streaming_lists(), "")
        .await?
        .boxed();
    let mut added = Vec::new();
    let bookmark = loop {
        match next(&mut events).await? {
            WatchEvent::Added(o) => added.push(o.metadata.name.unwrap_or_default()),
            WatchEvent::Bookmark(b) => break b,
            other => bail!("unexpected event before the bookmark: {}", describe(&other)),
        }
    };
    added.sort();
    assert_eq!(added, ["a", "b", "c"]);
    assert_eq!(
        bookmark
            .metadata
            .annotations
            .get("k8s.io/initial-events-end")
            .map(String::as_str),
        Some("true")
    );
    assert!(
        bookmark.metadata.resource_version.parse::<i64>()? >= list_rv,
        "the bookmark is at least as new as the data"
    );

    // Changes after the bookmark follow on the same stream.
    api.create(&PostParams::default(), &typed(configmap("d", &[], &[])))
        .await?;
    assert_eq!(describe(&next(&mut events).await?), "ADDED d");

    // sendInitialEvents needs allowWatchBookmarks and resourceVersionMatch=NotOlderThan.
    let client = c.client().await?;
    for q in [
        "sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
        "sendInitialEvents=true&allowWatchBookmarks=true",
    ] {
        let r = get(
            &client,
            &format!("/api/v1/namespaces/watched/configmaps?watch=true&{q}"),
        )
        .await?;
        assert_eq!(r.status, 422, "{q}: {}", r.text());
    }
    Ok(())
}

#[tokio::test]
async fn a_watch_from_a_revision_older_than_the_window_is_gone() -> Result<()> {
    let c = Cluster::start_with(Options {
        args: vec!["--watch-cache-window".into(), "10".into()],
        ..Default::default()
    })?;
    let api = namespace_with_configmaps(&c).await?;
    let old_rv = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("rv")?;
    for i in 0..25 {
        api.create(
            &PostParams::default(),
            &typed(configmap(&format!("churn-{i}"), &[], &[])),
        )
        .await?;
    }
    let mut events = api
        .watch(&WatchParams::default().disable_bookmarks(), &old_rv)
        .await?
        .boxed();
    match next(&mut events).await? {
        WatchEvent::Error(s) => {
            assert_eq!((s.code, s.reason.as_str()), (410, "Expired"), "{s:?}");
            assert!(
                s.message.starts_with("too old resource version"),
                "{}",
                s.message
            );
        }
        other => bail!("expected a 410 ERROR event, got {}", describe(&other)),
    }

    // A list at an exact revision that old is gone too.
    let r = get(&c.client().await?, &format!("/api/v1/namespaces/watched/configmaps?resourceVersion={old_rv}&resourceVersionMatch=Exact"))
        .await?;
    assert_eq!(r.status, 410, "{}", r.text());
    assert_eq!(r.json()["reason"], "Expired");

    // A recent revision inside the window still replays what came after it.
    let recent = api
        .get("churn-22")
        .await?
        .metadata
        .resource_version
        .context("rv")?;
    let mut events = api
        .watch(&WatchParams::default().disable_bookmarks(), &recent)
        .await?
        .boxed();
    assert_eq!(describe(&next(&mut events).await?), "ADDED churn-23");
    assert_eq!(describe(&next(&mut events).await?), "ADDED churn-24");

    Ok(())
}

#[tokio::test]
async fn a_watch_ends_when_its_timeout_passes() -> Result<()> {
    let c = Cluster::start()?;
    let api = namespace_with_configmaps(&c).await?;
    let mut events = api
        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), "0")
        .await?
        .boxed();
    let ended = tokio::time::timeout(EVENT_TIMEOUT, async {
        while let Some(ev) = events.next().await {
            ev?;
        }
        anyhow::Ok(())
    })
    .await;
    assert!(
        matches!(ended, Ok(Ok(()))),
        "a watch with timeoutSeconds=1 closes by itself: {ended:?}"
    );
    Ok(())
}

#[tokio::test]
async fn kube_rs_watcher_lists_then_follows_with_bookmarks() -> Result<()> {
    let c = Cluster::start()?;
    let api = namespace_with_configmaps(&c).await?;
    api.create(
        &PostParams::default(),
        &typed(configmap("existing", &[], &[])),
    )
    .await?;

    for (mode, config) in [
        ("list-then-watch", watcher::Config::default()),
        (
            "streaming list",
            watcher::Config::default().streaming_lists(),
        ),
    ] {
        let mut stream = watcher(api.clone(), config).boxed();
        let mut init = Vec::new();
        loop {
            let ev = tokio::time::timeout(EVENT_TIMEOUT, stream.try_next())
                .await
                .with_context(|| format!("{mode}: no watcher event in time"))??
                .with_context(|| format!("{mode}: watcher ended"))?;
            match ev {
                watcher::Event::Init => {}
                watcher::Event::InitApply(o) => init.push(o.metadata.name.unwrap_or_default()),
                watcher::Event::InitDone => break,
                other => bail!("{mode}: unexpected event during the initial list: {other:?}"),
            }
        }
        assert_eq!(init, ["existing"], "{mode}");
        let name = format!("new-{}", mode.replace(' ', "-"));
        api.create(&PostParams::default(), &typed(configmap(&name, &[], &[])))
            .await?;
        let applied = tokio::time::timeout(EVENT_TIMEOUT, stream.try_next())
            .await
            .context("no event after the create")??;
        match applied {
            Some(watcher::Event::Apply(o)) => {
                assert_eq!(o.metadata.name.as_deref(), Some(name.as_str()), "{mode}")
            }
            other => bail!("{mode}: expected Apply of {name}, got {other:?}"),
        }
        api.delete(&name, &DeleteParams::default()).await?;
        let deleted = tokio::time::timeout(EVENT_TIMEOUT, stream.try_next())
            .await
            .context("no event after the delete")??;
        assert!(
            matches!(deleted, Some(watcher::Event::Delete(_))),
            "{mode}: {deleted:?}"
        );
    }
    Ok(())
}
