//! Scenario `failure-detection`: how long a dead node's pods take to come back elsewhere.
//! Processes: `ferrokube apiserver`, `ferrokube controller-manager` (`--node-monitor-grace-period
//! 10s`, `--node-monitor-period 500ms`), `ferrokube scheduler`, and two `ferrokube kubelet --runtime
//! sim` processes: one simulated node that gets a Deployment's pods (tolerating `unreachable`
//! and `not-ready` for 0 s), then two healthy ones. The first kubelet is killed; the clock runs
//! from its Lease's last `renewTime` (its last heartbeat) until every replica is Ready on a
//! healthy node. Goal: within 2 s of the grace period.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::report::{Goal, Outcome, Row};
use crate::server::ApiServer;

/// The scenario's flags.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct FailureDetectionArgs {
    /// `--node-monitor-grace-period` in seconds.
    #[arg(long, default_value_t = 10)]
    pub grace_secs: u64,
    /// `--node-monitor-period` in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub monitor_period_ms: u64,
    /// Replicas on the node that dies.
    #[arg(long, default_value_t = 10)]
    pub replicas: i32,
    /// How long any one wait may take, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
}

/// An API server plus components started against it (each killed by its pid on drop).
pub(crate) struct Stack {
    children: Vec<(String, Child)>,
    _api: ApiServer,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Stack {
    /// An API server and an admin kubeconfig for it.
    pub(crate) fn start(binary: &Path) -> anyhow::Result<Stack> {
        let api = ApiServer::start(binary, None)?;
        let dir = tempfile::Builder::new()
            .prefix("ferrokube-bench-nl-")
            .tempdir()?;
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, &api.ca)?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: bench\n  cluster:\n    server: https://{}\n    certificate-authority: {}\nusers:\n- name: admin\n  user:\n    token: {}\ncontexts:\n- name: bench\n  context:\n    cluster: bench\n    user: admin\ncurrent-context: bench\n",
                api.addr,
                ca.display(),
                api.token
            ),
        )?;
        Ok(Stack {
            children: Vec::new(),
            _api: api,
            dir,
            kubeconfig,
        })
    }

    /// Starts `ferrokube <args...> --kubeconfig <ours>`, logging to `<name>.log`.
    pub(crate) fn spawn(&mut self, binary: &Path, name: &str, args: &[&str]) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log")))?;
        let child = Command::new(binary)
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.children.push((name.into(), child));
        Ok(())
    }

    /// Kills the component started as `name`.
    pub(crate) fn kill(&mut self, name: &str) {
        if let Some((_, c)) = self.children.iter_mut().find(|(n, _)| n == name) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A client for the API server.
    pub(crate) async fn client(&self) -> anyhow::Result<Client> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(Client::try_from(config)?)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `f` every 50 ms until it yields `Some`; fails after `timeout`.
pub(crate) async fn until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(Some(v)) = f().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A simulated-node kubelet with fast heartbeats and instant containers.
fn kubelet_args<'a>(nodes: &'a str, prefix: &'a str) -> Vec<&'a str> {
    vec![
        "kubelet",
        "--runtime",
        "sim",
        "--sim-nodes",
        nodes,
        "--hostname-override",
        prefix,
        "--sim-start-delay",
        "0s",
        "--sim-stop-delay",
        "0s",
        "--node-lease-duration-seconds",
        "4",
        "--node-status-update-frequency",
        "1s",
    ]
}

/// Whether the pod's Ready condition is True.
pub(crate) fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn node_of(p: &Pod) -> &str {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

/// Runs the scenario.
pub async fn run(binary: &Path, args: &FailureDetectionArgs) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut stack = Stack::start(binary)?;
    let grace = format!("{}s", args.grace_secs);
    let period = format!("{}ms", args.monitor_period_ms);
    stack.spawn(
        binary,
        "controller-manager",
        &[
            "controller-manager",
            "--leader-elect=false",
            "--secure-port",
            "0",
            "--node-monitor-grace-period",
            &grace,
            "--node-monitor-period",
            &period,
        ],
    )?;
    stack.spawn(
        binary,
        "scheduler",
        &["scheduler", "--leader-elect=false", "--secure-port", "0"],
    )?;
    stack.spawn(binary, "victim", &kubelet_args("1", "victim"))?;
    let client = stack.client().await?;
    let nodes: Api<Node> = Api::all(client.clone());
    until("the first node", timeout, || async {
        Ok((nodes.list(&ListParams::default()).await?.items.len() == 1).then_some(()))
    })
    .await?;
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": args.replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "tolerations": [
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                     "effect": "NoExecute", "tolerationSeconds": 0},
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                     "effect": "NoExecute", "tolerationSeconds": 0}],
                "containers": [{"name": "web", "image": "nginx"}]}}}}))?;
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &deployment)
        .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let lp = ListParams::default().labels("app=web");
    let replicas = usize::try_from(args.replicas).unwrap_or(0);
    until("the replicas Ready on the first node", timeout, || async {
        let items = pods.list(&lp).await?.items;
        Ok((items.len() == replicas && items.iter().all(pod_ready)).then_some(()))
    })
    .await?;
    stack.spawn(binary, "healthy", &kubelet_args("2", "healthy"))?;
    until("three nodes", timeout, || async {
        Ok((nodes.list(&ListParams::default()).await?.items.len() == 3).then_some(()))
    })
    .await?;

    stack.kill("victim");
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let last_heartbeat = leases
        .get("victim-0")
        .await?
        .spec
        .and_then(|s| s.renew_time)
        .map(|t| t.0)
        .context("the victim's Lease has no renewTime")?;
    let recovered = until("every replica Ready on a healthy node", timeout, || async {
        let items: Vec<Pod> = pods
            .list(&lp)
            .await?
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let done = items.len() == replicas
            && items
                .iter()
                .all(|p| pod_ready(p) && node_of(p) != "victim-0");
        Ok(done.then(jiff::Timestamp::now))
    })
    .await?;
    let seconds = recovered.duration_since(last_heartbeat).as_secs_f64();
    let grace_secs = args.grace_secs as f64;
    let rows = vec![
        Row::new(
            "failure-detection",
            &format!("grace {grace}, monitor period {period}, tolerationSeconds 0"),
            "last heartbeat -> replacements Ready",
            seconds,
            "s",
        )
        .goal(Goal::AtMost(grace_secs + 2.0)),
    ];
    Ok(Outcome {
        scenario: "failure-detection",
        rows,
        details: json!({"args": args, "seconds": seconds, "grace_seconds": grace_secs}),
    })
}
