//! The node lifecycle controller, as upstream's `pkg/controller/nodelifecycle`: notices nodes
//! whose kubelet went quiet and taints them so their pods move elsewhere.
//!
//! Entry point: [`run`]. Every `--node-monitor-period` a pass ([`monitor`]) compares each
//! node's last sign of life (Lease `renewTime`, Ready `lastHeartbeatTime`) with
//! `--node-monitor-grace-period`; a silent node's conditions go Unknown
//! (`NodeStatusUnknown`), its pods are marked not Ready and a `NodeNotReady` event is
//! recorded. A node not Ready is queued for the `NoExecute` taint (`unreachable` or
//! `not-ready`, see [`taints`]) in its zone's rate-limited [`queue`]; the zone's health
//! ([`zones`]) sets that rate, and a cluster whose zones are all fully disrupted taints
//! nothing. A node Ready again loses its `NoExecute` taints. On every node change, the
//! `NoSchedule` taints that mirror its conditions and `spec.unschedulable` are kept in step.
//! The eviction itself is the taint-eviction controller's job.

pub mod monitor;
pub mod queue;
pub mod taints;
pub mod zones;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informer, Watched};

use monitor::NodeHealth;
use queue::TaintQueue;
use taints::{NO_EXECUTE, NOT_READY, UNREACHABLE, template};
use zones::{Rates, ZoneState};

/// The controller's name in `--controllers` (alias `nodelifecycle`).
pub const NAME: &str = "node-lifecycle-controller";

/// The `source.component` of the events this controller records.
pub const EVENT_COMPONENT: &str = "node-controller";

/// How often the tainting queues are drained (upstream's `scheduler.NodeEvictionPeriod`).
const TAINTING_PERIOD: Duration = Duration::from_millis(100);

/// How long a node whose tainting failed waits before the next try.
const TAINTING_RETRY: Duration = Duration::from_millis(50);

/// The controller's settings (the flags of the same names).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// `--node-monitor-period` (5 s).
    pub monitor_period: Duration,
    /// `--node-monitor-grace-period` (50 s).
    pub grace_period: Duration,
    /// `--node-startup-grace-period` (60 s): the grace of a node that never posted status.
    pub startup_grace_period: Duration,
    /// Eviction rates and zone thresholds.
    pub rates: Rates,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            monitor_period: Duration::from_secs(5),
            grace_period: Duration::from_secs(50),
            startup_grace_period: Duration::from_secs(60),
            rates: Rates::default(),
        }
    }
}

/// The controller's memory between passes.
#[derive(Default)]
struct State {
    health: HashMap<String, NodeHealth>,
    zone_states: HashMap<String, ZoneState>,
    tainters: HashMap<String, TaintQueue>,
}

struct Context {
    client: Client,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    recorder: Recorder,
    settings: Settings,
    state: Mutex<State>,
}

/// Runs the controller until `stop` turns true. `pods` and `nodes` are the shared (synced) pod
/// and Node caches; the `kube-node-lease` Leases are watched here.
pub async fn run(
    client: Client,
    pods: Store<Pod>,
    nodes: Watched<Node>,
    recorder: Recorder,
    settings: Settings,
    stop: watch::Receiver<bool>,
) {
    let leases = Informer::<Lease>::new(
        Api::namespaced(client.clone(), "kube-node-lease"),
        watcher::Config::default(),
    );
    let ctx = Arc::new(Context {
        client,
        nodes: nodes.store,
        leases: leases.store(),
        pods,
        recorder,
        settings,
        state: Mutex::default(),
    });
    let node_changes = nodes.changes;
    let informer = leases.spawn(stop.clone());
    let synced = async {
        ctx.nodes.wait_until_ready().await.is_ok() && ctx.leases.wait_until_ready().await.is_ok()
    };
    let mut stopped = stop.clone();
    let ok = tokio::select! {
        _ = stopped.wait_for(|s| *s) => false,
        ok = synced => ok,
    };
    if ok {
        info!(grace = ?settings.grace_period, period = ?settings.monitor_period, "node lifecycle controller started");
        let mut stopped = stop.clone();
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => {}
            _ = monitor_loop(ctx.clone()) => {}
            _ = tainting_loop(ctx.clone()) => {}
            _ = no_schedule_loop(ctx.clone(), node_changes) => {}
        }
    }
    let _ = informer.await;
}

async fn monitor_loop(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(ctx.settings.monitor_period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        monitor_node_health(&ctx)
            .instrument(info_span!("monitor_node_health"))
            .await;
    }
}

/// One pass over every node (upstream's `monitorNodeHealth`).
async fn monitor_node_health(ctx: &Context) {
    let mut state = ctx.state.lock().await;
    let state = &mut *state;
    let nodes = ctx.nodes.state();
    let now = Instant::now();
    state
        .health
        .retain(|name, _| nodes.iter().any(|n| n.name_any() == *name));
    let mut zone_conditions: HashMap<String, Vec<Option<NodeCondition>>> = HashMap::new();
    for node in &nodes {
        let name = node.name_any();
        let zone = zones::zone_key(node);
        state
            .tainters
            .entry(zone.clone())
            .or_insert_with(|| TaintQueue::new(ctx.settings.rates.eviction_qps, now));
        let observed = monitor::ready_condition(node).cloned();
        let lease = ctx
            .leases
            .get(&ObjectRef::new(&name).within("kube-node-lease"));
        let (grace, silent) = monitor::observe(
            &mut state.health,
            node,
            lease.as_deref(),
            ctx.settings.grace_period,
            ctx.settings.startup_grace_period,
            Instant::now(),
        );
        let current = if silent {
            debug!(node = %name, ?grace, "node hasn't been updated within the grace period");
            match monitor::mark_unknown(&ctx.client, &name).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(node = %name, error = %e, "updating node health failed; skipping");
                    continue;
                }
            }
        } else {
            observed.clone()
        };
        zone_conditions
            .entry(zone.clone())
            .or_default()
            .push(current.clone());
        let Some(current) = current else { continue };
        if let Some(observed) = &observed {
            process_taint_based_eviction(ctx, state, node, &zone, observed).await;
        }
        if current.status != "True" && observed.as_ref().is_some_and(|o| o.status == "True") {
            info!(node = %name, "node is not ready");
            ctx.recorder.publish(
                &**node,
                EventType::Normal,
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            );
            let pods = ctx.pods.state_filter(|p| {
                p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
            });
            let pods: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
            monitor::mark_pods_not_ready(&ctx.client, &ctx.recorder, &pods, &name).await;
        }
    }
    handle_disruption(ctx, state, &zone_conditions, &nodes).await;
}

/// Queues a not-Ready node for its NoExecute taint, swaps the taint when the kind of
/// unreadiness changed, and untaints a Ready node (upstream's `processTaintBaseEviction`).
async fn process_taint_based_eviction(
    ctx: &Context,
    state: &mut State,
    node: &Node,
    zone: &str,
    observed: &NodeCondition,
) {
    let name = node.name_any();
    let (not_ready, unreachable) = (
        template(NOT_READY, NO_EXECUTE),
        template(UNREACHABLE, NO_EXECUTE),
    );
    let now = Instant::now();
    let (have_other, add, delete) = match observed.status.as_str() {
        "False" => (taints::has(node, &unreachable), &not_ready, &unreachable),
        "Unknown" => (taints::has(node, &not_ready), &unreachable, &not_ready),
        _ => {
            mark_node_as_reachable(ctx, state, node).await;
            return;
        }
    };
    if have_other {
        let api = Api::all(ctx.client.clone());
        if let Err(e) = taints::swap(
            &api,
            &name,
            std::slice::from_ref(add),
            std::slice::from_ref(delete),
        )
        .await
        {
            warn!(node = %name, error = %e, "failed to swap the NoExecute taint; will retry");
        }
        return;
    }
    let queue = state
        .tainters
        .entry(zone.to_string())
        .or_insert_with(|| TaintQueue::new(ctx.settings.rates.eviction_qps, now));
    if observed.status == "False" && !taints::has(node, &not_ready) {
        queue.remove(&name);
    }
    if queue.add(&name, now) {
        debug!(node = %name, "node is not ready; queued for tainting");
    }
}

/// Removes both NoExecute taints and forgets the node in its zone's queue.
async fn mark_node_as_reachable(ctx: &Context, state: &mut State, node: &Node) {
    let name = node.name_any();
    let remove: Vec<_> = [NOT_READY, UNREACHABLE]
        .iter()
        .map(|k| template(k, NO_EXECUTE))
        .filter(|t| taints::has(node, t))
        .collect();
    if !remove.is_empty() {
        let api = Api::all(ctx.client.clone());
        match taints::swap(&api, &name, &[], &remove).await {
            Ok(()) => info!(node = %name, "node is healthy again; removed its NoExecute taints"),
            Err(e) => warn!(node = %name, error = %e, "failed to remove NoExecute taints"),
        }
    }
    if let Some(q) = state.tainters.get_mut(&zones::zone_key(node)) {
        q.remove(&name);
    }
}

/// Sets each zone's tainting rate from its health; stops tainting (and untaints) when every
/// zone is fully disrupted (upstream's `handleDisruption`).
async fn handle_disruption(
    ctx: &Context,
    state: &mut State,
    zone_conditions: &HashMap<String, Vec<Option<NodeCondition>>>,
    nodes: &[Arc<Node>],
) {
    let rates = &ctx.settings.rates;
    let now = Instant::now();
    let mut new_states = HashMap::new();
    let mut all_are_fully_disrupted = true;
    for (zone, conditions) in zone_conditions {
        let refs: Vec<Option<&NodeCondition>> = conditions.iter().map(Option::as_ref).collect();
        let (_, s) = zones::compute_zone_state(&refs, rates);
        if s != ZoneState::FullDisruption {
            all_are_fully_disrupted = false;
        }
        new_states.insert(zone.clone(), s);
        state
            .zone_states
            .entry(zone.clone())
            .or_insert(ZoneState::Initial);
    }
    state
        .zone_states
        .retain(|z, _| zone_conditions.contains_key(z));
    state
        .tainters
        .retain(|z, _| zone_conditions.contains_key(z));
    let all_were_fully_disrupted = state
        .zone_states
        .values()
        .all(|s| *s == ZoneState::FullDisruption);
    if all_are_fully_disrupted && all_were_fully_disrupted {
        return;
    }
    if all_are_fully_disrupted {
        info!("all nodes are not Ready; entering master disruption mode: no evictions");
        for node in nodes {
            mark_node_as_reachable(ctx, state, node).await;
        }
        for q in state.tainters.values_mut() {
            q.swap_limiter(0.0, now);
        }
        for s in state.zone_states.values_mut() {
            *s = ZoneState::FullDisruption;
        }
        return;
    }
    let exiting = all_were_fully_disrupted;
    if exiting {
        info!("some nodes are Ready; exiting master disruption mode");
        for h in state.health.values_mut() {
            h.probe = now;
            h.ready_transition = now;
        }
    }
    for (zone, old) in state.zone_states.iter_mut() {
        let new = new_states.get(zone).copied().unwrap_or(ZoneState::Normal);
        if !exiting && *old == new {
            continue;
        }
        if *old != new {
            info!(zone = %zone, state = ?new, "zone changed state");
        }
        let size = zone_conditions.get(zone).map_or(0, Vec::len);
        if let Some(q) = state.tainters.get_mut(zone) {
            q.swap_limiter(zones::zone_qps(new, size, rates), now);
        }
        *old = new;
    }
}

async fn tainting_loop(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(TAINTING_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        do_no_execute_tainting_pass(&ctx).await;
    }
}

/// Taints the nodes their zone's rate lets through (upstream's `doNoExecuteTaintingPass`).
async fn do_no_execute_tainting_pass(ctx: &Context) {
    let mut state = ctx.state.lock().await;
    let api: Api<Node> = Api::all(ctx.client.clone());
    for queue in state.tainters.values_mut() {
        while let Some(name) = queue.pop_due(Instant::now()) {
            let Some(node) = ctx.nodes.get(&ObjectRef::new(&name)) else {
                continue;
            };
            let (add, delete) = match monitor::ready_condition(&node).map(|c| c.status.as_str()) {
                Some("False") => (NOT_READY, UNREACHABLE),
                Some("Unknown") => (UNREACHABLE, NOT_READY),
                _ => {
                    debug!(node = %name, "node was queued for tainting but is ready now");
                    continue;
                }
            };
            let span = info_span!("taint", node = %name);
            match taints::swap(
                &api,
                &name,
                &[template(add, NO_EXECUTE)],
                &[template(delete, NO_EXECUTE)],
            )
            .instrument(span)
            .await
            {
                Ok(()) => info!(node = %name, taint = add, "tainted node NoExecute"),
                Err(e) => {
                    warn!(node = %name, error = %e, "tainting node failed; retrying");
                    queue.retry(&name, Instant::now(), TAINTING_RETRY);
                }
            }
        }
    }
}

/// Keeps the NoSchedule condition taints in step with every node change.
async fn no_schedule_loop(ctx: Arc<Context>, mut changes: mpsc::UnboundedReceiver<Change<Node>>) {
    let api: Api<Node> = Api::all(ctx.client.clone());
    while let Some(change) = changes.recv().await {
        let node = match change {
            Change::Added(n) | Change::Updated { new: n, .. } => n,
            Change::Deleted(_) => continue,
        };
        let (add, delete) = taints::no_schedule_diff(&node);
        if add.is_empty() && delete.is_empty() {
            continue;
        }
        let name = node.name_any();
        let span = info_span!("no_schedule_taints", node = %name);
        if let Err(e) = taints::swap(&api, &name, &add, &delete)
            .instrument(span)
            .await
        {
            warn!(node = %name, error = %e, "failed to update the node's NoSchedule taints");
        }
    }
}
