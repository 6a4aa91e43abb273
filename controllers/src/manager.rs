//! The controller manager runner: flags ([`Config`]), controller selection (`--controllers`),
//! health and metrics, leader election, the shared informers, and the controllers themselves.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferrokube_component::client::{self, ClientOptions};
use ferrokube_component::health::{self, Readiness};
use ferrokube_component::leader::{LeaderElectionConfig, LeaderElector};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::Api;
use kube::runtime::watcher;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::info;

use crate::events::Recorder;
use crate::informer::{Informer, transform};
use crate::metrics::Metrics;
use crate::statefulset;
use crate::volume::{localpath, persistentvolume};
use crate::{Error, deployment, endpoint, endpointslice, garbagecollector, namespace, replicaset};
use crate::{endpointslicemirroring, nodelifecycle, tainteviction};

/// The controller manager's settings; each field is the upstream `kube-controller-manager`
/// flag of the same name.
#[derive(Clone, Debug)]
pub struct Config {
    /// `--kubeconfig`; None tries `$KUBECONFIG`, `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// `--controllers`: `*` (all on by default), `name` (enable), `-name` (disable).
    pub controllers: Vec<String>,
    /// `--concurrent-replicaset-syncs`.
    pub concurrent_replicaset_syncs: u16,
    /// `--concurrent-deployment-syncs`.
    pub concurrent_deployment_syncs: u16,
    /// `--concurrent-statefulset-syncs`.
    pub concurrent_statefulset_syncs: u16,
    /// `--concurrent-endpoint-syncs` (the Endpoints controller).
    pub concurrent_endpoint_syncs: u16,
    /// `--concurrent-service-endpoint-syncs` (the EndpointSlice controller).
    pub concurrent_service_endpoint_syncs: u16,
    /// `--max-endpoints-per-slice` (1 to 1000).
    pub max_endpoints_per_slice: usize,
    /// `--endpointslice-updates-batch-period` (0: no batching).
    pub endpointslice_updates_batch_period: Duration,
    /// `--mirroring-concurrent-service-endpoint-syncs`, `--mirroring-max-endpoints-per-subset`
    /// and `--mirroring-endpointslice-updates-batch-period`.
    pub mirroring: endpointslicemirroring::Settings,
    /// `--node-monitor-period`, `--node-monitor-grace-period`, `--node-startup-grace-period`,
    /// `--node-eviction-rate`, `--secondary-node-eviction-rate`, `--unhealthy-zone-threshold`
    /// and `--large-cluster-size-threshold`.
    pub node_lifecycle: nodelifecycle::Settings,
    /// `--concurrent-gc-syncs` (the garbage collector).
    pub concurrent_gc_syncs: u16,
    /// `--concurrent-namespace-syncs`.
    pub concurrent_namespace_syncs: u16,
    /// `--kube-api-qps`: requests per second this process sends the API server (client-side
    /// token bucket, as client-go's); zero or less means no limit.
    pub kube_api_qps: f32,
    /// `--kube-api-burst`: requests allowed at once above `kube_api_qps`.
    pub kube_api_burst: u32,
    /// `--local-path-base-dir`: where the `local-path` provisioner's volumes live on nodes.
    pub local_path_base_dir: PathBuf,
    /// `--leader-elect`.
    pub leader_elect: bool,
    /// `--leader-elect-lease-duration`.
    pub leader_elect_lease_duration: Duration,
    /// `--leader-elect-renew-deadline`.
    pub leader_elect_renew_deadline: Duration,
    /// `--leader-elect-retry-period`.
    pub leader_elect_retry_period: Duration,
    /// `--leader-elect-resource-namespace`.
    pub leader_elect_resource_namespace: String,
    /// `--leader-elect-resource-name`.
    pub leader_elect_resource_name: String,
    /// `--bind-address` and `--secure-port` for `/healthz`, `/readyz` and `/metrics` (served
    /// over plain HTTP); None (`--secure-port=0`) serves nothing.
    pub health_addr: Option<SocketAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kubeconfig: None,
            controllers: vec!["*".into()],
            concurrent_replicaset_syncs: 5,
            concurrent_deployment_syncs: 5,
            concurrent_statefulset_syncs: 5,
            concurrent_endpoint_syncs: 5,
            concurrent_service_endpoint_syncs: 5,
            max_endpoints_per_slice: endpointslice::DEFAULT_MAX_ENDPOINTS_PER_SLICE,
            endpointslice_updates_batch_period: Duration::ZERO,
            mirroring: endpointslicemirroring::Settings::default(),
            node_lifecycle: nodelifecycle::Settings::default(),
            concurrent_gc_syncs: garbagecollector::CONCURRENT_GC_SYNCS,
            concurrent_namespace_syncs: namespace::CONCURRENT_NAMESPACE_SYNCS,
            kube_api_qps: DEFAULT_KUBE_API_QPS,
            kube_api_burst: DEFAULT_KUBE_API_BURST,
            local_path_base_dir: PathBuf::from(localpath::DEFAULT_BASE_DIR),
            leader_elect: true,
            leader_elect_lease_duration: Duration::from_secs(15),
            leader_elect_renew_deadline: Duration::from_secs(10),
            leader_elect_retry_period: Duration::from_secs(2),
            leader_elect_resource_namespace: "kube-system".into(),
            leader_elect_resource_name: "kube-controller-manager".into(),
            health_addr: Some(SocketAddr::from(([0, 0, 0, 0], 10257))),
        }
    }
}

/// Our default `--kube-api-qps` (upstream's is 20, which caps a 1,000-pod scale-up at ~50 s).
pub const DEFAULT_KUBE_API_QPS: f32 = 1000.0;

/// Our default `--kube-api-burst` (upstream's is 30).
pub const DEFAULT_KUBE_API_BURST: u32 = 2000;

/// Every controller this manager knows: its name and the aliases `--controllers` accepts.
pub fn known_controllers() -> &'static [(&'static str, &'static [&'static str])] {
    &[
        (deployment::NAME, &["deployment"]),
        (replicaset::NAME, &["replicaset"]),
        (statefulset::NAME, &["statefulset"]),
        (endpoint::NAME, &["endpoint"]),
        (endpointslice::NAME, &["endpointslice"]),
        (endpointslicemirroring::NAME, &["endpointslicemirroring"]),
        (nodelifecycle::NAME, &["nodelifecycle"]),
        (tainteviction::NAME, &["taint-eviction-controller"]),
        (garbagecollector::NAME, &["garbagecollector"]),
        (namespace::NAME, &["namespace"]),
        (persistentvolume::NAME, &["persistentvolume-binder"]),
        (localpath::NAME, &["local-path"]),
    ]
}

/// Controllers that `*` leaves off (upstream: bootstrapsigner, tokencleaner, ...).
const DISABLED_BY_DEFAULT: &[&str] = &[];

fn canonical(name: &str) -> Option<&'static str> {
    known_controllers()
        .iter()
        .find(|(n, aliases)| *n == name || aliases.contains(&name))
        .map(|(n, _)| *n)
}

/// The controllers `--controllers` enables, as upstream's `IsControllerEnabled`: the first
/// entry naming a controller (enabled or `-`disabled) decides, else `*` enables it unless it
/// is off by default.
pub(crate) fn enabled_controllers(flags: &[String]) -> Result<Vec<&'static str>, Error> {
    let mut entries = Vec::new();
    for raw in flags.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if raw == "*" {
            entries.push(("*", true));
            continue;
        }
        let (name, on) = match raw.strip_prefix('-') {
            Some(n) => (n, false),
            None => (raw, true),
        };
        let name = canonical(name).ok_or_else(|| Error::UnknownController(name.into()))?;
        entries.push((name, on));
    }
    let star = entries.iter().any(|(n, _)| *n == "*");
    Ok(known_controllers()
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| match entries.iter().find(|(e, _)| e == n) {
            Some((_, on)) => *on,
            None => star && !DISABLED_BY_DEFAULT.contains(n),
        })
        .collect())
}

/// A started controller manager.
pub type Running = ferrokube_component::running::Running<Error>;

/// Runs the controller manager until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    start(config, shutdown).await?.wait().await
}

/// Validates the configuration, connects, binds the health endpoints and starts the manager in
/// the background.
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, Error> {
    let enabled = enabled_controllers(&config.controllers)?;
    let client = client::connect_with_limit(
        &ClientOptions {
            kubeconfig: config.kubeconfig.clone(),
            user_agent: "ferrokube-controller-manager".into(),
        },
        client::RateLimit {
            qps: config.kube_api_qps,
            burst: config.kube_api_burst,
        },
    )
    .await?;
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
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
        config, client, enabled, metrics, ready, stop_tx, stop_rx,
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
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

async fn supervise(
    config: Config,
    client: kube::Client,
    enabled: Vec<&'static str>,
    metrics: Metrics,
    ready: Readiness,
    stop_tx: Arc<watch::Sender<bool>>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    ready.set(true);
    if !config.leader_elect {
        return run_controllers(&config, client, &enabled, metrics, stop).await;
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
    info!(
        lease = %format!("{}/{}", election.namespace, election.name),
        "attempting to acquire leader lease"
    );
    let (mut leading, _campaign) =
        LeaderElector::new(client.clone(), election)?.run(stopped(stop.clone()));
    let won = tokio::select! {
        _ = stopped(stop.clone()) => false,
        r = leading.wait_for(|l| *l) => r.is_ok(),
    };
    if !won {
        return Ok(());
    }
    let controllers = run_controllers(&config, client, &enabled, metrics, stop.clone());
    tokio::pin!(controllers);
    let lost = async {
        let _ = leading.wait_for(|l| !*l).await;
    };
    tokio::select! {
        r = &mut controllers => return r,
        _ = lost => {}
    }
    if *stop.borrow() {
        return controllers.await;
    }
    let _ = stop_tx.send(true);
    let _ = controllers.await;
    Err(Error::LeadershipLost)
}

async fn run_controllers(
    config: &Config,
    client: kube::Client,
    enabled: &[&'static str],
    metrics: Metrics,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    info!(controllers = ?enabled, "starting controllers");
    if enabled.is_empty() {
        stopped(stop).await;
        return Ok(());
    }
    let mut informers = SharedInformers::new(client.clone());
    let mut controllers: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
    if enabled.contains(&deployment::NAME) {
        let ctx = Arc::new(deployment::Context::new(
            client.clone(),
            informers.deployments().store(),
            informers.replicasets().store(),
            informers.pods().store(),
            Recorder::new(client.clone(), deployment::NAME, None),
            metrics.queue("deployment"),
        ));
        controllers.push(Box::pin(deployment::run(
            ctx,
            informers.deployments().subscribe(),
            informers.replicasets().subscribe(),
            informers.pods().subscribe(),
            config.concurrent_deployment_syncs.max(1),
            stop.clone(),
        )));
    }
    if enabled.contains(&replicaset::NAME) {
        let ctx = Arc::new(replicaset::Context::new(
            client.clone(),
            informers.pods().store(),
            informers.replicasets().store(),
            Recorder::new(client.clone(), replicaset::NAME, None),
            metrics.queue("replicaset"),
        ));
        controllers.push(Box::pin(replicaset::run(
            ctx,
            informers.pods().subscribe(),
            informers.replicasets().subscribe(),
            config.concurrent_replicaset_syncs.max(1),
            stop.clone(),
        )));
    }
    if enabled.contains(&statefulset::NAME) {
        controllers.push(Box::pin(statefulset::run(
            client.clone(),
            informers.pods().store(),
            informers.pods().subscribe(),
            Recorder::new(client.clone(), statefulset::NAME, None),
            metrics.queue("statefulset"),
            config.concurrent_statefulset_syncs.max(1),
            stop.clone(),
        )));
    }
    if enabled.contains(&endpoint::NAME) {
        controllers.push(Box::pin(endpoint::run(
            client.clone(),
            informers.pods().store(),
            informers.pods().subscribe(),
            informers.services().watched(),
            Recorder::new(client.clone(), endpoint::NAME, None),
            metrics.queue("endpoint"),
            config.concurrent_endpoint_syncs.max(1),
            stop.clone(),
        )));
    }
    if enabled.contains(&endpointslice::NAME) {
        controllers.push(Box::pin(endpointslice::run(
            client.clone(),
            informers.pods().store(),
            informers.pods().subscribe(),
            informers.services().watched(),
            informers.nodes().store(),
            Recorder::new(client.clone(), endpointslice::NAME, None),
            metrics.queue("endpointslice"),
            config.concurrent_service_endpoint_syncs.max(1),
            config.max_endpoints_per_slice,
            config.endpointslice_updates_batch_period,
            stop.clone(),
        )));
    }
    if enabled.contains(&endpointslicemirroring::NAME) {
        controllers.push(Box::pin(endpointslicemirroring::run(
            client.clone(),
            Recorder::new(client.clone(), endpointslicemirroring::NAME, None),
            metrics.queue("endpoint_slice_mirroring"),
            config.mirroring,
            stop.clone(),
        )));
    }
    if enabled.contains(&nodelifecycle::NAME) {
        controllers.push(Box::pin(nodelifecycle::run(
            client.clone(),
            informers.pods().store(),
            informers.nodes().watched(),
            Recorder::new(client.clone(), nodelifecycle::EVENT_COMPONENT, None),
            config.node_lifecycle,
            stop.clone(),
        )));
    }
    if enabled.contains(&tainteviction::NAME) {
        controllers.push(Box::pin(tainteviction::run(
            client.clone(),
            informers.pods().store(),
            informers.pods().subscribe(),
            informers.nodes().watched(),
            Recorder::new(client.clone(), tainteviction::NAME, None),
            stop.clone(),
        )));
    }
    if enabled.contains(&garbagecollector::NAME) {
        let ctx = Arc::new(garbagecollector::Context::new(client.clone(), &metrics));
        controllers.push(Box::pin(garbagecollector::run(
            ctx,
            config.concurrent_gc_syncs.max(1),
            stop.clone(),
        )));
    }
    if enabled.contains(&namespace::NAME) {
        controllers.push(Box::pin(namespace::run(
            client.clone(),
            metrics.queue("namespace"),
            config.concurrent_namespace_syncs.max(1),
            stop.clone(),
        )));
    }
    if enabled.contains(&persistentvolume::NAME) {
        controllers.push(Box::pin(persistentvolume::run(
            client.clone(),
            informers.pods().store(),
            &metrics,
            stop.clone(),
        )));
    }
    if enabled.contains(&localpath::NAME) {
        controllers.push(Box::pin(localpath::run(
            client.clone(),
            config.local_path_base_dir.clone(),
            &metrics,
            stop.clone(),
        )));
    }
    let (handles, synced) = informers.spawn(stop.clone());
    tokio::select! {
        _ = stopped(stop.clone()) => return Ok(()),
        r = synced => r?,
    }
    info!("caches synced");
    futures::future::join_all(controllers).await;
    for informer in handles {
        let _ = informer.await;
    }
    Ok(())
}

/// The manager's shared informers (upstream's informer factory): one watch and one cache per
/// resource, created only when an enabled controller asks for it, shared by every controller
/// that does.
struct SharedInformers {
    client: kube::Client,
    pods: Option<Informer<Pod>>,
    replicasets: Option<Informer<ReplicaSet>>,
    deployments: Option<Informer<Deployment>>,
    services: Option<Informer<Service>>,
    nodes: Option<Informer<Node>>,
}

impl SharedInformers {
    fn new(client: kube::Client) -> Self {
        SharedInformers {
            client,
            pods: None,
            replicasets: None,
            deployments: None,
            services: None,
            nodes: None,
        }
    }

    /// The pod cache keeps only what the controllers read ([`transform::pod`]).
    fn pods(&mut self) -> &mut Informer<Pod> {
        let client = &self.client;
        self.pods
            .get_or_insert_with(|| informer(client).with_transform(transform::pod))
    }

    fn replicasets(&mut self) -> &mut Informer<ReplicaSet> {
        let client = &self.client;
        self.replicasets.get_or_insert_with(|| informer(client))
    }

    fn deployments(&mut self) -> &mut Informer<Deployment> {
        let client = &self.client;
        self.deployments.get_or_insert_with(|| informer(client))
    }

    fn services(&mut self) -> &mut Informer<Service> {
        let client = &self.client;
        self.services.get_or_insert_with(|| informer(client))
    }

    /// The Node cache drops what no controller here reads ([`transform::node`]).
    fn nodes(&mut self) -> &mut Informer<Node> {
        let client = &self.client;
        self.nodes.get_or_insert_with(|| {
            Informer::new(Api::all(client.clone()), watcher::Config::default())
                .with_transform(transform::node)
        })
    }

    /// Starts the informers asked for; the future resolves once each has listed.
    fn spawn(
        self,
        stop: watch::Receiver<bool>,
    ) -> (
        Vec<tokio::task::JoinHandle<()>>,
        impl Future<Output = Result<(), Error>>,
    ) {
        let mut handles = Vec::new();
        let pods = start_informer(self.pods, &stop, &mut handles);
        let replicasets = start_informer(self.replicasets, &stop, &mut handles);
        let deployments = start_informer(self.deployments, &stop, &mut handles);
        let services = start_informer(self.services, &stop, &mut handles);
        let nodes = start_informer(self.nodes, &stop, &mut handles);
        let synced = async move {
            wait_synced(pods, "pods").await?;
            wait_synced(replicasets, "replicasets").await?;
            wait_synced(deployments, "deployments").await?;
            wait_synced(services, "services").await?;
            wait_synced(nodes, "nodes").await
        };
        (handles, synced)
    }
}

fn informer<K>(client: &kube::Client) -> Informer<K>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + serde::de::DeserializeOwned
        + 'static,
{
    Informer::new(Api::all(client.clone()), watcher::Config::default())
}

fn start_informer<K>(
    informer: Option<Informer<K>>,
    stop: &watch::Receiver<bool>,
    handles: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Option<kube::runtime::reflector::Store<K>>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + serde::de::DeserializeOwned
        + 'static,
{
    let informer = informer?;
    let store = informer.store();
    handles.push(informer.spawn(stop.clone()));
    Some(store)
}

async fn wait_synced<K>(
    store: Option<kube::runtime::reflector::Store<K>>,
    what: &'static str,
) -> Result<(), Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    match store {
        Some(s) => s
            .wait_until_ready()
            .await
            .map_err(|_| Error::CacheSync(what)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn star_enables_every_default_controller() {
        assert_eq!(
            enabled_controllers(&flags(&["*"])).unwrap(),
            [
                deployment::NAME,
                replicaset::NAME,
                statefulset::NAME,
                endpoint::NAME,
                endpointslice::NAME,
                endpointslicemirroring::NAME,
                nodelifecycle::NAME,
                tainteviction::NAME,
                garbagecollector::NAME,
                namespace::NAME,
                persistentvolume::NAME,
                localpath::NAME
            ]
        );
    }

    #[test]
    fn a_minus_entry_disables_and_aliases_work() {
        assert_eq!(
            enabled_controllers(&flags(&[
                "*",
                "-replicaset",
                "-statefulset",
                "-endpoint",
                "-endpointslice",
                "-endpointslicemirroring",
                "-nodelifecycle",
                "-taint-eviction-controller",
                "-garbagecollector",
                "-namespace",
                "-persistentvolume-binder",
                "-local-path"
            ]))
            .unwrap(),
            [deployment::NAME]
        );
        assert_eq!(
            enabled_controllers(&flags(&["replicaset-controller"])).unwrap(),
            [replicaset::NAME]
        );
        assert!(enabled_controllers(&flags(&[])).unwrap().is_empty());
    }

    #[test]
    fn an_unknown_controller_is_refused() {
        let err = enabled_controllers(&flags(&["*", "frobnicator"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"frobnicator\" is not in the list of known controllers"
        );
    }
}
