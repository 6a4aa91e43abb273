//! Scenario `pod-startup`: how fast a kubelet on containerd starts pods, against the floor of
//! the same CRI calls made directly. Processes: a private containerd (the test harness's, with
//! the local busybox and pause images), `ferrokube apiserver`, and `ferrokube kubelet --runtime
//! cri` as its own process. `--pods` pods bound to the node are created at once; each one's
//! latency runs from its create call to the watch event that shows it `Running`. The floor:
//! the same number of RunPodSandbox + CreateContainer + StartContainer sequences issued at
//! once straight to containerd. Then the kubelet's memory with the pods running, read from
//! `/proc/<pid>/status`, one row each:
//! - `VmRSS`: every resident page of the process, the measure (goal ≤ 25 MiB). It is
//!   `RssAnon + RssFile + RssShmem`.
//! - `RssAnon`: anonymous pages (heap, stacks, relocated tables), what the process itself
//!   allocated. Upstream's node density test (`test/e2e_node/density_test.go`, 50 MiB at 10
//!   pods) reads cAdvisor's RSS, which is the cgroup's `anon` counter, i.e. this number and not
//!   file pages; its row carries the same 25 MiB goal, labelled as upstream's measure.
//! - `RssFile`: pages of mapped files, almost all of them the `ferrokube` binary's code and
//!   read-only data (every component is in that one binary). They are shared with any other
//!   process running the binary and the kernel can drop and re-read them at any time.
//!
//! The thread count is in the JSON details.
//! Goals: p99 < 1 s, p99 ≤ 1.5× the floor's p99, VmRSS ≤ 25 MiB (and RssAnon ≤ 25 MiB).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrokube_kubelet::runtime::cri::CriRuntime;
use ferrokube_kubelet::runtime::{ContainerConfig, Runtime, SandboxConfig};
use ferrokube_tests::containerd::Containerd;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

use crate::failure_detection::{Stack, until};
use crate::report::{Goal, Latency, Outcome, Row};

const NODE: &str = "bench-cri";

/// The scenario's flags.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct PodStartupArgs {
    /// Pods started at once.
    #[arg(long, default_value_t = 30)]
    pub pods: usize,
    /// How long any one wait may take, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "3600"],
            }],
        },
    }))
    .unwrap_or_default()
}

/// Starts `count` sandboxes with one busybox container each, straight over CRI; the time each
/// took from its first call to StartContainer returning, in microseconds.
async fn floor(cri: &CriRuntime, logs: &Path, count: usize) -> anyhow::Result<Vec<u64>> {
    let runs = (0..count).map(|i| async move {
        let started = Instant::now();
        let uid = format!("floor-{i}");
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("io.kubernetes.pod.uid".to_string(), uid.clone());
        let sandbox = cri
            .run_pod_sandbox(&SandboxConfig {
                name: format!("floor-{i}"),
                namespace: "bench".into(),
                uid: uid.clone(),
                hostname: format!("floor-{i}"),
                log_directory: logs.join(&uid).display().to_string(),
                labels,
                ..Default::default()
            })
            .await?;
        let id = cri
            .create_container(
                &sandbox,
                &ContainerConfig {
                    name: "main".into(),
                    image: "busybox".into(),
                    command: vec!["sleep".into(), "3600".into()],
                    log_path: "main/0.log".into(),
                    ..Default::default()
                },
            )
            .await?;
        cri.start_container(&id).await?;
        anyhow::Ok(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX))
    });
    futures::future::try_join_all(runs).await
}

/// A free TCP port on 127.0.0.1 (bound and released).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The pid of the `ferrokube kubelet` process driving the containerd at `endpoint` (the
/// endpoint is unique to this run).
fn kubelet_pid(endpoint: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_ours = args.contains(&&b"kubelet"[..]) && args.contains(&endpoint.as_bytes());
            is_ours.then_some(pid)
        })
}

/// A process's memory as `/proc/<pid>/status` reports it, in MiB, and its thread count.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
struct Memory {
    vm_rss_mib: f64,
    rss_anon_mib: f64,
    rss_file_mib: f64,
    rss_shmem_mib: f64,
    threads: u64,
}

impl Memory {
    /// Reads `VmRSS`, `RssAnon`, `RssFile`, `RssShmem` and `Threads` of `pid`.
    fn of(pid: u32) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        Ok(Memory::parse(&status))
    }

    /// The fields of a `/proc/<pid>/status` text (kB values become MiB).
    fn parse(status: &str) -> Memory {
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let mib = |name: &str| field(name) as f64 / 1024.0;
        Memory {
            vm_rss_mib: mib("VmRSS"),
            rss_anon_mib: mib("RssAnon"),
            rss_file_mib: mib("RssFile"),
            rss_shmem_mib: mib("RssShmem"),
            threads: field("Threads"),
        }
    }
}

/// Runs the scenario.
pub async fn run(binary: &Path, args: &PodStartupArgs) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let containerd = Containerd::start()?;
    let cri = CriRuntime::connect(&containerd.endpoint(), Duration::from_secs(60)).await?;

    // The floor first, on an idle containerd, then a clean slate.
    let mut floor_us = floor(&cri, &containerd.scratch().join("floor-logs"), args.pods).await?;
    cri.remove_all_pod_sandboxes().await?;
    let floor_latency = Latency::from_micros(&mut floor_us);

    let mut stack = Stack::start(binary)?;
    let port = free_port()?.to_string();
    let root = containerd.scratch().join("kubelet");
    let logs = containerd.scratch().join("pod-logs");
    let endpoint = containerd.endpoint();
    stack.spawn(
        binary,
        "kubelet",
        &[
            "kubelet",
            "--runtime",
            "cri",
            "--container-runtime-endpoint",
            &endpoint,
            "--hostname-override",
            NODE,
            "--port",
            &port,
            "--root-dir",
            &root.display().to_string(),
            "--pod-logs-dir",
            &logs.display().to_string(),
        ],
    )?;
    let client = stack.client().await?;
    let nodes: Api<Node> = Api::all(client.clone());
    until("the cri node to register", timeout, || async {
        Ok(nodes.get_opt(NODE).await?)
    })
    .await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rv = pods
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut watch = pods.watch(&WatchParams::default(), &rv).await?.boxed();
    let names: Vec<String> = (0..args.pods).map(|i| format!("start-{i}")).collect();
    let creates = names.iter().map(|name| {
        let pods = pods.clone();
        async move {
            let at = Instant::now();
            pods.create(&PostParams::default(), &pod(name)).await?;
            anyhow::Ok((name.clone(), at))
        }
    });
    let created: HashMap<String, Instant> = futures::future::try_join_all(creates)
        .await?
        .into_iter()
        .collect();
    let mut running: HashMap<String, u64> = HashMap::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while running.len() < args.pods {
        let event = tokio::time::timeout_at(deadline, watch.try_next())
            .await
            .context("pods to be Running")??;
        let Some(event) = event else {
            bail!("the pod watch ended");
        };
        let (WatchEvent::Added(p) | WatchEvent::Modified(p)) = event else {
            continue;
        };
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        let name = p.metadata.name.clone().unwrap_or_default();
        if phase == Some("Running")
            && let Some(at) = created.get(&name)
        {
            running
                .entry(name)
                .or_insert_with(|| u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
    }
    let mut kubelet_us: Vec<u64> = running.into_values().collect();
    let latency = Latency::from_micros(&mut kubelet_us);

    // RSS with every pod running, after the status writes settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = kubelet_pid(&endpoint).context("the kubelet's pid")?;
    let memory = Memory::of(pid)?;
    let overhead = if floor_latency.p99_ms > 0.0 {
        latency.p99_ms / floor_latency.p99_ms
    } else {
        f64::NAN
    };

    for name in &names {
        let _ = pods.delete(name, &Default::default()).await;
    }
    stack.kill("kubelet");
    cri.remove_all_pod_sandboxes().await?;

    let s = "pod-startup";
    Ok(Outcome {
        scenario: "pod-startup",
        rows: vec![
            Row::new(
                s,
                "kubelet (cri)",
                "create→Running p50",
                latency.p50_ms,
                "ms",
            ),
            Row::new(
                s,
                "kubelet (cri)",
                "create→Running p99",
                latency.p99_ms,
                "ms",
            )
            .goal(Goal::AtMost(1000.0)),
            Row::new(
                s,
                "raw CRI floor",
                "sandbox+create+start p50",
                floor_latency.p50_ms,
                "ms",
            ),
            Row::new(
                s,
                "raw CRI floor",
                "sandbox+create+start p99",
                floor_latency.p99_ms,
                "ms",
            ),
            Row::new(s, "kubelet vs floor", "p99 ratio", overhead, "x").goal(Goal::AtMost(1.5)),
            Row::new(
                s,
                "kubelet (cri)",
                "VmRSS with pods running",
                memory.vm_rss_mib,
                "MiB",
            )
            .goal(Goal::AtMost(25.0)),
            Row::new(
                s,
                "kubelet (cri)",
                "RssAnon (upstream's measure: cgroup anon)",
                memory.rss_anon_mib,
                "MiB",
            )
            .goal(Goal::AtMost(25.0)),
            Row::new(
                s,
                "kubelet (cri)",
                "RssFile (binary's pages)",
                memory.rss_file_mib,
                "MiB",
            ),
        ],
        details: json!({
            "args": args,
            // Numbers from a debug build are not the release build's.
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
            "kubelet": latency,
            "floor": floor_latency,
            "kubelet_rss_mib": memory.vm_rss_mib,
            "kubelet_memory": memory,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::Memory;

    #[test]
    fn memory_is_read_from_proc_status_in_mib() {
        let status = "Name:\tferrokube\nVmRSS:\t   30720 kB\nRssAnon:\t    8192 kB\n\
                      RssFile:\t   22528 kB\nRssShmem:\t       0 kB\nThreads:\t34\n";
        let m = Memory::parse(status);
        assert_eq!(m.vm_rss_mib, 30.0);
        assert_eq!(m.rss_anon_mib, 8.0);
        assert_eq!(m.rss_file_mib, 22.0);
        assert_eq!(m.rss_shmem_mib, 0.0);
        assert_eq!(m.threads, 34);
    }
}
