//! `ferrokube agent` joins a machine to a running server the kubeadm way: the server keeps a
//! join token in `<data-dir>/node-token` and a `kube-public/cluster-info` ConfigMap signed
//! with it; the agent reads cluster-info anonymously, checks the signature (and the CA pin),
//! writes its kubeconfig with the token as credential and runs the kubelet. Bootstrap tokens
//! authenticate as `system:bootstrap:<id>` until their Secret expires.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ferrokube_tests::{Cluster, eventually, ferrokube_bin};

/// A child process (agent or scheduler), killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn data_dir(c: &Cluster) -> PathBuf {
    c.kubeconfig()
        .parent()
        .expect("the admin kubeconfig lives in the data directory")
        .to_path_buf()
}

/// The join token, as a user reads it on the server: `cat <data-dir>/node-token`.
fn node_token(c: &Cluster) -> Result<String> {
    let token = std::fs::read_to_string(data_dir(c).join("node-token"))?;
    Ok(token.trim().to_string())
}

/// The CA pin as kubeadm's documentation computes it, with openssl.
fn ca_cert_hash(c: &Cluster) -> Result<String> {
    let ca = data_dir(c).join("tls").join("ca.crt");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -pubkey -noout -in '{}' | openssl pkey -pubin -outform der | sha256sum",
            ca.display()
        ))
        .output()?;
    let hex = String::from_utf8_lossy(&out.stdout);
    let hex = hex.split_whitespace().next().context("sha256sum output")?;
    Ok(format!("sha256:{hex}"))
}

/// A `ferrokube agent` command joining `c` with `token`, for a simulated node `name`.
fn agent(c: &Cluster, name: &str, token: &str) -> Command {
    let scratch = c.scratch();
    let mut cmd = Command::new(ferrokube_bin());
    cmd.args(["agent", "--server", &c.server, "--token", token])
        .arg("--data-dir")
        .arg(scratch.join(format!("agent-{name}")))
        .args(["--runtime", "sim", "--hostname-override", name])
        .args(["--node-ip", "10.255.0.2", "--port", "0"])
        .arg("--root-dir")
        .arg(scratch.join(format!("kubelet-{name}")))
        .arg("--pod-logs-dir")
        .arg(scratch.join(format!("logs-{name}")))
        .args(["--sim-start-delay", "100ms", "--sim-stop-delay", "100ms"])
        .env("RUST_LOG", "info");
    cmd
}

/// Runs a command that should end by itself; its output once it has (killed after a minute,
/// which the caller reports as a failure).
fn run_to_exit(mut cmd: Command) -> Result<Output> {
    let mut child = Process(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?);
    eventually(
        "the agent to give up (it must not run on after a refused join)",
        Duration::from_secs(60),
        || child.0.try_wait().ok().flatten(),
    )?;
    let Process(inner) = &mut child;
    let mut out = Output {
        status: inner.wait()?,
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    use std::io::Read;
    if let Some(mut s) = inner.stdout.take() {
        s.read_to_end(&mut out.stdout)?;
    }
    if let Some(mut s) = inner.stderr.take() {
        s.read_to_end(&mut out.stderr)?;
    }
    Ok(out)
}

/// Expects the agent to be refused with `message` and to exit non-zero.
fn assert_refused(c: &Cluster, token: &str, extra: &[&str], message: &str) -> Result<()> {
    let mut cmd = agent(c, "refused", token);
    cmd.args(extra);
    let out = run_to_exit(cmd)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the agent exited 0:\n{stderr}");
    assert!(
        stderr.contains(message),
        "expected {message:?} in:\n{stderr}"
    );
    assert!(
        c.kubectl_ok(&["get", "node", "refused", "--ignore-not-found"])?
            .is_empty(),
        "a refused agent registered its node"
    );
    Ok(())
}

/// Anonymous GET of `path` with curl: (HTTP status, body).
fn anonymous_get(c: &Cluster, path: &str) -> Result<(u16, serde_json::Value)> {
    let out = Command::new("curl")
        .args(["-sk", "-w", "\n%{http_code}"])
        .arg(format!("{}{path}", c.server))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, code) = text.rsplit_once('\n').context("curl output")?;
    Ok((code.trim().parse()?, serde_json::from_str(body)?))
}

/// Writes a kubeconfig for this cluster that authenticates with `token` alone.
fn token_kubeconfig(c: &Cluster, name: &str, token: &str) -> Result<PathBuf> {
    let ca = c.kubectl_ok(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ])?;
    let path = c.scratch().join(format!("{name}.kubeconfig"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: {token}\n",
            c.server
        ),
    )?;
    Ok(path)
}

/// `kubectl auth whoami` with a token: Ok("user groups") or Err(stderr).
fn whoami(c: &Cluster, kubeconfig: &Path) -> Result<std::result::Result<String, String>> {
    let out = c
        .kubectl()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
        ])
        .output()?;
    Ok(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

#[test]
fn an_agent_with_the_join_token_runs_a_ready_node_that_runs_pods() -> Result<()> {
    let c = Cluster::start()?;
    let token = node_token(&c)?;
    let pin = ca_cert_hash(&c)?;
    assert!(
        c.log()
            .contains(&format!("--discovery-token-ca-cert-hash {pin}")),
        "the server logs the join command with the CA pin openssl computes ({pin}):\n{}",
        c.log()
    );
    let _scheduler = Process(
        Command::new(ferrokube_bin())
            .args(["scheduler", "--leader-elect=false", "--secure-port", "0"])
            .arg("--kubeconfig")
            .arg(c.kubeconfig())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(c.scratch().join("scheduler.log"))?)
            .spawn()?,
    );
    let agent_log = c.scratch().join("agent.log");
    let mut agent_process = Process(
        agent(&c, "joined", &token)
            .args(["--discovery-token-ca-cert-hash", &pin])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log)?)
            .spawn()?,
    );
    let ready = eventually(
        "the joined node to be Ready (the agent's kubelet registers it)",
        Duration::from_secs(60),
        || {
            if let Ok(Some(status)) = agent_process.0.try_wait() {
                return Some(Err(status));
            }
            let out = c
                .kubectl_ok(&[
                    "get",
                    "node",
                    "joined",
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                ])
                .ok()?;
            (out == "True").then_some(Ok(()))
        },
    )?;
    if let Err(status) = ready {
        bail!(
            "the agent exited with {status}:\n{}",
            std::fs::read_to_string(&agent_log).unwrap_or_default()
        );
    }
    let kubeconfig = c.scratch().join("agent-joined").join("kubelet.kubeconfig");
    let written = std::fs::read_to_string(&kubeconfig)?;
    assert!(
        written.contains(&format!("token: {token}")),
        "the node's credential is the token"
    );
    assert!(written.contains(&format!("server: {}", c.server)));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kubeconfig)?.permissions().mode() & 0o777,
        0o600
    );

    c.kubectl_ok(&[
        "run",
        "web",
        "--image=busybox",
        "--restart=Never",
        "--",
        "sleep",
        "3600",
    ])?;
    eventually(
        "the pod to be scheduled to the joined node and run there",
        Duration::from_secs(60),
        || {
            let out = c
                .kubectl_ok(&[
                    "get",
                    "pod",
                    "web",
                    "-o",
                    "jsonpath={.spec.nodeName} {.status.phase}",
                ])
                .ok()?;
            (out == "joined Running").then_some(())
        },
    )?;
    Ok(())
}

#[test]
fn a_wrong_token_is_refused_and_the_agent_exits_non_zero() -> Result<()> {
    let c = Cluster::start()?;
    let token = node_token(&c)?;
    let (id, _) = token.split_once('.').context("token id")?;
    assert_refused(
        &c,
        &format!("{id}.0000000000000000"),
        &[],
        "failed to verify JWS signature of received cluster info object, can't trust this API Server",
    )?;
    assert_refused(
        &c,
        "zzzzzz.0000000000000000",
        &[],
        "token id \"zzzzzz\" is invalid for this cluster",
    )?;
    assert_refused(&c, "not-a-token", &[], "invalid token")?;
    Ok(())
}

#[test]
fn a_wrong_ca_hash_is_refused() -> Result<()> {
    let c = Cluster::start()?;
    let token = node_token(&c)?;
    let wrong = format!("sha256:{}", "0".repeat(64));
    assert_refused(
        &c,
        &token,
        &["--discovery-token-ca-cert-hash", &wrong],
        "cluster CA found in the cluster-info ConfigMap is invalid: none of the public keys",
    )
}

#[test]
fn anonymous_users_may_read_cluster_info_and_nothing_else() -> Result<()> {
    let c = Cluster::start()?;
    let token = node_token(&c)?;
    let (id, _) = token.split_once('.').context("token id")?;
    let (code, cm) = anonymous_get(&c, "/api/v1/namespaces/kube-public/configmaps/cluster-info")?;
    assert_eq!(code, 200, "{cm}");
    let kubeconfig = cm["data"]["kubeconfig"].as_str().unwrap_or_default();
    assert!(
        kubeconfig.contains("certificate-authority-data: "),
        "{kubeconfig}"
    );
    assert!(kubeconfig.contains("server: https://"), "{kubeconfig}");
    assert!(
        cm["data"][format!("jws-kubeconfig-{id}")]
            .as_str()
            .is_some_and(|s| s.contains("..")),
        "cluster-info is signed with the join token: {cm}"
    );
    for path in [
        "/api/v1/namespaces/kube-public/configmaps/kube-root-ca.crt",
        "/api/v1/namespaces/kube-public/configmaps",
        "/api/v1/namespaces/kube-system/secrets",
        "/api/v1/namespaces/kube-public/configmaps/cluster-info?watch=true",
    ] {
        let (code, status) = anonymous_get(&c, path)?;
        assert_eq!(code, 401, "anonymous GET {path}: {status}");
        assert_eq!(status["reason"], "Unauthorized");
    }
    Ok(())
}

#[test]
fn a_bootstrap_token_authenticates_until_its_secret_expires() -> Result<()> {
    let c = Cluster::start()?;
    let secret = |id: &str, expiration: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Secret","type":"bootstrap.kubernetes.io/token",
  "metadata":{{"name":"bootstrap-token-{id}","namespace":"kube-system"}},
  "stringData":{{"token-id":"{id}","token-secret":"0123456789abcdef",
    "usage-bootstrap-authentication":"true","expiration":"{expiration}"}}}}"#
        )
    };
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &secret("expird", "2020-01-01T00:00:00Z"),
    )?;
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &secret("future", "2099-01-01T00:00:00Z"),
    )?;
    let valid = token_kubeconfig(&c, "future", "future.0123456789abcdef")?;
    let who = eventually(
        "the unexpired bootstrap token to authenticate",
        Duration::from_secs(30),
        || whoami(&c, &valid).ok()?.ok(),
    )?;
    assert_eq!(
        who,
        r#"system:bootstrap:future ["system:bootstrappers","system:authenticated"]"#
    );

    let expired = token_kubeconfig(&c, "expird", "expird.0123456789abcdef")?;
    let refused = whoami(&c, &expired)?.expect_err("an expired token is refused");
    assert!(refused.contains("Unauthorized"), "{refused}");

    let wrong = token_kubeconfig(&c, "wrong", "future.0123456789abcdee")?;
    let refused = whoami(&c, &wrong)?.expect_err("a mismatching secret is refused");
    assert!(refused.contains("Unauthorized"), "{refused}");

    let node = token_kubeconfig(&c, "node", &node_token(&c)?)?;
    let who = whoami(&c, &node)?.map_err(anyhow::Error::msg)?;
    assert!(
        who.contains("system:bootstrappers:ferrokube:default-node-token"),
        "the join token carries the agents' group: {who}"
    );
    Ok(())
}
