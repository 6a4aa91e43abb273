//! Scenario `endpointslice-churn`: the EndpointSlice controller behind a large Service.
//! Processes: `ferrokube apiserver`, `ferrokube controller-manager`
//! (`--endpointslice-updates-batch-period` as given, 0 by default), `ferrokube scheduler` and
//! one `ferrokube kubelet --runtime sim` hosting enough nodes for the pods.
//!
//! 1. A Deployment of `--pods` replicas behind a Service: seconds from the moment every pod is
//!    Ready to the moment the Service's slices list them all as ready.
//! 2. Churn: `--rate` pod readiness flips per second for `--duration` seconds. The simulated
//!    kubelet has no readiness probes to fail, so the bench writes the pods' Ready condition
//!    through `pods/status` itself (as a probe result would). A watch on the Service's slices
//!    timestamps the first slice event showing each flip: p50 / p99 delay, and slice writes
//!    (watch events) per flip.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::failure_detection::{Stack, until};
use crate::report::{Goal, Latency, Outcome, Row};

/// The scenario's flags.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct ChurnArgs {
    /// Pods behind the Service.
    #[arg(long, default_value_t = 1000)]
    pub pods: i32,
    /// Readiness flips per second during the churn.
    #[arg(long, default_value_t = 50)]
    pub rate: u32,
    /// Seconds of churn.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// `--endpointslice-updates-batch-period`.
    #[arg(long, default_value = "0s")]
    pub batch_period: String,
    /// How long any one wait may take, in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
}

/// (pod IP) -> (wanted readiness, when flipped).
type Pending = Arc<Mutex<HashMap<String, (bool, Instant)>>>;

fn ready_endpoints(slices: &HashMap<String, EndpointSlice>) -> usize {
    slices
        .values()
        .flat_map(|s| &s.endpoints)
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false))
        .count()
}

/// Runs the scenario.
pub async fn run(binary: &Path, args: &ChurnArgs) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut stack = Stack::start(binary)?;
    stack.spawn(
        binary,
        "controller-manager",
        &[
            "controller-manager",
            "--leader-elect=false",
            "--secure-port",
            "0",
            "--controllers",
            "deployment,replicaset,endpointslice",
            "--endpointslice-updates-batch-period",
            &args.batch_period,
        ],
    )?;
    stack.spawn(
        binary,
        "scheduler",
        &["scheduler", "--leader-elect=false", "--secure-port", "0"],
    )?;
    let nodes = (args.pods / 100 + 1).to_string();
    stack.spawn(
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
    let client = stack.client().await?;
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}))?;
    Api::<Service>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await?;

    // Every slice event of the Service, kept current, with the flips awaiting it.
    let slices: Arc<Mutex<HashMap<String, EndpointSlice>>> = Arc::default();
    let pending: Pending = Arc::default();
    let delays: Arc<Mutex<Vec<u64>>> = Arc::default();
    let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watch = {
        let (slices, pending, delays, writes) = (
            slices.clone(),
            pending.clone(),
            delays.clone(),
            writes.clone(),
        );
        let api: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
        let cfg = watcher::Config::default().labels("kubernetes.io/service-name=web");
        tokio::spawn(async move {
            let mut events = watcher::watcher(api, cfg).boxed();
            while let Some(Ok(e)) = events.next().await {
                let now = Instant::now();
                let slice = match e {
                    watcher::Event::Apply(s) | watcher::Event::InitApply(s) => s,
                    watcher::Event::Delete(s) => {
                        slices.lock().unwrap().remove(&s.name_any());
                        continue;
                    }
                    _ => continue,
                };
                writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut p = pending.lock().unwrap();
                for ep in &slice.endpoints {
                    let ready = ep
                        .conditions
                        .as_ref()
                        .and_then(|c| c.ready)
                        .unwrap_or(false);
                    if let Some((want, at)) = p.get(&ep.addresses[0]).copied()
                        && want == ready
                    {
                        p.remove(&ep.addresses[0]);
                        delays
                            .lock()
                            .unwrap()
                            .push(now.duration_since(at).as_micros() as u64);
                    }
                }
                slices.lock().unwrap().insert(slice.name_any(), slice);
            }
        })
    };

    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": args.pods, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}))?;
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &deployment)
        .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let want = usize::try_from(args.pods).unwrap_or(0);
    let all_ready = until("every pod Ready", timeout, || async {
        let items = pods
            .list(&ListParams::default().labels("app=web"))
            .await?
            .items;
        let ready = items
            .iter()
            .filter(|p| crate::failure_detection::pod_ready(p))
            .count();
        Ok((ready == want).then(|| (Instant::now(), items)))
    })
    .await?;
    let (ready_at, items) = all_ready;
    let complete_at = until("the slices to list every pod ready", timeout, || async {
        Ok((ready_endpoints(&slices.lock().unwrap()) == want).then(Instant::now))
    })
    .await?;
    let complete = complete_at
        .saturating_duration_since(ready_at)
        .as_secs_f64();

    // Churn: flip one pod's readiness every 1/rate s.
    writes.store(0, std::sync::atomic::Ordering::Relaxed);
    let targets: Vec<(String, String)> = items
        .iter()
        .filter_map(|p| {
            let ip = p.status.as_ref()?.pod_ip.clone()?;
            Some((p.name_any(), ip))
        })
        .collect();
    let mut state: HashMap<String, bool> = targets.iter().map(|(n, _)| (n.clone(), true)).collect();
    let flips = args.rate as u64 * args.duration;
    let mut tick =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    for i in 0..flips {
        tick.tick().await;
        let (name, ip) = &targets[(i as usize * 7919) % targets.len()];
        let ready = !state[name];
        state.insert(name.clone(), ready);
        pending
            .lock()
            .unwrap()
            .insert(ip.clone(), (ready, Instant::now()));
        let patch = json!({"status": {"conditions": [{"type": "Ready",
            "status": if ready { "True" } else { "False" }}]}});
        let (pods, name) = (pods.clone(), name.clone());
        tokio::spawn(async move {
            let _ = pods
                .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await;
        });
    }
    let _ = until(
        "the last flips to show",
        Duration::from_secs(10),
        || async { Ok(pending.lock().unwrap().is_empty().then_some(())) },
    )
    .await;
    watch.abort();
    let mut samples = delays.lock().unwrap().clone();
    let latency = Latency::from_micros(&mut samples);
    let per_change = writes.load(std::sync::atomic::Ordering::Relaxed) as f64 / flips.max(1) as f64;
    let subject = format!("{} pods, batch period {}", args.pods, args.batch_period);
    let rows = vec![
        Row::new(
            "endpointslice-churn",
            &subject,
            "all pods Ready -> slices complete",
            complete,
            "s",
        ),
        Row::new(
            "endpointslice-churn",
            &subject,
            "flip -> slice p50",
            latency.p50_ms,
            "ms",
        ),
        Row::new(
            "endpointslice-churn",
            &subject,
            "flip -> slice p99",
            latency.p99_ms,
            "ms",
        )
        .goal(Goal::AtMost(1000.0)),
        Row::new(
            "endpointslice-churn",
            &subject,
            "slice writes per flip",
            per_change,
            "",
        )
        .goal(Goal::AtMost(1.2)),
    ];
    Ok(Outcome {
        scenario: "endpointslice-churn",
        rows,
        details: json!({"args": args, "flips": flips, "observed": samples.len(),
            "unobserved": pending.lock().unwrap().len(), "complete_seconds": complete}),
    })
}
