//! Metadata-only reads, as metadata informers (upstream's garbage collector, client-go's
//! metadata client, kube-rs watchers of `PartialObjectMeta`) make them: `get`, `list` and `watch` with
//! `Accept: application/json;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1` return the
//! objects' metadata alone.

use std::time::Duration;

use anyhow::Result;
use ferrokube_tests::Cluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PartialObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"app": "meta"}},
        "data": {"big": "x".repeat(4096)},
    }))
    .expect("a valid ConfigMap")
}

#[tokio::test]
async fn get_and_list_return_metadata_without_data() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    api.create(&PostParams::default(), &config_map("one"))
        .await?;
    let meta = api.get_metadata("one").await?;
    assert_eq!(meta.metadata.name.as_deref(), Some("one"));
    assert_eq!(
        meta.types.as_ref().map(|t| t.kind.as_str()),
        Some("PartialObjectMetadata")
    );
    let list = api
        .list_metadata(&ListParams::default().labels("app=meta"))
        .await?;
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.resource_version.is_some());
    let raw = c.kubectl_ok(&["get", "--raw", "/api/v1/namespaces/default/configmaps/one"])?;
    assert!(raw.contains("xxxx"), "a plain get still returns the data");
    Ok(())
}

#[tokio::test]
async fn a_metadata_watcher_sees_objects_come_and_go() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    let metadata: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(c.client().await?, "default");
    let mut events = watcher(metadata, watcher::Config::default())
        .applied_objects()
        .boxed();
    api.create(&PostParams::default(), &config_map("watched"))
        .await?;
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(obj) = events.try_next().await? {
            if obj.metadata.name.as_deref() == Some("watched") {
                return anyhow::Ok(obj);
            }
        }
        anyhow::bail!("the watch ended")
    })
    .await??;
    assert_eq!(
        seen.metadata
            .labels
            .unwrap_or_default()
            .get("app")
            .map(String::as_str),
        Some("meta")
    );
    Ok(())
}
