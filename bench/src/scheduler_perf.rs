//! `scheduler-perf`: upstream's scheduler_perf shapes against `ferrokube apiserver` and
//! `ferrokube scheduler` processes. Nodes are created directly through the API (no kubelet),
//! the initial pods are created and scheduled, then the measured pods are created and the
//! scheduler's `scheduler_schedule_attempts_total{result="scheduled"}` is sampled every
//! second as upstream's throughput collector samples: throughput is the average of those
//! samples (upstream's SchedulingThroughput average), reported beside upstream's CI
//! threshold, with the overall rate (measured pods over the whole time) beside it. The
//! scheduler's resident memory is read at the end.
//!
//! `PreemptionAsync` is upstream's `default_preemption` shape: every node (4 CPU) is filled by
//! four low-priority 900m pods, then, while the measured 100m pods (which always fit) are
//! created, a 3-CPU priority-10 preemptor is created every 200 ms in its own namespace; each
//! must evict three of a node's low-priority pods. Only the measured pods are counted (the
//! bound preemptors are subtracted from the scheduler's counter), and at the end every
//! preemptor must have been bound to a node.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{self, Connector, Protocol};
use crate::fixtures::{self, NAMESPACE, pods_path};
use crate::report::{Goal, Outcome, Row};
use crate::server::{ApiServer, clock_ticks_per_second, cpu_ticks, rss_bytes};

/// The upstream shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Shape {
    /// 5,000 nodes, 1,000 initial pods, 10,000 measured (threshold 680).
    SchedulingBasic,
    /// 5,000 / 1,000 / 2,000 with required pod anti-affinity (threshold 60).
    SchedulingPodAntiAffinity,
    /// 5,000 / 5,000 / 5,000 with a zone spread constraint (threshold 460).
    TopologySpreading,
    /// 5,000 / 5,000 / 10,000 with required node affinity (threshold 220).
    SchedulingNodeAffinity,
    /// 5,000 nodes filled by 20,000 low-priority pods, 5,000 measured default pods while a
    /// high-priority preemptor arrives every 200 ms (threshold 570).
    PreemptionAsync,
}

impl Shape {
    /// (nodes, initial pods, measured pods, upstream threshold in pods/s).
    fn sizes(self) -> (usize, usize, usize, f64) {
        match self {
            Shape::SchedulingBasic => (5000, 1000, 10000, 680.0),
            Shape::SchedulingPodAntiAffinity => (5000, 1000, 2000, 60.0),
            Shape::TopologySpreading => (5000, 5000, 5000, 460.0),
            Shape::SchedulingNodeAffinity => (5000, 5000, 10000, 220.0),
            Shape::PreemptionAsync => (5000, 20000, 5000, 570.0),
        }
    }

    /// The results file's name.
    fn scenario(self) -> &'static str {
        match self {
            Shape::SchedulingBasic => "scheduler-perf-SchedulingBasic",
            Shape::SchedulingPodAntiAffinity => "scheduler-perf-SchedulingPodAntiAffinity",
            Shape::TopologySpreading => "scheduler-perf-TopologySpreading",
            Shape::SchedulingNodeAffinity => "scheduler-perf-SchedulingNodeAffinity",
            Shape::PreemptionAsync => "scheduler-perf-PreemptionAsync",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Shape::SchedulingBasic => "SchedulingBasic",
            Shape::SchedulingPodAntiAffinity => "SchedulingPodAntiAffinity",
            Shape::TopologySpreading => "TopologySpreading",
            Shape::SchedulingNodeAffinity => "SchedulingNodeAffinity",
            Shape::PreemptionAsync => "PreemptionAsync",
        }
    }
}

/// The scenario's flags.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct SchedulerPerfArgs {
    /// The shape to run.
    #[arg(long, value_enum, default_value = "scheduling-basic")]
    pub shape: Shape,
    /// Scale every count by this factor (1.0: upstream's sizes).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Clients creating objects.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
}

/// A `ferrokube scheduler` child, killed on drop.
struct SchedulerProcess {
    child: Child,
    metrics_port: u16,
}

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Writes a kubeconfig for the server (CA file beside it) and starts the scheduler.
fn start_scheduler(
    binary: &Path,
    server: &ApiServer,
    dir: &Path,
) -> anyhow::Result<SchedulerProcess> {
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, &server.ca)?;
    let kubeconfig = dir.join("kubeconfig");
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "bench", "cluster": {
            "server": format!("https://{}", server.addr),
            "certificate-authority": ca.display().to_string()}}],
        "users": [{"name": "bench", "user": {"token": server.token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
    });
    std::fs::write(&kubeconfig, config.to_string())?;
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("scheduler.log"))?;
    let child = Command::new(binary)
        .arg("scheduler")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--leader-elect=false", "--bind-address", "127.0.0.1"])
        .args(["--secure-port", &port.to_string()])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the scheduler")?;
    Ok(SchedulerProcess {
        child,
        metrics_port: port,
    })
}

/// `scheduler_schedule_attempts_total{result="scheduled"}` summed over profiles.
async fn scheduled_count(port: u16) -> anyhow::Result<u64> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut body = String::new();
    s.read_to_string(&mut body).await?;
    Ok(body
        .lines()
        .filter(|l| {
            l.starts_with("scheduler_schedule_attempts_total") && l.contains("result=\"scheduled\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

fn node_body(shape: Shape, i: usize) -> Value {
    let zone = format!("zone{}", i % 3);
    let mut labels = json!({"kubernetes.io/hostname": format!("node-{i}"),
        "topology.kubernetes.io/zone": zone});
    if shape == Shape::SchedulingNodeAffinity {
        labels["failure-domain.beta.kubernetes.io/zone"] = json!("zone1");
    }
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("node-{i}"), "labels": labels}})
}

fn node_status() -> Value {
    let resources = json!({"cpu": "4", "memory": "32Gi", "pods": "110"});
    json!({"status": {"capacity": resources, "allocatable": resources,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})
}

/// A pod of the shape; `measured` picks the measured template where it differs.
fn pod_body(shape: Shape, name: &str, measured: bool) -> Bytes {
    let mut spec = json!({"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
        "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]});
    let mut labels = json!({"app": "bench"});
    match shape {
        Shape::SchedulingBasic => {}
        Shape::SchedulingPodAntiAffinity => {
            labels = json!({"color": if measured { "green" } else { "blue" }});
            spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": labels.clone()},
                "topologyKey": "kubernetes.io/hostname"}]}});
        }
        Shape::TopologySpreading => {
            if measured {
                labels = json!({"color": "blue"});
                spec["topologySpreadConstraints"] = json!([{"maxSkew": 5,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"color": "blue"}}}]);
            }
        }
        Shape::SchedulingNodeAffinity => {
            if measured {
                spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{
                        "key": "failure-domain.beta.kubernetes.io/zone",
                        "operator": "In", "values": ["zone1", "zone2"]}]}]}}});
            }
        }
        Shape::PreemptionAsync => {
            // Upstream's pod-low-priority.yaml (no priority, 900m, deleted at once) for the
            // initial pods, pod-default.yaml (100m) for the measured ones.
            if !measured {
                spec["terminationGracePeriodSeconds"] = json!(0);
                spec["containers"][0]["resources"]["requests"] =
                    json!({"cpu": "900m", "memory": "500Mi"});
            }
        }
    }
    Bytes::from(
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels}, "spec": spec})
        .to_string(),
    )
}

/// The namespace the preemptors of `PreemptionAsync` are created in.
const CHURN_NAMESPACE: &str = "bench-churn";

/// Upstream's pod-high-priority.yaml: priority 10, 3 CPU.
fn preemptor_body(name: &str) -> Bytes {
    Bytes::from(
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": CHURN_NAMESPACE},
        "spec": {"priority": 10, "containers": [{"name": "pause",
            "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": "3", "memory": "500Mi"}}}]}})
        .to_string(),
    )
}

/// The preemptors: (created, bound to a node, nominated and waiting for their victims).
async fn preemptor_counts(connector: &Connector) -> anyhow::Result<(usize, usize, usize)> {
    let mut conn = connector.connect().await?;
    let body = conn
        .expect(
            200,
            Method::GET,
            &format!("/api/v1/namespaces/{CHURN_NAMESPACE}/pods"),
            None,
        )
        .await?;
    let list: Value = serde_json::from_slice(&body)?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let set = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    let bound = items.iter().filter(|p| set(&p["spec"]["nodeName"])).count();
    let nominated = items
        .iter()
        .filter(|p| !set(&p["spec"]["nodeName"]) && set(&p["status"]["nominatedNodeName"]))
        .count();
    Ok((items.len(), bound, nominated))
}

/// Creates a preemptor every 200 ms (upstream's churn op, mode create) until `stop`; how many.
async fn churn_preemptors(
    connector: Connector,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<usize> {
    let mut conn = connector.connect().await?;
    let path = format!("/api/v1/namespaces/{CHURN_NAMESPACE}/pods");
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut created = 0;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return Ok(created),
            _ = tick.tick() => {}
        }
        conn.expect(
            201,
            Method::POST,
            &path,
            Some(preemptor_body(&format!("preemptor-{created}"))),
        )
        .await?;
        created += 1;
    }
}

/// Runs `count` requests `f(i)` with `clients` connections.
async fn fan_out<F>(connector: &Connector, clients: usize, count: usize, f: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Vec<(Method, String, Bytes, u16)> + Send + Sync + Clone + 'static,
{
    let conns = client::connections(connector, clients, 8).await?;
    let mut tasks = Vec::new();
    for (c, mut conn) in conns.into_iter().enumerate() {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while i < count {
                for (method, path, body, want) in f(i) {
                    conn.expect(want, method, &path, Some(body)).await?;
                }
                i += clients;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// The scheduler's count of scheduled pods, less the bound preemptors when `churn` is given.
async fn counted(port: u16, churn: Option<&Connector>) -> anyhow::Result<u64> {
    let all = scheduled_count(port).await?;
    let preemptors = match churn {
        Some(c) => preemptor_counts(c).await?.1 as u64,
        None => 0,
    };
    Ok(all.saturating_sub(preemptors))
}

/// Waits until the scheduler has scheduled `measured` pods beyond `base` (not counting the
/// preemptors when `churn` is given); upstream's throughput samples and the time taken.
///
/// Sampling follows upstream's `throughputCollector`: a 1 s ticker; ticks before the first
/// scheduled pod are ignored, the first tick with pods scheduled only starts the count (it
/// is an outlier, as creating and sampling start independently), a tick with no new pods
/// is merged into the next one, each sample divides by the time actually elapsed, and the
/// collector stops when the last pod is scheduled, so the partial interval at the end is not
/// a sample. Completion is checked every 100 ms, between ticks.
async fn wait_scheduled(
    port: u16,
    base: u64,
    measured: u64,
    timeout: Duration,
    churn: Option<&Connector>,
) -> anyhow::Result<(Vec<f64>, Duration)> {
    const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
    let start = Instant::now();
    let mut next_sample = start + SAMPLE_INTERVAL;
    let mut last: Option<(u64, Instant)> = None;
    let mut samples = Vec::new();
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    loop {
        poll.tick().await;
        let now = Instant::now();
        if start.elapsed() > timeout {
            bail!("fewer than {measured} pods scheduled after {timeout:?}");
        }
        // A scrape that fails (the scheduler busy) is simply not a sample.
        let Ok(count) = counted(port, churn).await else {
            continue;
        };
        let scheduled = count.saturating_sub(base);
        if now >= next_sample {
            next_sample += SAMPLE_INTERVAL;
            match last {
                _ if scheduled == 0 => {}
                None => last = Some((scheduled, now)),
                Some((before, at)) if scheduled > before => {
                    samples.push((scheduled - before) as f64 / (now - at).as_secs_f64());
                    last = Some((scheduled, now));
                }
                Some(_) => {}
            }
        }
        if scheduled >= measured {
            return Ok((samples, start.elapsed()));
        }
    }
}

/// Runs one shape.
pub async fn run(binary: &Path, args: &SchedulerPerfArgs) -> anyhow::Result<Outcome> {
    let (nodes, initial, measured, threshold) = args.shape.sizes();
    let scale = |n: usize| ((n as f64 * args.scale).round() as usize).max(1);
    let (nodes, initial, measured) = (scale(nodes), scale(initial), scale(measured));
    let shape = args.shape;
    let server = ApiServer::start(binary, None)?;
    let connector = server.connector(Protocol::H1)?;
    fixtures::create_namespace(&connector).await?;
    let dir = tempfile::Builder::new()
        .prefix("ferrokube-schedperf-")
        .tempdir()?;

    // Upstream's node strategy keeps the status given on create, as scheduler_perf relies on.
    fan_out(&connector, args.clients, nodes, move |i| {
        let mut node = node_body(shape, i);
        node["status"] = node_status()["status"].clone();
        vec![(
            Method::POST,
            "/api/v1/nodes".to_string(),
            Bytes::from(node.to_string()),
            201,
        )]
    })
    .await
    .context("creating nodes")?;
    let scheduler = start_scheduler(binary, &server, dir.path())?;
    let pid = scheduler.child.id();
    let port = scheduler.metrics_port;
    let started = Instant::now();
    while scheduled_count(port).await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the scheduler did not serve /metrics within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let path = pods_path();
    let p = path.clone();
    fan_out(&connector, args.clients, initial, move |i| {
        vec![(
            Method::POST,
            p.clone(),
            pod_body(shape, &format!("init-{i}"), false),
            201,
        )]
    })
    .await
    .context("creating the initial pods")?;
    wait_scheduled(port, 0, initial as u64, Duration::from_secs(600), None)
        .await
        .context("scheduling the initial pods")?;

    let preempting = shape == Shape::PreemptionAsync;
    let (stop_churn, churn) = if preempting {
        let mut conn = connector.connect().await?;
        let ns = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": CHURN_NAMESPACE}});
        conn.expect(
            201,
            Method::POST,
            "/api/v1/namespaces",
            Some(Bytes::from(ns.to_string())),
        )
        .await?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        (
            Some(tx),
            Some(tokio::spawn(churn_preemptors(connector.clone(), rx))),
        )
    } else {
        (None, None)
    };
    let churn_counter = preempting.then(|| connector.clone());
    let base = counted(port, churn_counter.as_ref()).await?;
    let cpu_before = (cpu_ticks(server.pid())?, cpu_ticks(pid)?);
    let creating = {
        let connector = connector.clone();
        let clients = args.clients;
        let p = path.clone();
        tokio::spawn(async move {
            fan_out(&connector, clients, measured, move |i| {
                vec![(
                    Method::POST,
                    p.clone(),
                    pod_body(shape, &format!("measured-{i}"), true),
                    201,
                )]
            })
            .await
        })
    };
    let (samples, took) = wait_scheduled(
        port,
        base,
        measured as u64,
        Duration::from_secs(900),
        churn_counter.as_ref(),
    )
    .await
    .context("scheduling the measured pods")?;
    creating.await??;
    let cpu_after = (cpu_ticks(server.pid())?, cpu_ticks(pid)?);
    let rss = rss_bytes(pid)?;
    // CPU seconds each process spent per 1,000 measured pods: less noisy than the rate on a
    // shared machine, and it says which side of the bind path to work on.
    let per_thousand =
        |ticks: u64| ticks as f64 / clock_ticks_per_second() / measured as f64 * 1000.0;
    let apiserver_cpu = per_thousand(cpu_after.0 - cpu_before.0);
    let scheduler_cpu = per_thousand(cpu_after.1 - cpu_before.1);
    // Every preemptor must end up bound once its victims are gone.
    let mut preemption = json!(null);
    if let (Some(stop), Some(churn)) = (stop_churn, churn) {
        let _ = stop.send(true);
        let created = churn.await??;
        let waited = Instant::now();
        let (bound, nominated) = loop {
            let (_, bound, nominated) = preemptor_counts(&connector).await?;
            if bound >= created || waited.elapsed() > Duration::from_secs(120) {
                break (bound, nominated);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        if bound < created {
            bail!("only {bound} of {created} preemptors bound after 120 s ({nominated} nominated)");
        }
        preemption = json!({"preemptors_created": created, "preemptors_bound": bound});
    }
    // Upstream averages the per-second samples of the measured phase; a run too short for a
    // sample reports the overall rate.
    let overall = measured as f64 / took.as_secs_f64();
    let average = if samples.is_empty() {
        overall
    } else {
        samples.iter().sum::<f64>() / samples.len() as f64
    };
    let goal = threshold * 3.0;
    let name = shape.name();
    let rows = vec![
        Row::new(
            "scheduler-perf",
            name,
            "SchedulingThroughput average",
            average,
            "pods/s",
        )
        .goal(Goal::AtLeast(goal)),
        Row::new(
            "scheduler-perf",
            name,
            "overall rate (measured pods / whole time)",
            overall,
            "pods/s",
        ),
        Row::new(
            "scheduler-perf",
            name,
            "ratio to upstream threshold",
            average / threshold,
            "x",
        ),
        Row::new(
            "scheduler-perf",
            name,
            "API server CPU per 1,000 pods",
            apiserver_cpu,
            "s",
        ),
        Row::new(
            "scheduler-perf",
            name,
            "scheduler CPU per 1,000 pods",
            scheduler_cpu,
            "s",
        ),
        Row::new(
            "scheduler-perf",
            name,
            "scheduler RSS",
            rss as f64 / 1048576.0,
            "MiB",
        ),
    ];
    Ok(Outcome {
        scenario: shape.scenario(),
        rows,
        details: json!({
            "shape": name, "nodes": nodes, "initial_pods": initial, "measured_pods": measured,
            "upstream_threshold": threshold, "average_pods_per_s": average,
            "overall_pods_per_s": overall, "samples": samples,
            "measured_seconds": took.as_secs_f64(), "scheduler_rss_bytes": rss,
            "apiserver_cpu_s_per_1000_pods": apiserver_cpu, "scheduler_cpu_s_per_1000_pods": scheduler_cpu,
            "preemption": preemption, "args": args,
        }),
    })
}
