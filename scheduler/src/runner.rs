//! The scheduler process: client, health and metrics, leader election on
//! `kube-system/kube-scheduler`, the pod and node watches, and the scheduling loop.

use std::future::Future;
use std::sync::Arc;

use ferrokube_component::client::{self, ClientOptions};
use ferrokube_component::health::{self, Readiness};
use ferrokube_component::leader::{LeaderElectionConfig, LeaderElector};
use ferrokube_controllers::events::Recorder;
use ferrokube_controllers::informer::{Change, Informer};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::runtime::watcher;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::info;

use crate::framework::{Framework, Handle, Nominator};
use crate::metrics::Metrics;
use crate::scheduler::Scheduler;
use crate::{Config, Error, plugins};

/// A started scheduler.
pub type Running = ferrokube_component::running::Running<Error>;

/// Runs the scheduler until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    start(config, shutdown).await?.wait().await
}

/// Connects, builds the profile, binds the health endpoints and starts the scheduler in the
/// background.
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, Error> {
    let client = client::connect(&ClientOptions {
        kubeconfig: config.kubeconfig.clone(),
        user_agent: "ferrokube-scheduler".into(),
    })
    .await?;
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    let nominator = Arc::new(Nominator::default());
    let (cluster_events, mut cluster_event_rx) = tokio::sync::mpsc::unbounded_channel();
    let listers = crate::listers::Listers::start_with_events(&client, Some(cluster_events));
    listers
        .wait_until_synced(std::time::Duration::from_secs(30))
        .await;
    let mut schedulers = Vec::new();
    for spec in config.effective_profiles() {
        let handle = Handle {
            client: Some(client.clone()),
            args: Arc::new(spec.args.clone()),
            listers: listers.clone(),
        };
        let mut framework = Framework::new(&plugins::registry(), &spec.profile, &handle)?;
        framework.percentage_of_nodes_to_score = spec
            .percentage_of_nodes_to_score
            .unwrap_or(config.percentage_of_nodes_to_score);
        framework.nominator = nominator.clone();
        framework.metrics = Some(metrics.clone());
        let recorder = Recorder::new(client.clone(), &spec.profile.scheduler_name, None);
        schedulers.push(Arc::new(Scheduler::new(
            Arc::new(framework),
            client.clone(),
            recorder,
            metrics.clone(),
        )));
    }
    {
        // Weak: the listers (and so this channel's senders) live as long as the schedulers.
        let schedulers: Vec<_> = schedulers.iter().map(Arc::downgrade).collect();
        tokio::spawn(async move {
            while let Some(event) = cluster_event_rx.recv().await {
                for s in schedulers.iter().filter_map(std::sync::Weak::upgrade) {
                    s.queue().move_all_to_active_or_backoff(event);
                }
            }
        });
    }
    let ready = Readiness::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let on_shutdown = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = on_shutdown.send(true);
    });
    let health_addr = match config.health_addr {
        Some(addr) => {
            let bound = health::serve(
                addr,
                Arc::new(registry),
                ready.clone(),
                stopped(stop_rx.clone()),
            )
            .await?;
            info!(addr = %bound, "serving /healthz, /readyz and /metrics (plain HTTP)");
            Some(bound)
        }
        None => None,
    };
    let task = tokio::spawn(supervise(
        config, client, schedulers, ready, stop_tx, stop_rx,
    ));
    Ok(Running::new(health_addr, task))
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

async fn supervise(
    config: Config,
    client: kube::Client,
    scheduler: Vec<Arc<Scheduler>>,
    ready: Readiness,
    stop_tx: Arc<watch::Sender<bool>>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    ready.set(true);
    if !config.leader_elect {
        return schedule(client, scheduler, stop).await;
    }
    let election = LeaderElectionConfig {
        lease_duration: config.leader_elect_lease_duration,
        renew_deadline: config.leader_elect_renew_deadline,
        retry_period: config.leader_elect_retry_period,
        ..LeaderElectionConfig::new(
            &config.leader_elect_resource_namespace,
            &config.leader_elect_resource_name,
            &identity(),
        )
    };
    info!(lease = %format!("{}/{}", election.namespace, election.name), "attempting to acquire leader lease");
    let (mut leading, _campaign) =
        LeaderElector::new(client.clone(), election)?.run(stopped(stop.clone()));
    let won = tokio::select! {
        _ = stopped(stop.clone()) => false,
        r = leading.wait_for(|l| *l) => r.is_ok(),
    };
    if !won {
        return Ok(());
    }
    let running = schedule(client, scheduler, stop.clone());
    tokio::pin!(running);
    let lost = async {
        let _ = leading.wait_for(|l| !*l).await;
    };
    tokio::select! {
        r = &mut running => return r,
        _ = lost => {}
    }
    if *stop.borrow() {
        return running.await;
    }
    let _ = stop_tx.send(true);
    let _ = running.await;
    Err(Error::LeadershipLost)
}

/// The same change for another subscriber.
fn copy<K>(c: &Change<K>) -> Change<K> {
    match c {
        Change::Added(o) => Change::Added(o.clone()),
        Change::Updated { old, new } => Change::Updated {
            old: old.clone(),
            new: new.clone(),
        },
        Change::Deleted(o) => Change::Deleted(o.clone()),
    }
}

/// Every profile's scheduler, fed the same watch changes.
struct Profiles(Vec<Arc<Scheduler>>);

impl Profiles {
    fn on_node_change(&self, c: Change<Node>) {
        for s in &self.0 {
            s.on_node_change(copy(&c));
        }
    }

    fn on_pod_change(&self, c: Change<Pod>) {
        for s in &self.0 {
            s.on_pod_change(copy(&c));
        }
    }
}

/// Watches pods and nodes, feeds each profile's cache and queue, and runs their loops.
async fn schedule(
    client: kube::Client,
    schedulers: Vec<Arc<Scheduler>>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let scheduler = Arc::new(Profiles(schedulers));
    // One copy of each pod, stripped to what scheduling reads, shared by the store, the
    // cache and the queue.
    let mut pods = Informer::<Pod>::new(Api::all(client.clone()), watcher::Config::default())
        .with_transform(crate::cache::strip_pod_for_scheduling);
    let mut nodes = Informer::<Node>::new(Api::all(client), watcher::Config::default());
    let mut pod_changes = pods.subscribe();
    let mut node_changes = nodes.subscribe();
    let stores = (pods.store(), nodes.store());
    let informers = [pods.spawn(stop.clone()), nodes.spawn(stop.clone())];
    let synced = async {
        stores
            .0
            .wait_until_ready()
            .await
            .map_err(|_| Error::CacheSync("pods"))?;
        stores
            .1
            .wait_until_ready()
            .await
            .map_err(|_| Error::CacheSync("nodes"))
    };
    tokio::select! {
        _ = stopped(stop.clone()) => return Ok(()),
        r = synced => r?,
    }
    // Everything listed so far goes in before the first cycle, nodes first.
    while let Ok(c) = node_changes.try_recv() {
        scheduler.on_node_change(c);
    }
    while let Ok(c) = pod_changes.try_recv() {
        scheduler.on_pod_change(c);
    }
    info!("caches synced; scheduling");
    let handlers = {
        let scheduler = scheduler.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    Some(c) = node_changes.recv() => scheduler.on_node_change(c),
                    Some(c) = pod_changes.recv() => scheduler.on_pod_change(c),
                    else => return,
                }
            }
        })
    };
    let loops: Vec<_> = scheduler
        .0
        .iter()
        .map(|s| tokio::spawn(s.clone().run(stop.clone())))
        .collect();
    for l in loops {
        let _ = l.await;
    }
    let _ = handlers.await;
    for informer in informers {
        let _ = informer.await;
    }
    Ok(())
}
