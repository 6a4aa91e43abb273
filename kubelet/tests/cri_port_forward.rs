//! `kubectl port-forward` to a pod on a real containerd: kubectl speaks SPDY/3.1 (tunneled in
//! WebSocket, as kubectl 1.30+ does first) to the API server, which splices the connection
//! through to the `cri` kubelet's `/portForward`; the kubelet pairs each connection's data
//! and error streams and relays the bytes through containerd's streaming server into the
//! pod's network namespace. The Python client forwards over WebSocket channels instead.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::{cri_busybox_pod, cri_node_with_server, until, until_running};
use ferrokube_kubelet::runtime::cri::CriRuntime;
use ferrokube_tests::Cluster;
use ferrokube_tests::containerd::Containerd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NODE: &str = "cri-port-forward-node";

/// Generous: containers start in well under a second, but the machine is shared.
const START_TIMEOUT: Duration = Duration::from_secs(40);

/// One request through kubectl, the API server, the kubelet and containerd; loaded machine.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

const PAGE: &str = "hello through port-forward";

/// A busybox pod serving one page with `httpd` on port 80.
fn web_pod(name: &str) -> String {
    let script =
        format!("mkdir -p /www && echo '{PAGE}' > /www/index.html && exec httpd -f -p 80 -h /www");
    cri_busybox_pod(name, NODE, &script)
}

/// A running `kubectl port-forward`, its output collected as it comes.
struct PortForward {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl PortForward {
    fn start(cluster: &Cluster, args: &[&str]) -> Result<Self> {
        Self::start_with(cluster, args, &[])
    }

    fn start_with(cluster: &Cluster, args: &[&str], env: &[(&str, &str)]) -> Result<Self> {
        let mut child = cluster
            .kubectl()
            .envs(env.iter().copied())
            .arg("port-forward")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().context("kubectl stdout")?;
        let sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut err = child.stderr.take().context("kubectl stderr")?;
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Ok(PortForward {
            child,
            stdout,
            stderr,
        })
    }

    /// The local port kubectl listens on for `remote` ("Forwarding from 127.0.0.1:N -> 80").
    async fn local_port(&mut self, remote: u16) -> Result<u16> {
        let suffix = format!(" -> {remote}");
        until(
            &format!("kubectl to listen for port {remote}"),
            REQUEST_TIMEOUT,
            || async {
                let out = self.stdout.lock().unwrap().clone();
                out.lines()
                    .filter_map(|l| l.strip_prefix("Forwarding from 127.0.0.1:"))
                    .find_map(|l| l.strip_suffix(suffix.as_str()))
                    .and_then(|p| p.parse().ok())
            },
        )
        .await
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The whole answer to `GET /index.html` on the local port (the server closes after it).
async fn http_get(port: u16) -> Result<String> {
    let exchange = async {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.write_all(b"GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await?;
        anyhow::Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
        Ok(answer) => answer,
        Err(_) => bail!("no answer through the port-forward within {REQUEST_TIMEOUT:?}"),
    }
}

/// `tests/python/port_forward.py`: one HTTP request to `port` of `pod` through the Python
/// client's port-forward; its output (the answer, then the error channel after `--- error`).
fn python_port_forward(cluster: &Cluster, pod: &str, port: u16) -> Result<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/port_forward.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(cluster.kubeconfig())
        .arg(pod)
        .arg(port.to_string())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "the Python port-forward failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_port_forward_reaches_a_containerd_pods_port() -> Result<()> {
    let containerd = Containerd::start()?;
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let node = cri_node_with_server(&cluster, &containerd, NODE).await?;
    cluster.kubectl_stdin(&["apply", "-f", "-"], &web_pod("web"))?;
    until_running(&client, "web", START_TIMEOUT).await?;

    let mut forward = PortForward::start(&cluster, &["pod/web", ":80"])?;
    let web = forward.local_port(80).await?;
    // httpd may bind a moment after the container started: the first answer is waited for.
    let first = until(
        "the page through the port-forward",
        START_TIMEOUT,
        || async { http_get(web).await.ok().filter(|a| a.contains(PAGE)) },
    )
    .await
    .with_context(|| forward.output())?;
    assert!(first.starts_with("HTTP/1.1 200 OK"), "{first}");
    // A second connection on the same forward works as well.
    let second = http_get(web).await.with_context(|| forward.output())?;
    assert!(second.contains(PAGE), "{second}");
    assert!(forward.is_running(), "{}", forward.output());
    drop(forward);

    // With WebSockets turned off, kubectl upgrades to plain SPDY/3.1, which works as well.
    let mut spdy = PortForward::start_with(
        &cluster,
        &["pod/web", ":80"],
        &[("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")],
    )?;
    let port = spdy.local_port(80).await?;
    let answer = http_get(port).await.with_context(|| spdy.output())?;
    assert!(answer.contains(PAGE), "{answer}\n{}", spdy.output());
    drop(spdy);

    // A port nothing listens on: the local connection is closed without an answer, and
    // kubectl prints the runtime's error from the error stream. kubectl 1.32 then closes
    // the connection ("lost connection to pod") and exits, as it does against upstream.
    let mut refused = PortForward::start(&cluster, &["pod/web", ":81"])?;
    let closed = refused.local_port(81).await?;
    let answer = http_get(closed).await.with_context(|| refused.output())?;
    assert_eq!(answer, "", "nothing answers on port 81");
    until(
        "kubectl to report the failed forward",
        REQUEST_TIMEOUT,
        || async {
            let err = refused.stderr.lock().unwrap().clone();
            (err.contains("an error occurred forwarding")
                && err.contains("error forwarding port 81 to pod")
                && err.contains("connection refused"))
            .then_some(())
        },
    )
    .await
    .with_context(|| refused.output())?;
    let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
    while refused.is_running() {
        if std::time::Instant::now() > deadline {
            bail!(
                "kubectl did not end within {REQUEST_TIMEOUT:?} after the error:\n{}",
                refused.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused
            .stderr
            .lock()
            .unwrap()
            .contains("lost connection to pod"),
        "{}",
        refused.output()
    );
    drop(refused);

    // The Python client forwards over WebSocket channels (no SPDY): the page, and for a port
    // nothing listens on, the runtime's error on the port's error channel.
    let page = python_port_forward(&cluster, "web", 80)?;
    assert!(
        page.starts_with("HTTP/1.0 200 OK") || page.starts_with("HTTP/1.1 200 OK"),
        "{page}"
    );
    assert!(page.contains(PAGE), "{page}");
    let refused = python_port_forward(&cluster, "web", 81)?;
    let (answer, error) = refused.split_once("--- error").unwrap_or_default();
    assert_eq!(answer.trim(), "", "nothing answers on port 81: {refused}");
    assert!(
        error.contains("error forwarding port 81 to pod") && error.contains("connection refused"),
        "{refused}"
    );

    node.stop().await;
    let cri = CriRuntime::connect(&containerd.endpoint(), Duration::from_secs(60)).await?;
    cri.remove_all_pod_sandboxes().await?;
    Ok(())
}
