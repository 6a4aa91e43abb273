//! `kubectl logs` and `kubectl exec` through the API server to a simulated node's kubelet (the
//! real `ferrokube kubelet` binary): the API server finds the node's kubelet endpoint, calls it
//! with its kubelet client certificate and streams the answer back, as upstream does.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferrokube_tests::{Cluster, eventually, ferrokube_bin};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;

/// A `ferrokube kubelet` hosting one simulated node, killed when dropped.
struct Kubelet {
    child: Child,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address of its own for each node this test process starts, so that every
/// kubelet server can listen on the default port 10250 without meeting another test's.
fn loopback_ip() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    format!(
        "127.{}.{}.{}",
        1 + pid % 250,
        1 + (pid / 250) % 250,
        2 + n % 250
    )
}

/// Starts the kubelet for node `name` and waits until the node is Ready.
fn start_kubelet(cluster: &Cluster, name: &str) -> Result<Kubelet> {
    let scratch = cluster.scratch();
    let log = std::fs::File::create(scratch.join(format!("kubelet-{name}.log")))?;
    let child = Command::new(ferrokube_bin())
        .args(["kubelet", "--runtime", "sim", "--hostname-override", name])
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args(["--node-ip", &loopback_ip(), "--port", "10250"])
        .arg("--pod-logs-dir")
        .arg(scratch.join(format!("logs-{name}")))
        .arg("--root-dir")
        .arg(scratch.join(format!("kubelet-{name}")))
        .args(["--sim-start-delay", "100ms", "--sim-stop-delay", "100ms"])
        .args(["--crash-loop-back-off-base", "1s"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    let kubelet = Kubelet { child };
    eventually(
        "the simulated node to be Ready",
        Duration::from_secs(30),
        || {
            let out = cluster
                .kubectl_ok(&["get", "node", name, "--no-headers"])
                .ok()?;
            out.split_whitespace()
                .nth(1)
                .filter(|s| *s == "Ready")
                .map(|_| ())
        },
    )?;
    Ok(kubelet)
}

/// A pod bound to `node` whose one container `main` runs `script` in `sh -c`.
fn create_pod(cluster: &Cluster, name: &str, node: &str, script: &str) -> Result<()> {
    let manifest = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"}},
  "spec":{{"nodeName":"{node}","containers":[{{"name":"main","image":"busybox",
  "command":["sh","-c","{script}"]}}]}}}}"#
    );
    cluster.kubectl_stdin(&["apply", "-f", "-"], &manifest)?;
    Ok(())
}

fn wait_running(cluster: &Cluster, name: &str) -> Result<()> {
    eventually(
        &format!("pod {name} to be Running"),
        Duration::from_secs(30),
        || {
            let out = cluster
                .kubectl_ok(&["get", "pod", name, "-o", "jsonpath={.status.phase}"])
                .ok()?;
            (out == "Running").then_some(())
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_shows_the_output_with_tail_and_timestamps() -> Result<()> {
    let cluster = Cluster::start()?;
    let _kubelet = start_kubelet(&cluster, "logs-node")?;
    create_pod(
        &cluster,
        "talk",
        "logs-node",
        "echo hello; echo world; sleep 3600",
    )?;
    wait_running(&cluster, "talk")?;

    assert_eq!(
        cluster.kubectl_ok(&["logs", "talk"])?,
        "simulated container main started\nhello\nworld\n"
    );
    assert_eq!(
        cluster.kubectl_ok(&["logs", "talk", "--tail=1"])?,
        "world\n"
    );
    let stamped = cluster.kubectl_ok(&["logs", "talk", "--tail=2", "--timestamps"])?;
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 2, "{stamped}");
    assert!(lines[0].ends_with("Z hello"), "{stamped}");
    assert!(lines[1].ends_with("Z world"), "{stamped}");
    assert_eq!(
        cluster.kubectl_ok(&["logs", "talk", "--limit-bytes=8"])?,
        "simulate"
    );

    // The API server names the choices when a pod has several containers.
    let two = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"two"},
  "spec":{"nodeName":"logs-node","containers":[{"name":"a","image":"busybox"},
  {"name":"b","image":"busybox"}]}}"#;
    cluster.kubectl_stdin(&["apply", "-f", "-"], two)?;
    let pods: Api<Pod> = Api::default_namespaced(cluster.client().await?);
    let err = pods
        .logs("two", &LogParams::default())
        .await
        .expect_err("no container named");
    let kube::Error::Api(status) = err else {
        bail!("not an API error: {err}")
    };
    assert_eq!(status.code, 400);
    assert_eq!(
        status.message,
        "a container name must be specified for pod two, choose one of: [a b]"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_follow_streams_until_the_pod_is_deleted() -> Result<()> {
    let cluster = Cluster::start()?;
    let _kubelet = start_kubelet(&cluster, "follow-node")?;
    create_pod(&cluster, "talk", "follow-node", "echo hello; sleep 3600")?;
    wait_running(&cluster, "talk")?;

    let mut follow = cluster
        .kubectl()
        .args(["logs", "-f", "talk"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = follow.stdout.take().context("kubectl stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .context("the first followed line")?;
    assert_eq!(first, "simulated container main started");
    assert_eq!(rx.recv_timeout(Duration::from_secs(30))?, "hello");

    cluster.kubectl_ok(&["delete", "pod", "talk", "--wait=false"])?;
    // The kubelet stops the container, so the stream ends and kubectl exits by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = follow.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = follow.kill();
            bail!("kubectl logs -f did not end after the pod was deleted");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "kubectl logs -f exited with {status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_previous_shows_the_instance_before_a_restart() -> Result<()> {
    let cluster = Cluster::start()?;
    let _kubelet = start_kubelet(&cluster, "restart-node")?;
    create_pod(&cluster, "flaky", "restart-node", "echo attempt; exit 1")?;
    eventually("flaky to have restarted", Duration::from_secs(30), || {
        let n = cluster
            .kubectl_ok(&[
                "get",
                "pod",
                "flaky",
                "-o",
                "jsonpath={.status.containerStatuses[0].restartCount}",
            ])
            .ok()?;
        (n.parse::<u32>().ok()? >= 1).then_some(())
    })?;
    assert_eq!(
        cluster.kubectl_ok(&["logs", "flaky", "--previous"])?,
        "simulated container main started\nattempt\n"
    );

    create_pod(&cluster, "steady", "restart-node", "sleep 3600")?;
    wait_running(&cluster, "steady")?;
    let err = cluster.kubectl_err(&["logs", "steady", "--previous"])?;
    assert!(
        err.contains("previous terminated container \"main\" in pod \"steady\" not found"),
        "{err}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_and_node_proxy_reach_the_kubelet() -> Result<()> {
    let cluster = Cluster::start()?;
    let _kubelet = start_kubelet(&cluster, "exec-node")?;
    create_pod(&cluster, "shell", "exec-node", "sleep 3600")?;
    wait_running(&cluster, "shell")?;

    assert_eq!(
        cluster.kubectl_ok(&["exec", "shell", "--", "echo", "hi"])?,
        "hi\n"
    );
    let newer = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
    if std::path::Path::new(newer).exists() {
        let out = cluster
            .kubectl_binary(newer)
            .args(["exec", "shell", "--", "sh", "-c", "echo from 1.33"])
            .output()?;
        assert_eq!(String::from_utf8_lossy(&out.stdout), "from 1.33\n");
    }
    let err = cluster.kubectl_err(&["exec", "shell", "--", "false"])?;
    assert!(err.contains("command terminated with exit code 1"), "{err}");

    assert_eq!(
        cluster.kubectl_ok(&["get", "--raw", "/api/v1/nodes/exec-node/proxy/healthz"])?,
        "ok"
    );
    let pods = cluster.kubectl_ok(&["get", "--raw", "/api/v1/nodes/exec-node/proxy/pods"])?;
    assert!(pods.contains("\"name\":\"shell\""), "{pods}");
    Ok(())
}
