//! Scenario `sim-scale`: what one simulated-node kubelet process costs at scale. Processes:
//! `ferrokube apiserver` and `ferrokube kubelet --runtime sim --sim-nodes N` (no scheduler:
//! the bench creates the pods with `spec.nodeName` set, `--pods-per-node` on every node, so
//! the kubelet alone is measured). Once every pod is Running and Ready, for a steady
//! `--duration` seconds: the kubelet process's CPU (utime + stime from `/proc/<pid>/stat`, as
//! % of one core), its VmRSS at the end (and its growth over the VmRSS with the nodes
//! registered and no pods, per pod), the Lease writes it makes (Lease events on a watch of
//! `kube-node-lease`, per second: N nodes / 10 s expected) and every request it makes (the
//! delta of the API server's `apiserver_request_total` over the minute, by verb and resource).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::failure_detection::until;
use crate::report::{Goal, Outcome, Row};
use crate::server::{ApiServer, rss_bytes};

/// The scenario's flags.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct SimScaleArgs {
    /// Simulated nodes in the one kubelet process.
    #[arg(long, default_value_t = 100)]
    pub nodes: u32,
    /// Pods bound to each node.
    #[arg(long, default_value_t = 30)]
    pub pods_per_node: u32,
    /// Seconds of steady state measured.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Concurrent pod creations.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// How long any one wait may take, in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// Run the kubelet with `--sim-volume-files` (pods' volumes written to disk and refreshed
    /// every minute, as before simulated nodes stopped materialising them).
    #[arg(long)]
    pub volume_files: bool,
}

/// The kubelet child process, killed by its pid on drop.
struct Kubelet {
    child: Child,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes an admin kubeconfig for `api` into `dir`.
fn kubeconfig(api: &ApiServer, dir: &Path) -> anyhow::Result<PathBuf> {
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, &api.ca)?;
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: bench\n  cluster:\n    server: https://{}\n    certificate-authority: {}\nusers:\n- name: admin\n  user:\n    token: {}\ncontexts:\n- name: bench\n  context:\n    cluster: bench\n    user: admin\ncurrent-context: bench\n",
            api.addr,
            ca.display(),
            api.token
        ),
    )?;
    Ok(path)
}

/// `apiserver_request_total` by `verb resource`, summed over response codes.
async fn request_totals(client: &Client) -> anyhow::Result<BTreeMap<String, f64>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut totals = BTreeMap::new();
    for line in text.lines() {
        let Some(labels) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = labels.rsplit_once("} ") else {
            continue;
        };
        let label = |key: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{key}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        *totals
            .entry(format!("{} {}", label("verb"), label("resource")))
            .or_insert(0.0) += value;
    }
    Ok(totals)
}

fn pod(name: &str, node: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "sim-scale"}},
        "spec": {
            "nodeName": node,
            "containers": [{
                "name": "main", "image": "busybox", "command": ["sleep", "3600"],
            }],
        },
    }))
    .unwrap_or_default()
}

fn running_and_ready(p: &Pod) -> bool {
    let status = p.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && crate::failure_detection::pod_ready(p)
}

/// Runs the scenario.
pub async fn run(binary: &Path, args: &SimScaleArgs) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let api = ApiServer::start(binary, None)?;
    let dir = tempfile::Builder::new()
        .prefix("ferrokube-bench-sim-")
        .tempdir()?;
    let kubeconfig = kubeconfig(&api, dir.path())?;
    let log = std::fs::File::create(dir.path().join("kubelet.log"))?;
    let nodes = args.nodes.to_string();
    let root = dir.path().join("kubelet");
    let mut command = Command::new(binary);
    command.args(["kubelet", "--runtime", "sim", "--hostname-override", "sim"]);
    if args.volume_files {
        command.arg("--sim-volume-files");
    }
    let child = command
        .args(["--sim-nodes", &nodes])
        .arg("--root-dir")
        .arg(&root)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the sim kubelet")?;
    let mut kubelet = Kubelet { child };
    let pid = kubelet.child.id();
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    config.read_timeout = Some(Duration::from_secs(120));
    let client = Client::try_from(config)?;

    let node_api: Api<Node> = Api::all(client.clone());
    let want_nodes = args.nodes as usize;
    until("every simulated node registered", timeout, || async {
        Ok((node_api.list(&ListParams::default()).await?.items.len() == want_nodes).then_some(()))
    })
    .await?;
    let rss_empty = rss_bytes(pid)?;

    // Create the pods, `concurrency` at a time.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let names: Vec<(String, String)> = (0..args.nodes)
        .flat_map(|n| {
            (0..args.pods_per_node).map(move |i| (format!("p-{n}-{i}"), format!("sim-{n}")))
        })
        .collect();
    let want_pods = names.len();
    let started = Instant::now();
    futures::stream::iter(names.iter())
        .map(|(name, node)| {
            let pods = pods.clone();
            async move { pods.create(&PostParams::default(), &pod(name, node)).await }
        })
        .buffer_unordered(args.concurrency)
        .try_collect::<Vec<_>>()
        .await
        .context("creating pods")?;
    let created = started.elapsed().as_secs_f64();
    until("every pod Running and Ready", timeout, || async {
        let items = pods
            .list(&ListParams::default().labels("app=sim-scale"))
            .await?
            .items;
        let ready = items.iter().filter(|p| running_and_ready(p)).count();
        Ok((ready == want_pods).then_some(()))
    })
    .await?;
    let all_ready = started.elapsed().as_secs_f64();

    // Let the start-up settle (status writes of the last pods, events) before measuring.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // The steady minute.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let rv = leases
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let lease_writes = Arc::new(AtomicUsize::new(0));
    let watch = {
        let (leases, lease_writes) = (leases.clone(), lease_writes.clone());
        let wp = WatchParams::default().timeout(290);
        tokio::spawn(async move {
            let mut rv = rv;
            loop {
                let Ok(stream) = leases.watch(&wp, &rv).await else {
                    return;
                };
                let mut stream = stream.boxed();
                while let Some(Ok(event)) = stream.next().await {
                    match event {
                        WatchEvent::Modified(l) | WatchEvent::Added(l) => {
                            lease_writes.fetch_add(1, Ordering::Relaxed);
                            if let Some(v) = l.metadata.resource_version {
                                rv = v;
                            }
                        }
                        WatchEvent::Bookmark(b) => rv = b.metadata.resource_version,
                        _ => {}
                    }
                }
            }
        })
    };
    // The watch must be established before counting starts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ticks_per_second = crate::server::clock_ticks_per_second();
    let requests_before = request_totals(&client).await?;
    let writes_before = lease_writes.load(Ordering::Relaxed);
    let ticks_before = crate::server::cpu_ticks(pid)?;
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    let ticks_after = crate::server::cpu_ticks(pid)?;
    let writes_after = lease_writes.load(Ordering::Relaxed);
    let seconds = window.elapsed().as_secs_f64();
    let requests_after = request_totals(&client).await?;
    let rss = rss_bytes(pid)?;
    watch.abort();

    let cpu_percent = (ticks_after - ticks_before) as f64 / ticks_per_second / seconds * 100.0;
    let lease_rate = (writes_after - writes_before) as f64 / seconds;
    // Our own two /metrics scrapes and the lease watch are not the kubelet's.
    let mut by_kind: BTreeMap<String, f64> = BTreeMap::new();
    for (key, after) in &requests_after {
        let delta = after - requests_before.get(key).copied().unwrap_or(0.0);
        if delta > 0.0 {
            by_kind.insert(key.clone(), delta / seconds);
        }
    }
    let own = 2.0 / seconds;
    let request_rate = (by_kind.values().sum::<f64>() - own).max(0.0);
    if kubelet.child.try_wait()?.is_some() {
        bail!("the kubelet exited during the measurement");
    }
    let volume_files = count_files(&root);

    let subject = format!(
        "{} sim nodes, {} pods{}",
        args.nodes,
        args.nodes * args.pods_per_node,
        if args.volume_files {
            ", volume files"
        } else {
            ""
        }
    );
    let expected_leases = f64::from(args.nodes) / 10.0;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let per_pod_kib = rss.saturating_sub(rss_empty) as f64 / 1024.0 / (want_pods.max(1) as f64);
    let rows = vec![
        Row::new("sim-scale", &subject, "pods created", created, "s"),
        Row::new(
            "sim-scale",
            &subject,
            "all pods Running and Ready",
            all_ready,
            "s",
        ),
        Row::new(
            "sim-scale",
            &subject,
            "kubelet CPU, steady",
            cpu_percent,
            "% of a core",
        ),
        Row::new(
            "sim-scale",
            &subject,
            "kubelet VmRSS, no pods",
            mib(rss_empty),
            "MiB",
        ),
        Row::new(
            "sim-scale",
            &subject,
            "kubelet VmRSS, steady",
            mib(rss),
            "MiB",
        ),
        Row::new(
            "sim-scale",
            &subject,
            "kubelet VmRSS growth per pod",
            per_pod_kib,
            "KiB",
        ),
        Row::new("sim-scale", &subject, "Lease writes", lease_rate, "/s")
            .goal(Goal::AtMost(expected_leases * 1.1)),
        Row::new(
            "sim-scale",
            &subject,
            "kubelet requests",
            request_rate,
            "/s",
        ),
        Row::new(
            "sim-scale",
            &subject,
            "files under --root-dir",
            volume_files as f64,
            "",
        ),
    ];
    Ok(Outcome {
        scenario: "sim-scale",
        rows,
        details: json!({
            "args": args,
            "scheduler": "none: pods are created with spec.nodeName set",
            "window_seconds": seconds,
            "cpu_ticks": ticks_after - ticks_before,
            "requests_per_second_by_verb_resource": by_kind,
            "kubelet_rss_mib_empty": mib(rss_empty),
            "kubelet_rss_mib": mib(rss),
            "kubelet_rss_kib_per_pod": per_pod_kib,
            "lease_writes_per_second": lease_rate,
            "root_dir_files": volume_files,
        }),
    })
}

/// Regular files below `dir` (volume files the simulated nodes wrote).
fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}
