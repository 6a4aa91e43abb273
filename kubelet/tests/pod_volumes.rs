//! Pod volumes on a simulated node, as files under the kubelet's root directory: a configMap
//! volume's files follow updates of the ConfigMap, the `kube-api-access-*` volume holds the
//! namespace and the cluster CA, and a hostPath of type `Directory` that does not exist holds
//! the pod in `ContainerCreating` with a `FailedMount` event until the directory appears.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use common::{fast_options, get_pod, until, until_pod_shows};
use ferrokube_kubelet::{NodeOptions, start_sim_nodes};
use ferrokube_tests::Cluster;

fn options(root: &Path) -> NodeOptions {
    let mut o = fast_options();
    o.root_dir = root.to_path_buf();
    o.volume_resync_interval = Duration::from_millis(500);
    o
}

/// `<root>/<node>/pods/<uid>/volumes/<plugin>/<volume>`.
fn volume_dir(root: &Path, uid: &str, plugin: &str, volume: &str) -> PathBuf {
    root.join("node-1")
        .join("pods")
        .join(uid)
        .join("volumes")
        .join(plugin)
        .join(volume)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_map_volume_follows_updates_of_its_config_map() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let root = tempfile::tempdir()?;
    let nodes =
        start_sim_nodes(client.clone(), vec!["node-1".into()], options(root.path())).await?;
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
  nodeName: node-1
  containers:
  - name: main
    image: busybox
    command: [sh, -c, sleep 3600]
    volumeMounts: [{name: site, mountPath: /etc/site}]
  volumes:
  - name: site
    configMap: {name: site, items: [{key: greeting, path: conf/greeting.txt, mode: 0600}]}
"#,
    )?;
    until_pod_shows(&cluster, "web", "1/1", "Running").await?;
    let uid = get_pod(&client, "web")
        .await?
        .metadata
        .uid
        .unwrap_or_default();
    let file =
        volume_dir(root.path(), &uid, "kubernetes.io~configmap", "site").join("conf/greeting.txt");
    assert_eq!(std::fs::read_to_string(&file)?, "hello");
    let data = volume_dir(root.path(), &uid, "kubernetes.io~configmap", "site").join("..data");
    assert!(std::fs::symlink_metadata(&data)?.file_type().is_symlink());

    cluster.kubectl_ok(&[
        "patch",
        "configmap",
        "site",
        "-p",
        r#"{"data":{"greeting":"bye"}}"#,
    ])?;

    until(
        "the file to show the ConfigMap's new value",
        Duration::from_secs(20),
        || async { (std::fs::read_to_string(&file).ok()? == "bye").then_some(()) },
    )
    .await?;

    let access = std::fs::read_dir(
        root.path()
            .join("node-1/pods")
            .join(&uid)
            .join("volumes/kubernetes.io~projected"),
    )?
    .filter_map(|e| e.ok())
    .find(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with("kube-api-access-")
    })
    .expect("the kube-api-access volume")
    .path();
    assert_eq!(
        std::fs::read_to_string(access.join("namespace"))?,
        "default"
    );
    assert!(std::fs::read_to_string(access.join("ca.crt"))?.contains("BEGIN CERTIFICATE"));

    cluster.kubectl_ok(&["delete", "pod", "web", "--wait=true"])?;
    until(
        "the pod's volumes to be removed",
        Duration::from_secs(20),
        || async { (!root.path().join("node-1/pods").join(&uid).exists()).then_some(()) },
    )
    .await?;
    nodes.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_host_path_directory_holds_the_pod_with_failed_mount() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let root = tempfile::tempdir()?;
    let nodes =
        start_sim_nodes(client.clone(), vec!["node-1".into()], options(root.path())).await?;
    let data = root.path().join("data");
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: db}}
spec:
  nodeName: node-1
  containers:
  - name: main
    image: busybox
    command: [sh, -c, sleep 3600]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
  - name: data
    hostPath: {{path: {}, type: Directory}}
"#,
            data.display()
        ),
    )?;

    let expected = format!(
        "MountVolume.SetUp failed for volume \"data\" : hostPath type check failed: {} is not a directory",
        data.display()
    );
    until("a FailedMount event", Duration::from_secs(20), || async {
        let events = cluster
            .kubectl_ok(&[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=db,reason=FailedMount",
                "-o",
                "jsonpath={.items[*].message}",
            ])
            .ok()?;
        events.contains(&expected).then_some(())
    })
    .await?;
    until_pod_shows(&cluster, "db", "0/1", "ContainerCreating").await?;

    std::fs::create_dir(&data)?;
    until_pod_shows(&cluster, "db", "1/1", "Running").await?;
    nodes.stop().await;
    Ok(())
}
