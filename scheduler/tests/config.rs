//! `--config` as an operator uses it: a KubeSchedulerConfiguration with several profiles,
//! plugins switched off per extension point and plugin arguments, against our real API
//! server; and a bad file rejected with the failing field's path.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use ferrokube_scheduler::Config;
use ferrokube_tests::{Cluster, ferrokube_bin};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::oneshot;

struct Env {
    _cluster: Cluster,
    client: kube::Client,
    _stop: oneshot::Sender<()>,
}

/// A cluster with our scheduler started in-process from this configuration document.
async fn env(document: &str) -> Result<Env> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let mut config = Config {
        kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
        leader_elect: false,
        health_addr: None,
        ..Default::default()
    };
    let path = cluster.scratch().join("scheduler.yaml");
    std::fs::write(&path, document)?;
    config.apply_file(&path)?;
    let (stop, stopped) = oneshot::channel::<()>();
    ferrokube_scheduler::start(config, async move {
        let _ = stopped.await;
    })
    .await?;
    Ok(Env {
        _cluster: cluster,
        client,
        _stop: stop,
    })
}

/// Polls `f` every 50 ms until it yields, for at most 30 s (binding takes a second or two on
/// a loaded machine).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let poll = async {
        loop {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), poll)
        .await
        .with_context(|| format!("timed out waiting for {what}"))
}

impl Env {
    async fn node(&self, name: &str, cpu: &str) -> Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        api.create(&PostParams::default(), &node).await?;
        let resources = json!({"cpu": cpu, "memory": "8Gi", "pods": "110"});
        let status = json!({"status": {
            "capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await?;
        Ok(())
    }

    async fn pod(&self, name: &str, scheduler_name: &str) -> Result<()> {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"schedulerName": scheduler_name, "containers": [{"name": "c",
                "image": "busybox", "resources": {"requests": {"cpu": "500m"}}}]},
        }))?;
        self.pods().create(&PostParams::default(), &pod).await?;
        Ok(())
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn node_of(&self, pod: &str) -> Result<Option<String>> {
        let p = self.pods().get(pod).await?;
        Ok(p.spec.and_then(|s| s.node_name).filter(|n| !n.is_empty()))
    }

    async fn scheduled(&self, pod: &str) -> Result<String> {
        eventually(&format!("pod {pod} to be bound"), || async {
            self.node_of(pod).await.ok().flatten()
        })
        .await
    }
}

const TWO_PROFILES: &str = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
  - schedulerName: alpha
  - schedulerName: beta
    plugins:
      score:
        disabled:
          - name: "*"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_profiles_schedule_their_own_pods_and_leave_others_alone() -> Result<()> {
    let env = env(TWO_PROFILES).await?;
    env.node("n1", "4").await?;
    env.pod("for-other", "someone-else").await?;
    env.pod("for-alpha", "alpha").await?;
    env.pod("for-beta", "beta").await?;
    assert_eq!(env.scheduled("for-alpha").await?, "n1");
    assert_eq!(env.scheduled("for-beta").await?, "n1");
    let other = env.pods().get("for-other").await?;
    assert!(
        other.spec.and_then(|s| s.node_name).is_none(),
        "a pod for another scheduler is never bound"
    );
    assert!(
        other
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .all(|c| c.type_ != "PodScheduled"),
        "nor marked unschedulable"
    );
    Ok(())
}

const BIN_PACKING: &str = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - schedulerName: default-scheduler
    plugins:
      score:
        disabled:
          - name: NodeResourcesBalancedAllocation
    pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: MostAllocated
            resources:
              - name: cpu
                weight: 1
              - name: memory
                weight: 1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn most_allocated_packs_pods_onto_one_node() -> Result<()> {
    let env = env(BIN_PACKING).await?;
    env.node("a", "4").await?;
    env.node("b", "4").await?;
    let mut placed = Vec::new();
    for i in 0..4 {
        let name = format!("packed-{i}");
        env.pod(&name, "default-scheduler").await?;
        placed.push(env.scheduled(&name).await?);
    }
    assert!(
        placed.iter().all(|n| *n == placed[0]),
        "MostAllocated keeps choosing the fuller node: {placed:?}"
    );
    Ok(())
}

#[test]
fn a_bad_config_is_rejected_with_the_field_path() -> Result<()> {
    let bad_strategy = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: Fullest
"#;
    let err = Config::default().apply_str(bad_strategy).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: profiles[0].pluginConfig[0].args.scoringStrategy.type: \
         Unsupported value: \"Fullest\": supported values: \"LeastAllocated\", \
         \"MostAllocated\", \"RequestedToCapacityRatio\""
    );
    let unknown_plugin = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - schedulerName: a
    plugins:
      filter:
        enabled:
          - name: NoSuchPlugin
  - schedulerName: b
"#;
    let err = Config::default().apply_str(unknown_plugin).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: profiles[0].plugins.filter.enabled[0].name: \
         Invalid value: \"NoSuchPlugin\": plugin does not exist"
    );
    let typo = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
                percentageOfNodesToScor: 10\n";
    let err = Config::default().apply_str(typo).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown field `percentageOfNodesToScor`"),
        "{err}"
    );

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, bad_strategy)?;
    let out = Command::new(ferrokube_bin())
        .args(["scheduler", "--secure-port", "0", "--config"])
        .arg(&path)
        .output()?;
    assert!(!out.status.success(), "the scheduler refuses to start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("profiles[0].pluginConfig[0].args.scoringStrategy.type"),
        "the error names the field: {stderr}"
    );
    Ok(())
}
