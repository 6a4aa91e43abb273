//! A profile's plugins assembled and run in upstream's order: PreEnqueue, PreFilter, Filter
//! (stopping at the first rejection per node, visiting nodes round-robin from where the last
//! cycle stopped, in parallel across the cores, and stopping once enough feasible ones are
//! found; pods nominated to a node by preemption count there), PostFilter, PreScore, Score +
//! NormalizeScore × weight, host selection, Reserve, Permit and Bind.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use k8s_openapi::api::core::v1::Pod;
use tracing::debug;

use super::fit_error::FitError;
use super::*;
use crate::Error;
use crate::metrics::Metrics;
use crate::plugins::default_preemption::priority as pod_priority;
use prometheus_client::metrics::histogram::Histogram;

/// Each rejected node's status, by node name.
pub type NodeToStatus = HashMap<String, Status>;

/// Nodes one filtering worker takes at a time.
const FILTER_CHUNK: usize = 64;
/// Filtering starts on the scheduling thread alone and brings in more workers only once it
/// has taken this long with chunks left: most cycles find enough nodes sooner than starting
/// a thread costs, and the outcome is the same either way.
const PARALLEL_FILTER_AFTER: std::time::Duration = std::time::Duration::from_micros(1500);
/// Fewer chunks than this left are not worth starting threads for.
const PARALLEL_FILTER_MIN_CHUNKS_LEFT: usize = 4;

/// Pods nominated to a node by preemption (upstream's `PodNominator`): they are counted on
/// that node when lower- or equal-priority pods are filtered, so the room freed for them is
/// not taken by others.
#[derive(Default)]
pub struct Nominator {
    by_node: RwLock<Arc<HashMap<String, Vec<PodInfo>>>>,
}

impl Nominator {
    /// Nominates `pod` to `node`, replacing an earlier nomination.
    pub fn add(&self, pod: Arc<Pod>, node: &str) {
        let key = pod_key(&pod);
        let mut guard = self.by_node.write().unwrap_or_else(|e| e.into_inner());
        let map = Arc::make_mut(&mut guard);
        for pods in map.values_mut() {
            pods.retain(|p| p.key() != key);
        }
        map.retain(|_, pods| !pods.is_empty());
        map.entry(node.to_string())
            .or_default()
            .push(PodInfo::new(pod));
    }

    /// Drops the pod's nomination (it was bound, deleted or lost its nomination).
    pub fn remove(&self, pod: &Pod) {
        let key = pod_key(pod);
        let mut guard = self.by_node.write().unwrap_or_else(|e| e.into_inner());
        if !guard
            .values()
            .any(|pods| pods.iter().any(|p| p.key() == key))
        {
            return;
        }
        let map = Arc::make_mut(&mut guard);
        for pods in map.values_mut() {
            pods.retain(|p| p.key() != key);
        }
        map.retain(|_, pods| !pods.is_empty());
    }

    /// The node the pod is nominated to.
    pub fn node_of(&self, pod: &Pod) -> Option<String> {
        let key = pod_key(pod);
        self.snapshot()
            .iter()
            .find(|(_, pods)| pods.iter().any(|p| p.key() == key))
            .map(|(n, _)| n.clone())
    }

    /// The nominations as they are now (cheap: shared until the next change).
    pub fn snapshot(&self) -> Arc<HashMap<String, Vec<PodInfo>>> {
        self.by_node
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Whether two pods have the same namespace and name (what [`pod_key`] compares, without
/// building the keys).
fn same_pod(a: &Pod, b: &Pod) -> bool {
    fn ns(p: &Pod) -> &str {
        p.metadata.namespace.as_deref().unwrap_or("default")
    }
    a.metadata.name.as_deref().unwrap_or_default() == b.metadata.name.as_deref().unwrap_or_default()
        && ns(a) == ns(b)
}

/// The nominations one cycle sees, stored in the [`CycleState`].
const NOMINATED_KEY: &str = "NominatedPods";

/// Where the pod should go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleResult {
    /// The chosen node.
    pub suggested_host: String,
    /// How many nodes were filtered.
    pub evaluated_nodes: usize,
    /// How many of them fit.
    pub feasible_nodes: usize,
}

/// One profile's plugins, ready to run.
pub struct Framework {
    /// The scheduler name this profile serves.
    pub scheduler_name: String,
    pre_enqueue: Vec<Arc<dyn PreEnqueuePlugin>>,
    pre_filter: Vec<Arc<dyn PreFilterPlugin>>,
    filter: Vec<Arc<dyn FilterPlugin>>,
    post_filter: Vec<Arc<dyn PostFilterPlugin>>,
    pre_score: Vec<Arc<dyn PreScorePlugin>>,
    score: Vec<(Arc<dyn ScorePlugin>, i64)>,
    reserve: Vec<Arc<dyn ReservePlugin>>,
    permit: Vec<Arc<dyn PermitPlugin>>,
    pre_bind: Vec<Arc<dyn PreBindPlugin>>,
    bind: Vec<Arc<dyn BindPlugin>>,
    /// `percentageOfNodesToScore` (0: upstream's adaptive default).
    pub percentage_of_nodes_to_score: u32,
    /// Pods nominated by preemption (shared by every profile of a scheduler).
    pub nominator: Arc<Nominator>,
    /// Filtering workers (1: on the scheduling thread only).
    pub parallelism: usize,
    /// Where extension point and plugin durations go (None: not recorded).
    pub metrics: Option<Metrics>,
    /// The scheduler name as a metric label.
    profile_label: &'static str,
    next_start_node_index: AtomicUsize,
    /// Each filter plugin's `Success` series of the plugin duration metric, looked up on
    /// the first sampled cycle (a sampled cycle times every filter call on every node).
    filter_success_series: std::sync::OnceLock<Vec<Histogram>>,
}

/// How many feasible nodes to look for among `num_all_nodes`, as upstream's
/// `numFeasibleNodesToFind` (at least 100; adaptive 50% - 1% per 125 nodes, at least 5%).
pub fn num_feasible_nodes_to_find(percentage: u32, num_all_nodes: usize) -> usize {
    const MIN_FEASIBLE: usize = 100;
    if num_all_nodes < MIN_FEASIBLE || percentage >= 100 {
        return num_all_nodes;
    }
    let pct = if percentage == 0 {
        (50 - (num_all_nodes / 125) as i64).max(5) as usize
    } else {
        percentage as usize
    };
    (num_all_nodes * pct / 100).max(MIN_FEASIBLE)
}

/// Reads one field from each of the hot cache lines of every node about to be filtered, in a
/// loop with no other work, so the processor fetches them all at once rather than one node
/// at a time as the filters reach each (the node infos are spread over the heap). The count
/// of references is read too: the feasible nodes are cloned, and an atomic increment of a
/// count not yet cached would stall the loop for the whole fetch.
fn touch_nodes<'a>(nodes: impl Iterator<Item = &'a Arc<NodeInfo>>) {
    let sum = nodes.fold(0i64, |sum, n| sum ^ n.touch() ^ Arc::strong_count(n) as i64);
    std::hint::black_box(sum);
}

impl Framework {
    /// Builds the profile's plugins from the registry.
    pub fn new(registry: &Registry, profile: &Profile, handle: &Handle) -> Result<Self, Error> {
        let mut fw = Framework {
            scheduler_name: profile.scheduler_name.clone(),
            pre_enqueue: vec![],
            pre_filter: vec![],
            filter: vec![],
            post_filter: vec![],
            pre_score: vec![],
            score: vec![],
            reserve: vec![],
            permit: vec![],
            pre_bind: vec![],
            bind: vec![],
            percentage_of_nodes_to_score: 0,
            nominator: Arc::default(),
            parallelism: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            metrics: None,
            // One small string per profile, for label values that cost no allocation.
            profile_label: Box::leak(profile.scheduler_name.clone().into_boxed_str()),
            next_start_node_index: AtomicUsize::new(0),
            filter_success_series: std::sync::OnceLock::new(),
        };
        for enabled in &profile.plugins {
            let factory = registry.get(enabled.name.as_str()).ok_or_else(|| {
                Error::BuildProfile(format!("plugin {:?} does not exist", enabled.name))
            })?;
            let set = factory(handle);
            let on = |point: &str| {
                !profile
                    .excluded
                    .contains(&(enabled.name.clone(), point.to_string()))
            };
            fw.pre_enqueue
                .extend(set.pre_enqueue.filter(|_| on("preEnqueue")));
            fw.pre_filter
                .extend(set.pre_filter.filter(|_| on("preFilter")));
            fw.filter.extend(set.filter.filter(|_| on("filter")));
            fw.post_filter
                .extend(set.post_filter.filter(|_| on("postFilter")));
            fw.pre_score
                .extend(set.pre_score.filter(|_| on("preScore")));
            fw.score.extend(
                set.score
                    .filter(|_| on("score"))
                    .map(|s| (s, enabled.weight.max(1))),
            );
            fw.reserve.extend(set.reserve.filter(|_| on("reserve")));
            fw.permit.extend(set.permit.filter(|_| on("permit")));
            fw.pre_bind.extend(set.pre_bind.filter(|_| on("preBind")));
            fw.bind.extend(set.bind.filter(|_| on("bind")));
        }
        if fw.bind.is_empty() {
            return Err(Error::BuildProfile(
                "at least one bind plugin is needed".into(),
            ));
        }
        Ok(fw)
    }

    /// A start time when this cycle's plugin calls are timed.
    fn plugin_timer(&self, state: &CycleState) -> Option<Instant> {
        (state.sample_plugin_metrics && self.metrics.is_some()).then(Instant::now)
    }

    /// Records one plugin call started at `timer` (sampled cycles only).
    fn observe_plugin(
        &self,
        timer: Option<Instant>,
        plugin: &'static str,
        point: &'static str,
        code: Code,
    ) {
        if let (Some(start), Some(m)) = (timer, &self.metrics) {
            m.plugin(plugin, point, code.as_str(), start.elapsed());
        }
    }

    /// Records one extension point's run started at `start`.
    fn observe_point(&self, point: &'static str, code: Code, start: Instant) {
        if let Some(m) = &self.metrics {
            m.extension_point(point, code.as_str(), self.profile_label, start.elapsed());
        }
    }

    /// Whether the pod may enter the active queue.
    pub fn run_pre_enqueue(&self, pod: &Pod) -> Status {
        for p in &self.pre_enqueue {
            let s = p.pre_enqueue(pod);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// PreFilter: success, or the rejection of every node.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Status {
        let start = Instant::now();
        for p in &self.pre_filter {
            let timer = self.plugin_timer(state);
            let s = p.pre_filter(state, pod, nodes);
            self.observe_plugin(timer, p.name(), "PreFilter", s.code);
            match s.code {
                Code::Success => {}
                Code::Skip => state.skip_filter.push(p.name()),
                _ => {
                    self.observe_point("PreFilter", s.code, start);
                    return s.with_plugin(p.name());
                }
            }
        }
        self.observe_point("PreFilter", Code::Success, start);
        state.skip_filter_mask = self.filter_mask(&state.skip_filter);
        Status::success()
    }

    /// The filter plugins named in `skipped` as a bit per position (the first 128).
    fn filter_mask(&self, skipped: &[&'static str]) -> u128 {
        self.filter
            .iter()
            .take(128)
            .enumerate()
            .filter(|(_, p)| skipped.contains(&p.name()))
            .fold(0, |mask, (i, _)| mask | (1 << i))
    }

    /// Filter on one node: the first rejection, else success.
    pub fn run_filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if self.plugin_timer(state).is_some() {
            return self.run_filter_timed(state, pod, node);
        }
        for (i, p) in self.filter.iter().enumerate() {
            if Self::filter_skipped(state, i, p.name()) {
                continue;
            }
            let s = p.filter(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    fn filter_skipped(state: &CycleState, i: usize, name: &'static str) -> bool {
        if i < 128 {
            state.skip_filter_mask & (1 << i) != 0
        } else {
            state.skip_filter.contains(&name)
        }
    }

    /// [`Framework::run_filter`] in a sampled cycle: each call timed from the end of the
    /// one before (one clock read per call), successes observed through series looked up
    /// once.
    fn run_filter_timed(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let Some(metrics) = &self.metrics else {
            return Status::success();
        };
        let series = self.filter_success_series.get_or_init(|| {
            self.filter
                .iter()
                .map(|p| metrics.plugin_series(p.name(), "Filter", Code::Success.as_str()))
                .collect()
        });
        let mut last = Instant::now();
        for (i, p) in self.filter.iter().enumerate() {
            if Self::filter_skipped(state, i, p.name()) {
                continue;
            }
            let s = p.filter(state, pod, node);
            let now = Instant::now();
            let took = now - last;
            last = now;
            if !s.is_success() {
                metrics.plugin(p.name(), "Filter", s.code.as_str(), took);
                return s.with_plugin(p.name());
            }
            series[i].observe(took.as_secs_f64());
        }
        Status::success()
    }

    /// Filter on one node with the pods nominated there that matter to this pod (priority
    /// at least the pod's) counted as if bound, as upstream's `RunFilterPluginsWithNominatedPods`:
    /// the pod must fit both with and without them.
    pub fn run_filter_with_nominated(
        &self,
        state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
    ) -> Status {
        let nominated = state
            .read::<Arc<HashMap<String, Vec<PodInfo>>>>(NOMINATED_KEY)
            .and_then(|m| m.get(node.name()));
        let Some(nominated) = nominated else {
            return self.run_filter(state, pod, node);
        };
        let mine = pod_priority(pod);
        let mut with = None::<NodeInfo>;
        for p in nominated {
            if pod_priority(&p.pod) >= mine && !same_pod(&p.pod, pod) {
                with.get_or_insert_with(|| node.clone()).add_pod(p.clone());
            }
        }
        match with {
            None => self.run_filter(state, pod, node),
            Some(with) => {
                let s = self.run_filter(state, pod, &with);
                if s.is_success() {
                    self.run_filter(state, pod, node)
                } else {
                    s
                }
            }
        }
    }

    /// Filters the nodes round-robin from where the last cycle stopped until enough fit
    /// (in parallel when there are many); the feasible nodes and the statuses of the rejected
    /// ones. A pod nominated to a node that still fits it goes there without looking further.
    pub fn find_nodes_that_fit(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> (Vec<Arc<NodeInfo>>, NodeToStatus) {
        let nominations = self.nominator.snapshot();
        if !nominations.is_empty() {
            state.write(NOMINATED_KEY, nominations.clone());
            let nominated_node = nominations
                .iter()
                .find(|(_, pods)| pods.iter().any(|p| same_pod(&p.pod, pod)))
                .map(|(n, _)| n.as_str());
            if let Some(node) = nominated_node.and_then(|n| nodes.iter().find(|i| i.name() == n))
                && self
                    .run_filter_with_nominated(state, pod, node)
                    .is_success()
            {
                return (vec![node.clone()], NodeToStatus::new());
            }
        }
        let state: &CycleState = state;
        if nodes.is_empty() {
            return (Vec::new(), NodeToStatus::new());
        }
        let n = nodes.len();
        // Where the nominated nodes are in `nodes`, so the others are filtered without
        // looking their names up.
        let mut nominated_at: Vec<usize> = nominations
            .keys()
            .filter_map(|name| {
                match nodes.binary_search_by(|i| i.name().cmp(name.as_str())) {
                    Ok(i) => Some(i),
                    // Not in name order (nodes given by a test): look at each.
                    Err(_) => nodes.iter().position(|i| i.name() == name.as_str()),
                }
            })
            .collect();
        nominated_at.sort_unstable();
        let want = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, n);
        let start = self.next_start_node_index.load(Ordering::Relaxed) % n;
        let total_chunks = n.div_ceil(FILTER_CHUNK);
        // Each chunk's verdicts in visiting order: Ok(node) or Err((name, status)).
        type Verdicts = Vec<Result<Arc<NodeInfo>, (String, Status)>>;
        let filter_chunk = |chunk: usize| -> Verdicts {
            let lo = chunk * FILTER_CHUNK;
            let visit = lo..(lo + FILTER_CHUNK).min(n);
            touch_nodes(visit.clone().map(|i| &nodes[(start + i) % n]));
            visit
                .map(|i| {
                    let at = (start + i) % n;
                    let node = &nodes[at];
                    let s = if nominated_at.binary_search(&at).is_ok() {
                        self.run_filter_with_nominated(state, pod, node)
                    } else {
                        self.run_filter(state, pod, node)
                    };
                    if s.is_success() {
                        Ok(node.clone())
                    } else {
                        Err((node.name().to_string(), s))
                    }
                })
                .collect()
        };
        let mut chunks: Vec<Verdicts> = Vec::new();
        let mut found = 0;
        let began = Instant::now();
        while chunks.len() < total_chunks && found < want {
            let left = total_chunks - chunks.len();
            let workers = self.parallelism.min(left);
            if workers > 1
                && left >= PARALLEL_FILTER_MIN_CHUNKS_LEFT
                && chunks.len() % 2 == 1
                && began.elapsed() >= PARALLEL_FILTER_AFTER
            {
                let next_chunk = AtomicUsize::new(chunks.len());
                let found = AtomicUsize::new(found);
                let work = || {
                    let mut mine = Vec::new();
                    loop {
                        if found.load(Ordering::Relaxed) >= want {
                            break;
                        }
                        let c = next_chunk.fetch_add(1, Ordering::Relaxed);
                        if c >= total_chunks {
                            break;
                        }
                        let v = filter_chunk(c);
                        found.fetch_add(v.iter().filter(|r| r.is_ok()).count(), Ordering::Relaxed);
                        mine.push((c, v));
                    }
                    mine
                };
                let mut rest: Vec<(usize, Verdicts)> = std::thread::scope(|scope| {
                    let handles: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
                    let mut all = work();
                    for h in handles {
                        all.extend(h.join().unwrap_or_default());
                    }
                    all
                });
                rest.sort_by_key(|(c, _)| *c);
                // Chunks are claimed in order, so the processed ones follow on.
                chunks.extend(rest.into_iter().map(|(_, v)| v));
                break;
            }
            let v = filter_chunk(chunks.len());
            found += v.iter().filter(|r| r.is_ok()).count();
            chunks.push(v);
        }
        let mut feasible = Vec::new();
        let mut statuses = NodeToStatus::new();
        let mut processed = 0;
        'visit: for chunk in chunks {
            for verdict in chunk {
                processed += 1;
                match verdict {
                    Ok(node) => {
                        feasible.push(node);
                        if feasible.len() >= want {
                            break 'visit;
                        }
                    }
                    Err((name, s)) => {
                        statuses.insert(name, s);
                    }
                }
            }
        }
        self.next_start_node_index
            .store((start + processed) % n, Ordering::Relaxed);
        (feasible, statuses)
    }

    /// PostFilter plugins in order until one nominates a node; their messages otherwise.
    pub fn run_post_filter(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        statuses: &NodeToStatus,
    ) -> (Option<String>, Option<String>) {
        let mut messages = Vec::new();
        let start = Instant::now();
        for p in &self.post_filter {
            let timer = self.plugin_timer(state);
            let (nominated, s) = p.post_filter(state, pod, nodes, statuses, self);
            let code = if nominated.is_some() {
                Code::Success
            } else {
                Code::Unschedulable
            };
            self.observe_plugin(timer, p.name(), "PostFilter", code);
            if nominated.is_some() {
                self.observe_point("PostFilter", Code::Success, start);
                return (nominated, None);
            }
            if !s.reasons.is_empty() {
                messages.push(s.message());
            }
        }
        self.observe_point("PostFilter", Code::Unschedulable, start);
        (None, (!messages.is_empty()).then(|| messages.join(" ")))
    }

    /// PreScore, Score, NormalizeScore and weights: each feasible node's total score.
    pub fn prioritize<'a>(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &'a [Arc<NodeInfo>],
    ) -> Result<Vec<NodeScore<'a>>, Status> {
        let start = Instant::now();
        for p in &self.pre_score {
            let timer = self.plugin_timer(state);
            let s = p.pre_score(state, pod, nodes);
            self.observe_plugin(timer, p.name(), "PreScore", s.code);
            match s.code {
                Code::Success => {}
                Code::Skip => state.skip_score.push(p.name()),
                _ => {
                    self.observe_point("PreScore", s.code, start);
                    return Err(s.with_plugin(p.name()));
                }
            }
        }
        self.observe_point("PreScore", Code::Success, start);
        let start = Instant::now();
        let scored = self.run_score(state, pod, nodes);
        let code = match &scored {
            Ok(_) => Code::Success,
            Err(s) => s.code,
        };
        self.observe_point("Score", code, start);
        scored
    }

    /// Score, NormalizeScore and weights.
    fn run_score<'a>(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &'a [Arc<NodeInfo>],
    ) -> Result<Vec<NodeScore<'a>>, Status> {
        // One list for every plugin (each plugin's scores go in and are normalised there),
        // its names borrowed from the nodes; the weighted sums beside it.
        let mut scores: Vec<NodeScore<'a>> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.name(),
                score: 0,
            })
            .collect();
        let mut totals = vec![0i64; nodes.len()];
        for (p, weight) in &self.score {
            if state.skip_score.contains(&p.name()) {
                continue;
            }
            let timer = self.plugin_timer(state);
            for (n, slot) in nodes.iter().zip(scores.iter_mut()) {
                slot.score = p
                    .score(state, pod, n)
                    .map_err(|s| s.with_plugin(p.name()))?;
            }
            // One observation for the plugin's pass over the nodes (upstream times each
            // node; the per-node cost is this divided by the node count).
            self.observe_plugin(timer, p.name(), "Score", Code::Success);
            let timer = self.plugin_timer(state);
            let s = p.normalize(state, pod, &mut scores);
            self.observe_plugin(timer, p.name(), "NormalizeScore", s.code);
            if !s.is_success() {
                return Err(s.with_plugin(p.name()));
            }
            for (total, s) in totals.iter_mut().zip(&scores) {
                *total += s.score * weight;
            }
        }
        for (s, total) in scores.iter_mut().zip(totals) {
            s.score = total;
        }
        Ok(scores)
    }

    /// The highest-scoring node, ties broken at random (reservoir sampling, as upstream).
    pub fn select_host(scores: &[NodeScore<'_>]) -> Option<String> {
        let mut best: Option<&NodeScore> = None;
        let mut ties = 0u32;
        for s in scores {
            match best {
                Some(b) if s.score < b.score => {}
                Some(b) if s.score == b.score => {
                    ties += 1;
                    if rand::random_range(0..ties) == 0 {
                        best = Some(s);
                    }
                }
                _ => {
                    best = Some(s);
                    ties = 1;
                }
            }
        }
        best.map(|b| b.name.to_string())
    }

    /// The scheduling algorithm: PreFilter, Filter, PostFilter on failure, then scoring.
    pub fn schedule(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Result<ScheduleResult, Box<FitError>> {
        let mut fit = FitError {
            num_all_nodes: nodes.len(),
            ..Default::default()
        };
        if nodes.is_empty() {
            return Err(Box::new(fit));
        }
        let pre = self.run_pre_filter(state, pod, nodes);
        let (feasible, statuses) = if pre.is_success() {
            let start = Instant::now();
            let (feasible, statuses) = self.find_nodes_that_fit(state, pod, nodes);
            let code = if feasible.is_empty() {
                Code::Unschedulable
            } else {
                Code::Success
            };
            self.observe_point("Filter", code, start);
            (feasible, statuses)
        } else {
            fit.pre_filter_msg = Some(pre.message());
            let statuses = nodes
                .iter()
                .map(|n| (n.name().to_string(), pre.clone()))
                .collect();
            (Vec::new(), statuses)
        };
        if feasible.is_empty() {
            if pre.code != Code::UnschedulableAndUnresolvable {
                let (nominated, msg) = self.run_post_filter(state, pod, nodes, &statuses);
                fit.nominated_node = nominated;
                fit.post_filter_msg = msg;
            }
            fit.statuses = statuses;
            return Err(Box::new(fit));
        }
        let evaluated = feasible.len() + statuses.len();
        if feasible.len() == 1 {
            return Ok(ScheduleResult {
                suggested_host: feasible[0].name().to_string(),
                evaluated_nodes: evaluated,
                feasible_nodes: 1,
            });
        }
        let scores = match self.prioritize(state, pod, &feasible) {
            Ok(s) => s,
            Err(s) => {
                debug!(plugin = s.plugin, reason = %s.message(), "scoring failed");
                fit.statuses = statuses;
                fit.error = Some(s.message());
                return Err(Box::new(fit));
            }
        };
        Ok(ScheduleResult {
            suggested_host: Framework::select_host(&scores).unwrap_or_default(),
            evaluated_nodes: evaluated,
            feasible_nodes: feasible.len(),
        })
    }

    /// Reserve, undoing earlier reservations when one fails.
    pub fn run_reserve(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        let start = Instant::now();
        for (i, p) in self.reserve.iter().enumerate() {
            let timer = self.plugin_timer(state);
            let s = p.reserve(state, pod, node);
            self.observe_plugin(timer, p.name(), "Reserve", s.code);
            if !s.is_success() {
                for q in self.reserve[..i].iter().rev() {
                    q.unreserve(state, pod, node);
                }
                self.observe_point("Reserve", s.code, start);
                return s.with_plugin(p.name());
            }
        }
        self.observe_point("Reserve", Code::Success, start);
        Status::success()
    }

    /// Unreserve, in reverse order.
    pub fn run_unreserve(&self, state: &CycleState, pod: &Pod, node: &str) {
        for p in self.reserve.iter().rev() {
            p.unreserve(state, pod, node);
        }
    }

    /// Permit: the first non-success (a Wait counts as a rejection for now).
    pub fn run_permit(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        let start = Instant::now();
        for p in &self.permit {
            let timer = self.plugin_timer(state);
            let s = p.permit(state, pod, node);
            self.observe_plugin(timer, p.name(), "Permit", s.code);
            if !s.is_success() {
                self.observe_point("Permit", s.code, start);
                return s.with_plugin(p.name());
            }
        }
        self.observe_point("Permit", Code::Success, start);
        Status::success()
    }

    /// PreBind: each plugin in order; the first non-success aborts the binding.
    pub async fn run_pre_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        let start = Instant::now();
        for p in &self.pre_bind {
            let timer = self.plugin_timer(state);
            let s = p.pre_bind(state, pod, node).await;
            self.observe_plugin(timer, p.name(), "PreBind", s.code);
            if !s.is_success() {
                self.observe_point("PreBind", s.code, start);
                return s.with_plugin(p.name());
            }
        }
        self.observe_point("PreBind", Code::Success, start);
        Status::success()
    }

    /// Bind: binders in order until one does not skip.
    pub async fn run_bind(&self, pod: &Pod, node: &str) -> Status {
        let start = Instant::now();
        for p in &self.bind {
            let s = p.bind(pod, node).await;
            if s.code != Code::Skip {
                self.observe_point("Bind", s.code, start);
                return s.with_plugin(p.name());
            }
        }
        self.observe_point("Bind", Code::Error, start);
        Status::new(Code::Error, ["no bind plugin bound the pod"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};
    use crate::plugins::{default_profile, registry};

    fn framework() -> Framework {
        Framework::new(
            &registry(),
            &default_profile("default-scheduler"),
            &Handle::default(),
        )
        .unwrap()
    }

    fn nodes(specs: &[(&str, &str)]) -> Vec<Arc<NodeInfo>> {
        specs
            .iter()
            .map(|(name, cpu)| {
                Arc::new(node_info(
                    node(name, &[("cpu", cpu), ("memory", "8Gi"), ("pods", "110")]),
                    vec![],
                ))
            })
            .collect()
    }

    #[test]
    fn upstream_adaptive_percentage_of_nodes_to_score() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        assert_eq!(num_feasible_nodes_to_find(0, 6000), 300);
        assert_eq!(num_feasible_nodes_to_find(10, 500), 100);
        assert_eq!(num_feasible_nodes_to_find(100, 5000), 5000);
    }

    #[test]
    fn the_pod_goes_to_the_node_with_the_most_room() {
        let fw = framework();
        let p = pod("p", &[&[("cpu", "1"), ("memory", "1Gi")]]);
        let result = fw
            .schedule(
                &mut CycleState::default(),
                &p,
                &nodes(&[("a", "2"), ("b", "8"), ("c", "500m")]),
            )
            .unwrap();
        assert_eq!(result.suggested_host, "b");
        assert_eq!(result.feasible_nodes, 2);
        assert_eq!(result.evaluated_nodes, 3);
    }

    #[test]
    fn no_fitting_node_explains_itself() {
        let fw = framework();
        let p = pod("p", &[&[("cpu", "4")]]);
        let err = fw
            .schedule(
                &mut CycleState::default(),
                &p,
                &nodes(&[("a", "2"), ("b", "1")]),
            )
            .unwrap_err();
        assert_eq!(
            err.message(),
            "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn a_sampled_cycle_times_each_plugin_and_every_cycle_times_the_extension_points() {
        let mut registry = prometheus_client::registry::Registry::default();
        let mut fw = framework();
        fw.metrics = Some(Metrics::new(&mut registry));
        let p = pod("p", &[&[("cpu", "1"), ("memory", "1Gi")]]);
        let nodes = nodes(&[("a", "2"), ("b", "8")]);
        fw.schedule(&mut CycleState::default(), &p, &nodes).unwrap();
        let mut sampled = CycleState {
            sample_plugin_metrics: true,
            ..Default::default()
        };
        fw.schedule(&mut sampled, &p, &nodes).unwrap();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for series in [
            r#"scheduler_framework_extension_point_duration_seconds_count{extension_point="Filter",status="Success",profile="default-scheduler"} 2"#,
            r#"scheduler_framework_extension_point_duration_seconds_count{extension_point="Score",status="Success",profile="default-scheduler"} 2"#,
            r#"scheduler_plugin_execution_duration_seconds_count{plugin="NodeResourcesFit",extension_point="Filter",status="Success"} 2"#,
            r#"scheduler_plugin_execution_duration_seconds_count{plugin="NodeResourcesFit",extension_point="Score",status="Success"} 1"#,
        ] {
            assert!(text.contains(series), "{series} in\n{text}");
        }
    }

    #[test]
    fn a_node_holding_room_for_a_nominated_pod_is_left_to_it_by_lower_priority_pods() {
        let fw = framework();
        let with_priority = |name: &str, cpu: &str, priority: i32| {
            let mut p = pod(name, &[&[("cpu", cpu), ("memory", "1Gi")]]);
            p.spec.as_mut().unwrap().priority = Some(priority);
            p
        };
        let nodes = nodes(&[("a", "2"), ("b", "2"), ("c", "2")]);
        fw.nominator
            .add(Arc::new(with_priority("preemptor", "1500m", 10)), "b");
        for _ in 0..10 {
            let low = with_priority("low", "1", 0);
            let result = fw
                .schedule(&mut CycleState::default(), &low, &nodes)
                .unwrap();
            assert_ne!(result.suggested_host, "b");
            assert_eq!(result.feasible_nodes, 2);
        }
        let high = with_priority("high", "1", 20);
        let result = fw
            .schedule(&mut CycleState::default(), &high, &nodes)
            .unwrap();
        assert_eq!(
            result.feasible_nodes, 3,
            "a lower-priority nomination does not count"
        );
    }

    #[test]
    fn an_unknown_plugin_is_refused() {
        let mut profile = default_profile("x");
        profile.plugins.push(EnabledPlugin {
            name: "Frobnicate".into(),
            weight: 1,
        });
        let err = Framework::new(&registry(), &profile, &Handle::default())
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "build profile: plugin \"Frobnicate\" does not exist"
        );
    }
}
