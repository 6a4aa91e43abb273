//! The Deployment controller end to end, driven with the kubectl commands a user types
//! (`set image`, `rollout status | history | undo | pause | resume`, `scale`), against a real
//! API server and the in-process controller manager. A stand-in kubelet marks pods Running and
//! Ready unless their image is `broken`; a pod watch checks the rollout's bounds at every step.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;
use support::Env;

impl Env {
    async fn deployment(&self, name: &str) -> Result<Deployment> {
        Ok(
            Api::<Deployment>::namespaced(self.client.clone(), "default")
                .get(name)
                .await?,
        )
    }

    /// The Deployment's ReplicaSets: (name, image, spec replicas, revision).
    async fn replicasets(&self) -> Result<Vec<(String, String, i32, String)>> {
        let list = Api::<ReplicaSet>::namespaced(self.client.clone(), "default")
            .list(&ListParams::default())
            .await?;
        Ok(list
            .items
            .into_iter()
            .map(|rs| {
                let spec = rs.spec.clone().unwrap_or_default();
                let image = spec
                    .template
                    .and_then(|t| t.spec)
                    .and_then(|s| s.containers.into_iter().next())
                    .and_then(|c| c.image)
                    .unwrap_or_default();
                let revision = rs
                    .annotations()
                    .get("deployment.kubernetes.io/revision")
                    .cloned()
                    .unwrap_or_default();
                (rs.name_any(), image, spec.replicas.unwrap_or(0), revision)
            })
            .collect())
    }
}

/// What a pod watch saw: the most active pods and the fewest ready ones at any moment (after
/// the first time all `floor_after` pods were ready), and the pod-template-hashes seen active
/// together.
#[derive(Default, Debug)]
struct Bounds {
    max_active: usize,
    min_ready: Option<usize>,
    hashes_together: usize,
    /// ReplicaSets (by pod-template-hash) whose `spec.replicas` grew: (hash, from, to).
    scaled_up: Vec<(String, i32, i32)>,
    /// Every pod and ReplicaSet change seen, in order, for the failure message.
    timeline: Vec<String>,
}

/// Watches the pods and ReplicaSets labelled `app=<app>` and records [`Bounds`].
fn watch_bounds(client: &kube::Client, app: &str, floor_after: usize) -> Arc<Mutex<Bounds>> {
    let bounds = Arc::new(Mutex::new(Bounds::default()));
    let seen = bounds.clone();
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let config = watcher::Config::default().labels(&format!("app={app}"));
    let rs_seen = bounds.clone();
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs_config = config.clone();
    tokio::spawn(async move {
        let mut stream = watcher(rs_api, rs_config).boxed();
        let mut sizes: HashMap<String, i32> = HashMap::new();
        while let Some(Ok(event)) = stream.next().await {
            if let watcher::Event::Apply(rs) | watcher::Event::InitApply(rs) = event {
                let hash = rs
                    .labels()
                    .get("pod-template-hash")
                    .cloned()
                    .unwrap_or_default();
                let size = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let line = format!(
                    "rs {hash} spec={size} status={:?} rv={:?}",
                    rs.status.as_ref().map(|s| s.replicas),
                    rs.metadata.resource_version
                );
                let mut b = rs_seen.lock().unwrap();
                b.timeline.push(line);
                if let Some(before) = sizes.insert(hash.clone(), size)
                    && before < size
                {
                    b.scaled_up.push((hash, before, size));
                }
            }
        }
    });
    tokio::spawn(async move {
        let mut pods: HashMap<String, Pod> = HashMap::new();
        // A (re-)list is gathered apart and replaces the pods when complete, so pods deleted
        // while the watch was down are not counted as still there.
        let mut listing: HashMap<String, Pod> = HashMap::new();
        let mut stream = watcher(api, config).boxed();
        while let Some(Ok(event)) = stream.next().await {
            let what = match &event {
                watcher::Event::Apply(p) => format!(
                    "apply {} rv={:?} deleting={} ",
                    p.name_any(),
                    p.metadata.resource_version,
                    p.metadata.deletion_timestamp.is_some()
                ),
                watcher::Event::Delete(p) => format!("delete {}", p.name_any()),
                _ => "relist".to_string(),
            };
            match event {
                watcher::Event::Init => {
                    listing.clear();
                    continue;
                }
                watcher::Event::InitApply(p) => {
                    listing.insert(p.name_any(), p);
                    continue;
                }
                watcher::Event::InitDone => pods = std::mem::take(&mut listing),
                watcher::Event::Apply(p) => {
                    pods.insert(p.name_any(), p);
                }
                watcher::Event::Delete(p) => {
                    pods.remove(&p.name_any());
                }
            }
            let active: Vec<&Pod> = pods
                .values()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            let ready = active
                .iter()
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            let hashes: std::collections::BTreeSet<&String> = active
                .iter()
                .filter_map(|p| p.labels().get("pod-template-hash"))
                .collect();
            let mut b = seen.lock().unwrap();
            let mut per_hash: std::collections::BTreeMap<&String, usize> = Default::default();
            for p in &active {
                if let Some(h) = p.labels().get("pod-template-hash") {
                    *per_hash.entry(h).or_default() += 1;
                }
            }
            b.timeline.push(format!(
                "{what} pods active={} ready={ready} {per_hash:?}",
                active.len()
            ));
            b.max_active = b.max_active.max(active.len());
            b.hashes_together = b.hashes_together.max(hashes.len());
            if b.min_ready.is_some() || ready >= floor_after {
                b.min_ready = Some(b.min_ready.unwrap_or(ready).min(ready));
            }
        }
    });
    bounds
}

fn web(replicas: i32, image: &str, strategy: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    })
}

fn rolling(surge: serde_json::Value, unavailable: serde_json::Value) -> serde_json::Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
}

fn rollout_status(env: &Env) -> Result<String> {
    env.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_stays_within_max_surge_and_max_unavailable() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(10, "busybox:1", rolling(json!("25%"), json!("25%"))))?;
    let out = rollout_status(&env)?;
    assert!(out.contains("successfully rolled out"), "{out}");
    let bounds = watch_bounds(&env.client, "web", 10);
    env.kubectl(&["set", "image", "deployment/web", "c=busybox:2"])?;
    let out = rollout_status(&env)?;
    assert!(out.contains("successfully rolled out"), "{out}");
    let d = env.deployment("web").await?;
    let s = d.status.clone().unwrap_or_default();
    assert_eq!(
        (
            s.replicas,
            s.updated_replicas,
            s.available_replicas,
            s.observed_generation
        ),
        (Some(10), Some(10), Some(10), d.metadata.generation)
    );
    {
        let b = bounds.lock().unwrap();
        assert!(
            b.max_active <= 13,
            "never more than 10 + 3 surge pods: {b:#?}"
        );
        assert!(
            b.min_ready.is_some_and(|m| m >= 8),
            "never fewer than 10 - 2 ready: {b:?}"
        );
    }
    let mut rs = env.replicasets().await?;
    rs.sort_by(|a, b| a.3.cmp(&b.3));
    assert_eq!(rs.len(), 2, "{rs:?}");
    {
        let b = bounds.lock().unwrap();
        assert!(
            b.scaled_up
                .iter()
                .all(|(hash, ..)| rs[1].0.ends_with(hash.as_str())),
            "only the new ReplicaSet ever grows: {:?}",
            b.scaled_up
        );
    }
    assert_eq!(
        (rs[0].1.as_str(), rs[0].2, rs[0].3.as_str()),
        ("busybox:1", 0, "1")
    );
    assert_eq!(
        (rs[1].1.as_str(), rs[1].2, rs[1].3.as_str()),
        ("busybox:2", 10, "2")
    );
    let conditions = d.status.unwrap_or_default().conditions.unwrap_or_default();
    let reason = |t: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == t)
            .and_then(|c| c.reason.clone())
    };
    assert_eq!(
        reason("Available").as_deref(),
        Some("MinimumReplicasAvailable")
    );
    assert_eq!(
        reason("Progressing").as_deref(),
        Some("NewReplicaSetAvailable")
    );
    let described = env.kubectl(&["describe", "deployment", "web"])?;
    assert!(
        described.contains("ScalingReplicaSet") && described.contains("deployment-controller"),
        "{described}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_never_runs_old_and_new_pods_together() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(3, "busybox:1", json!({"type": "Recreate"})))?;
    rollout_status(&env)?;
    let bounds = watch_bounds(&env.client, "web", 3);
    env.kubectl(&["set", "image", "deployment/web", "c=busybox:2"])?;
    rollout_status(&env)?;
    let b = bounds.lock().unwrap();
    assert_eq!(b.hashes_together, 1, "old and new pods overlapped: {b:?}");
    assert!(b.max_active <= 3, "{b:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_undo_restores_the_previous_template_and_history_lists_revisions() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(2, "busybox:1", rolling(json!(1), json!(0))))?;
    rollout_status(&env)?;
    env.kubectl(&["set", "image", "deployment/web", "c=busybox:2"])?;
    rollout_status(&env)?;
    env.kubectl(&["rollout", "undo", "deployment/web"])?;
    rollout_status(&env)?;
    let d = env.deployment("web").await?;
    let image = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers[0].image.clone());
    assert_eq!(image, Some(Some("busybox:1".into())));
    assert_eq!(
        d.metadata
            .annotations
            .unwrap_or_default()
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("3")
    );
    // The first ReplicaSet was reused: revision 3, with 1 in its history.
    let rs = env.replicasets().await?;
    assert_eq!(rs.len(), 2, "{rs:?}");
    let reused = rs
        .iter()
        .find(|r| r.1 == "busybox:1")
        .context("old replica set")?;
    assert_eq!((reused.2, reused.3.as_str()), (2, "3"));
    let history = env.kubectl(&["rollout", "history", "deployment/web"])?;
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
    env.kubectl(&["rollout", "undo", "deployment/web", "--to-revision=2"])?;
    rollout_status(&env)?;
    let d = env.deployment("web").await?;
    let image = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers[0].image.clone());
    assert_eq!(image, Some(Some("busybox:2".into())));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_deployment_does_not_roll_until_resumed() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(2, "busybox:1", rolling(json!("25%"), json!("25%"))))?;
    rollout_status(&env)?;
    env.kubectl(&["rollout", "pause", "deployment/web"])?;
    env.kubectl(&["set", "image", "deployment/web", "c=busybox:2"])?;
    // Wait until the controller has seen the change (observedGeneration), then check nothing rolled.
    let generation = env.deployment("web").await?.metadata.generation;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = env.deployment("web").await?;
        let s = d.status.unwrap_or_default();
        let paused =
            s.conditions.unwrap_or_default().iter().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("DeploymentPaused")
            });
        if s.observed_generation == generation && paused {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the controller never observed the paused deployment");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rs = env.replicasets().await?;
    assert_eq!(
        rs.len(),
        1,
        "a paused deployment creates no new replica set: {rs:?}"
    );
    assert_eq!(rs[0].1, "busybox:1");
    env.kubectl(&["rollout", "resume", "deployment/web"])?;
    rollout_status(&env)?;
    let rs = env.replicasets().await?;
    assert!(rs.iter().any(|r| r.1 == "busybox:2" && r.2 == 2), "{rs:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_never_becomes_ready_exceeds_its_progress_deadline() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    let mut manifest = web(2, "busybox:1", rolling(json!("25%"), json!("25%")));
    manifest["spec"]["progressDeadlineSeconds"] = json!(2);
    env.apply(manifest)?;
    rollout_status(&env)?;
    env.kubectl(&["set", "image", "deployment/web", "c=broken"])?;
    let err = env
        .cluster
        .kubectl_err(&["rollout", "status", "deployment/web", "--timeout=60s"])?;
    assert!(err.contains("exceeded its progress deadline"), "{err}");
    let d = env.deployment("web").await?;
    let cond = d
        .status
        .unwrap_or_default()
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .context("Progressing condition")?;
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_in_the_middle_of_a_rollout_is_proportional() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(10, "busybox:1", rolling(json!(3), json!(2))))?;
    rollout_status(&env)?;
    env.kubectl(&["set", "image", "deployment/web", "c=broken"])?;
    // Stuck: the old ReplicaSet keeps 8 (10 - 2 unavailable), the new one has 5 (13 - 8).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let sizes = |rs: &[(String, String, i32, String)], image: &str| {
        rs.iter().find(|r| r.1 == image).map(|r| r.2)
    };
    loop {
        let rs = env.replicasets().await?;
        if sizes(&rs, "busybox:1") == Some(8) && sizes(&rs, "broken") == Some(5) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the rollout did not get stuck at 8 + 5: {rs:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.kubectl(&["scale", "deployment/web", "--replicas=30"])?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rs = env.replicasets().await?;
        // 33 allowed (30 + 3 surge), split in proportion 8:5 of the previous 13.
        if sizes(&rs, "busybox:1") == Some(20) && sizes(&rs, "broken") == Some(13) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("not scaled proportionally to 20 + 13: {rs:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_revisions_beyond_the_history_limit_are_deleted_and_restart_rolls_anew() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    let mut manifest = web(1, "busybox:1", rolling(json!(1), json!(0)));
    manifest["spec"]["revisionHistoryLimit"] = json!(1);
    env.apply(manifest)?;
    rollout_status(&env)?;
    for image in ["busybox:2", "busybox:3"] {
        env.kubectl(&["set", "image", "deployment/web", &format!("c={image}")])?;
        rollout_status(&env)?;
    }
    env.kubectl(&["rollout", "restart", "deployment/web"])?;
    rollout_status(&env)?;
    // Revision 4 (the restart) is current; only revision 3 is kept as history.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut rs = env.replicasets().await?;
        rs.sort_by(|a, b| a.3.cmp(&b.3));
        let kept: Vec<(&str, &str)> = rs.iter().map(|r| (r.1.as_str(), r.3.as_str())).collect();
        if kept == [("busybox:3", "3"), ("busybox:3", "4")] {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("old revisions were not cleaned up: {rs:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
