//! The `KubeSchedulerConfiguration` (kubescheduler.config.k8s.io/v1) document as written in
//! a `--config` file; unknown fields are rejected, as upstream's strict decoding does.

use serde::Deserialize;

/// The file's top level.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeSchedulerConfiguration {
    /// Must be `kubescheduler.config.k8s.io/v1`.
    pub api_version: String,
    /// Must be `KubeSchedulerConfiguration`.
    pub kind: String,
    /// Scheduling goroutines (accepted, unused).
    #[serde(default)]
    pub parallelism: Option<i64>,
    /// Leader election settings.
    #[serde(default)]
    pub leader_election: Option<LeaderElection>,
    /// `clientConnection` (accepted; the kubeconfig comes from `--kubeconfig`).
    #[serde(default)]
    pub client_connection: Option<serde_json::Value>,
    /// Debugging switches (accepted, unused).
    #[serde(default)]
    pub enable_profiling: Option<bool>,
    /// Debugging switches (accepted, unused).
    #[serde(default)]
    pub enable_contention_profiling: Option<bool>,
    /// Share of nodes to find feasible before scoring (0: adaptive).
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i64>,
    /// Initial backoff (accepted; the queue uses upstream's default of 1 s).
    #[serde(default)]
    pub pod_initial_backoff_seconds: Option<i64>,
    /// Maximum backoff (accepted; the queue uses upstream's default of 10 s).
    #[serde(default)]
    pub pod_max_backoff_seconds: Option<i64>,
    /// The profiles; none means one default profile.
    #[serde(default)]
    pub profiles: Vec<ProfileConfig>,
    /// Extenders (not supported: rejected if present and non-empty).
    #[serde(default)]
    pub extenders: Vec<serde_json::Value>,
    /// Feature gates (accepted, unused).
    #[serde(default)]
    pub delay_cache_until_active: Option<bool>,
}

/// `leaderElection`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaderElection {
    /// Whether to campaign for the lease.
    #[serde(default)]
    pub leader_elect: Option<bool>,
    /// e.g. `15s`.
    #[serde(default)]
    pub lease_duration: Option<String>,
    /// e.g. `10s`.
    #[serde(default)]
    pub renew_deadline: Option<String>,
    /// e.g. `2s`.
    #[serde(default)]
    pub retry_period: Option<String>,
    /// Only `leases` is supported.
    #[serde(default)]
    pub resource_lock: Option<String>,
    /// The lease's name.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// The lease's namespace.
    #[serde(default)]
    pub resource_namespace: Option<String>,
}

/// One entry of `profiles`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileConfig {
    /// The `spec.schedulerName` it serves (default `default-scheduler`).
    #[serde(default)]
    pub scheduler_name: Option<String>,
    /// Overrides the top-level value for this profile.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i64>,
    /// Plugin changes against the default set.
    #[serde(default)]
    pub plugins: Option<Plugins>,
    /// Per-plugin arguments.
    #[serde(default)]
    pub plugin_config: Vec<PluginConfig>,
}

/// `plugins`: one set per extension point, plus `multiPoint`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plugins {
    /// PreEnqueue.
    #[serde(default)]
    pub pre_enqueue: PluginSetConfig,
    /// QueueSort (only PrioritySort exists).
    #[serde(default)]
    pub queue_sort: PluginSetConfig,
    /// PreFilter.
    #[serde(default)]
    pub pre_filter: PluginSetConfig,
    /// Filter.
    #[serde(default)]
    pub filter: PluginSetConfig,
    /// PostFilter.
    #[serde(default)]
    pub post_filter: PluginSetConfig,
    /// PreScore.
    #[serde(default)]
    pub pre_score: PluginSetConfig,
    /// Score.
    #[serde(default)]
    pub score: PluginSetConfig,
    /// Reserve.
    #[serde(default)]
    pub reserve: PluginSetConfig,
    /// Permit.
    #[serde(default)]
    pub permit: PluginSetConfig,
    /// PreBind.
    #[serde(default)]
    pub pre_bind: PluginSetConfig,
    /// Bind.
    #[serde(default)]
    pub bind: PluginSetConfig,
    /// PostBind.
    #[serde(default)]
    pub post_bind: PluginSetConfig,
    /// Every extension point a plugin implements.
    #[serde(default)]
    pub multi_point: PluginSetConfig,
}

/// `enabled` and `disabled` of one extension point.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSetConfig {
    /// Plugins to add (after the defaults).
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    /// Default plugins to remove (`*`: all).
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

/// A plugin named in a set.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginRef {
    /// The plugin's name.
    pub name: String,
    /// Its score weight.
    #[serde(default)]
    pub weight: Option<i64>,
}

/// One entry of `pluginConfig`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginConfig {
    /// The plugin's name.
    pub name: String,
    /// Its arguments (`kind: <Plugin>Args` optional).
    #[serde(default)]
    pub args: serde_json::Value,
}
