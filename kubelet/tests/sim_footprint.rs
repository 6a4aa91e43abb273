//! Simulated nodes stay light at scale: without volume files a pod's volumes (its service
//! account token, a ConfigMap) leave nothing on disk while it runs, and the service variables
//! of containers come from one Service cache kept by a watch, which follows Services as they
//! are created and deleted.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use common::{fast_options, ready_and_status, until};
use ferrokube_kubelet::pod::env::{PodNetwork, ResolvedEnv, ServiceCache, resolve_with_services};
use ferrokube_kubelet::start_sim_nodes;
use ferrokube_tests::Cluster;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use kube::api::{DeleteParams, PostParams};

/// Pods start within this on a loaded machine (simulated containers take 100 ms).
const POD_START: Duration = Duration::from_secs(60);

/// Regular files below `dir`.
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_on_nodes_without_volume_files_run_and_leave_nothing_on_disk() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let root = tempfile::tempdir()?;
    let mut options = fast_options();
    options.root_dir = root.path().to_path_buf();
    options.sim.volume_files = false;
    let nodes = start_sim_nodes(client.clone(), vec!["light-0".into()], options).await?;
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: site}
data: {greeting: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: light-0
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "sleep 3600"]
    volumeMounts: [{name: site, mountPath: /etc/site}]
  volumes:
  - name: site
    configMap: {name: site}
"#,
    )?;

    until("pod web to be Running and Ready", POD_START, || async {
        let (ready, status) = ready_and_status(&cluster, "web")?;
        (ready == "1/1" && status == "Running").then_some(())
    })
    .await?;

    assert_eq!(files_under(root.path()), 0, "no volume files were written");
    nodes.stop().await;
    Ok(())
}

async fn env_of(services: &ServiceCache, client: &kube::Client, pod: &Pod) -> Result<ResolvedEnv> {
    let container = &pod.spec.as_ref().expect("a spec").containers[0];
    let allocatable: BTreeMap<String, String> = BTreeMap::new();
    Ok(resolve_with_services(
        client,
        services,
        pod,
        container,
        &PodNetwork::default(),
        &allocatable,
    )
    .await?)
}

fn vars(env: &ResolvedEnv) -> HashMap<String, String> {
    env.vars.iter().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_variables_follow_the_services_of_the_pods_namespace() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    cluster.kubectl_ok(&["create", "namespace", "other"])?;
    cluster.kubectl_ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"])?;
    cluster.kubectl_ok(&[
        "create",
        "service",
        "clusterip",
        "db",
        "--tcp=5432",
        "-n",
        "other",
    ])?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (services, task) = ServiceCache::start(client.clone(), stopped);
    assert!(
        services.wait_synced(Duration::from_secs(30)).await,
        "the first list of Services completes"
    );
    let pod: Pod = serde_json::from_str(
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},
        "spec":{"containers":[{"name":"main","image":"busybox"}]}}"#,
    )?;
    let web_ip = Api::<Service>::namespaced(client.clone(), "default")
        .get("web")
        .await?
        .spec
        .and_then(|s| s.cluster_ip)
        .expect("web has a cluster IP");

    let env = vars(&env_of(&services, &client, &pod).await?);
    assert_eq!(env.get("WEB_SERVICE_HOST"), Some(&web_ip));
    assert_eq!(env.get("WEB_SERVICE_PORT").map(String::as_str), Some("80"));
    assert_eq!(
        env.get("KUBERNETES_SERVICE_PORT").map(String::as_str),
        Some("443")
    );
    assert!(
        !env.contains_key("DB_SERVICE_HOST"),
        "other namespaces' services stay out"
    );

    let mut no_links = pod.clone();
    no_links.spec.as_mut().expect("a spec").enable_service_links = Some(false);
    let env = vars(&env_of(&services, &client, &no_links).await?);
    assert!(
        !env.contains_key("WEB_SERVICE_HOST"),
        "links disabled: only the master"
    );
    assert!(env.contains_key("KUBERNETES_SERVICE_HOST"));

    Api::<Service>::namespaced(client.clone(), "default")
        .delete("web", &DeleteParams::default())
        .await?;
    let cache: Service =
        serde_json::from_str(r#"{"metadata":{"name":"cache"},"spec":{"ports":[{"port":6379}]}}"#)?;
    Api::<Service>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &cache)
        .await?;
    until(
        "the cache to follow the deleted and the created Service",
        Duration::from_secs(30),
        || async {
            let env = vars(&env_of(&services, &client, &pod).await.ok()?);
            (!env.contains_key("WEB_SERVICE_HOST") && env.contains_key("CACHE_SERVICE_HOST"))
                .then_some(())
        },
    )
    .await?;

    stop.send_replace(true);
    task.await?;
    Ok(())
}
