//! Helpers shared by the `kubectl_*` test files: kubectl runs that must print nothing on
//! stderr (no warnings about the server), a `kubectl get -w` child whose lines are read with a
//! timeout, and the manifests the tests apply.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferrokube_tests::Cluster;

/// The kubectl 1.32 and 1.33 binaries of the Google Cloud SDK (`/usr/bin/kubectl` dispatches
/// to one of them by the server's version).
pub const KUBECTL_1_32: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";
/// See [`KUBECTL_1_32`].
pub const KUBECTL_1_33: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// Runs kubectl with `args` (and `stdin`, if any) and returns what it printed.
pub fn run(c: &Cluster, args: &[&str], stdin: Option<&str>) -> Result<Output> {
    run_binary(c, "/usr/bin/kubectl", args, stdin, &[])
}

/// Runs a given kubectl binary with `args`, `stdin` and extra environment variables.
pub fn run_binary(
    c: &Cluster,
    bin: &str,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Result<Output> {
    let mut cmd = c.kubectl_binary(bin);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().with_context(|| format!("start {bin}"))?;
    let mut input = child.stdin.take().context("kubectl stdin")?;
    if let Some(text) = stdin {
        input.write_all(text.as_bytes())?;
    }
    drop(input);
    Ok(child.wait_with_output()?)
}

/// Runs kubectl expecting success and an empty stderr; returns stdout.
pub fn quiet(c: &Cluster, args: &[&str]) -> Result<String> {
    expect_quiet(args, run(c, args, None)?)
}

/// [`quiet`] with `stdin` fed to kubectl (`-f -`).
pub fn quiet_stdin(c: &Cluster, args: &[&str], stdin: &str) -> Result<String> {
    expect_quiet(args, run(c, args, Some(stdin))?)
}

/// Checks that a kubectl run succeeded and printed nothing on stderr; returns stdout.
pub fn expect_quiet(args: &[&str], out: Output) -> Result<String> {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() || !stderr.is_empty() {
        bail!(
            "kubectl {} ({}):\nstdout: {stdout}\nstderr: {stderr}",
            args.join(" "),
            out.status
        );
    }
    Ok(stdout)
}

/// Runs kubectl expecting it to fail; returns its exit code and stderr.
pub fn failing(c: &Cluster, args: &[&str]) -> Result<(i32, String)> {
    let out = run(c, args, None)?;
    if out.status.success() {
        bail!(
            "kubectl {} succeeded unexpectedly: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Reads a field of an object with `kubectl get -o jsonpath`.
pub fn jsonpath(c: &Cluster, resource: &str, path: &str) -> Result<String> {
    quiet(c, &["get", resource, "-o", &format!("jsonpath={path}")])
}

/// The header row of a table, split into column names.
pub fn headers(table: &str) -> Vec<String> {
    let first = table.lines().next().unwrap_or("");
    // Column names are separated by at least two spaces and never contain two spaces.
    first
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The rows of a table after the header, each split on whitespace.
pub fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// A `kubectl get -w` (or any long-running kubectl) child whose stdout lines arrive on a
/// channel; killed when dropped.
pub struct Watcher {
    child: Child,
    lines: Receiver<String>,
}

impl Watcher {
    /// Starts kubectl with `args` and reads its stdout line by line.
    pub fn start(c: &Cluster, args: &[&str]) -> Result<Self> {
        let mut child = c
            .kubectl()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("start kubectl")?;
        let stdout = child.stdout.take().context("kubectl stdout")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Watcher { child, lines })
    }

    /// The next line kubectl prints, waiting at most `timeout` (`what` says what was awaited).
    pub fn next_line(&self, what: &str, timeout: Duration) -> Result<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => {
                bail!("kubectl printed no line within {timeout:?} for {what}")
            }
            Err(RecvTimeoutError::Disconnected) => bail!("kubectl exited before printing {what}"),
        }
    }

    /// Reads lines until one satisfies `want`, within `timeout` overall; returns that line and
    /// every line read before it.
    pub fn until(
        &self,
        what: &str,
        timeout: Duration,
        want: impl Fn(&str) -> bool,
    ) -> Result<(String, Vec<String>)> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .next_line(what, left)
                .with_context(|| format!("lines so far: {seen:?}"))?;
            if want(&line) {
                return Ok((line, seen));
            }
            seen.push(line);
        }
    }
}

impl Watcher {
    /// Waits at most `timeout` for kubectl to exit (`what` says why it should) and returns its
    /// exit code.
    pub fn exit_code(&mut self, what: &str, timeout: Duration) -> Result<i32> {
        let child = &mut self.child;
        let status =
            ferrokube_tests::eventually(what, timeout, || child.try_wait().ok().flatten())?;
        Ok(status.code().unwrap_or(-1))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Deployment `web` (nginx:1.25, env MODE=prod and LEVEL=info), a Service `web`, a ConfigMap
/// `web-config` and a Secret `web-secret`, as one multi-document YAML file.
pub const WEB_STACK: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        env:
        - name: MODE
          value: prod
        - name: LEVEL
          value: info
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  labels: {app: web}
data:
  greeting: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
  labels: {app: web}
stringData:
  password: hunter2
"#;

/// A pod with no node (so it stays Pending and deletes at once) and the given labels.
pub fn pod(name: &str, labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\nspec:\n  containers:\n  - name: main\n    image: busybox\n"
    )
}

/// A ConfigMap with the given labels and one data key.
pub fn config_map(name: &str, labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\ndata:\n  k: v\n"
    )
}

/// Writes `text` to a file in the cluster's scratch directory and returns its path.
pub fn write_file(c: &Cluster, name: &str, text: &str) -> Result<String> {
    let path = c.scratch().join(name);
    std::fs::write(&path, text)?;
    Ok(path.to_string_lossy().into_owned())
}
