//! The taint-eviction controller end to end: a real API server and only the
//! `taint-eviction-controller` in-process. There is no kubelet: the tests taint a hand-made
//! Node `NoExecute` themselves and give their pods a finalizer, so an evicted pod stays
//! visible (terminating, with its `DisruptionTarget` condition) for the assertions.

mod support;

use anyhow::Result;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use support::{Env, until};

const TAINT: &str = "example.com/broken";

impl Env {
    /// A cluster running only the taint-eviction controller, with one Node, node-a.
    async fn with_taint_eviction() -> Result<Env> {
        let env = Env::start(&["taint-eviction-controller"]).await?;
        env.create_node(json!({"metadata": {"name": "node-a"}}))
            .await?;
        Ok(env)
    }

    fn pods(&self) -> Api<Pod> {
        self.api()
    }

    /// Creates a pod on node-a (held by a finalizer) with `tolerations`.
    async fn create_pod_tolerating(&self, name: &str, tolerations: Value) -> Result<()> {
        self.create::<Pod>(json!({
            "metadata": {"name": name, "finalizers": ["example.com/keep"]},
            "spec": {"nodeName": "node-a", "tolerations": tolerations,
                "containers": [{"name": "c", "image": "busybox"}]},
        }))
        .await?;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_does_not_tolerate_a_no_execute_taint_is_evicted_at_once() -> Result<()> {
    let env = Env::with_taint_eviction().await?;
    env.create_pod_tolerating("intolerant", json!([])).await?;
    env.create_pod_tolerating(
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
    let env = Env::with_taint_eviction().await?;
    let tolerate_for = |seconds: i64| {
        json!([{"key": TAINT, "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": seconds}])
    };
    env.create_pod_tolerating("brief", tolerate_for(3)).await?;
    env.create_pod_tolerating("patient", tolerate_for(60))
        .await?;

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
