//! The taint-eviction controller end to end: a real API server and only the
//! `taint-eviction-controller` in-process. There is no kubelet: the tests taint a hand-made
//! Node `NoExecute` themselves and give their pods a finalizer, so an evicted pod stays
//! visible (terminating, with its `DisruptionTarget` condition) for the assertions.

use std::future::Future;
use std::time::Duration;

use anyhow::{Result, bail};
use ferrokube_controllers::Config;
use ferrokube_tests::Cluster;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const TAINT: &str = "example.com/broken";

struct Env {
    _cluster: Cluster,
    client: kube::Client,
    _stop: oneshot::Sender<()>,
}

impl Env {
    async fn start() -> Result<Env> {
        let cluster = Cluster::start()?;
        let client = cluster.client().await?;
        let (stop, stopped) = oneshot::channel::<()>();
        ferrokube_controllers::start(
            Config {
                kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
                controllers: vec!["taint-eviction-controller".into()],
                leader_elect: false,
                health_addr: None,
                ..Default::default()
            },
            async move {
                let _ = stopped.await;
            },
        )
        .await?;
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "node-a"}}))?;
        Api::<Node>::all(client.clone())
            .create(&PostParams::default(), &node)
            .await?;
        Ok(Env {
            _cluster: cluster,
            client,
            _stop: stop,
        })
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Creates a pod on node-a (held by a finalizer) with `tolerations`.
    async fn create_pod(&self, name: &str, tolerations: Value) -> Result<()> {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "finalizers": ["example.com/keep"]},
            "spec": {"nodeName": "node-a", "tolerations": tolerations,
                "containers": [{"name": "c", "image": "busybox"}]},
        }))?;
        self.pods().create(&PostParams::default(), &pod).await?;
        Ok(())
    }

    async fn set_taints(&self, taints: Value) -> Result<()> {
        let patch = json!({"spec": {"taints": taints}});
        Api::<Node>::all(self.client.clone())
            .patch("node-a", &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    async fn terminating(&self, name: &str) -> Result<bool> {
        Ok(self
            .pods()
            .get(name)
            .await?
            .metadata
            .deletion_timestamp
            .is_some())
    }

    async fn event_messages(&self, reason: &str) -> Result<Vec<String>> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), "default");
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter_map(|e| e.message)
            .collect())
    }
}

/// Polls `f` until it yields `Some` (every 100 ms, at most 30 s: a generous bound for a loaded
/// machine; `what` says what was awaited).
async fn until<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let last = f().await;
        if let Ok(Some(v)) = last {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "timed out after 30 s waiting for {what} (last: {:?})",
                last.err()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_does_not_tolerate_a_no_execute_taint_is_evicted_at_once() -> Result<()> {
    let env = Env::start().await?;
    env.create_pod("intolerant", json!([])).await?;
    env.create_pod(
        "tolerant",
        json!([{"key": TAINT, "operator": "Exists", "effect": "NoExecute"}]),
    )
    .await?;

    env.set_taints(json!([{"key": TAINT, "effect": "NoExecute"}]))
        .await?;

    until("the intolerant pod to be deleted", || async {
        Ok(env.terminating("intolerant").await?.then_some(()))
    })
    .await?;
    let pod = env.pods().get("intolerant").await?;
    let condition = pod
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .expect("a DisruptionTarget condition");
    assert_eq!(condition.status, "True");
    assert_eq!(condition.reason.as_deref(), Some("DeletionByTaintManager"));
    assert_eq!(
        condition.message.as_deref(),
        Some("Taint manager: deleting due to NoExecute taint")
    );
    until("the TaintManagerEviction event", || async {
        let m = env.event_messages("TaintManagerEviction").await?;
        Ok(
            m.contains(&"Marking for deletion Pod default/intolerant".to_string())
                .then_some(()),
        )
    })
    .await?;
    assert!(
        !env.terminating("tolerant").await?,
        "a pod tolerating the taint forever stays"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_stay_until_their_toleration_seconds_pass_and_untainting_cancels_the_deletion()
-> Result<()> {
    let env = Env::start().await?;
    let tolerate_for = |seconds: i64| {
        json!([{"key": TAINT, "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": seconds}])
    };
    env.create_pod("brief", tolerate_for(3)).await?;
    env.create_pod("patient", tolerate_for(60)).await?;

    env.set_taints(json!([{"key": TAINT, "effect": "NoExecute"}]))
        .await?;

    until(
        "the pod tolerating the taint for 3 s to be deleted",
        || async { Ok(env.terminating("brief").await?.then_some(())) },
    )
    .await?;
    assert!(
        !env.terminating("patient").await?,
        "the pod tolerating the taint for 60 s is still there"
    );

    env.set_taints(json!(null)).await?;
    until("the patient pod's deletion to be cancelled", || async {
        let m = env.event_messages("TaintManagerEviction").await?;
        Ok(
            m.contains(&"Cancelling deletion of Pod default/patient".to_string())
                .then_some(()),
        )
    })
    .await?;
    assert!(!env.terminating("patient").await?);
    let names: Vec<String> = env
        .pods()
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    Ok(())
}
