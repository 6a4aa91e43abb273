//! The scheduling framework, shaped as upstream's: a [`Status`] per plugin call, a
//! [`CycleState`] per scheduling attempt, one narrow trait per extension point, plugins
//! registered by name ([`Registry`]) and assembled into a profile ([`Framework`]) that runs
//! them in order.

mod fit_error;
mod node_info;
mod runtime;

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

pub use fit_error::FitError;
pub use node_info::{
    HostPort, NodeInfo, NodeSummary, NonZeroRequested, PodInfo, has_affinity,
    has_required_anti_affinity, host_ports, next_node_generation, pod_key,
};
pub use runtime::{Framework, NodeToStatus, Nominator, ScheduleResult, num_feasible_nodes_to_find};

/// The highest score a Score plugin gives after normalisation.
pub const MAX_NODE_SCORE: i64 = 100;

/// The outcome class of a plugin call, as upstream's `framework.Code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The plugin is happy.
    Success,
    /// An internal error.
    Error,
    /// The pod does not fit, but could after preemption.
    Unschedulable,
    /// The pod does not fit and preemption would not help.
    UnschedulableAndUnresolvable,
    /// Permit: hold the pod (not supported yet; treated as a rejection).
    Wait,
    /// The plugin has nothing to do for this pod.
    Skip,
}

impl Code {
    /// The code as upstream spells it in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Success => "Success",
            Code::Error => "Error",
            Code::Unschedulable => "Unschedulable",
            Code::UnschedulableAndUnresolvable => "UnschedulableAndUnresolvable",
            Code::Wait => "Wait",
            Code::Skip => "Skip",
        }
    }
}

/// A plugin's verdict with the reasons a user sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The outcome class.
    pub code: Code,
    /// Reasons, e.g. `Insufficient cpu`.
    pub reasons: Vec<String>,
    /// The plugin that returned it.
    pub plugin: &'static str,
}

impl Status {
    /// Success.
    pub fn success() -> Self {
        Status::new(Code::Success, Vec::<String>::new())
    }

    /// A status with reasons.
    pub fn new(code: Code, reasons: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Status {
            code,
            reasons: reasons.into_iter().map(Into::into).collect(),
            plugin: "",
        }
    }

    /// Whether it is a success.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether the pod was rejected (either unschedulable code).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }

    /// The reasons joined as upstream's `Status.Message()`.
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }

    fn with_plugin(mut self, plugin: &'static str) -> Self {
        self.plugin = plugin;
        self
    }
}

/// Data plugins share within one scheduling attempt (upstream's `CycleState`).
#[derive(Default)]
pub struct CycleState {
    /// A handful of entries read once per node by the filters: a list searched by key
    /// (pointer first) costs less than hashing the key on every read.
    data: Vec<(&'static str, Box<dyn Any + Send + Sync>)>,
    /// Filter plugins (by position in the profile) whose PreFilter said Skip.
    pub(crate) skip_filter_mask: u128,
    /// Score plugins whose PreScore said Skip.
    pub(crate) skip_score: Vec<&'static str>,
    /// Filter plugins whose PreFilter said Skip.
    pub(crate) skip_filter: Vec<&'static str>,
    /// Whether this cycle's plugin calls are timed for
    /// `scheduler_plugin_execution_duration_seconds`.
    pub sample_plugin_metrics: bool,
}

impl CycleState {
    /// Stores a value under a key.
    pub fn write<T: Any + Send + Sync>(&mut self, key: &'static str, value: T) {
        match self.position(key) {
            Some(i) => self.data[i].1 = Box::new(value),
            None => self.data.push((key, Box::new(value))),
        }
    }

    /// Drops the value stored under a key.
    pub fn remove(&mut self, key: &'static str) {
        if let Some(i) = self.position(key) {
            self.data.swap_remove(i);
        }
    }

    /// Reads the value stored under a key.
    pub fn read<T: Any + Send + Sync>(&self, key: &'static str) -> Option<&T> {
        self.data[self.position(key)?].1.downcast_ref()
    }

    fn position(&self, key: &'static str) -> Option<usize> {
        let same = |k: &&'static str| std::ptr::eq(*k, key);
        self.data
            .iter()
            .position(|(k, _)| same(k))
            .or_else(|| self.data.iter().position(|(k, _)| *k == key))
    }
}

/// A node's score from one plugin; the name is borrowed from the cycle's node list, so a
/// cycle copies no names to score its nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeScore<'a> {
    /// The node.
    pub name: &'a str,
    /// The score.
    pub score: i64,
}

/// Every plugin has a name.
pub trait Plugin: Send + Sync {
    /// The name it is registered and configured under.
    fn name(&self) -> &'static str;
}

/// Decides whether a pod may enter the active queue at all.
pub trait PreEnqueuePlugin: Plugin {
    /// Success lets the pod in.
    fn pre_enqueue(&self, pod: &Pod) -> Status;
}

/// Computes per-pod state before filtering.
pub trait PreFilterPlugin: Plugin {
    /// Success, Skip (the plugin's Filter is not needed) or a rejection of every node.
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status;
}

/// Decides whether a pod may run on a node.
pub trait FilterPlugin: Plugin {
    /// Success when the pod fits the node.
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status;
}

/// Runs when no node fits (preemption).
pub trait PostFilterPlugin: Plugin {
    /// A nominated node when the plugin made room, and its status (its message is shown to
    /// the user after the filter reasons).
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        statuses: &NodeToStatus,
        framework: &Framework,
    ) -> (Option<String>, Status);
}

/// Computes per-pod state before scoring.
pub trait PreScorePlugin: Plugin {
    /// Success, or Skip (the plugin's Score is not needed for this pod).
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status;
}

/// Ranks the feasible nodes.
pub trait ScorePlugin: Plugin {
    /// The node's raw score.
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status>;

    /// Maps raw scores to `0..=MAX_NODE_SCORE` (default: leave them).
    fn normalize(&self, _state: &CycleState, _pod: &Pod, _scores: &mut [NodeScore<'_>]) -> Status {
        Status::success()
    }
}

/// Holds resources for a pod on its chosen node before binding.
pub trait ReservePlugin: Plugin {
    /// Reserves; a failure aborts the attempt.
    fn reserve(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
    /// Undoes `reserve`.
    fn unreserve(&self, state: &CycleState, pod: &Pod, node: &str);
}

/// Approves (or rejects) a pod's binding.
pub trait PermitPlugin: Plugin {
    /// Success approves.
    fn permit(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
}

/// A boxed future of a bind call.
pub type BindFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Status> + Send + 'a>>;

/// Prepares what the binding needs (e.g. volumes) after Permit, before Bind.
pub trait PreBindPlugin: Plugin {
    /// Success lets the binding go ahead; anything else aborts it.
    fn pre_bind<'a>(&'a self, state: &'a CycleState, pod: &'a Pod, node: &'a str)
    -> BindFuture<'a>;
}

/// Binds a pod to its node.
pub trait BindPlugin: Plugin {
    /// Success when bound; Skip lets the next binder try.
    fn bind<'a>(&'a self, pod: &'a Pod, node: &'a str) -> BindFuture<'a>;
}

/// What a plugin's constructor gets: the client (None in unit tests) and the profile's
/// `pluginConfig` arguments.
#[derive(Clone, Default)]
pub struct Handle {
    /// The API client binders use.
    pub client: Option<kube::Client>,
    /// `pluginConfig[].args` of the profile, by plugin name (validated when the
    /// configuration was loaded).
    pub args: Arc<HashMap<String, serde_json::Value>>,
    /// Watched Namespaces, Services, controllers and volume objects plugins read.
    pub listers: crate::listers::Listers,
}

impl Handle {
    /// A handle with this client and no plugin arguments.
    pub fn with_client(client: kube::Client) -> Self {
        Handle {
            client: Some(client),
            ..Default::default()
        }
    }

    /// The `pluginConfig` arguments given for the named plugin, as JSON.
    pub fn plugin_args(&self, name: &str) -> Option<&serde_json::Value> {
        self.args.get(name)
    }

    /// The named plugin's arguments decoded as `T`; `T::default()` when none were given or
    /// they do not decode (the configuration loader rejects undecodable arguments first).
    pub fn typed_plugin_args<T: serde::de::DeserializeOwned + Default>(&self, name: &str) -> T {
        self.plugin_args(name)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

/// A constructed plugin, with the extension points it implements.
#[derive(Default)]
pub struct PluginSet {
    /// PreEnqueue.
    pub pre_enqueue: Option<Arc<dyn PreEnqueuePlugin>>,
    /// PreFilter.
    pub pre_filter: Option<Arc<dyn PreFilterPlugin>>,
    /// Filter.
    pub filter: Option<Arc<dyn FilterPlugin>>,
    /// PostFilter.
    pub post_filter: Option<Arc<dyn PostFilterPlugin>>,
    /// PreScore.
    pub pre_score: Option<Arc<dyn PreScorePlugin>>,
    /// Score (with NormalizeScore).
    pub score: Option<Arc<dyn ScorePlugin>>,
    /// Reserve.
    pub reserve: Option<Arc<dyn ReservePlugin>>,
    /// Permit.
    pub permit: Option<Arc<dyn PermitPlugin>>,
    /// PreBind.
    pub pre_bind: Option<Arc<dyn PreBindPlugin>>,
    /// Bind.
    pub bind: Option<Arc<dyn BindPlugin>>,
}

/// Builds a plugin.
pub type PluginFactory = fn(&Handle) -> PluginSet;

/// Plugins by name.
pub type Registry = std::collections::BTreeMap<&'static str, PluginFactory>;

/// A plugin enabled in a profile with its score weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnabledPlugin {
    /// The registered name.
    pub name: String,
    /// The weight of its score (ignored if it does not score).
    pub weight: i64,
}

/// A scheduling profile: the scheduler name pods ask for and its plugins in order.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// `spec.schedulerName` this profile serves.
    pub scheduler_name: String,
    /// Plugins, run in this order at every extension point they implement.
    pub plugins: Vec<EnabledPlugin>,
    /// (plugin, extension point) pairs switched off by the configuration; points are named
    /// as in the file (`filter`, `score`, ...).
    pub excluded: std::collections::BTreeSet<(String, String)>,
}
