//! NodeResourcesFit (PreFilter, Filter, Score; weight 1): a pod fits a node when its requests
//! (containers, init containers, overhead) fit the node's allocatable resources left by the
//! pods already there, and the pod count stays within `pods`; nodes are scored by the
//! configured strategy ([`scoring`]: LeastAllocated by default, MostAllocated or
//! RequestedToCapacityRatio) over the configured resources (CPU and memory by default).

pub mod scoring;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    Code, CycleState, FilterPlugin, Handle, NodeInfo, Plugin, PluginSet, PreFilterPlugin,
    ScorePlugin, Status,
};
use crate::resource::{Resource, pod_requests};
use scoring::{ShapePoint, Strategy};
use serde::Deserialize;

/// The plugin's name.
pub const NAME: &str = "NodeResourcesFit";

const STATE_KEY: &str = "PreFilterNodeResourcesFit";

/// The pod's requests, computed once per cycle.
struct PreFilterState {
    requests: Resource,
    non_zero: Resource,
}

/// A resource the score looks at, with its weight.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    /// The resource name.
    pub name: String,
    /// Its weight (1..=100; 0 means 1).
    #[serde(default)]
    pub weight: i64,
}

/// A point of the RequestedToCapacityRatio shape as configured (score 0..=10).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UtilizationShapePoint {
    /// Utilisation in percent.
    pub utilization: i64,
    /// Score, 0..=10.
    pub score: i64,
}

/// `requestedToCapacityRatio` of the scoring strategy.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RequestedToCapacityRatioParam {
    /// The utilisation curve.
    #[serde(default)]
    pub shape: Vec<UtilizationShapePoint>,
}

/// `scoringStrategy` of NodeResourcesFitArgs.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScoringStrategy {
    /// `LeastAllocated`, `MostAllocated` or `RequestedToCapacityRatio`.
    #[serde(rename = "type", default = "least_allocated")]
    pub type_: String,
    /// The resources scored (default cpu and memory, weight 1).
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
    /// The curve for RequestedToCapacityRatio.
    #[serde(default)]
    pub requested_to_capacity_ratio: Option<RequestedToCapacityRatioParam>,
}

fn least_allocated() -> String {
    "LeastAllocated".into()
}

/// `NodeResourcesFitArgs` (kubescheduler.config.k8s.io/v1).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeResourcesFitArgs {
    /// Resources the filter ignores.
    #[serde(default)]
    pub ignored_resources: Vec<String>,
    /// Resource groups (prefixes before `/`) the filter ignores.
    #[serde(default)]
    pub ignored_resource_groups: Vec<String>,
    /// How nodes are scored.
    #[serde(default)]
    pub scoring_strategy: Option<ScoringStrategy>,
}

impl NodeResourcesFitArgs {
    /// Upstream's validation: the field path (under `args`) and what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let Some(st) = &self.scoring_strategy else {
            return Ok(());
        };
        if !matches!(
            st.type_.as_str(),
            "LeastAllocated" | "MostAllocated" | "RequestedToCapacityRatio"
        ) {
            return Err(format!(
                "scoringStrategy.type: Unsupported value: {:?}: supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\"",
                st.type_
            ));
        }
        for (i, r) in st.resources.iter().enumerate() {
            if !(1..=100).contains(&r.weight) {
                return Err(format!(
                    "scoringStrategy.resources[{i}].weight: Invalid value: {}: must be in the range [1, 100]",
                    r.weight
                ));
            }
        }
        if st.type_ == "RequestedToCapacityRatio" {
            let shape = st
                .requested_to_capacity_ratio
                .as_ref()
                .map(|r| r.shape.as_slice())
                .unwrap_or_default();
            if shape.is_empty() {
                return Err("scoringStrategy.requestedToCapacityRatio.shape: Required value: at least one point must be specified".into());
            }
            for (i, p) in shape.iter().enumerate() {
                if !(0..=100).contains(&p.utilization) {
                    return Err(format!(
                        "scoringStrategy.requestedToCapacityRatio.shape[{i}].utilization: Invalid value: {}: not in valid range [0, 100]",
                        p.utilization
                    ));
                }
                if i > 0 && p.utilization <= shape[i - 1].utilization {
                    return Err(format!(
                        "scoringStrategy.requestedToCapacityRatio.shape[{i}].utilization: Invalid value: {}: utilization values must be sorted in increasing order",
                        p.utilization
                    ));
                }
                if !(0..=10).contains(&p.score) {
                    return Err(format!(
                        "scoringStrategy.requestedToCapacityRatio.shape[{i}].score: Invalid value: {}: not in valid range [0, 10]",
                        p.score
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A scored resource, with CPU and memory told apart once rather than by name per node.
enum ScoredResource {
    /// `cpu`: the non-zero requests.
    Cpu,
    /// `memory`: the non-zero requests.
    Memory,
    /// Any other resource by name: the plain requests.
    Other(String),
}

impl ScoredResource {
    fn of(name: String) -> Self {
        match name.as_str() {
            "cpu" => ScoredResource::Cpu,
            "memory" => ScoredResource::Memory,
            _ => ScoredResource::Other(name),
        }
    }
}

/// Scored resources up to this many are gathered on the stack.
const INLINE_SCORED_RESOURCES: usize = 8;

/// The plugin.
pub struct NodeResourcesFit {
    strategy: Strategy,
    /// The scored resources with their weights.
    resources: Vec<(ScoredResource, i64)>,
    ignored: Vec<String>,
    ignored_groups: Vec<String>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        NodeResourcesFit::from_args(&NodeResourcesFitArgs::default())
    }
}

impl NodeResourcesFit {
    /// The plugin configured by its arguments.
    pub fn from_args(args: &NodeResourcesFitArgs) -> Self {
        let st = args.scoring_strategy.clone();
        let strategy = match st.as_ref().map(|s| s.type_.as_str()) {
            Some("MostAllocated") => Strategy::MostAllocated,
            Some("RequestedToCapacityRatio") => Strategy::RequestedToCapacityRatio(
                st.as_ref()
                    .and_then(|s| s.requested_to_capacity_ratio.as_ref())
                    .map(|r| {
                        r.shape
                            .iter()
                            .map(|p| ShapePoint {
                                utilization: p.utilization,
                                score: p.score * (crate::framework::MAX_NODE_SCORE / 10),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => Strategy::LeastAllocated,
        };
        let mut resources: Vec<(ScoredResource, i64)> = st
            .map(|s| s.resources)
            .unwrap_or_default()
            .into_iter()
            .map(|r| (ScoredResource::of(r.name), r.weight.max(1)))
            .collect();
        if resources.is_empty() {
            resources = vec![(ScoredResource::Cpu, 1), (ScoredResource::Memory, 1)];
        }
        NodeResourcesFit {
            strategy,
            resources,
            ignored: args.ignored_resources.clone(),
            ignored_groups: args.ignored_resource_groups.clone(),
        }
    }
}

/// Builds the plugin from its `pluginConfig` arguments.
pub fn new(handle: &Handle) -> PluginSet {
    let args: NodeResourcesFitArgs = handle.typed_plugin_args(NAME);
    let p = Arc::new(NodeResourcesFit::from_args(&args));
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    }
}

/// Why the pod does not fit the node, as upstream's `fitsRequest`: `Too many pods`, then
/// `Insufficient <resource>` for each resource that is short. Empty when it fits.
pub fn insufficient_resources(requests: &Resource, node: &NodeInfo) -> Vec<String> {
    let mut reasons = Vec::new();
    if node.pod_count() as i64 + 1 > node.allocatable.allowed_pod_number {
        reasons.push("Too many pods".to_string());
    }
    let (have, used) = (&node.allocatable, &node.requested);
    for (reason, want, free) in [
        (
            "Insufficient cpu",
            requests.milli_cpu,
            have.milli_cpu - used.milli_cpu,
        ),
        (
            "Insufficient memory",
            requests.memory,
            have.memory - used.memory,
        ),
        (
            "Insufficient ephemeral-storage",
            requests.ephemeral_storage,
            have.ephemeral_storage - used.ephemeral_storage,
        ),
    ] {
        if want > 0 && want > free {
            reasons.push(reason.to_string());
        }
    }
    let free = |name: &str| have.get(name) - used.get(name);
    for (name, want) in &requests.scalar {
        if *want > 0 && *want > free(name) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

impl NodeResourcesFit {
    fn requests<'a>(
        &self,
        state: &'a CycleState,
        pod: &Pod,
    ) -> std::borrow::Cow<'a, PreFilterState> {
        match state.read::<PreFilterState>(STATE_KEY) {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(PreFilterState {
                requests: pod_requests(pod, false),
                non_zero: pod_requests(pod, true),
            }),
        }
    }
}

impl Clone for PreFilterState {
    fn clone(&self) -> Self {
        PreFilterState {
            requests: self.requests.clone(),
            non_zero: self.non_zero.clone(),
        }
    }
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreFilterPlugin for NodeResourcesFit {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, _: &[Arc<NodeInfo>]) -> Status {
        state.write(
            STATE_KEY,
            PreFilterState {
                requests: pod_requests(pod, false),
                non_zero: pod_requests(pod, true),
            },
        );
        Status::success()
    }
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let mut reasons = insufficient_resources(&self.requests(state, pod).requests, node);
        if !self.ignored.is_empty() || !self.ignored_groups.is_empty() {
            reasons.retain(|r| {
                let name = r.strip_prefix("Insufficient ").unwrap_or_default();
                let group = name.split_once('/').map(|(g, _)| g).unwrap_or_default();
                !self.ignored.iter().any(|i| i == name)
                    && !self.ignored_groups.iter().any(|g| g == group)
            });
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::new(Code::Unschedulable, reasons)
        }
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let s = self.requests(state, pod);
        let scored = |(resource, weight): &(ScoredResource, i64)| {
            let (used, want, allocatable) = match resource {
                ScoredResource::Cpu => (
                    node.non_zero_requested.milli_cpu,
                    s.non_zero.milli_cpu,
                    node.allocatable.milli_cpu,
                ),
                ScoredResource::Memory => (
                    node.non_zero_requested.memory,
                    s.non_zero.memory,
                    node.allocatable.memory,
                ),
                ScoredResource::Other(name) => {
                    let want = s.requests.get(name);
                    if want == 0 && name != "ephemeral-storage" {
                        return None;
                    }
                    (node.requested.get(name), want, node.allocatable.get(name))
                }
            };
            Some((used + want, allocatable, *weight))
        };
        // (requested incl. the pod, allocatable, weight) per resource, on the stack.
        let mut inline = [(0i64, 0i64, 0i64); INLINE_SCORED_RESOURCES];
        if self.resources.len() > INLINE_SCORED_RESOURCES {
            let resources: Vec<_> = self.resources.iter().filter_map(scored).collect();
            return Ok(scoring::score(&self.strategy, &resources));
        }
        let mut len = 0;
        for r in self.resources.iter().filter_map(scored) {
            inline[len] = r;
            len += 1;
        }
        Ok(scoring::score(&self.strategy, &inline[..len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};

    /// Upstream's test node: 10 millicores, 20 bytes, 32 pods, 5 example.com/foo.
    fn busy(used: &[(&str, &str)]) -> NodeInfo {
        node_info(
            node(
                "n",
                &[
                    ("cpu", "10m"),
                    ("memory", "20"),
                    ("pods", "32"),
                    ("example.com/foo", "5"),
                ],
            ),
            vec![pod("existing", &[used])],
        )
    }

    fn verdict(want: &[&[(&str, &str)]], used: &[(&str, &str)]) -> Status {
        NodeResourcesFit::default().filter(&CycleState::default(), &pod("p", want), &busy(used))
    }

    #[test]
    fn no_resources_requested_always_fits() {
        assert!(verdict(&[], &[("cpu", "10m"), ("memory", "20")]).is_success());
    }

    #[test]
    fn too_many_resources_fails_with_every_reason() {
        let s = verdict(
            &[&[("cpu", "1m"), ("memory", "1")]],
            &[("cpu", "10m"), ("memory", "20")],
        );
        assert_eq!(s.code, Code::Unschedulable);
        assert_eq!(s.reasons, ["Insufficient cpu", "Insufficient memory"]);
    }

    #[test]
    fn too_many_resources_fails_on_one_resource() {
        let s = verdict(
            &[&[("cpu", "1m"), ("memory", "1")]],
            &[("cpu", "9m"), ("memory", "20")],
        );
        assert_eq!(s.reasons, ["Insufficient memory"]);
        assert!(
            verdict(
                &[&[("cpu", "1m"), ("memory", "1")]],
                &[("cpu", "5m"), ("memory", "5")]
            )
            .is_success()
        );
    }

    #[test]
    fn the_larger_init_container_counts() {
        let mut p = pod("p", &[&[("cpu", "1m"), ("memory", "1")]]);
        p.spec.as_mut().unwrap().init_containers = pod("i", &[&[("cpu", "3m"), ("memory", "1")]])
            .spec
            .unwrap()
            .containers
            .into();
        let s = NodeResourcesFit::default().filter(
            &CycleState::default(),
            &p,
            &busy(&[("cpu", "8m"), ("memory", "19")]),
        );
        assert_eq!(s.reasons, ["Insufficient cpu"]);
    }

    #[test]
    fn extended_resources_are_counted() {
        assert!(verdict(&[&[("example.com/foo", "5")]], &[]).is_success());
        let s = verdict(&[&[("example.com/foo", "6")]], &[]);
        assert_eq!(s.reasons, ["Insufficient example.com/foo"]);
        let s = verdict(&[&[("example.com/bar", "1")]], &[]);
        assert_eq!(s.reasons, ["Insufficient example.com/bar"]);
    }

    #[test]
    fn a_full_node_has_too_many_pods() {
        let n = node_info(
            node("n", &[("cpu", "1"), ("pods", "1")]),
            vec![pod("a", &[])],
        );
        let s = NodeResourcesFit::default().filter(&CycleState::default(), &pod("p", &[]), &n);
        assert_eq!(s.reasons, ["Too many pods"]);
    }

    #[test]
    fn least_allocated_prefers_the_emptier_node() {
        let p = pod("p", &[&[("cpu", "3000m"), ("memory", "5000")]]);
        let state = CycleState::default();
        let small = node_info(node("a", &[("cpu", "4000m"), ("memory", "10000")]), vec![]);
        let large = node_info(node("b", &[("cpu", "6000m"), ("memory", "10000")]), vec![]);
        assert_eq!(
            NodeResourcesFit::default()
                .score(&state, &p, &small)
                .unwrap(),
            37
        );
        assert_eq!(
            NodeResourcesFit::default()
                .score(&state, &p, &large)
                .unwrap(),
            50
        );
    }

    #[test]
    fn pods_without_requests_are_scored_with_the_defaults() {
        // 100m and 200Mi of a 1-core, 2000Mi node: cpu 90, memory 90.
        let n = node_info(node("a", &[("cpu", "1"), ("memory", "2000Mi")]), vec![]);
        let s = NodeResourcesFit::default().score(&CycleState::default(), &pod("p", &[&[]]), &n);
        assert_eq!(s.unwrap(), 90);
    }
}
