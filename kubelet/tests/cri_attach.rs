//! `kubectl attach`, `kubectl exec -it` with a terminal size, and `kubectl cp` both ways, on
//! pods that run on a real containerd: the API server proxies `pods/attach` and `pods/exec`
//! to the `cri` kubelet, which bridges them to containerd's streaming server (SPDY when stdin
//! is streamed, so closing stdin reaches the command as the end of its input).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::{cri_node_with_server, get_pod, until, until_running};
use ferrokube_kubelet::runtime::cri::CriRuntime;
use ferrokube_tests::Cluster;
use ferrokube_tests::containerd::Containerd;
use serde_json::json;

/// Generous: containers start in well under a second, but the machine is shared.
const START_TIMEOUT: Duration = Duration::from_secs(40);

/// How long a kubectl session may take on a loaded machine before the test gives up on it.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(30);

/// A busybox pod on `node` running `script`; `container` adds fields to its container.
fn busybox_pod(node: &str, name: &str, script: &str, container: serde_json::Value) -> String {
    let mut main = json!({
        "name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", script],
    });
    if let (Some(main), Some(extra)) = (main.as_object_mut(), container.as_object()) {
        main.extend(extra.clone());
    }
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [main],
        },
    })
    .to_string()
}

/// Kills a kubectl session when dropped.
struct Session(Child);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first line of `child`'s stdout that contains `needle`, within [`KUBECTL_TIMEOUT`].
fn first_line_with(child: &mut Child, needle: &str) -> Result<String> {
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    let needle = needle.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if line.contains(&needle) {
                let _ = tx.send(line);
                return;
            }
        }
    });
    rx.recv_timeout(KUBECTL_TIMEOUT)
        .context("kubectl attach showed no matching line in time")
}

/// Waits for `child` to end within [`KUBECTL_TIMEOUT`]; returns its stdout.
fn finished(mut child: Child, what: &str) -> Result<String> {
    let mut stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        let _ = tx.send(out);
    });
    let mut session = Session(child);
    let Ok(out) = rx.recv_timeout(KUBECTL_TIMEOUT) else {
        bail!("{what} did not end within {KUBECTL_TIMEOUT:?}");
    };
    let status = session.0.wait()?;
    if !status.success() {
        bail!("{what} failed with {status}: {out}");
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_attach_shows_output_and_passes_input_to_a_container() -> Result<()> {
    const NODE: &str = "cri-attach-node";
    let containerd = Containerd::start()?;
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let node = cri_node_with_server(&cluster, &containerd, NODE).await?;

    let counter = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.2; done";
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &busybox_pod(NODE, "counter", counter, json!({})),
    )?;
    // `cat` echoes its input; with stdinOnce the container's stdin closes when the first
    // attach closes it, so cat (and the container, and the attach) end.
    let echo = json!({"stdin": true, "stdinOnce": true});
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &busybox_pod(NODE, "echo", "cat; echo cat is done", echo),
    )?;
    until_running(&client, "counter", START_TIMEOUT).await?;
    until_running(&client, "echo", START_TIMEOUT).await?;

    // kubectl attach follows what the container's process prints from now on.
    let mut attach = Session(
        cluster
            .kubectl()
            .args(["attach", "counter"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let line = first_line_with(&mut attach.0, "line ")?;
    assert!(line.starts_with("line "), "{line:?}");
    drop(attach);

    // kubectl attach -i passes its input to the process and shows what it prints.
    let mut attach = cluster
        .kubectl()
        .args(["attach", "-i", "echo"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    attach
        .stdin
        .take()
        .context("stdin")?
        .write_all(b"hello through attach\n")?;
    let out = finished(attach, "kubectl attach -i echo")?;
    assert!(out.contains("hello through attach"), "{out:?}");
    assert!(out.contains("cat is done"), "{out:?}");

    // A container that is no longer running cannot be attached to.
    until("pod echo to succeed", START_TIMEOUT, || async {
        let p = get_pod(&client, "echo").await.ok()?;
        (p.status?.phase.as_deref() == Some("Succeeded")).then_some(())
    })
    .await?;
    let err = cluster.kubectl_err(&["attach", "echo"])?;
    assert!(err.contains("completed pod"), "{err}");

    node.stop().await;
    let cri = CriRuntime::connect(&containerd.endpoint(), Duration::from_secs(60)).await?;
    cri.remove_all_pod_sandboxes().await?;
    Ok(())
}

/// Bytes that do not repeat in any short period: a simple linear congruential sequence.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_tty_sizes_and_kubectl_cp_both_ways_work() -> Result<()> {
    const NODE: &str = "cri-cp-node";
    let containerd = Containerd::start()?;
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let node = cri_node_with_server(&cluster, &containerd, NODE).await?;
    cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        &busybox_pod(NODE, "box", "exec sleep 3600", json!({})),
    )?;
    until_running(&client, "box", START_TIMEOUT).await?;

    // kubectl cp to the pod runs `tar -xmf -` there, which reads its input to the end: the
    // end of stdin must reach it for the copy to finish.
    let local = cluster.scratch().join("original.bin");
    let data = pseudo_random(300 << 10);
    std::fs::write(&local, &data)?;
    let copy_in = cluster
        .kubectl()
        .stdin(Stdio::null())
        .args(["cp", &local.display().to_string(), "box:/tmp/x"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    finished(copy_in, "kubectl cp to the pod")?;
    let size = cluster.kubectl_ok(&["exec", "box", "--", "wc", "-c", "/tmp/x"])?;
    assert_eq!(size.split_whitespace().next(), Some("307200"), "{size}");

    // ... and back again: the same bytes.
    let back = cluster.scratch().join("copied-back.bin");
    let copy_out = cluster
        .kubectl()
        .stdin(Stdio::null())
        .args(["cp", "box:/tmp/x", &back.display().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    finished(copy_out, "kubectl cp from the pod")?;
    assert!(std::fs::read(&back)? == data, "the copy differs");

    // kubectl only sends terminal sizes when its stdin is a terminal: `script` gives it a
    // pseudo-terminal of 45 rows and 123 columns. The command waits for the first resize,
    // which kubectl sends as the session starts.
    // (busybox's `stty size` fails while the size is still unset.)
    let remote = "for i in $(seq 100); do s=$(stty size 2>/dev/null); \
                  case \"$s\" in ''|'0 0') sleep 0.1;; *) break;; esac; done; echo size: $s";
    let inner = format!(
        "stty rows 45 cols 123; kubectl exec -it box -- sh -c '{}'",
        remote.replace('\'', r"'\''")
    );
    let mut tty = std::process::Command::new("script");
    tty.args(["-qec", &inner, "/dev/null"])
        .env("KUBECONFIG", cluster.kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = tty.spawn()?;
    let out = finished(child, "kubectl exec -it under script")?;
    assert!(out.contains("size: 45 123"), "{out:?}");

    node.stop().await;
    let cri = CriRuntime::connect(&containerd.endpoint(), Duration::from_secs(60)).await?;
    cri.remove_all_pod_sandboxes().await?;
    Ok(())
}
