//! `ferrokube scheduler` as an operator runs it: the binary with kube-scheduler's flags
//! against a real API server, holding the `kube-system/kube-scheduler` Lease and serving
//! `/healthz` and `/metrics`; and `ferrokube server` scheduling pods in-process.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Result, bail};
use ferrokube_tests::{Cluster, eventually, ferrokube_bin};

/// A process killed (as a crash would be) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const NODE: &str = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}"#;
const NODE_STATUS: &str = r#"{"status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},
  "allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},
  "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}]}}"#;
const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},
  "spec":{"containers":[{"name":"c","image":"busybox"}]}}"#;

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs kubectl against `kubeconfig`.
fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new("/usr/bin/kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let (Some(input), Some(mut s)) = (stdin, child.stdin.take()) {
        s.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Creates a Ready node and a pending pod, and waits until the pod is bound to the node.
fn a_pod_gets_scheduled(kubeconfig: &Path) -> Result<()> {
    kubectl(kubeconfig, &["apply", "-f", "-"], Some(NODE))?;
    kubectl(
        kubeconfig,
        &[
            "patch",
            "node",
            "n1",
            "--subresource=status",
            "--type=merge",
            "-p",
            NODE_STATUS,
        ],
        None,
    )?;
    kubectl(kubeconfig, &["apply", "-f", "-"], Some(POD))?;
    eventually("the pod to be bound to n1", Duration::from_secs(30), || {
        let node = kubectl(
            kubeconfig,
            &["get", "pod", "web", "-o", "jsonpath={.spec.nodeName}"],
            None,
        )
        .ok()?;
        (node == "n1").then_some(())
    })
}

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn the_binary_leads_through_its_lease_and_schedules() -> Result<()> {
    let cluster = Cluster::start()?;
    let port = free_port()?;
    let log = cluster.scratch().join("scheduler.log");
    let _scheduler = Process(
        Command::new(ferrokube_bin())
            .arg("scheduler")
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args([
                "--leader-elect",
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
            ])
            .arg(port.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );
    let holder = eventually(
        "the scheduler to take its lease",
        Duration::from_secs(30),
        || {
            cluster
                .kubectl_ok(&[
                    "get",
                    "lease",
                    "-n",
                    "kube-system",
                    "kube-scheduler",
                    "-o",
                    "jsonpath={.spec.holderIdentity}",
                ])
                .ok()
                .filter(|h| !h.is_empty())
        },
    )?;
    assert!(holder.contains('_'), "identity is host_uuid: {holder}");
    if let Err(e) = a_pod_gets_scheduled(cluster.kubeconfig()) {
        bail!(
            "{e}; scheduler log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let health = http_get(port, "/healthz").unwrap_or_default();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let metrics = http_get(port, "/metrics").unwrap_or_default();
    assert!(
        metrics.contains(
            r#"scheduler_schedule_attempts_total{result="scheduled",profile="default-scheduler"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"scheduler_framework_extension_point_duration_seconds_count{extension_point="Bind",status="Success",profile="default-scheduler"} 1"#
        ),
        "the binding is timed: {metrics}"
    );
    Ok(())
}

#[test]
fn the_server_schedules_pods_in_process() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let _server = Process(
        Command::new(ferrokube_bin())
            .arg("server")
            .arg("--data-dir")
            .arg(&data)
            .args(["--bind-address", "127.0.0.1", "--secure-port", "0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );
    eventually("the server to serve", Duration::from_secs(60), || {
        data.join("port").exists().then_some(())
    })?;
    if let Err(e) = a_pod_gets_scheduled(&data.join("admin.kubeconfig")) {
        bail!(
            "{e}; server log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    Ok(())
}
