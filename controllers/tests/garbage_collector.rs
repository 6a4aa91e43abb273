//! The garbage collector end to end: a real API server (`ferrokube apiserver`) with the
//! controller manager started in-process, driven with the kubectl commands a user types.
//! Pods stay unscheduled (no scheduler or kubelet here), so they are deleted at once.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use support::{Env, until};

impl Env {
    async fn pods(&self, app: &str) -> Result<Vec<Pod>> {
        let lp = ListParams::default().labels(&format!("app={app}"));
        Ok(self.api::<Pod>().list(&lp).await?.items)
    }

    async fn replicasets(&self, app: &str) -> Result<Vec<ReplicaSet>> {
        let lp = ListParams::default().labels(&format!("app={app}"));
        Ok(self.api::<ReplicaSet>().list(&lp).await?.items)
    }

    /// `kubectl create deployment <name> --replicas=3`, then waits for its three pods.
    async fn deployment_with_three_pods(&self, name: &str) -> Result<()> {
        self.kubectl(&[
            "create",
            "deployment",
            name,
            "--image=busybox",
            "--replicas=3",
        ])?;
        until(&format!("{name}'s three pods"), || async {
            Ok((self.pods(name).await?.len() == 3).then_some(()))
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_deployment_removes_its_replicasets_and_pods() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    env.deployment_with_three_pods("web").await?;
    assert_eq!(env.replicasets("web").await?.len(), 1);

    env.kubectl(&["delete", "deployment", "web"])?;

    until("the ReplicaSet and pods to be collected", || async {
        let left = env.replicasets("web").await?.len() + env.pods("web").await?.len();
        Ok((left == 0).then_some(()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascade_orphan_keeps_the_replicaset_and_pods_without_the_owner_reference() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    env.deployment_with_three_pods("web").await?;

    // kubectl waits until the Deployment is gone, i.e. until the orphan finalizer is removed.
    env.kubectl(&[
        "delete",
        "deployment",
        "web",
        "--cascade=orphan",
        "--timeout=30s",
    ])?;

    let replicasets = env.replicasets("web").await?;
    assert_eq!(replicasets.len(), 1, "the ReplicaSet is kept");
    assert!(
        replicasets[0].owner_references().is_empty(),
        "the ReplicaSet no longer names the Deployment: {:?}",
        replicasets[0].owner_references()
    );
    // Give the collector a moment in which it would wrongly delete, then look again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pods = env.pods("web").await?;
    assert_eq!(pods.len(), 3, "the pods are kept");
    let rs_uid = replicasets[0].uid();
    assert!(
        pods.iter().all(|p| p
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == rs_uid.as_ref())),
        "the pods still belong to the ReplicaSet"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascade_foreground_deletes_the_dependents_before_the_owner() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    env.deployment_with_three_pods("web").await?;

    // Record the resourceVersion (the store's revision) of every deletion.
    let deleted: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let watches = [
        record_deletions(env.api::<Deployment>(), "deployment", deleted.clone()),
        record_deletions(env.api::<ReplicaSet>(), "replicaset", deleted.clone()),
        record_deletions(env.api::<Pod>(), "pod", deleted.clone()),
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;

    env.kubectl(&[
        "delete",
        "deployment",
        "web",
        "--cascade=foreground",
        "--timeout=30s",
    ])?;

    let order = until("every deletion to be observed", || async {
        let d = deleted.lock().unwrap().clone();
        Ok((d.len() == 5).then_some(d))
    })
    .await?;
    for w in watches {
        w.abort();
    }
    let owner = order["deployment/web"];
    for (what, revision) in &order {
        assert!(
            *revision <= owner,
            "{what} was deleted (revision {revision}) after the Deployment (revision {owner})"
        );
    }
    Ok(())
}

fn record_deletions<K>(
    api: Api<K>,
    kind: &'static str,
    into: Arc<Mutex<HashMap<String, u64>>>,
) -> tokio::task::JoinHandle<()>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(e) = events.next().await {
            if let Ok(watcher::Event::Delete(obj)) = e {
                let rv = obj.resource_version().and_then(|rv| rv.parse().ok());
                into.lock()
                    .unwrap()
                    .insert(format!("{kind}/{}", obj.name_any()), rv.unwrap_or(u64::MAX));
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_whose_owner_is_deleted_is_collected() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    let configmaps = env.api::<ConfigMap>();
    let owner = configmaps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "owner"}}))?,
        )
        .await?;
    let dependent = |name: &str, uid: &str| -> Result<ConfigMap> {
        Ok(serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "ownerReferences": [{
                    "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid,
                }],
            },
        }))?)
    };
    let owner_uid = owner.uid().unwrap_or_default();
    configmaps
        .create(&PostParams::default(), &dependent("dependent", &owner_uid)?)
        .await?;
    // A dependent naming an owner that never existed is garbage from the start.
    configmaps
        .create(
            &PostParams::default(),
            &dependent("orphaned-at-birth", "00000000-0000-0000-0000-000000000000")?,
        )
        .await?;
    until(
        "the dependent of a missing owner to be collected",
        || async {
            Ok(configmaps
                .get_opt("orphaned-at-birth")
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        configmaps.get_opt("dependent").await?.is_some(),
        "a dependent whose owner exists is kept"
    );

    env.kubectl(&["delete", "configmap", "owner"])?;

    until("the dependent to be collected", || async {
        Ok(configmaps
            .get_opt("dependent")
            .await?
            .is_none()
            .then_some(()))
    })
    .await
}
