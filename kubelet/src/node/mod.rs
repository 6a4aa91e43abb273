//! One node: what its agent knows ([`NodeContext`]), and [`start`], which registers the Node
//! ([`register`]), posts its status ([`status`]), renews its Lease ([`lease`]) and runs its
//! pod workers until stopped.

pub mod host;
pub mod lease;
pub mod register;
pub mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Taint;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, info_span};

use crate::Error;
use crate::runtime::Runtime;

/// Everything one node's agent needs, shared by its loops and pod workers.
pub struct NodeContext {
    /// The API client.
    pub client: kube::Client,
    /// The Node's name.
    pub node_name: String,
    /// The node's InternalIP, every pod's `hostIP`.
    pub host_ip: String,
    /// The node's pod CIDR, written to `spec.podCIDR` when known.
    pub pod_cidr: Option<String>,
    /// The container runtime.
    pub runtime: Arc<dyn Runtime>,
    /// The runtime's name, the `containerID` prefix.
    pub runtime_name: String,
    /// `nodeInfo.containerRuntimeVersion` (`sim://0.1`).
    pub runtime_version: String,
    /// Capacity (and allocatable): resource name to quantity.
    pub capacity: BTreeMap<String, String>,
    /// Machine facts for `nodeInfo`.
    pub host: host::HostInfo,
    /// `--node-labels`.
    pub labels: BTreeMap<String, String>,
    /// `--register-with-taints`.
    pub taints: Vec<Taint>,
    /// Lease duration (40 s upstream).
    pub lease_duration_seconds: i32,
    /// How often the Lease is renewed (10 s upstream).
    pub lease_renew_interval: Duration,
    /// How often the node status is checked (`--node-status-update-frequency`, 10 s).
    pub status_update_frequency: Duration,
    /// How often an unchanged node status is re-posted (`nodeStatusReportFrequency`, 5 min).
    pub status_report_frequency: Duration,
    /// The first CrashLoopBackOff delay (10 s upstream).
    pub back_off_base: Duration,
    /// The longest CrashLoopBackOff delay (300 s upstream).
    pub back_off_max: Duration,
    /// How long a pod worker waits before retrying a failed sync.
    pub retry_interval: Duration,
    /// The node's kubelet root directory (`--root-dir`); pod volumes live under
    /// `<root_dir>/pods/<uid>/volumes`.
    pub root_dir: std::path::PathBuf,
    /// Whether pod volumes are materialised under `root_dir`; simulated nodes of the
    /// `ferrokube kubelet` command do not (their containers mount nothing).
    pub volume_files: bool,
    /// The Services the containers' service variables come from (one cache per process).
    pub services: crate::pod::env::ServiceCache,
    /// How often a pod's configMap, secret, downwardAPI and projected volumes are refreshed
    /// from their sources (besides on pod updates).
    pub volume_resync_interval: Duration,
    /// Where pod logs go (`podLogsDir`, `/var/log/pods`): `<ns>_<name>_<uid>/<container>/`.
    pub pod_logs_dir: std::path::PathBuf,
    /// The kubelet server's port, published as `daemonEndpoints.kubeletEndpoint.Port`.
    pub kubelet_port: i32,
}

/// A running node agent.
pub struct RunningNode {
    /// The Node's name.
    pub name: String,
    stop: watch::Sender<bool>,
    heartbeat: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningNode {
    /// Stops renewing the Lease and posting the status while pods keep running: a node that
    /// has lost touch with the control plane (a fault to inject in tests).
    pub fn stop_heartbeat(&self) {
        self.heartbeat.send_replace(true);
    }

    /// Resumes a stopped heartbeat: the Lease is renewed and the status posted at once.
    pub fn resume_heartbeat(&self) {
        self.heartbeat.send_replace(false);
    }

    /// Stops the node's loops (its pods are left as they are, as when a kubelet exits).
    pub async fn stop(mut self) {
        self.heartbeat.send_replace(true);
        self.stop.send_replace(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Waits until the heartbeat runs (not `paused`); None once the node stops. Returns the
/// receiver the heartbeat loop watches to pause again.
async fn resume(
    paused: &mut watch::Receiver<bool>,
    node_stopped: &mut watch::Receiver<bool>,
) -> Option<watch::Receiver<bool>> {
    let running = tokio::select! {
        _ = node_stopped.wait_for(|s| *s) => false,
        r = paused.wait_for(|p| !*p) => r.is_ok(),
    };
    running.then(|| paused.clone())
}

/// Registers the node, posts its status and first Lease, then runs its loops in the
/// background.
pub async fn start(ctx: NodeContext) -> Result<RunningNode, Error> {
    let ctx = Arc::new(ctx);
    let span = info_span!("node", node = %ctx.node_name);
    let uid = register::register(&ctx).instrument(span.clone()).await?;
    let conditions = status::post(&ctx, &[]).instrument(span.clone()).await?;
    lease::renew(&ctx, &uid, ctx.lease_duration_seconds)
        .instrument(span.clone())
        .await?;
    let (stop, stopped) = watch::channel(false);
    let (heartbeat, heartbeat_stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    {
        let ctx = ctx.clone();
        let (mut paused, mut node_stopped) = (heartbeat_stopped.clone(), stopped.clone());
        tasks.spawn(
            async move {
                let mut resumed = false;
                while let Some(paused) = resume(&mut paused, &mut node_stopped).await {
                    if resumed
                        && let Err(e) = lease::renew(&ctx, &uid, ctx.lease_duration_seconds).await
                    {
                        tracing::warn!(error = %e, "failed to update lease");
                    }
                    resumed = true;
                    lease::keep_renewed(
                        &ctx,
                        uid.clone(),
                        ctx.lease_duration_seconds,
                        ctx.lease_renew_interval,
                        paused,
                    )
                    .await
                }
            }
            .instrument(span.clone()),
        );
    }
    {
        let ctx = ctx.clone();
        let (mut paused, mut node_stopped) = (heartbeat_stopped, stopped.clone());
        tasks.spawn(
            async move {
                let mut conditions = conditions;
                let mut resumed = false;
                while let Some(paused) = resume(&mut paused, &mut node_stopped).await {
                    if resumed {
                        match status::post(&ctx, &conditions).await {
                            Ok(c) => conditions = c,
                            Err(e) => tracing::warn!(error = %e, "posting node status failed"),
                        }
                    }
                    resumed = true;
                    status::keep_fresh(
                        &ctx,
                        conditions.clone(),
                        ctx.status_update_frequency,
                        ctx.status_report_frequency,
                        paused,
                    )
                    .await
                }
            }
            .instrument(span.clone()),
        );
    }
    tasks.spawn(crate::pod::run(ctx.clone(), stopped).instrument(span));
    Ok(RunningNode {
        name: ctx.node_name.clone(),
        stop,
        heartbeat,
        tasks,
    })
}
