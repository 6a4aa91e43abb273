//! A shared informer: one watch per resource keeps a reflector [`Store`] that every controller
//! reads, and fans each change out (with the object's previous state, as client-go's event
//! handlers get it) to the controllers that subscribed before it started.
//!
//! A re-list after a broken watch is diffed against the cache, so objects that changed or
//! vanished while the watch was down still produce `Updated` / `Deleted` changes.
//!
//! Memory: as upstream's informer factory transform, `metadata.managedFields` is dropped from
//! every object before it is cached (no controller reads it, and it is often a third of a pod).
//! The cache holds each object once; subscribers get `Arc`s of the cached objects, and a
//! re-list is diffed against the previous cache contents only when it completes (kube's store
//! keeps the old contents readable until then), so no second map of the cache is kept.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use tokio::sync::{mpsc, watch};
use tracing::warn;

pub mod transform;

/// One change to a watched object.
#[derive(Debug)]
pub enum Change<K> {
    /// The object appeared.
    Added(Arc<K>),
    /// The object changed from `old` to `new`.
    Updated {
        /// The state before.
        old: Arc<K>,
        /// The state now.
        new: Arc<K>,
    },
    /// The object is gone; its last known state.
    Deleted(Arc<K>),
}

/// A shared cache and one controller's subscription to its changes.
pub struct Watched<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    /// The cache.
    pub store: Store<K>,
    /// Its changes from the first list on.
    pub changes: mpsc::UnboundedReceiver<Change<K>>,
}

/// A watched cache of one resource with change subscribers.
pub struct Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + 'static,
{
    api: Api<K>,
    config: watcher::Config,
    writer: Writer<K>,
    subscribers: Vec<mpsc::UnboundedSender<Change<K>>>,
    transform: fn(&mut K),
}

impl<K> Informer<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Debug
        + Send
        + Sync
        + serde::de::DeserializeOwned
        + 'static,
{
    /// An informer over `api` (use `Api::all` for every namespace).
    pub fn new(api: Api<K>, config: watcher::Config) -> Self {
        Informer {
            api,
            config,
            writer: Writer::default(),
            subscribers: Vec::new(),
            transform: strip_managed_fields,
        }
    }

    /// Replaces what is done to every object before it is cached (default:
    /// [`strip_managed_fields`]), as upstream's `SetTransform`.
    pub fn with_transform(mut self, transform: fn(&mut K)) -> Self {
        self.transform = transform;
        self
    }

    /// The cache; [`Store::wait_until_ready`] resolves after the first full list.
    pub fn store(&self) -> Store<K> {
        self.writer.as_reader()
    }

    /// Changes from now on; subscribe before [`Informer::spawn`].
    pub fn subscribe(&mut self) -> mpsc::UnboundedReceiver<Change<K>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers.push(tx);
        rx
    }

    /// The cache and a subscription to it, for one controller.
    pub fn watched(&mut self) -> Watched<K> {
        Watched {
            store: self.store(),
            changes: self.subscribe(),
        }
    }

    /// Runs the watch (with upstream-like backoff on errors) until `stop` turns true.
    pub fn spawn(self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let Informer {
            api,
            config,
            mut writer,
            subscribers,
            transform,
        } = self;
        let kind = K::kind(&());
        tokio::spawn(async move {
            let reader = writer.as_reader();
            let mut events = watcher(api, config)
                .default_backoff()
                .modify(transform)
                .boxed();
            let send = |c: Change<K>| {
                for s in &subscribers {
                    let _ = s.send(match &c {
                        Change::Added(o) => Change::Added(o.clone()),
                        Change::Updated { old, new } => Change::Updated {
                            old: old.clone(),
                            new: new.clone(),
                        },
                        Change::Deleted(o) => Change::Deleted(o.clone()),
                    });
                }
            };
            loop {
                let event = tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    e = events.next() => match e {
                        None => return,
                        Some(Err(e)) => {
                            warn!(kind = %kind, error = %e, "watch failed; retrying");
                            continue;
                        }
                        Some(Ok(e)) => e,
                    },
                };
                match &event {
                    watcher::Event::Apply(obj) => {
                        let r = ObjectRef::from_obj(obj);
                        let old = reader.get(&r);
                        writer.apply_watcher_event(&event);
                        if let Some(new) = reader.get(&r) {
                            send(match old {
                                Some(old) => Change::Updated { old, new },
                                None => Change::Added(new),
                            });
                        }
                    }
                    watcher::Event::Delete(obj) => {
                        let last = reader.get(&ObjectRef::from_obj(obj));
                        writer.apply_watcher_event(&event);
                        send(Change::Deleted(
                            last.unwrap_or_else(|| Arc::new(obj.clone())),
                        ));
                    }
                    watcher::Event::Init | watcher::Event::InitApply(_) => {
                        writer.apply_watcher_event(&event)
                    }
                    watcher::Event::InitDone => {
                        // Until InitDone is applied the store still holds the old contents.
                        let mut old: HashMap<ObjectRef<K>, Arc<K>> = reader
                            .state()
                            .into_iter()
                            .map(|o| (ObjectRef::from_obj(&*o), o))
                            .collect();
                        writer.apply_watcher_event(&event);
                        for new in reader.state() {
                            match old.remove(&ObjectRef::from_obj(&*new)) {
                                None => send(Change::Added(new)),
                                Some(o)
                                    if o.meta().resource_version != new.meta().resource_version =>
                                {
                                    send(Change::Updated { old: o, new })
                                }
                                Some(_) => {}
                            }
                        }
                        for (_, gone) in old {
                            send(Change::Deleted(gone));
                        }
                    }
                }
            }
        })
    }
}

/// Drops `metadata.managedFields` (upstream's `TransformStripManagedFields`).
pub fn strip_managed_fields<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}
