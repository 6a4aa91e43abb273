//! Watches served from the watch cache: initial events, replay from a resourceVersion, live
//! events filtered by namespace and selectors (with the ADDED/DELETED transitions selectors
//! imply), bookmarks, `sendInitialEvents` with the initial-events-end bookmark, timeouts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::Apiserver;
use crate::cache::{CachedObject, Change, ChangeKind};
use crate::handlers::{ListOptions, Output};
use crate::http::Body;
use crate::registry::ResourceType;
use crate::status::ApiError;

/// How often a watch with `allowWatchBookmarks` gets a bookmark.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);

/// The most queued events one watch write carries.
const MAX_BATCH: usize = 64;

struct Encoder {
    kind: &'static str,
    group: &'static str,
    api_version: String,
    output: Output,
    headers_sent: std::sync::atomic::AtomicBool,
}

impl Encoder {
    fn object_json(&self, obj: &CachedObject) -> Bytes {
        match self.output {
            Output::Table(include) => {
                let v = obj.value();
                // Column definitions go with the first event only, as upstream's watch encoder does.
                let first = !self
                    .headers_sent
                    .swap(true, std::sync::atomic::Ordering::Relaxed);
                let options = ferrokube_printers::TableOptions {
                    include_object: include,
                    no_headers: !first,
                    resource_version: Some(obj.revision.to_string()),
                    ..Default::default()
                };
                let table = ferrokube_printers::table_with_options(
                    self.group,
                    self.kind,
                    &[&v],
                    jiff::Timestamp::now(),
                    &options,
                );
                Bytes::from(serde_json::to_vec(&table).unwrap_or_default())
            }
            Output::Metadata => Bytes::from(
                serde_json::to_vec(&crate::handlers::partial_object_metadata(&obj.value()))
                    .unwrap_or_default(),
            ),
            _ => obj.json.clone(),
        }
    }

    fn event(&self, ty: &str, obj: &CachedObject) -> Bytes {
        crate::cache::event_line(ty, &self.object_json(obj))
    }

    /// The event for a change: JSON lines are shared by every watcher of the change.
    fn change_event(&self, ty: &'static str, change: &Change) -> Bytes {
        match self.output {
            Output::Table(_) | Output::Metadata => self.event(ty, &change.object),
            _ => change.json_line(ty),
        }
    }

    fn bookmark(&self, revision: i64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = if self.output == Output::Metadata {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
        } else {
            json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": meta})
        };
        let mut line =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

/// Decides what a watcher sees of one change given its filters.
fn translate(change: &Change, namespace: Option<&str>, opts: &ListOptions) -> Option<&'static str> {
    if let Some(ns) = namespace
        && change.object.namespace != ns
    {
        return None;
    }
    let now = opts.matches(&change.object);
    let before = change.previous.as_ref().is_some_and(|p| opts.matches(p));
    match change.kind {
        ChangeKind::Added => now.then_some("ADDED"),
        ChangeKind::Deleted => (now || before).then_some("DELETED"),
        ChangeKind::Modified => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
    }
}

impl Apiserver {
    /// Serves a watch.
    pub async fn watch(
        self: &Arc<Self>,
        r: &ResourceType,
        namespace: Option<&str>,
        opts: ListOptions,
        query: &HashMap<String, String>,
        output: Output,
    ) -> Result<Response<Body>, ApiError> {
        let bookmarks = query
            .get("allowWatchBookmarks")
            .is_some_and(|v| v == "true");
        let send_initial = query.get("sendInitialEvents").map(String::as_str);
        if send_initial == Some("true") {
            if !bookmarks {
                return Err(crate::handlers::list_options_invalid(
                    "allowWatchBookmarks",
                    "Forbidden: allowWatchBookmarks must be set to true when sendInitialEvents is true",
                ));
            }
            if opts.resource_version_match.as_deref() != Some("NotOlderThan") {
                return Err(crate::handlers::list_options_invalid(
                    "resourceVersionMatch",
                    "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                ));
            }
        } else if opts.resource_version_match.is_some() {
            return Err(crate::handlers::list_options_invalid(
                "resourceVersionMatch",
                "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(1800));
        let rv = opts
            .resource_version
            .as_deref()
            .map(|v| v.parse::<i64>().unwrap_or(0));
        let (after, initial) = match (rv, send_initial) {
            (_, Some("true")) => {
                if let Some(rv) = rv.filter(|v| *v > 0) {
                    self.objects
                        .cache
                        .wait_for(rv, Duration::from_secs(3))
                        .await;
                } else {
                    self.objects.sync_cache().await?;
                }
                (None, true)
            }
            (None, _) => {
                self.objects.sync_cache().await?;
                (None, true)
            }
            (Some(0), _) => (None, true),
            (Some(rv), _) => (Some(rv), false),
        };
        let sub = match self.objects.cache.subscribe(r, after, initial) {
            Ok(sub) => sub,
            Err(e) => {
                // As upstream's cacher: once the request is accepted, a too old resourceVersion
                // is an ERROR event on the stream, not an HTTP error.
                let expired = ApiError::expired(format!(
                    "too old resource version: {} ({})",
                    e.requested, e.oldest
                ));
                let mut line = serde_json::to_vec(&error_event(&expired)).unwrap_or_default();
                line.push(b'\n');
                return Ok(stream_response(futures::stream::iter([Bytes::from(line)])));
            }
        };
        let encoder = Arc::new(Encoder {
            kind: r.kind,
            group: r.group,
            api_version: r.api_version(),
            output,
            headers_sent: Default::default(),
        });
        let namespace = namespace.map(String::from);
        let initial_end = send_initial == Some("true");
        let stream = watch_stream(
            encoder,
            sub,
            namespace,
            opts,
            bookmarks,
            initial_end,
            timeout,
            after.unwrap_or(0),
        );
        self.metrics.watch_delta(1);
        let metrics = self.metrics.clone();
        let guard = WatchGuard(metrics);
        Ok(stream_response(stream.map(move |b| {
            let _keep = &guard;
            b
        })))
    }
}

/// Counts a watch as active for as long as its response stream lives.
struct WatchGuard(Arc<crate::metrics::Metrics>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.watch_delta(-1);
    }
}

fn stream_response(stream: impl futures::Stream<Item = Bytes> + Send + 'static) -> Response<Body> {
    let body = StreamBody::new(stream.map(|b| Ok::<_, std::convert::Infallible>(Frame::data(b))))
        .boxed_unsync();
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    resp
}

#[allow(clippy::too_many_arguments)] // the request's parts, each distinct
fn watch_stream(
    encoder: Arc<Encoder>,
    sub: crate::cache::Subscription,
    namespace: Option<String>,
    opts: ListOptions,
    bookmarks: bool,
    initial_end: bool,
    timeout: Duration,
    floor: i64,
) -> impl futures::Stream<Item = Bytes> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        let mut last = sub.revision.max(floor);
        let ns = namespace.as_deref();
        for obj in &sub.initial {
            if ns.is_some_and(|n| obj.namespace != n) || !opts.matches(obj) {
                continue;
            }
            if tx.send(encoder.event("ADDED", obj)).await.is_err() {
                return;
            }
        }
        if initial_end && tx.send(encoder.bookmark(sub.revision, true)).await.is_err() {
            return;
        }
        for change in &sub.replay {
            last = last.max(change.revision());
            if let Some(ty) = translate(change, ns, &opts)
                && tx.send(encoder.change_event(ty, change)).await.is_err()
            {
                return;
            }
        }
        let mut last_sent = last;
        let mut live = sub.live;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(BOOKMARK_INTERVAL);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = tick.tick(), if bookmarks => {
                    if tx.send(encoder.bookmark(last_sent, false)).await.is_err() {
                        return;
                    }
                }
                msg = live.recv() => match msg {
                    Ok(change) => {
                        // Everything already queued goes out in one write: under load a
                        // watcher gets fewer, larger chunks instead of one per event.
                        let mut batch = bytes::BytesMut::new();
                        let mut next = Some(change);
                        let mut taken = 0;
                        while let Some(change) = next.take() {
                            // Changes the client already saw (it asked for a newer revision
                            // than the cache had applied) are skipped.
                            if change.revision() > floor {
                                last_sent = last_sent.max(change.revision());
                                if let Some(ty) = translate(&change, ns, &opts) {
                                    batch.extend_from_slice(&encoder.change_event(ty, &change));
                                }
                            }
                            taken += 1;
                            if taken < MAX_BATCH {
                                match live.try_recv() {
                                    Ok(c) => next = Some(c),
                                    Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {}
                                    Err(_) => return,
                                }
                            }
                        }
                        if !batch.is_empty() && tx.send(batch.freeze()).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// A watch `ERROR` event carrying a `Status`.
fn error_event(e: &ApiError) -> Value {
    json!({"type": "ERROR", "object": e.to_status()})
}
