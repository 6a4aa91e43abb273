//! Scenario `controller-convergence`: the controller manager driving Deployments on simulated
//! nodes. Each part starts its own processes — `ferrokube apiserver`, `ferrokube
//! controller-manager`, `ferrokube scheduler` and `ferrokube kubelet --runtime sim` — so the
//! controller manager's client limits are set by its real flags and its memory is its own.
//!
//! 1. A 1,000-replica Deployment: seconds until every pod exists and until all are available,
//!    with our default `--kube-api-qps` / `--kube-api-burst` and with upstream's 20 / 30.
//! 2. A rolling update (maxSurge 25%, maxUnavailable 25%) of a 100-replica Deployment whose
//!    simulated containers start and stop at once: seconds until the rollout is complete.
//! 3. The controller manager's VmRSS with 1,000 Deployments of 10 replicas in its caches
//!    (1,000 ReplicaSets, 10,000 pods; no scheduler, so the pods stay Pending).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::json;

use crate::report::{Goal, Outcome, Row};
use crate::server::{ApiServer, rss_bytes};

/// The scenario's flags.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct ConvergenceArgs {
    /// Replicas of the scale-up Deployment.
    #[arg(long, default_value_t = 1000)]
    pub replicas: i32,
    /// Simulated nodes (110 pods each).
    #[arg(long, default_value_t = 20)]
    pub nodes: u32,
    /// Replicas of the rolled Deployment.
    #[arg(long, default_value_t = 100)]
    pub rollout_replicas: i32,
    /// Deployments (of 10 replicas each) held in the caches for the memory reading.
    #[arg(long, default_value_t = 1000)]
    pub memory_deployments: usize,
    /// How long any one wait may take.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Runs only this part (all three when absent).
    #[arg(long, value_enum)]
    pub only: Option<Part>,
}

/// One part of the scenario, for `--only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// Part 1: the 1,000-replica scale-up with both client limits.
    ScaleUp,
    /// Part 2: the rolling update.
    RollingUpdate,
    /// Part 3: the controller manager's VmRSS.
    Memory,
}

/// The controller manager's default client limits (`ferrokube controller-manager --help`).
const OUR_DEFAULT_LIMITS: &str = "--kube-api-qps 1000 --kube-api-burst 2000";

/// How long an idle controller manager settles before its RSS is read.
const SETTLE: Duration = Duration::from_secs(5);

/// One API server plus the components started against it, all stopped on drop.
struct Stack {
    children: Vec<(String, Child)>,
    api: ApiServer,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Stack {
    /// An API server and an admin kubeconfig for it.
    fn start(binary: &Path) -> anyhow::Result<Stack> {
        let api = ApiServer::start(binary, None)?;
        let dir = tempfile::Builder::new()
            .prefix("ferrokube-bench-cc-")
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
            api,
            dir,
            kubeconfig,
        })
    }

    /// Starts `ferrokube <args...> --kubeconfig <ours>`, logging to `<name>.log`.
    fn spawn(&mut self, binary: &Path, name: &str, args: &[&str]) -> anyhow::Result<u32> {
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
        let pid = child.id();
        self.children.push((name.into(), child));
        Ok(pid)
    }

    /// The controller manager with the given extra flags.
    fn controller_manager(&mut self, binary: &Path, extra: &[&str]) -> anyhow::Result<u32> {
        let mut args = vec![
            "controller-manager",
            "--leader-elect=false",
            "--secure-port",
            "0",
        ];
        args.extend_from_slice(extra);
        self.spawn(binary, "controller-manager", &args)
    }

    /// The scheduler and `nodes` simulated nodes whose containers start and stop at once.
    fn scheduler_and_nodes(&mut self, binary: &Path, nodes: u32) -> anyhow::Result<()> {
        self.spawn(
            binary,
            "scheduler",
            &["scheduler", "--leader-elect=false", "--secure-port", "0"],
        )?;
        let nodes = nodes.to_string();
        self.spawn(
            binary,
            "kubelet",
            &[
                "kubelet",
                "--runtime",
                "sim",
                "--sim-nodes",
                &nodes,
                "--hostname-override",
                "sim",
                "--sim-start-delay",
                "0s",
                "--sim-stop-delay",
                "0s",
            ],
        )?;
        Ok(())
    }

    async fn client(&self) -> anyhow::Result<Client> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// Fails if a component has exited.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
                    .unwrap_or_default();
                let tail: String = log
                    .chars()
                    .rev()
                    .take(3000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                bail!("{name} exited ({status}); log tail:\n{tail}");
            }
        }
        let _ = &self.api;
        Ok(())
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

fn deployment(name: &str, replicas: i32, image: &str) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }))?)
}

/// Polls `f` every 50 ms until it yields Some, failing after `timeout` (naming `what`).
async fn until<T, F, Fut>(
    stack: &mut Stack,
    what: &str,
    timeout: Duration,
    mut f: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        stack.check_alive()?;
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `n` nodes are registered.
async fn nodes_registered(
    stack: &mut Stack,
    client: &Client,
    n: u32,
    timeout: Duration,
) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    until(stack, "the simulated nodes", timeout, || async {
        Ok((nodes.list(&ListParams::default()).await?.items.len() >= n as usize).then_some(()))
    })
    .await
}

/// Counts the pods in `default` as a watch sees them.
fn count_pods(client: &Client) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let task = tokio::spawn(async move {
        let mut names = std::collections::HashSet::new();
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(e) = events.next().await {
            match e {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                    names.insert(p.metadata.name.unwrap_or_default());
                }
                Ok(watcher::Event::Delete(p)) => {
                    names.remove(&p.metadata.name.unwrap_or_default());
                }
                _ => {}
            }
            seen.store(names.len(), Ordering::Relaxed);
        }
    });
    (count, task)
}

fn available(d: &Deployment, replicas: i32) -> bool {
    let s = d.status.clone().unwrap_or_default();
    s.observed_generation == d.metadata.generation
        && s.updated_replicas == Some(replicas)
        && s.replicas == Some(replicas)
        && s.available_replicas == Some(replicas)
}

/// Part 1 with one client limit: (seconds until all pods exist, until all are available).
async fn scale_up(
    binary: &Path,
    args: &ConvergenceArgs,
    limit: Option<(&str, &str)>,
) -> anyhow::Result<(f64, f64)> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut stack = Stack::start(binary)?;
    stack.scheduler_and_nodes(binary, args.nodes)?;
    match limit {
        Some((qps, burst)) => {
            stack.controller_manager(binary, &["--kube-api-qps", qps, "--kube-api-burst", burst])?
        }
        None => stack.controller_manager(binary, &[])?,
    };
    let client = stack.client().await?;
    nodes_registered(&mut stack, &client, args.nodes, timeout).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (count, watching) = count_pods(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let started = Instant::now();
    deployments
        .create(
            &PostParams::default(),
            &deployment("web", args.replicas, "nginx:1")?,
        )
        .await?;
    let want = args.replicas as usize;
    until(&mut stack, "every pod to exist", timeout, || {
        let count = count.clone();
        async move { Ok((count.load(Ordering::Relaxed) >= want).then_some(())) }
    })
    .await?;
    let created = started.elapsed().as_secs_f64();
    until(&mut stack, "every pod to be available", timeout, || async {
        Ok(available(&deployments.get("web").await?, args.replicas).then_some(()))
    })
    .await?;
    let ready = started.elapsed().as_secs_f64();
    watching.abort();
    Ok((created, ready))
}

/// Part 2: seconds for a rolling update of `rollout_replicas` pods to complete.
async fn rolling_update(binary: &Path, args: &ConvergenceArgs) -> anyhow::Result<f64> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut stack = Stack::start(binary)?;
    stack.scheduler_and_nodes(binary, args.nodes)?;
    stack.controller_manager(binary, &[])?;
    let client = stack.client().await?;
    nodes_registered(&mut stack, &client, args.nodes, timeout).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let n = args.rollout_replicas;
    deployments
        .create(&PostParams::default(), &deployment("roll", n, "nginx:1")?)
        .await?;
    until(
        &mut stack,
        "the first revision to be available",
        timeout,
        || async { Ok(available(&deployments.get("roll").await?, n).then_some(())) },
    )
    .await?;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}});
    let started = Instant::now();
    deployments
        .patch("roll", &PatchParams::default(), &Patch::Strategic(&patch))
        .await?;
    until(&mut stack, "the rollout to complete", timeout, || async {
        let d = deployments.get("roll").await?;
        Ok(
            (available(&d, n) && d.status.as_ref().and_then(|s| s.observed_generation) == Some(2))
                .then_some(()),
        )
    })
    .await?;
    Ok(started.elapsed().as_secs_f64())
}

/// Part 3: the controller manager's VmRSS (bytes) with the Deployments, their ReplicaSets and
/// pods in its caches, and the pods counted.
async fn memory(binary: &Path, args: &ConvergenceArgs) -> anyhow::Result<(u64, u64, usize)> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut stack = Stack::start(binary)?;
    let pid = stack.controller_manager(binary, &[])?;
    let client = stack.client().await?;
    tokio::time::sleep(SETTLE).await;
    let empty = rss_bytes(pid)?;
    let (count, watching) = count_pods(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let names: Vec<String> = (0..args.memory_deployments)
        .map(|i| format!("app-{i}"))
        .collect();
    futures::stream::iter(names.iter())
        .map(|name| {
            let deployments = deployments.clone();
            async move {
                deployments
                    .create(&PostParams::default(), &deployment(name, 10, "nginx:1")?)
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()?;
    let want = args.memory_deployments * 10;
    until(&mut stack, "every pod to exist", timeout, || {
        let count = count.clone();
        async move { Ok((count.load(Ordering::Relaxed) >= want).then_some(())) }
    })
    .await?;
    watching.abort();
    tokio::time::sleep(SETTLE * 2).await;
    let full = rss_bytes(pid)?;
    Ok((empty, full, count.load(Ordering::Relaxed)))
}

/// Runs the scenario.
pub async fn run(binary: &Path, args: &ConvergenceArgs) -> anyhow::Result<Outcome> {
    const S: &str = "controller-convergence";
    let mut rows = Vec::new();
    let runs = |p: Part| args.only.is_none_or(|o| o == p);
    let mut details = serde_json::Map::new();
    details.insert("args".into(), json!(args));
    if runs(Part::ScaleUp) {
        let ours = format!("{OUR_DEFAULT_LIMITS} (ours)");
        let (created, ready) = scale_up(binary, args, None).await?;
        let subject = format!("{} replicas, {ours}", args.replicas);
        rows.push(Row::new(S, &subject, "all pods created", created, "s").goal(Goal::AtMost(5.0)));
        rows.push(Row::new(S, &subject, "all pods available", ready, "s"));
        let (up_created, up_ready) = scale_up(binary, args, Some(("20", "30"))).await?;
        let subject = format!(
            "{} replicas, --kube-api-qps 20 --kube-api-burst 30 (upstream)",
            args.replicas
        );
        rows.push(Row::new(S, &subject, "all pods created", up_created, "s"));
        rows.push(Row::new(S, &subject, "all pods available", up_ready, "s"));
        rows.push(
            Row::new(
                S,
                "upstream limits ÷ ours",
                "time to create all pods",
                up_created / created,
                "x",
            )
            .goal(Goal::AtLeast(10.0)),
        );
        details.insert(
            "scale_up".into(),
            json!({"ours": {"created_s": created, "available_s": ready},
                   "upstream_limits": {"created_s": up_created, "available_s": up_ready}}),
        );
    }
    if runs(Part::RollingUpdate) {
        let rollout = rolling_update(binary, args).await?;
        rows.push(Row::new(
            S,
            &format!(
                "{} replicas, maxSurge 25% maxUnavailable 25%",
                args.rollout_replicas
            ),
            "rolling update complete",
            rollout,
            "s",
        ));
        details.insert("rolling_update_s".into(), json!(rollout));
    }
    if runs(Part::Memory) {
        let (empty, full, pods) = memory(binary, args).await?;
        let subject = format!(
            "controller-manager, {} Deployments / {} ReplicaSets / {pods} pods",
            args.memory_deployments, args.memory_deployments
        );
        rows.push(
            Row::new(S, &subject, "VmRSS", full as f64 / 1048576.0, "MiB")
                .goal(Goal::AtMost(100.0)),
        );
        rows.push(Row::new(
            S,
            "controller-manager, empty cluster",
            "VmRSS",
            empty as f64 / 1048576.0,
            "MiB",
        ));
        details.insert(
            "memory".into(),
            json!({"empty_bytes": empty, "full_bytes": full, "pods": pods}),
        );
    }
    Ok(Outcome {
        scenario: "controller-convergence",
        rows,
        details: serde_json::Value::Object(details),
    })
}
