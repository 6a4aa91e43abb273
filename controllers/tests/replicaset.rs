//! The ReplicaSet controller end to end: a real API server (`ferrokube apiserver`) and the
//! controller manager started in-process against its admin kubeconfig. Pods stay unscheduled
//! (there is no scheduler or kubelet here); tests play the kubelet by writing `pods/status`.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context as _, Result};
use ferrokube_controllers::Config;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::{Env, until};

impl Env {
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    fn replicasets(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Creates ReplicaSet `name` selecting `app=<name>` with `replicas` pods.
    async fn create_rs(&self, name: &str, replicas: i32, min_ready: i32) -> Result<ReplicaSet> {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "minReadySeconds": min_ready,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name, "tier": "frontend"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        }))?;
        Ok(self
            .replicasets()
            .create(&PostParams::default(), &rs)
            .await?)
    }

    /// The active (not terminating) pods labelled `app=<app>`.
    async fn active_pods(&self, app: &str) -> Result<Vec<Pod>> {
        let list = self
            .pods()
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect())
    }

    /// The active pods whose controller is the ReplicaSet `rs`.
    async fn owned_pods(&self, rs: &ReplicaSet) -> Result<Vec<Pod>> {
        let list = self.pods().list(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && controller_uid(p) == rs.uid())
            .collect())
    }

    /// Event messages with `reason` about the object `name`.
    async fn events(&self, name: &str, reason: &str) -> Result<Vec<String>> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), "default");
        let list = events.list(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|e| {
                e.involved_object.name.as_deref() == Some(name)
                    && e.reason.as_deref() == Some(reason)
            })
            .filter_map(|e| e.message)
            .collect())
    }

    /// Plays the kubelet: marks `pod` Running and Ready since `ready_since`.
    async fn make_ready(&self, pod: &str, ready_since: jiff::Timestamp) -> Result<()> {
        let status = json!({"status": {
            "phase": "Running",
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "lastTransitionTime": ready_since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            }],
        }});
        self.pods()
            .patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        Ok(())
    }

    async fn rs(&self, name: &str) -> Result<ReplicaSet> {
        Ok(self.replicasets().get(name).await?)
    }
}

fn controller_uid(pod: &Pod) -> Option<String> {
    pod.owner_references()
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.clone())
}

fn names(pods: &[Pod]) -> BTreeSet<String> {
    pods.iter().map(|p| p.name_any()).collect()
}

/// Waits until the ReplicaSet's status has caught up with its spec and its pods.
async fn settled(env: &Env, name: &str, replicas: i32) -> Result<ReplicaSet> {
    until(&format!("{name} to report {replicas} replicas"), || async {
        let rs = env.rs(name).await?;
        let s = rs.status.clone().unwrap_or_default();
        Ok(
            (s.replicas == replicas && s.observed_generation == rs.metadata.generation)
                .then_some(rs),
        )
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicaset_of_three_creates_exactly_three_owned_pods() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    env.create_rs("web", 3, 0).await?;
    let rs = settled(&env, "web", 3).await?;
    let pods = env.active_pods("web").await?;
    assert_eq!(pods.len(), 3, "pods: {:?}", names(&pods));
    for pod in &pods {
        assert!(pod.name_any().starts_with("web-"), "{}", pod.name_any());
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(
            pod.labels().get("tier").map(String::as_str),
            Some("frontend")
        );
        let owner = &pod.owner_references()[0];
        assert_eq!(
            (
                owner.api_version.as_str(),
                owner.kind.as_str(),
                owner.name.as_str(),
                Some(owner.uid.clone()),
                owner.controller,
                owner.block_owner_deletion,
            ),
            (
                "apps/v1",
                "ReplicaSet",
                "web",
                rs.uid(),
                Some(true),
                Some(true)
            )
        );
    }
    let want: BTreeSet<String> = pods
        .iter()
        .map(|p| format!("Created pod: {}", p.name_any()))
        .collect();
    let events = until("three SuccessfulCreate events", || async {
        let e = env.events("web", "SuccessfulCreate").await?;
        Ok((e.len() >= 3).then_some(e))
    })
    .await?;
    assert_eq!(events.into_iter().collect::<BTreeSet<_>>(), want);
    let described = env.cluster.kubectl_ok(&["describe", "rs", "web"])?;
    assert!(
        described.contains("SuccessfulCreate") && described.contains("replicaset-controller"),
        "{described}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_deletes_the_pods_that_are_not_ready() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    env.create_rs("web", 3, 0).await?;
    settled(&env, "web", 3).await?;
    let pods = env.active_pods("web").await?;
    let keeper = pods[1].name_any();
    env.make_ready(&keeper, jiff::Timestamp::now()).await?;
    until("the ready pod to be counted", || async {
        let s = env.rs("web").await?.status.unwrap_or_default();
        Ok((s.ready_replicas == Some(1)).then_some(()))
    })
    .await?;
    env.cluster
        .kubectl_ok(&["scale", "replicaset", "web", "--replicas=1"])?;
    let left = until("one pod to remain", || async {
        let p = env.active_pods("web").await?;
        Ok((p.len() == 1).then_some(p))
    })
    .await?;
    assert_eq!(left[0].name_any(), keeper, "the Running+Ready pod survives");
    let deleted: BTreeSet<String> = pods
        .iter()
        .filter(|p| p.name_any() != keeper)
        .map(|p| format!("Deleted pod: {}", p.name_any()))
        .collect();
    let events = until("two SuccessfulDelete events", || async {
        let e = env.events("web", "SuccessfulDelete").await?;
        Ok((e.len() >= 2).then_some(e))
    })
    .await?;
    assert_eq!(events.into_iter().collect::<BTreeSet<_>>(), deleted);
    let rs = settled(&env, "web", 1).await?;
    assert_eq!(rs.status.unwrap_or_default().ready_replicas, Some(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_pod_matching_the_selector_is_adopted() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    env.cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"stray","labels":{"app":"web"}},
            "spec":{"containers":[{"name":"c","image":"busybox"}]}}"#,
    )?;
    let rs = env.create_rs("web", 2, 0).await?;
    settled(&env, "web", 2).await?;
    let pods = env.active_pods("web").await?;
    assert_eq!(
        pods.len(),
        2,
        "one pod created next to the adopted one: {:?}",
        names(&pods)
    );
    let stray = env.pods().get("stray").await?;
    assert_eq!(controller_uid(&stray), rs.uid(), "the orphan is adopted");
    assert_eq!(stray.owner_references()[0].block_owner_deletion, Some(true));
    assert_eq!(env.events("web", "SuccessfulCreate").await?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_whose_labels_stop_matching_is_released_and_replaced() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    let rs = env.create_rs("web", 2, 0).await?;
    settled(&env, "web", 2).await?;
    let before = env.owned_pods(&rs).await?;
    let relabelled = before[0].name_any();
    env.cluster
        .kubectl_ok(&["label", "pod", &relabelled, "app=debug", "--overwrite"])?;
    until("the relabelled pod to lose its owner reference", || async {
        let p = env.pods().get(&relabelled).await?;
        Ok(p.owner_references().is_empty().then_some(()))
    })
    .await?;
    let after = until("a replacement pod", || async {
        let p = env.owned_pods(&rs).await?;
        Ok((p.len() == 2 && !names(&p).contains(&relabelled)).then_some(p))
    })
    .await?;
    assert!(names(&after).contains(&before[1].name_any()));
    assert!(
        env.pods()
            .get(&relabelled)
            .await?
            .metadata
            .deletion_timestamp
            .is_none(),
        "a released pod is left alone"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pod_is_replaced() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    let rs = env.create_rs("web", 2, 0).await?;
    settled(&env, "web", 2).await?;
    let before = names(&env.owned_pods(&rs).await?);
    let victim = before.iter().next().cloned().context("a pod")?;
    env.cluster.kubectl_ok(&["delete", "pod", &victim])?;
    let after = until("a replacement pod", || async {
        let p = names(&env.owned_pods(&rs).await?);
        Ok((p.len() == 2 && !p.contains(&victim)).then_some(p))
    })
    .await?;
    assert_eq!(after.intersection(&before).count(), 1);
    // The replacement comes from one create, not a burst from a stale cache.
    let creates = until("three SuccessfulCreate events", || async {
        let e = env.events("web", "SuccessfulCreate").await?;
        Ok((e.len() >= 3).then_some(e))
    })
    .await?;
    assert_eq!(creates.len(), 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_ready_and_available_pods_and_tracks_the_generation() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    env.create_rs("web", 3, 3600).await?;
    let rs = settled(&env, "web", 3).await?;
    let s = rs.status.clone().unwrap_or_default();
    assert_eq!(
        (
            s.fully_labeled_replicas,
            s.ready_replicas,
            s.available_replicas
        ),
        (Some(3), Some(0), Some(0))
    );
    assert_eq!(s.observed_generation, Some(1));
    let pods = names(&env.active_pods("web").await?);
    let mut pods = pods.iter();
    let (fresh, seasoned) = (pods.next().unwrap(), pods.next().unwrap());
    let now = jiff::Timestamp::now();
    env.make_ready(fresh, now).await?;
    env.make_ready(seasoned, now - jiff::SignedDuration::from_hours(2))
        .await?;
    let s = until("two ready pods, one available", || async {
        let s = env.rs("web").await?.status.unwrap_or_default();
        Ok((s.ready_replicas == Some(2)).then_some(s))
    })
    .await?;
    assert_eq!(s.available_replicas, Some(1), "minReadySeconds is 3600");
    // A label that the template has but a pod lacks makes it not fully labelled.
    env.cluster.kubectl_ok(&["label", "pod", fresh, "tier-"])?;
    until("fullyLabeledReplicas to drop", || async {
        let s = env.rs("web").await?.status.unwrap_or_default();
        Ok((s.fully_labeled_replicas == Some(2)).then_some(()))
    })
    .await?;
    // A spec change bumps the generation; the controller reports observing it.
    env.replicasets()
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minReadySeconds": 1}})),
        )
        .await?;
    let rs = until(
        "observedGeneration 2 and both ready pods available",
        || async {
            let rs = env.rs("web").await?;
            let s = rs.status.clone().unwrap_or_default();
            Ok((s.observed_generation == Some(2) && s.available_replicas == Some(2)).then_some(rs))
        },
    )
    .await?;
    assert_eq!(rs.metadata.generation, Some(2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_becomes_available_once_ready_for_min_ready_seconds() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    env.create_rs("web", 1, 1).await?;
    settled(&env, "web", 1).await?;
    let pod = env.active_pods("web").await?[0].name_any();
    env.make_ready(&pod, jiff::Timestamp::now()).await?;
    // No pod event follows; the controller must come back by itself after minReadySeconds.
    until("the ready pod to become available", || async {
        let s = env.rs("web").await?.status.unwrap_or_default();
        Ok((s.available_replicas == Some(1)).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_elected_manager_serves_health_and_queue_metrics() -> Result<()> {
    let env = Env::start_with(Config {
        leader_elect: true,
        leader_elect_lease_duration: Duration::from_secs(3),
        leader_elect_renew_deadline: Duration::from_secs(2),
        leader_elect_retry_period: Duration::from_millis(500),
        health_addr: Some(([127, 0, 0, 1], 0).into()),
        ..Default::default()
    })
    .await?;
    let health = env.health.context("health address")?;
    env.create_rs("web", 2, 0).await?;
    settled(&env, "web", 2).await?;
    let lease = env.cluster.kubectl_ok(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        "kube-controller-manager",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ])?;
    assert!(lease.contains('_'), "holder is <host>_<uuid>: {lease:?}");
    assert_eq!(http_get(health, "/healthz").await?, (200, "ok".to_string()));
    assert_eq!(http_get(health, "/readyz").await?.0, 200);
    let (code, metrics) = http_get(health, "/metrics").await?;
    assert_eq!(code, 200);
    for want in [
        "workqueue_adds_total{name=\"replicaset\"}",
        "workqueue_depth{name=\"replicaset\"}",
        "workqueue_work_duration_seconds_count{name=\"replicaset\"}",
    ] {
        assert!(metrics.contains(want), "missing {want} in:\n{metrics}");
    }
    Ok(())
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = String::new();
    tcp.read_to_string(&mut out).await?;
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("status line")?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    Ok((code, body.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_replicaset_scales_up_and_down_without_duplicate_creates_or_deletes() -> Result<()>
{
    let env = Env::start(&["*"]).await?;
    env.create_rs("big", 40, 0).await?;
    settled(&env, "big", 40).await?;
    assert_eq!(env.active_pods("big").await?.len(), 40);
    env.cluster
        .kubectl_ok(&["scale", "replicaset", "big", "--replicas=5"])?;
    settled(&env, "big", 5).await?;
    assert_eq!(env.active_pods("big").await?.len(), 5);
    let (creates, deletes) = until("every create and delete event", || async {
        let c = env.events("big", "SuccessfulCreate").await?;
        let d = env.events("big", "SuccessfulDelete").await?;
        Ok((c.len() >= 40 && d.len() >= 35).then_some((c, d)))
    })
    .await?;
    assert_eq!((creates.len(), deletes.len()), (40, 35));
    assert!(env.events("big", "FailedCreate").await?.is_empty());
    Ok(())
}
