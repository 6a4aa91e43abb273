//! Watched caches of the objects plugins read besides nodes and pods: Namespaces (for
//! `namespaceSelector`), Services, ReplicaSets, StatefulSets and ReplicationControllers (for
//! the default spreading selector), PersistentVolumeClaims, PersistentVolumes and
//! StorageClasses (for the volume plugins). [`Listers::start`] runs one informer per kind for
//! as long as any clone of the [`Listers`] lives; [`Listers::start_with_events`] also reports
//! the changes that can make unschedulable pods schedulable.

use std::fmt::Debug;
use std::sync::Arc;

use ferrokube_controllers::informer::Informer;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, PersistentVolume, PersistentVolumeClaim, ReplicationController, Service,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource};
use tokio::sync::{mpsc, watch};

use crate::cluster_event::{ActionType, ClusterEvent, WatchedKind};
use ferrokube_controllers::informer::Change;

/// Read-only caches of the cluster objects plugins consult; `None` where nothing is watched
/// (unit tests), which plugins treat as "no such object".
#[derive(Clone, Default)]
pub struct Listers {
    /// Namespaces.
    pub namespaces: Option<Store<Namespace>>,
    /// Services.
    pub services: Option<Store<Service>>,
    /// ReplicaSets.
    pub replica_sets: Option<Store<ReplicaSet>>,
    /// StatefulSets.
    pub stateful_sets: Option<Store<StatefulSet>>,
    /// ReplicationControllers.
    pub replication_controllers: Option<Store<ReplicationController>>,
    /// PersistentVolumeClaims.
    pub persistent_volume_claims: Option<Store<PersistentVolumeClaim>>,
    /// PersistentVolumes.
    pub persistent_volumes: Option<Store<PersistentVolume>>,
    /// StorageClasses.
    pub storage_classes: Option<Store<StorageClass>>,
    pub(crate) _running: Option<Arc<StopOnDrop>>,
}

/// Stops the informers when the last [`Listers`] clone is dropped.
pub(crate) struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

fn watch_all<K>(client: &kube::Client, stop: &watch::Receiver<bool>) -> Option<Store<K>>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Debug
        + Send
        + Sync
        + serde::de::DeserializeOwned
        + 'static,
{
    let informer = Informer::<K>::new(Api::all(client.clone()), watcher::Config::default());
    let store = informer.store();
    informer.spawn(stop.clone());
    Some(store)
}

/// Like [`watch_all`], also turning the kind's changes into [`ClusterEvent`]s on `events`.
fn watch_all_with_events<K>(
    client: &kube::Client,
    stop: &watch::Receiver<bool>,
    events: Option<&mpsc::UnboundedSender<ClusterEvent>>,
) -> Option<Store<K>>
where
    K: Resource<DynamicType = ()>
        + WatchedKind
        + Clone
        + Debug
        + Send
        + Sync
        + serde::de::DeserializeOwned
        + 'static,
{
    let Some(events) = events.cloned() else {
        return watch_all(client, stop);
    };
    let mut informer = Informer::<K>::new(Api::all(client.clone()), watcher::Config::default());
    let store = informer.store();
    let mut changes = informer.subscribe();
    informer.spawn(stop.clone());
    tokio::spawn(async move {
        while let Some(change) = changes.recv().await {
            let action = match change {
                Change::Added(_) => ActionType::ADD,
                Change::Updated { old, new } if K::relevant_update(&old, &new) => {
                    ActionType::UPDATE_OTHER
                }
                Change::Updated { .. } => continue,
                Change::Deleted(_) => ActionType::DELETE,
            };
            if events.send(ClusterEvent::new(K::RESOURCE, action)).is_err() {
                return;
            }
        }
    });
    Some(store)
}

/// A store holding `objects` (for unit tests and tools).
pub fn store_of<K>(objects: impl IntoIterator<Item = K>) -> Option<Store<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let mut writer = Writer::<K>::default();
    writer.apply_watcher_event(&watcher::Event::Init);
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(o));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    Some(writer.as_reader())
}

fn get<K>(store: &Option<Store<K>>, namespace: Option<&str>, name: &str) -> Option<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let mut r = ObjectRef::<K>::new(name);
    if let Some(ns) = namespace {
        r = r.within(ns);
    }
    store.as_ref()?.get(&r)
}

impl Listers {
    /// Starts one informer per kind on `client` (they run in the background, on the current
    /// tokio runtime, until every clone of the returned value is dropped).
    pub fn start(client: &kube::Client) -> Self {
        Self::start_with_events(client, None)
    }

    /// Like [`Listers::start`]; Namespace, PersistentVolumeClaim, PersistentVolume and
    /// StorageClass changes that plugins care about are also sent to `events`.
    pub fn start_with_events(
        client: &kube::Client,
        events: Option<mpsc::UnboundedSender<ClusterEvent>>,
    ) -> Self {
        let (tx, rx) = watch::channel(false);
        let ev = events.as_ref();
        Listers {
            namespaces: watch_all_with_events(client, &rx, ev),
            services: watch_all(client, &rx),
            replica_sets: watch_all(client, &rx),
            stateful_sets: watch_all(client, &rx),
            replication_controllers: watch_all(client, &rx),
            persistent_volume_claims: watch_all_with_events(client, &rx, ev),
            persistent_volumes: watch_all_with_events(client, &rx, ev),
            storage_classes: watch_all_with_events(client, &rx, ev),
            _running: Some(Arc::new(StopOnDrop(tx))),
        }
    }

    /// Waits until every watched cache has its first full list, for at most `timeout`
    /// (a cache that cannot list, e.g. for lack of RBAC, must not stop the scheduler);
    /// whether they all synced.
    pub async fn wait_until_synced(&self, timeout: std::time::Duration) -> bool {
        async fn ready<K>(store: &Option<Store<K>>)
        where
            K: Resource<DynamicType = ()> + Clone + 'static,
        {
            if let Some(s) = store {
                let _ = s.wait_until_ready().await;
            }
        }
        let all = async {
            ready(&self.namespaces).await;
            ready(&self.services).await;
            ready(&self.replica_sets).await;
            ready(&self.stateful_sets).await;
            ready(&self.replication_controllers).await;
            ready(&self.persistent_volume_claims).await;
            ready(&self.persistent_volumes).await;
            ready(&self.storage_classes).await;
        };
        let synced = tokio::time::timeout(timeout, all).await.is_ok();
        if !synced {
            tracing::warn!(?timeout, "some scheduler caches did not sync; continuing");
        }
        synced
    }

    /// A namespace by name.
    pub fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        get(&self.namespaces, None, name)
    }

    /// A PersistentVolumeClaim by namespace and name.
    pub fn persistent_volume_claim(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<PersistentVolumeClaim>> {
        get(&self.persistent_volume_claims, Some(namespace), name)
    }

    /// A PersistentVolume by name.
    pub fn persistent_volume(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        get(&self.persistent_volumes, None, name)
    }

    /// A StorageClass by name.
    pub fn storage_class(&self, name: &str) -> Option<Arc<StorageClass>> {
        get(&self.storage_classes, None, name)
    }

    /// A ReplicaSet by namespace and name.
    pub fn replica_set(&self, namespace: &str, name: &str) -> Option<Arc<ReplicaSet>> {
        get(&self.replica_sets, Some(namespace), name)
    }

    /// A StatefulSet by namespace and name.
    pub fn stateful_set(&self, namespace: &str, name: &str) -> Option<Arc<StatefulSet>> {
        get(&self.stateful_sets, Some(namespace), name)
    }

    /// A ReplicationController by namespace and name.
    pub fn replication_controller(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<ReplicationController>> {
        get(&self.replication_controllers, Some(namespace), name)
    }

    /// Every Namespace.
    pub fn all_namespaces(&self) -> Vec<Arc<Namespace>> {
        self.namespaces
            .as_ref()
            .map(|s| s.state())
            .unwrap_or_default()
    }

    /// Every Service in `namespace`.
    pub fn services_in(&self, namespace: &str) -> Vec<Arc<Service>> {
        self.services
            .as_ref()
            .map(|s| s.state())
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
            .collect()
    }

    /// Every PersistentVolumeClaim.
    pub fn all_persistent_volume_claims(&self) -> Vec<Arc<PersistentVolumeClaim>> {
        self.persistent_volume_claims
            .as_ref()
            .map(|s| s.state())
            .unwrap_or_default()
    }
}
