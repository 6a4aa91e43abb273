//! `--config` as an operator uses it: a KubeSchedulerConfiguration with several profiles,
//! plugins switched off per extension point and plugin arguments, against our real API
//! server; and a bad file rejected with the failing field's path.

mod support;

use std::process::Command;

use anyhow::Result;
use ferrokube_scheduler::Config;
use ferrokube_tests::ferrokube_bin;
use serde_json::json;
use support::{Env, NO_LABELS, NO_TAINTS};

/// Creates a pod requesting 500m CPU that asks for `scheduler_name`.
async fn pod_for(env: &Env, name: &str, scheduler_name: &str) -> Result<()> {
    env.pod_requesting(
        name,
        json!({"cpu": "500m"}),
        json!({"schedulerName": scheduler_name}),
    )
    .await
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
    let env = Env::with_config(TWO_PROFILES).await?;
    env.node("n1", "4", "8Gi", NO_LABELS, NO_TAINTS).await?;
    pod_for(&env, "for-other", "someone-else").await?;
    pod_for(&env, "for-alpha", "alpha").await?;
    pod_for(&env, "for-beta", "beta").await?;
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
    let env = Env::with_config(BIN_PACKING).await?;
    env.node("a", "4", "8Gi", NO_LABELS, NO_TAINTS).await?;
    env.node("b", "4", "8Gi", NO_LABELS, NO_TAINTS).await?;
    let mut placed = Vec::new();
    for i in 0..4 {
        let name = format!("packed-{i}");
        pod_for(&env, &name, "default-scheduler").await?;
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
