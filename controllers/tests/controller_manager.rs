//! `ferrokube controller-manager` as a user runs it: the binary with upstream's flags against
//! a real API server, `--controllers` validation, leader failover between two replicas, and
//! `ferrokube server` running the controllers in-process.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Result, bail};
use ferrokube_tests::{Cluster, eventually, ferrokube_bin};

/// A controller-manager process, killed (as a crash would) when dropped.
struct Manager {
    child: Child,
    log: PathBuf,
}

impl Manager {
    fn start(cluster: &Cluster, name: &str, flags: &[&str]) -> Result<Manager> {
        let log = cluster.scratch().join(format!("{name}.log"));
        let child = Command::new(ferrokube_bin())
            .arg("controller-manager")
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args(["--secure-port", "0"])
            .args(flags)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        Ok(Manager { child, log })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn leads(&self) -> bool {
        self.log().contains("successfully acquired lease")
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const RS: &str = r#"{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web"},
  "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
  "template":{"metadata":{"labels":{"app":"web"}},
  "spec":{"containers":[{"name":"c","image":"busybox"}]}}}}"#;

fn pod_count(cluster: &Cluster) -> Option<usize> {
    let out = cluster
        .kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "name"])
        .ok()?;
    Some(out.lines().count())
}

fn wait_for_pods(cluster: &Cluster, n: usize) -> Result<()> {
    eventually(&format!("{n} pods"), Duration::from_secs(30), || {
        (pod_count(cluster) == Some(n)).then_some(())
    })
}

#[test]
fn the_binary_runs_the_replicaset_controller() -> Result<()> {
    let cluster = Cluster::start()?;
    let _manager = Manager::start(
        &cluster,
        "cm",
        &["--controllers=*,replicaset", "--leader-elect=false"],
    )?;
    cluster.kubectl_stdin(&["apply", "-f", "-"], RS)?;
    wait_for_pods(&cluster, 2)?;
    cluster.kubectl_ok(&["scale", "rs", "web", "--replicas=4"])?;
    wait_for_pods(&cluster, 4)?;
    Ok(())
}

#[test]
fn an_unknown_controller_is_refused_at_start() -> Result<()> {
    let out = Command::new(ferrokube_bin())
        .args(["controller-manager", "--controllers=*,frobnicator"])
        .args(["--kubeconfig", "/nonexistent"])
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"frobnicator\" is not in the list of known controllers"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn a_standby_replica_takes_over_when_the_leader_dies() -> Result<()> {
    let cluster = Cluster::start()?;
    let fast = [
        "--leader-elect-lease-duration=3s",
        "--leader-elect-renew-deadline=2s",
        "--leader-elect-retry-period=500ms",
    ];
    let a = Manager::start(&cluster, "a", &fast)?;
    let b = Manager::start(&cluster, "b", &fast)?;
    cluster.kubectl_stdin(&["apply", "-f", "-"], RS)?;
    wait_for_pods(&cluster, 2)?;
    let (leader, standby) = match (a.leads(), b.leads()) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        (x, y) => bail!("expected exactly one leader, got a={x} b={y}"),
    };
    let holder = |c: &Cluster| {
        c.kubectl_ok(&[
            "get",
            "lease",
            "-n",
            "kube-system",
            "kube-controller-manager",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
    };
    let first_holder = holder(&cluster)?;
    drop(leader);
    cluster.kubectl_ok(&["scale", "rs", "web", "--replicas=3"])?;
    wait_for_pods(&cluster, 3)?;
    assert!(standby.leads(), "the standby acquired the lease");
    assert_ne!(holder(&cluster)?, first_holder);
    Ok(())
}

#[test]
fn the_server_runs_the_controllers_in_process() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let mut server = Manager {
        child: Command::new(ferrokube_bin())
            .arg("server")
            .arg("--data-dir")
            .arg(&data)
            .args(["--bind-address", "127.0.0.1", "--secure-port", "0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("server.log"))?)
            .spawn()?,
        log: dir.path().join("server.log"),
    };
    let kubeconfig = data.join("admin.kubeconfig");
    eventually("the server to serve", Duration::from_secs(60), || {
        data.join("port").exists().then_some(())
    })?;
    let kubectl = |args: &[&str], stdin: Option<&str>| -> Result<String> {
        use std::io::Write;
        let mut child = Command::new("/usr/bin/kubectl")
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .map(|mut s| s.write_all(input.as_bytes()));
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    kubectl(&["apply", "-f", "-"], Some(RS))?;
    let pods = eventually(
        "the in-process controllers to create 2 pods",
        Duration::from_secs(30),
        || {
            kubectl(&["get", "pods", "-l", "app=web", "-o", "name"], None)
                .ok()
                .filter(|o| o.lines().count() == 2)
        },
    );
    if pods.is_err() {
        bail!("no pods; server log:\n{}", server.log());
    }
    let _ = server.child.kill();
    Ok(())
}
