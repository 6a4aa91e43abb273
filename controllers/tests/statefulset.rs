//! The StatefulSet controller end to end, driven with the kubectl commands a user types
//! (`apply`, `scale`, `set image`, `patch`, `rollout status | undo | history`, `delete`),
//! against a real API server and the in-process controller manager (every controller, so the
//! garbage collector acts on the claims' owner references). A stand-in kubelet marks pods
//! Running and Ready unless their image is `broken`; a pod watch records the order in which
//! pods appear, turn ready and go.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use ferrokube_tests::eventually;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;
use support::{Env, image, ready};

impl Env {
    fn rollout_status(&self) -> Result<String> {
        self.kubectl(&["rollout", "status", "statefulset/web", "--timeout=60s"])
    }

    async fn set(&self) -> Result<StatefulSet> {
        Ok(
            Api::<StatefulSet>::namespaced(self.client.clone(), "default")
                .get("web")
                .await?,
        )
    }

    /// The live (not terminating) pods of the set: name -> (image, uid, ready).
    async fn pods(&self) -> Result<BTreeMap<String, (String, String, bool)>> {
        let list = Api::<Pod>::namespaced(self.client.clone(), "default")
            .list(&ListParams::default().labels("app=web"))
            .await?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| {
                (
                    p.name_any(),
                    (image(&p), p.uid().unwrap_or_default(), ready(&p)),
                )
            })
            .collect())
    }

    /// The images of the live pods, by name.
    async fn images(&self) -> Result<BTreeMap<String, String>> {
        Ok(self
            .pods()
            .await?
            .into_iter()
            .map(|(n, (i, _, _))| (n, i))
            .collect())
    }

    /// The claims in the namespace: name -> kinds of their owners.
    async fn claims(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let list = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), "default")
            .list(&ListParams::default())
            .await?;
        Ok(list
            .items
            .into_iter()
            .map(|c| {
                let owners = c
                    .owner_references()
                    .iter()
                    .map(|r| r.kind.clone())
                    .collect();
                (c.name_any(), owners)
            })
            .collect())
    }

    /// Polls `f` on the API until it holds, up to 60 s (`what` says what was awaited).
    async fn until<F, Fut>(&self, what: &str, mut f: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if f().await? {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out after 60 s waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What a pod watch saw, in order: `created web-0`, `ready web-0`, `deleted web-2`, ...
fn watch_history(client: &kube::Client) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    tokio::spawn(async move {
        // uid -> was ready
        let mut known: HashMap<String, bool> = HashMap::new();
        let mut stream = watcher(api, watcher::Config::default().labels("app=web")).boxed();
        while let Some(Ok(event)) = stream.next().await {
            let mut log = log.lock().unwrap();
            match event {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                    let uid = p.uid().unwrap_or_default();
                    let was_ready = match known.get(&uid) {
                        Some(r) => *r,
                        None => {
                            log.push(format!("created {}", p.name_any()));
                            false
                        }
                    };
                    if !was_ready && ready(&p) {
                        log.push(format!("ready {}", p.name_any()));
                    }
                    known.insert(uid, was_ready || ready(&p));
                }
                watcher::Event::Delete(p) => log.push(format!("deleted {}", p.name_any())),
                _ => {}
            }
        }
    });
    seen
}

fn position(log: &[String], entry: &str) -> Result<usize> {
    log.iter()
        .position(|e| e == entry)
        .with_context(|| format!("the watch never saw {entry:?}: {log:?}"))
}

/// A StatefulSet `web` of nginx pods governed by Service `nginx`; `extra` is merged into spec.
fn web(replicas: i32, image: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({
        "replicas": replicas,
        "serviceName": "nginx",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": image}]},
        },
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"}, "spec": spec})
}

fn claim_templates() -> serde_json::Value {
    json!([{
        "metadata": {"name": "www"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_of_three_comes_up_in_order_with_stable_identities() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    let history = watch_history(&env.client);
    env.apply(web(3, "nginx:1", json!({})))?;
    let out = env.rollout_status()?;
    assert!(
        out.contains("partitioned roll out complete: 3 new pods have been updated"),
        "{out}"
    );

    let log = history.lock().unwrap().clone();
    for n in 1..3 {
        let created = position(&log, &format!("created web-{n}"))?;
        let previous_ready = position(&log, &format!("ready web-{}", n - 1))?;
        assert!(
            created > previous_ready,
            "web-{n} was created before web-{} was ready: {log:?}",
            n - 1
        );
    }

    let api: Api<Pod> = Api::namespaced(env.client.clone(), "default");
    let set = env.set().await?;
    for n in 0..3 {
        let pod = api.get(&format!("web-{n}")).await?;
        let name = format!("web-{n}");
        assert_eq!(
            pod.labels().get("statefulset.kubernetes.io/pod-name"),
            Some(&name)
        );
        assert_eq!(
            pod.labels().get("apps.kubernetes.io/pod-index"),
            Some(&n.to_string())
        );
        assert_eq!(
            pod.labels().get("controller-revision-hash"),
            set.status.as_ref().and_then(|s| s.update_revision.as_ref())
        );
        let spec = pod.spec.as_ref().context("pod spec")?;
        assert_eq!(spec.hostname.as_deref(), Some(name.as_str()));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let owner = &pod.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("StatefulSet", Some(true))
        );
    }

    let status = set.status.context("status")?;
    assert_eq!(status.replicas, 3);
    assert_eq!(status.ready_replicas, Some(3));
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.current_replicas, Some(3));
    assert_eq!(status.updated_replicas, Some(3));
    assert_eq!(status.observed_generation, set.metadata.generation);
    assert_eq!(status.current_revision, status.update_revision);
    assert_eq!(status.collision_count, Some(0));

    let events = eventually(
        "the SuccessfulCreate events",
        Duration::from_secs(30),
        || {
            let out = env
                .kubectl(&[
                    "get",
                    "events",
                    "--field-selector",
                    "involvedObject.name=web",
                ])
                .ok()?;
            out.contains("create Pod web-2 in StatefulSet web successful")
                .then_some(out)
        },
    )?;
    assert!(events.contains("SuccessfulCreate"), "{events}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_pod_management_creates_every_pod_without_waiting() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(3, "broken", json!({"podManagementPolicy": "Parallel"})))?;
    env.until("all three pods of a Parallel set, none ready", || async {
        Ok(env.pods().await?.keys().cloned().collect::<Vec<_>>() == ["web-0", "web-1", "web-2"])
    })
    .await?;
    assert!(env.pods().await?.values().all(|(_, _, ready)| !ready));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_removes_the_highest_ordinal_first() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(3, "nginx:1", json!({})))?;
    env.rollout_status()?;
    let history = watch_history(&env.client);
    env.kubectl(&["scale", "statefulset/web", "--replicas=1"])?;
    env.until("one pod left", || async {
        let set = env.set().await?;
        Ok(
            env.pods().await?.keys().cloned().collect::<Vec<_>>() == ["web-0"]
                && set
                    .status
                    .is_some_and(|s| s.replicas == 1 && s.ready_replicas == Some(1)),
        )
    })
    .await?;
    let log = history.lock().unwrap().clone();
    assert!(
        position(&log, "deleted web-2")? < position(&log, "deleted web-1")?,
        "{log:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_update_touches_only_ordinals_at_or_above_the_partition() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(3, "nginx:1", json!({})))?;
    env.rollout_status()?;
    let first_revision = env.set().await?.status.and_then(|s| s.current_revision);
    env.kubectl(&[
        "patch",
        "statefulset/web",
        "-p",
        r#"{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}}}"#,
    ])?;
    env.kubectl(&["set", "image", "statefulset/web", "nginx=nginx:2"])?;
    let out = env.rollout_status()?;
    assert!(
        out.contains("partitioned roll out complete: 1 new pods have been updated"),
        "{out}"
    );
    let images = env.images().await?;
    assert_eq!(
        images,
        BTreeMap::from([
            ("web-0".to_string(), "nginx:1".to_string()),
            ("web-1".to_string(), "nginx:1".to_string()),
            ("web-2".to_string(), "nginx:2".to_string()),
        ])
    );
    let status = env.set().await?.status.context("status")?;
    assert_eq!(status.current_revision, first_revision);
    assert_eq!(
        (status.updated_replicas, status.current_replicas),
        (Some(1), Some(2))
    );

    env.kubectl(&[
        "patch",
        "statefulset/web",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
    ])?;
    let out = env.rollout_status()?;
    assert!(
        out.contains("partitioned roll out complete: 3 new pods have been updated"),
        "{out}"
    );
    assert!(env.images().await?.values().all(|i| i == "nginx:2"));
    let status = env.set().await?.status.context("status")?;
    assert_eq!(status.current_revision, status.update_revision);
    assert_ne!(status.current_revision, first_revision);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_undo_restores_the_previous_template() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(3, "nginx:1", json!({})))?;
    env.rollout_status()?;
    env.kubectl(&["set", "image", "statefulset/web", "nginx=nginx:2"])?;
    env.rollout_status()?;
    assert!(env.images().await?.values().all(|i| i == "nginx:2"));

    env.kubectl(&["rollout", "undo", "statefulset/web"])?;
    env.rollout_status()?;
    assert!(env.images().await?.values().all(|i| i == "nginx:1"));

    let revisions = Api::<ControllerRevision>::namespaced(env.client.clone(), "default")
        .list(&ListParams::default().labels("app=web"))
        .await?;
    let mut numbers: Vec<i64> = revisions.items.iter().map(|r| r.revision).collect();
    numbers.sort();
    assert_eq!(
        numbers,
        [2, 3],
        "the rolled-back-to revision is renumbered as the newest"
    );
    let history = env.kubectl(&["rollout", "history", "statefulset/web"])?;
    assert!(history.contains('2') && history.contains('3'), "{history}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pod_comes_back_with_the_same_name() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(3, "nginx:1", json!({})))?;
    env.rollout_status()?;
    let before = env.pods().await?;
    env.kubectl(&["delete", "pod", "web-1"])?;
    env.until("web-1 to come back ready under a new UID", || async {
        let now = env.pods().await?;
        Ok(now
            .get("web-1")
            .is_some_and(|(_, uid, ready)| *ready && *uid != before["web-1"].1))
    })
    .await?;
    assert_eq!(env.pods().await?.len(), 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_scaled_away_are_deleted_and_claims_of_a_deleted_set_kept() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(
        3,
        "nginx:1",
        json!({
            "volumeClaimTemplates": claim_templates(),
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"},
        }),
    ))?;
    env.rollout_status()?;
    let claims = env.claims().await?;
    assert_eq!(
        claims.keys().cloned().collect::<Vec<_>>(),
        ["www-web-0", "www-web-1", "www-web-2"]
    );
    assert!(
        claims.values().all(|owners| owners.is_empty()),
        "{claims:?}"
    );
    let api: Api<Pod> = Api::namespaced(env.client.clone(), "default");
    let pod = api.get("web-1").await?;
    let volume = &pod.spec.context("spec")?.volumes.context("volumes")?[0];
    assert_eq!(
        (
            volume.name.as_str(),
            volume
                .persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str())
        ),
        ("www", Some("www-web-1"))
    );
    let pvc = Api::<PersistentVolumeClaim>::namespaced(env.client.clone(), "default")
        .get("www-web-1")
        .await?;
    assert_eq!(pvc.labels().get("app").map(String::as_str), Some("web"));

    env.kubectl(&["scale", "statefulset/web", "--replicas=1"])?;
    env.until("the scaled-away claims to be garbage collected", || async {
        Ok(env.claims().await?.keys().cloned().collect::<Vec<_>>() == ["www-web-0"])
    })
    .await?;

    env.kubectl(&["delete", "statefulset/web"])?;
    env.until("the set's pods to be gone", || async {
        Ok(env.pods().await?.is_empty())
    })
    .await?;
    assert_eq!(
        env.claims().await?.keys().cloned().collect::<Vec<_>>(),
        ["www-web-0"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_kept_on_scale_down_and_deleted_with_the_set() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(
        2,
        "nginx:1",
        json!({
            "volumeClaimTemplates": claim_templates(),
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        }),
    ))?;
    env.rollout_status()?;
    let owned_by_the_set = BTreeMap::from([
        ("www-web-0".to_string(), vec!["StatefulSet".to_string()]),
        ("www-web-1".to_string(), vec!["StatefulSet".to_string()]),
    ]);
    env.until("both claims to be owned by the set", || async {
        Ok(env.claims().await? == owned_by_the_set)
    })
    .await?;
    env.kubectl(&["scale", "statefulset/web", "--replicas=1"])?;
    env.until("one pod left", || async {
        Ok(env.pods().await?.len() == 1)
    })
    .await?;
    assert_eq!(env.claims().await?.len(), 2, "scale-down retains the claim");

    env.kubectl(&["delete", "statefulset/web"])?;
    env.until("the claims to be deleted with the set", || async {
        Ok(env.claims().await?.is_empty())
    })
    .await?;
    Ok(())
}

/// A child process killed (by its own PID) when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `ferrokube <args>` against the cluster, logging to `<scratch>/<log>`.
fn component(cluster: &ferrokube_tests::Cluster, log: &str, args: &[&str]) -> Result<Child> {
    let out = std::fs::File::create(cluster.scratch().join(log))?;
    let child = std::process::Command::new(ferrokube_tests::ferrokube_bin())
        .args(args)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .stdout(std::process::Stdio::null())
        .stderr(out)
        .spawn()?;
    Ok(Child(child))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_claim_of_a_set_on_simulated_nodes_becomes_bound() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    let (cluster, client) = (&env.cluster, env.client.clone());
    let scratch = cluster.scratch().to_path_buf();
    let root = scratch.join("kubelet");
    let logs = scratch.join("pod-logs");
    let _scheduler = component(
        cluster,
        "scheduler.log",
        &["scheduler", "--leader-elect=false", "--secure-port", "0"],
    )?;
    let _kubelet = component(
        cluster,
        "kubelet.log",
        &[
            "kubelet",
            "--sim-nodes",
            "1",
            "--hostname-override",
            "sts-node",
            "--port",
            "0",
            "--root-dir",
            root.to_str().context("root dir")?,
            "--pod-logs-dir",
            logs.to_str().context("logs dir")?,
        ],
    )?;
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &web(
            3,
            "nginx:1",
            json!({"volumeClaimTemplates": claim_templates()}),
        )
        .to_string(),
    )?;
    cluster
        .kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=60s"])
        .with_context(|| {
            let tail = |f: &str| {
                let log = std::fs::read_to_string(scratch.join(f)).unwrap_or_default();
                log.lines().rev().take(15).collect::<Vec<_>>().join("\n")
            };
            let state = cluster.kubectl_ok(&["get", "pods,pvc,pv,nodes", "-o", "wide"]);
            format!(
                "state: {state:?}\nscheduler.log (last lines, newest first):\n{}\nkubelet.log:\n{}",
                tail("scheduler.log"),
                tail("kubelet.log")
            )
        })?;
    let claims = Api::<PersistentVolumeClaim>::namespaced(client, "default")
        .list(&ListParams::default())
        .await?;
    let phases: BTreeMap<String, String> = claims
        .items
        .iter()
        .map(|c| {
            let phase = c
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            (c.name_any(), phase)
        })
        .collect();
    let bound = |n: &str| (n.to_string(), "Bound".to_string());
    assert_eq!(
        phases,
        BTreeMap::from([bound("www-web-0"), bound("www-web-1"), bound("www-web-2")])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pod_is_recreated_with_the_same_name() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(3, "nginx:1", json!({})))?;
    env.rollout_status()?;
    let before = env.pods().await?;
    Api::<Pod>::namespaced(env.client.clone(), "default")
        .patch_status(
            "web-2",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"phase": "Failed"}})),
        )
        .await?;
    env.until("web-2 to come back ready under a new UID", || async {
        let now = env.pods().await?;
        Ok(now
            .get("web-2")
            .is_some_and(|(_, uid, ready)| *ready && *uid != before["web-2"].1))
    })
    .await?;
    eventually(
        "the RecreatingFailedPod event",
        Duration::from_secs(30),
        || {
            let out = env
                .kubectl(&[
                    "get",
                    "events",
                    "--field-selector",
                    "reason=RecreatingFailedPod",
                ])
                .ok()?;
            out.contains("StatefulSet default/web is recreating failed Pod web-2")
                .then_some(())
        },
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_delete_updates_a_pod_only_when_the_user_deletes_it() -> Result<()> {
    let env = Env::start(&["*"]).await?.with_fake_kubelet();
    env.apply(web(
        2,
        "nginx:1",
        json!({"updateStrategy": {"type": "OnDelete"}}),
    ))?;
    env.until("two ready pods", || async {
        Ok(env
            .pods()
            .await?
            .values()
            .filter(|(_, _, ready)| *ready)
            .count()
            == 2)
    })
    .await?;
    env.kubectl(&["set", "image", "statefulset/web", "nginx=nginx:2"])?;
    env.until("the controller to observe the new template", || async {
        let set = env.set().await?;
        let status = set.status.clone().unwrap_or_default();
        Ok(status.observed_generation == set.metadata.generation
            && status.update_revision != status.current_revision)
    })
    .await?;
    assert!(env.images().await?.values().all(|i| i == "nginx:1"));

    env.kubectl(&["delete", "pod", "web-0"])?;
    env.until("web-0 to come back at the new template", || async {
        let images = env.images().await?;
        Ok(images.get("web-0").map(String::as_str) == Some("nginx:2")
            && images.get("web-1").map(String::as_str) == Some("nginx:1"))
    })
    .await?;
    env.until("the status to count one updated pod", || async {
        let status = env.set().await?.status.unwrap_or_default();
        Ok(status.updated_replicas == Some(1) && status.current_replicas == Some(1))
    })
    .await?;
    Ok(())
}
