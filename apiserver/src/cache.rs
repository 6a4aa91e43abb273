//! The watch cache: the latest version of every object and a window of recent events per
//! resource, fed by one store watch over `/registry/`. Lists, gets and watches are served
//! from here; writes go to the store and come back through the watch.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use ferrokube_storage::{Backend, EventKind, KeyValue, Revision, WatchEvent};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tracing::{debug, warn};

use crate::registry::{Registry, ResourceType};

/// One object as the cache holds it: its JSON with `metadata.resourceVersion` filled in, plus
/// what selectors need, parsed once per write.
#[derive(Debug)]
pub struct CachedObject {
    /// The namespace ("" for cluster-scoped objects).
    pub namespace: String,
    /// The name.
    pub name: String,
    /// The revision of the object's last write (its resourceVersion).
    pub revision: Revision,
    /// The object as JSON, resourceVersion included.
    pub json: Bytes,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The selectable fields of this resource (besides name and namespace).
    pub fields: Vec<(&'static str, String)>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

impl CachedObject {
    /// The object decoded into a JSON value.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// What selectors need of this object (its JSON and revision left out), with the
    /// selectable field `field` now `value`.
    pub fn facts_with(&self, field: &str, value: &str) -> CachedObject {
        CachedObject {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            revision: 0,
            json: Bytes::new(),
            labels: self.labels.clone(),
            fields: self
                .fields
                .iter()
                .map(|(name, current)| {
                    let current = if *name == field { value } else { current };
                    (*name, current.to_string())
                })
                .collect(),
            deleting: self.deleting,
        }
    }

    /// The value of a selectable field, name and namespace included.
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "metadata.name" => Some(&self.name),
            "metadata.namespace" => Some(&self.namespace),
            _ => self
                .fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str()),
        }
    }
}

/// What happened to an object, as a watch reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Deleted.
    Deleted,
}

/// One change of one resource's objects, shared by every watcher.
#[derive(Debug)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// The object after the change (for Deleted: its last state with the deletion revision).
    pub object: Arc<CachedObject>,
    /// The object before the change.
    pub previous: Option<Arc<CachedObject>>,
    /// The JSON watch event lines (ADDED, MODIFIED, DELETED), encoded once and shared by
    /// every watcher.
    lines: [OnceLock<Bytes>; 3],
}

impl Change {
    /// A new change.
    pub fn new(
        kind: ChangeKind,
        object: Arc<CachedObject>,
        previous: Option<Arc<CachedObject>>,
    ) -> Self {
        Change {
            kind,
            object,
            previous,
            lines: Default::default(),
        }
    }

    /// The JSON watch event line `{"type":TY,"object":...}\n` for this change's object.
    pub fn json_line(&self, ty: &'static str) -> Bytes {
        let slot = match ty {
            "ADDED" => &self.lines[0],
            "MODIFIED" => &self.lines[1],
            _ => &self.lines[2],
        };
        slot.get_or_init(|| event_line(ty, &self.object.json))
            .clone()
    }

    /// The revision of the change.
    pub fn revision(&self) -> Revision {
        self.object.revision
    }
}

/// The cached state of one resource.
struct ResourceState {
    objects: BTreeMap<String, Arc<CachedObject>>,
    window: VecDeque<Arc<Change>>,
    /// Oldest revision from which the window can replay (events after it are all present).
    window_start: Revision,
    sender: broadcast::Sender<Arc<Change>>,
}

/// What a watcher gets when it starts: the replay and the live feed, with no gap between them.
pub struct Subscription {
    /// Objects for synthetic ADDED events (when the watch starts from "now" or "any").
    pub initial: Vec<Arc<CachedObject>>,
    /// Changes after the requested revision already in the window.
    pub replay: Vec<Arc<Change>>,
    /// Live changes.
    pub live: broadcast::Receiver<Arc<Change>>,
    /// The cache revision when the subscription was made.
    pub revision: Revision,
}

/// Why a watch cannot start from a revision.
#[derive(Debug)]
pub struct TooOld {
    /// The revision asked for.
    pub requested: Revision,
    /// The oldest revision the cache can replay from.
    pub oldest: Revision,
}

/// The watch cache of every resource.
pub struct WatchCache {
    registry: Arc<Registry>,
    states: HashMap<(&'static str, &'static str), Mutex<ResourceState>>,
    revision: watch::Sender<Revision>,
    window_size: usize,
    /// Writes this server has under way, by storage key: the cached form of each, prepared
    /// before the write, so the store's event for it need not be decoded again.
    pending: Mutex<HashMap<String, Vec<PendingWrite>>>,
}

impl WatchCache {
    /// Loads every object from the store, then follows the store's watch in the background.
    pub async fn start(
        registry: Arc<Registry>,
        backend: Arc<dyn Backend>,
        window_size: usize,
    ) -> Result<Arc<Self>, ferrokube_storage::StorageError> {
        let mut states = HashMap::new();
        for r in registry.all() {
            let (sender, _) = broadcast::channel(window_size.max(1024) * 4);
            states.insert(
                (r.group, r.plural),
                Mutex::new(ResourceState {
                    objects: BTreeMap::new(),
                    window: VecDeque::new(),
                    window_start: 0,
                    sender,
                }),
            );
        }
        let listed = backend.list("/registry/").await?;
        let (revision, _) = watch::channel(listed.revision);
        let cache = Arc::new(WatchCache {
            registry,
            states,
            revision,
            window_size,
            pending: Mutex::new(HashMap::new()),
        });
        for kv in listed.kvs {
            if let Some((r, obj)) = cache.decode(&kv, kv.mod_revision) {
                let mut st = cache.state(r).lock().expect("cache lock");
                st.objects.insert(object_key(&obj), Arc::new(obj));
            }
        }
        for st in cache.states.values() {
            st.lock().expect("cache lock").window_start = listed.revision;
        }
        let follower = cache.clone();
        let mut stream = backend.watch("/registry/", listed.revision).await?;
        tokio::spawn(async move {
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(ev) => follower.apply(ev),
                    Err(e) => {
                        warn!(error = %e, "store watch ended; the watch cache stops following");
                        break;
                    }
                }
            }
        });
        Ok(cache)
    }

    fn state(&self, r: &ResourceType) -> &Mutex<ResourceState> {
        self.states
            .get(&(r.group, r.plural))
            .expect("every registered resource has a cache")
    }

    fn decode(&self, kv: &KeyValue, revision: Revision) -> Option<(&ResourceType, CachedObject)> {
        let r = self.registry.for_key(&kv.key)?;
        let mut value: Value = match serde_json::from_slice(&kv.value) {
            Ok(v) => v,
            Err(e) => {
                warn!(key = %kv.key, error = %e, "undecodable object in store");
                return None;
            }
        };
        Some((r, cached_object(r, &mut value, revision)))
    }

    /// Prepares the cached form of an object this server is about to store as
    /// `encoded.stored` under `key`; the store's event for that write then costs a copy, not a
    /// decode. `obj` is the object encoded (without its resourceVersion).
    pub fn expect_write(&self, r: &ResourceType, key: &str, encoded: &EncodedWrite, obj: &Value) {
        if encoded.around_revision.is_some() {
            self.expect_write_of(key, encoded, object_facts(r, obj));
        }
    }

    /// [`WatchCache::expect_write`] with the object's selector facts already known (a
    /// [`CachedObject`] without JSON or revision, as [`CachedObject::facts_with`] gives them).
    pub fn expect_write_of(&self, key: &str, encoded: &EncodedWrite, facts: CachedObject) {
        let Some((before, after)) = &encoded.around_revision else {
            return;
        };
        let pending = PendingWrite {
            stored: encoded.stored.clone(),
            before: before.clone(),
            after: after.clone(),
            object: facts,
        };
        let mut map = self.pending.lock().expect("cache lock");
        if map.len() > 10_000 {
            map.clear();
        }
        map.entry(key.to_string()).or_default().push(pending);
    }

    /// Forgets a write announced with [`WatchCache::expect_write`] that did not happen.
    pub fn forget_write(&self, key: &str, stored: &Bytes) {
        let mut map = self.pending.lock().expect("cache lock");
        if let Some(list) = map.get_mut(key) {
            list.retain(|p| p.stored != *stored);
            if list.is_empty() {
                map.remove(key);
            }
        }
    }

    fn take_pending(&self, ev: &WatchEvent) -> Option<(&ResourceType, Arc<CachedObject>)> {
        if ev.kind != EventKind::Put {
            return None;
        }
        let pending = {
            let mut map = self.pending.lock().expect("cache lock");
            let list = map.get_mut(&ev.kv.key)?;
            let at = list.iter().position(|p| p.stored == ev.kv.value)?;
            let pending = list.swap_remove(at);
            if list.is_empty() {
                map.remove(&ev.kv.key);
            }
            pending
        };
        let r = self.registry.for_key(&ev.kv.key)?;
        Some((r, Arc::new(pending.complete(ev.revision()))))
    }

    fn apply(&self, ev: WatchEvent) {
        let revision = ev.revision();
        let decoded = self
            .take_pending(&ev)
            .or_else(|| self.decode(&ev.kv, revision).map(|(r, o)| (r, Arc::new(o))));
        if let Some((r, obj)) = decoded {
            let st = self.state(r);
            let mut st = st.lock().expect("cache lock");
            let key = object_key(&obj);
            let (kind, previous) = match ev.kind {
                EventKind::Put => {
                    let prev = st.objects.insert(key, obj.clone());
                    (
                        if prev.is_some() {
                            ChangeKind::Modified
                        } else {
                            ChangeKind::Added
                        },
                        prev,
                    )
                }
                EventKind::Delete => (ChangeKind::Deleted, st.objects.remove(&key)),
            };
            let change = Arc::new(Change::new(kind, obj, previous));
            st.window.push_back(change.clone());
            while st.window.len() > self.window_size {
                if let Some(old) = st.window.pop_front() {
                    st.window_start = old.revision();
                }
            }
            let _ = st.sender.send(change);
        }
        debug!(revision, "watch cache applied");
        self.revision.send_replace(revision);
    }

    /// The newest revision the cache has applied.
    pub fn revision(&self) -> Revision {
        *self.revision.borrow()
    }

    /// Waits until the cache has applied `revision` (or `timeout` passes; then false).
    pub async fn wait_for(&self, revision: Revision, timeout: std::time::Duration) -> bool {
        let mut rx = self.revision.subscribe();
        let fut = rx.wait_for(|r| *r >= revision);
        matches!(tokio::time::timeout(timeout, fut).await, Ok(Ok(_)))
    }

    /// One object by namespace and name.
    pub fn get(&self, r: &ResourceType, namespace: &str, name: &str) -> Option<Arc<CachedObject>> {
        let st = self.state(r).lock().expect("cache lock");
        st.objects.get(&join_key(namespace, name)).cloned()
    }

    /// Every object of a resource (in one namespace when given), in key order, with the cache
    /// revision the snapshot was taken at.
    pub fn list(
        &self,
        r: &ResourceType,
        namespace: Option<&str>,
    ) -> (Vec<Arc<CachedObject>>, Revision) {
        let st = self.state(r).lock().expect("cache lock");
        let revision = self.revision();
        let items = match namespace {
            Some(ns) if r.namespaced => {
                let start = format!("{ns}/");
                st.objects
                    .range(start.clone()..)
                    .take_while(|(k, _)| k.starts_with(&start))
                    .map(|(_, v)| v.clone())
                    .collect()
            }
            _ => st.objects.values().cloned().collect(),
        };
        (items, revision)
    }

    /// Starts a watch of one resource. `after` is the revision to replay from (None: from now,
    /// with the current objects as initial events when `initial` is true).
    pub fn subscribe(
        &self,
        r: &ResourceType,
        after: Option<Revision>,
        initial: bool,
    ) -> Result<Subscription, TooOld> {
        let st = self.state(r).lock().expect("cache lock");
        let revision = self.revision();
        let live = st.sender.subscribe();
        let initial_objects = if initial {
            st.objects.values().cloned().collect()
        } else {
            Vec::new()
        };
        let replay = match after {
            None => Vec::new(),
            Some(rv) => {
                if rv < st.window_start {
                    return Err(TooOld {
                        requested: rv,
                        oldest: st.window_start,
                    });
                }
                st.window
                    .iter()
                    .filter(|c| c.revision() > rv)
                    .cloned()
                    .collect()
            }
        };
        Ok(Subscription {
            initial: initial_objects,
            replay,
            live,
            revision,
        })
    }

    /// Number of objects of a resource (for metrics).
    pub fn count(&self, r: &ResourceType) -> usize {
        self.state(r).lock().expect("cache lock").objects.len()
    }
}

fn join_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn object_key(obj: &CachedObject) -> String {
    join_key(&obj.namespace, &obj.name)
}

/// Builds the cached form of an object at `revision`: sets its resourceVersion and extracts
/// labels and selectable fields.
pub fn cached_object(r: &ResourceType, value: &mut Value, revision: Revision) -> CachedObject {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
    // Shrunk to fit: `to_vec` grows by doubling, and the cache keeps this buffer for the
    // object's lifetime (up to twice its size otherwise).
    let mut json = serde_json::to_vec(value).unwrap_or_default();
    json.shrink_to_fit();
    CachedObject {
        revision,
        json: Bytes::from(json),
        ..object_facts(r, value)
    }
}

/// What selectors need of an object (everything of its cached form but the JSON and revision).
fn object_facts(r: &ResourceType, value: &Value) -> CachedObject {
    let meta = value.get("metadata");
    let text = |field: &str| {
        meta.and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let labels = meta
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let fields = r
        .strategy
        .field_labels()
        .iter()
        .map(|f| (*f, r.strategy.field_value(value, f).unwrap_or_default()))
        .collect();
    CachedObject {
        deleting: value
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null()),
        namespace: text("namespace"),
        name: text("name"),
        revision: 0,
        json: Bytes::new(),
        labels,
        fields,
    }
}

/// Encodes one watch event line: `{"type":TY,"object":OBJECT}` and a newline.
pub fn event_line(ty: &str, object_json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object_json.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(ty.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object_json);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// An object encoded once for a write: the bytes the store keeps (without
/// `metadata.resourceVersion`, since the store's revision is it) and the object's JSON around
/// the resourceVersion the store will assign, for the cache, watch events and the response.
#[derive(Debug)]
pub struct EncodedWrite {
    /// The bytes given to the store.
    pub stored: Bytes,
    /// The JSON up to the resourceVersion's value, and after it (None if it could not be
    /// located, then the cache decodes the store's event instead).
    around_revision: Option<(Bytes, Bytes)>,
}

/// A resourceVersion no real one can equal, to find where the real one goes.
const PLACEHOLDER: &str = "\u{1}ferrokube-resource-version\u{1}";
/// [`PLACEHOLDER`] as a JSON string.
pub(crate) const PLACEHOLDER_JSON: &[u8] = b"\"\\u0001ferrokube-resource-version\\u0001\"";
/// The key the placeholder is the value of.
const RESOURCE_VERSION_KEY: &[u8] = b"\"resourceVersion\":";

impl EncodedWrite {
    /// Serializes `obj` once, with a placeholder resourceVersion cut out of the stored bytes;
    /// `obj` is left without `metadata.resourceVersion`.
    pub fn encode(obj: &mut Value) -> Result<Self, serde_json::Error> {
        crate::objects::meta_mut(obj)
            .insert("resourceVersion".into(), Value::String(PLACEHOLDER.into()));
        let json = serde_json::to_vec(obj);
        crate::objects::meta_mut(obj).remove("resourceVersion");
        let json = json?;
        match Self::from_placeholder_json(json) {
            Some(encoded) => Ok(encoded),
            None => {
                // Not found (cannot happen for a map): encode the stored form on its own.
                let mut stored = serde_json::to_vec(obj)?;
                stored.shrink_to_fit();
                Ok(EncodedWrite {
                    stored: Bytes::from(stored),
                    around_revision: None,
                })
            }
        }
    }

    /// Splits an object's JSON whose resourceVersion's value is [`PLACEHOLDER_JSON`] (None if
    /// it is not there).
    pub(crate) fn from_placeholder_json(json: Vec<u8>) -> Option<Self> {
        let span = resource_version_span(&json)?;
        let (value_start, value_end) = (span.value_start, span.value_end);
        // The stored form: the whole `"resourceVersion":"..."` entry and one comma cut out.
        let (cut_start, cut_end) = if json[span.key_start - 1] == b',' {
            (span.key_start - 1, value_end)
        } else if json.get(value_end) == Some(&b',') {
            (span.key_start, value_end + 1)
        } else {
            (span.key_start, value_end)
        };
        let mut stored = Vec::with_capacity(json.len() - (cut_end - cut_start));
        stored.extend_from_slice(&json[..cut_start]);
        stored.extend_from_slice(&json[cut_end..]);
        let json = Bytes::from(json);
        Some(EncodedWrite {
            stored: Bytes::from(stored),
            around_revision: Some((json.slice(..value_start), json.slice(value_end..))),
        })
    }

    /// The object's JSON with `revision` as its resourceVersion, if it was located.
    pub fn json_at(&self, revision: Revision) -> Option<Vec<u8>> {
        let (before, after) = self.around_revision.as_ref()?;
        Some(with_revision(before, after, revision))
    }
}

/// Where the placeholder resourceVersion entry sits in an encoded object.
struct ResourceVersionSpan {
    key_start: usize,
    value_start: usize,
    value_end: usize,
}

/// Finds the placeholder entry: its value is the only `\u0001ferrokube...` escape there.
fn resource_version_span(json: &[u8]) -> Option<ResourceVersionSpan> {
    let mut from = 0;
    while let Some(offset) = json[from..].iter().position(|b| *b == b'\\') {
        let at = from + offset;
        from = at + 1;
        let Some(value_start) = at.checked_sub(1) else {
            continue;
        };
        if !json[value_start..].starts_with(PLACEHOLDER_JSON) {
            continue;
        }
        let key_start = value_start.checked_sub(RESOURCE_VERSION_KEY.len())?;
        if key_start == 0 || &json[key_start..value_start] != RESOURCE_VERSION_KEY {
            return None;
        }
        return Some(ResourceVersionSpan {
            key_start,
            value_start,
            value_end: value_start + PLACEHOLDER_JSON.len(),
        });
    }
    None
}

/// The JSON of an object from the parts around its resourceVersion value.
fn with_revision(before: &[u8], after: &[u8], revision: Revision) -> Vec<u8> {
    let rv = revision.to_string();
    // The exact size, so a cache keeping it has no slack.
    let mut json = Vec::with_capacity(before.len() + after.len() + rv.len() + 2);
    json.extend_from_slice(before);
    json.push(b'"');
    json.extend_from_slice(rv.as_bytes());
    json.push(b'"');
    json.extend_from_slice(after);
    json
}

/// The cached form of an object being written, complete but for its resourceVersion.
struct PendingWrite {
    /// The bytes given to the store (to recognise the write's event).
    stored: Bytes,
    /// The cached JSON up to the resourceVersion's value, and after it.
    before: Bytes,
    after: Bytes,
    object: CachedObject,
}

impl PendingWrite {
    fn complete(self, revision: Revision) -> CachedObject {
        CachedObject {
            revision,
            json: Bytes::from(with_revision(&self.before, &self.after, revision)),
            ..self.object
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_encoded_write_matches_serializing_the_object_with_and_without_its_revision() {
        assert_eq!(
            serde_json::to_vec(&Value::String(PLACEHOLDER.into())).unwrap(),
            PLACEHOLDER_JSON
        );
        for mut obj in [
            json!({"kind": "Pod", "metadata": {"name": "a", "namespace": "n", "uid": "u"}, "spec": {"x": "\u{1}"}}),
            json!({"metadata": {"name": "a"}}),
            json!({"metadata": {"uid": "u"}, "involvedObject": {"resourceVersion": "7"}}),
            json!({"metadata": {}, "data": {"a": "\\u0001"}}),
            json!({"apiVersion": "v1"}),
        ] {
            let encoded = EncodedWrite::encode(&mut obj).unwrap();
            assert_eq!(encoded.stored, serde_json::to_vec(&obj).unwrap());
            let mut with_rv = obj.clone();
            with_rv["metadata"]["resourceVersion"] = json!("42");
            assert_eq!(
                encoded.json_at(42).unwrap(),
                serde_json::to_vec(&with_rv).unwrap()
            );
        }
    }
}
