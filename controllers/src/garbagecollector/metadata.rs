//! Metadata-only watches for the monitors: the collector needs an object's identity, owner
//! references, finalizers and deletion timestamp, never its spec or status.
//!
//! Against a server that negotiates `as=PartialObjectMetadata` (upstream's) the watch asks for
//! metadata only (`Api<PartialObjectMeta<_>>`); against one that does not, full objects
//! are read but decoded into [`MetadataOnly`], so spec and status are skipped while parsing and
//! never held.

use std::borrow::Cow;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::core::PartialObjectMeta;
use kube::core::{DynamicResourceScope, ObjectMeta};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};

/// An object decoded as its `metadata` alone (unknown fields are skipped by the decoder).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct MetadataOnly {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

impl Resource for MetadataOnly {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }
    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }
    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Whether the server answers metadata-only lists (`as=PartialObjectMetadataList`), probed
/// with a one-item list of `resource`.
pub async fn server_serves_metadata(client: &Client, resource: &ApiResource) -> bool {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    api.list_metadata(&ListParams::default().limit(1))
        .await
        .is_ok()
}

/// A watch of every `resource` object's metadata, with backoff.
pub fn watch_metadata(
    client: &Client,
    resource: &ApiResource,
    metadata_api: bool,
) -> BoxStream<'static, Result<watcher::Event<ObjectMeta>, watcher::Error>> {
    if metadata_api {
        let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client.clone(), resource);
        watcher(api, watcher::Config::default())
            .default_backoff()
            .map_ok(|e| map_event(e, |o| o.metadata))
            .boxed()
    } else {
        let api: Api<MetadataOnly> = Api::all_with(client.clone(), resource);
        watcher(api, watcher::Config::default())
            .default_backoff()
            .map_ok(|e| map_event(e, |o| o.metadata))
            .boxed()
    }
}

fn map_event<A>(
    event: watcher::Event<A>,
    f: impl Fn(A) -> ObjectMeta,
) -> watcher::Event<ObjectMeta> {
    match event {
        watcher::Event::Apply(a) => watcher::Event::Apply(f(a)),
        watcher::Event::Delete(a) => watcher::Event::Delete(f(a)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(a) => watcher::Event::InitApply(f(a)),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}
