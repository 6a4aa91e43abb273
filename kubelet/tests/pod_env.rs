//! A container's environment on a simulated node: values from Secrets, ConfigMaps and the pod
//! itself are resolved against the real API server, `$(VAR)` references expand, the master
//! service's variables are always there, and a missing non-optional key keeps the container
//! in `CreateContainerConfigError` until the key exists.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Result;
use common::{fast_options, get_pod, until};
use ferrokube_kubelet::pod::env::{PodNetwork, resolve};
use ferrokube_kubelet::start_sim_nodes;
use ferrokube_tests::Cluster;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;

const CONFIG: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast, "bad key": x, level: "3"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret}
"#;

fn env_pod(name: &str, node: Option<&str>, secret_key: &str) -> Pod {
    let node = node
        .map(|n| format!(r#""nodeName":"{n}","#))
        .unwrap_or_default();
    serde_json::from_str(&format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","labels":{{"app":"web"}}}},
  "spec":{{{node}"containers":[{{"name":"main","image":"busybox","command":["sh","-c","sleep 3600"],
  "resources":{{"requests":{{"cpu":"250m"}},"limits":{{"memory":"64Mi"}}}},
  "envFrom":[{{"configMapRef":{{"name":"settings"}},"prefix":"CFG_"}}],
  "env":[
    {{"name":"PASSWORD","valueFrom":{{"secretKeyRef":{{"name":"creds","key":"{secret_key}"}}}}}},
    {{"name":"MODE","valueFrom":{{"configMapKeyRef":{{"name":"settings","key":"mode"}}}}}},
    {{"name":"MISSING_OK","valueFrom":{{"configMapKeyRef":{{"name":"absent","key":"k","optional":true}}}}}},
    {{"name":"POD_NAME","valueFrom":{{"fieldRef":{{"fieldPath":"metadata.name"}}}}}},
    {{"name":"APP","valueFrom":{{"fieldRef":{{"fieldPath":"metadata.labels['app']"}}}}}},
    {{"name":"POD_IP","valueFrom":{{"fieldRef":{{"fieldPath":"status.podIP"}}}}}},
    {{"name":"CPU_MILLIS","valueFrom":{{"resourceFieldRef":{{"resource":"requests.cpu","divisor":"1m"}}}}}},
    {{"name":"MEMORY_MI","valueFrom":{{"resourceFieldRef":{{"resource":"limits.memory","divisor":"1Mi"}}}}}},
    {{"name":"GREETING","value":"$(POD_NAME) runs in $(MODE) mode, $$(MODE) stays, $(NOPE) too"}}
  ]}}]}}}}"#
    ))
    .expect("a valid pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_is_resolved_from_secrets_config_maps_and_the_pod_itself() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    cluster.kubectl_stdin(&["apply", "-f", "-"], CONFIG)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = pods
        .create(
            &PostParams::default(),
            &env_pod("env-demo", None, "password"),
        )
        .await?;
    let net = PodNetwork {
        host_ip: "10.0.0.2".into(),
        pod_ip: "10.244.0.7".into(),
    };
    let allocatable: BTreeMap<String, String> = [("cpu".to_string(), "4".to_string())].into();
    let container = &pod.spec.as_ref().expect("spec").containers[0];

    let env = resolve(&client, &pod, container, &net, &allocatable).await?;

    let vars: HashMap<&str, &str> = env
        .vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(vars["PASSWORD"], "s3cret");
    assert_eq!(vars["MODE"], "fast");
    assert_eq!(vars["CFG_mode"], "fast");
    assert_eq!(vars["CFG_level"], "3");
    assert!(!vars.contains_key("MISSING_OK"));
    assert_eq!(vars["POD_NAME"], "env-demo");
    assert_eq!(vars["APP"], "web");
    assert_eq!(vars["POD_IP"], "10.244.0.7");
    assert_eq!(vars["CPU_MILLIS"], "250");
    assert_eq!(vars["MEMORY_MI"], "64");
    assert_eq!(
        vars["GREETING"],
        "env-demo runs in fast mode, $(MODE) stays, $(NOPE) too"
    );
    assert!(vars.contains_key("KUBERNETES_SERVICE_HOST"));
    assert_eq!(vars["KUBERNETES_SERVICE_PORT"], "443");
    assert_eq!(
        env.invalid_names,
        [
            "Keys [CFG_bad key] from the EnvFrom configMap default/settings were skipped since they are considered invalid environment variable names."
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_key_holds_the_container_until_the_key_exists() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    cluster.kubectl_stdin(&["apply", "-f", "-"], CONFIG)?;
    let root = tempfile::tempdir()?;
    let mut options = fast_options();
    options.root_dir = root.path().to_path_buf();
    let nodes = start_sim_nodes(client.clone(), vec!["node-1".into()], options).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &env_pod("held", Some("node-1"), "token"),
    )
    .await?;

    let message = until(
        "the container to wait in CreateContainerConfigError",
        Duration::from_secs(20),
        || async {
            let pod = get_pod(&client, "held").await.ok()?;
            let status = pod.status?.container_statuses?.into_iter().next()?;
            let waiting = status.state?.waiting?;
            (waiting.reason.as_deref() == Some("CreateContainerConfigError"))
                .then_some(waiting.message.unwrap_or_default())
        },
    )
    .await?;
    assert_eq!(message, "couldn't find key token in Secret default/creds");
    let events = cluster.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=held",
    ])?;
    assert!(
        events.contains("Error: couldn't find key token in Secret default/creds"),
        "{events}"
    );

    cluster.kubectl_ok(&[
        "patch",
        "secret",
        "creds",
        "-p",
        r#"{"stringData":{"token":"t0k3n"}}"#,
    ])?;
    until(
        "the container to run once the key exists",
        Duration::from_secs(20),
        || async {
            let pod = get_pod(&client, "held").await.ok()?;
            (pod.status?.phase.as_deref() == Some("Running")).then_some(())
        },
    )
    .await?;
    nodes.stop().await;
    Ok(())
}
