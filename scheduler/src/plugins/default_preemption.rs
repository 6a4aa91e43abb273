//! DefaultPreemption (PostFilter), as upstream's: when no node fits a pod, it looks for nodes
//! where evicting lower-priority pods would make room (re-running the filters with them gone),
//! keeps the fewest victims (reprieving the most important first, PodDisruptionBudget-protected
//! ones before the rest), picks one node by upstream's criteria ([`pick`]), evicts the victims
//! through the API ([`evict`]) and nominates the node for the pod (`status.nominatedNodeName`).
//! The evictions run in the background (upstream's async preemption, 1.32+), so the scheduling
//! loop goes on; until all but the last victim are gone the preemptor is not eligible to
//! preempt again, so a retry in between never evicts a second set of victims.
//! Otherwise it explains per node why preemption cannot help (`preemption: 0/3 nodes are
//! available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for
//! scheduling.`). Pods with `preemptionPolicy: Never` never preempt.

pub mod evict;
pub mod pick;
pub mod victims;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ferrokube_controllers::events::Recorder;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::Deserialize;

use crate::framework::{
    Code, CycleState, FitError, Framework, Handle, NodeInfo, NodeToStatus, Plugin, PluginSet,
    PostFilterPlugin, Status, pod_key,
};
use pick::{CandidateSummary, num_candidates, pick_one};
use victims::{Victims, select_victims_on_node, start_time};

/// The plugin's name.
pub const NAME: &str = "DefaultPreemption";

/// A node where preemption cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// A node without lower-priority pods to evict.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// `DefaultPreemptionArgs` with upstream's defaults.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct DefaultPreemptionArgs {
    /// At least this share of the nodes (in percent) is dry-run for candidates.
    pub min_candidate_nodes_percentage: u32,
    /// And at least this many.
    pub min_candidate_nodes_absolute: u32,
}

impl Default for DefaultPreemptionArgs {
    fn default() -> Self {
        DefaultPreemptionArgs {
            min_candidate_nodes_percentage: 10,
            min_candidate_nodes_absolute: 100,
        }
    }
}

impl DefaultPreemptionArgs {
    /// Upstream's validation: the field path of the first bad value.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_candidate_nodes_percentage > 100 {
            return Err("minCandidateNodesPercentage: must be in the range [0, 100]".into());
        }
        if self.min_candidate_nodes_percentage == 0 && self.min_candidate_nodes_absolute == 0 {
            return Err(
                "minCandidateNodesAbsolute: cannot be zero at the same time as minCandidateNodesPercentage"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The preemptors whose victims are still being evicted (by pod UID), as upstream's
/// `Evaluator.preempting`.
#[derive(Clone, Debug, Default)]
pub struct Preempting(Arc<Mutex<HashSet<String>>>);

impl Preempting {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the pod's preemption as running.
    pub fn insert(&self, uid: &str) {
        self.set().insert(uid.to_string());
    }

    /// Marks it finished.
    pub fn remove(&self, uid: &str) {
        self.set().remove(uid);
    }

    /// Whether the pod's preemption is still running.
    pub fn contains(&self, uid: &str) -> bool {
        self.set().contains(uid)
    }
}

/// A pod's identity for [`Preempting`]: its UID, else `namespace/name`.
pub fn preemptor_id(pod: &Pod) -> String {
    pod.metadata
        .uid
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| pod_key(pod))
}

/// The plugin.
#[derive(Default)]
pub struct DefaultPreemption {
    args: DefaultPreemptionArgs,
    client: Option<kube::Client>,
    pdbs: Option<Store<PodDisruptionBudget>>,
    preempting: Preempting,
}

/// Builds the plugin; with a client it watches PodDisruptionBudgets in the background.
pub fn new(handle: &Handle) -> PluginSet {
    let pdbs = match (&handle.client, tokio::runtime::Handle::try_current()) {
        (Some(client), Ok(rt)) => {
            let (reader, writer) = reflector::store::<PodDisruptionBudget>();
            let stream = reflector::reflector(
                writer,
                watcher(kube::Api::all(client.clone()), watcher::Config::default()),
            )
            .default_backoff()
            .touched_objects();
            rt.spawn(async move {
                use futures::StreamExt;
                stream.for_each(|_| async {}).await;
            });
            Some(reader)
        }
        _ => None,
    };
    PluginSet {
        post_filter: Some(Arc::new(DefaultPreemption {
            args: handle.typed_plugin_args(NAME),
            client: handle.client.clone(),
            pdbs,
            preempting: Preempting::default(),
        })),
        ..Default::default()
    }
}

/// A pod's priority (`spec.priority`, 0 when unset).
pub fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }
}

fn unschedulable(message: String) -> (Option<String>, Status) {
    (None, Status::new(Code::Unschedulable, [message]))
}

/// Upstream's `podTerminatingByPreemption`: being deleted with a `DisruptionTarget`
/// condition from the scheduler.
fn terminating_by_preemption(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "DisruptionTarget"
                        && c.status == "True"
                        && c.reason.as_deref() == Some("PreemptionByScheduler")
                })
            })
}

impl DefaultPreemption {
    /// A plugin with these arguments and no API access (unit tests, dry runs).
    pub fn with_args(args: DefaultPreemptionArgs) -> Self {
        DefaultPreemption {
            args,
            ..Default::default()
        }
    }

    /// Upstream's `PodEligibleToPreemptOthers`: whether the pod may preempt now, or why not.
    /// A preemptor whose earlier victims are still being evicted waits for them (upstream
    /// keeps it out of the queue with PreEnqueue; here its retry stops at this check).
    fn ineligible(
        &self,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        statuses: &NodeToStatus,
        framework: &Framework,
    ) -> Option<String> {
        let spec = pod.spec.as_ref()?;
        if spec.preemption_policy.as_deref() == Some("Never") {
            return Some("not eligible due to preemptionPolicy=Never.".into());
        }
        if self.preempting.contains(&preemptor_id(pod)) {
            return Some("waiting for the preemption for this pod to be finished".into());
        }
        let nominated = framework.nominator.node_of(pod).or_else(|| {
            pod.status
                .as_ref()
                .and_then(|s| s.nominated_node_name.clone())
                .filter(|n| !n.is_empty())
        })?;
        // A nominated node the filters can no longer help is no reason to wait.
        if statuses
            .get(&nominated)
            .is_some_and(|s| s.code == Code::UnschedulableAndUnresolvable)
        {
            return None;
        }
        let node = nodes.iter().find(|n| n.name() == nominated)?;
        let mine = priority(pod);
        node.pods
            .iter()
            .any(|p| priority(&p.pod) < mine && terminating_by_preemption(&p.pod))
            .then(|| "not eligible due to a terminating pod on the nominated node.".into())
    }

    fn pdbs(&self) -> Vec<Arc<PodDisruptionBudget>> {
        self.pdbs.as_ref().map(|s| s.state()).unwrap_or_default()
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        statuses: &NodeToStatus,
        framework: &Framework,
    ) -> (Option<String>, Status) {
        if let Some(why) = self.ineligible(pod, nodes, statuses, framework) {
            return unschedulable(format!("preemption: {why}"));
        }
        let pdbs = self.pdbs();
        let mut diagnosis = NodeToStatus::new();
        let mut potential = Vec::new();
        for n in nodes {
            match statuses.get(n.name()) {
                Some(s) if s.code == Code::UnschedulableAndUnresolvable => {
                    diagnosis.insert(
                        n.name().to_string(),
                        Status::new(Code::UnschedulableAndUnresolvable, [NOT_HELPFUL]),
                    );
                }
                _ => potential.push(n),
            }
        }
        let want = num_candidates(
            potential.len(),
            self.args.min_candidate_nodes_percentage,
            self.args.min_candidate_nodes_absolute,
        );
        let offset = if potential.is_empty() {
            0
        } else {
            rand::random_range(0..potential.len())
        };
        // Upstream's DryRunPreemption: visit the nodes from a random offset until `want`
        // candidates are found, at least one of them violating no PodDisruptionBudget.
        let mut candidates: Vec<(&Arc<NodeInfo>, Victims)> = Vec::new();
        let mut non_violating = 0;
        for i in 0..potential.len() {
            let node = potential[(offset + i) % potential.len()];
            match select_victims_on_node(framework, state, pod, node, &pdbs) {
                Ok(v) => {
                    if v.pdb_violations == 0 {
                        non_violating += 1;
                    }
                    candidates.push((node, v));
                    if non_violating > 0 && candidates.len() >= want {
                        break;
                    }
                }
                Err(s) => {
                    diagnosis.insert(node.name().to_string(), s);
                }
            }
        }
        if candidates.is_empty() {
            let fit = FitError {
                num_all_nodes: nodes.len(),
                statuses: diagnosis,
                ..Default::default()
            };
            tracing::debug!(pod = %pod_key(pod), "no preemption candidates");
            return unschedulable(format!("preemption: {}", fit.message()));
        }
        let summaries: Vec<CandidateSummary> = candidates
            .iter()
            .map(|(_, v)| {
                let highest = v.pods.iter().map(|p| priority(&p.pod)).max();
                CandidateSummary {
                    pdb_violations: v.pdb_violations,
                    victim_priorities: v.pods.iter().map(|p| priority(&p.pod)).collect(),
                    earliest_start_of_highest: v
                        .pods
                        .iter()
                        .filter(|p| Some(priority(&p.pod)) == highest)
                        .filter_map(|p| start_time(&p.pod))
                        .min(),
                }
            })
            .collect();
        let chosen = pick_one(&summaries).unwrap_or(0);
        let (node, victims) = candidates.swap_remove(chosen);
        let node = node.name().to_string();
        let mine = priority(pod);
        let demoted: Vec<Arc<Pod>> = framework
            .nominator
            .snapshot()
            .get(&node)
            .into_iter()
            .flatten()
            .filter(|p| priority(&p.pod) < mine && p.key() != pod_key(pod))
            .map(|p| p.pod.clone())
            .collect();
        for p in &demoted {
            framework.nominator.remove(p);
        }
        tracing::info!(
            pod = %pod_key(pod),
            %node,
            victims = victims.pods.len(),
            "preempting lower-priority pods"
        );
        if let Some(client) = &self.client {
            evict::prepare_candidate(
                evict::Preemption {
                    client: client.clone(),
                    recorder: Recorder::new(client.clone(), &framework.scheduler_name, None),
                    preemptor: Arc::new(pod.clone()),
                    node: node.clone(),
                    victims: victims.pods,
                    demoted,
                    scheduler_name: framework.scheduler_name.clone(),
                },
                self.preempting.clone(),
            );
        }
        (Some(node), Status::success())
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

    #[test]
    fn unresolvable_nodes_are_not_helped_and_full_nodes_have_no_victims() {
        let fw = framework();
        let p = pod("p", &[&[("cpu", "2")]]);
        let nodes: Vec<Arc<NodeInfo>> = ["a", "b", "c"]
            .iter()
            .map(|n| Arc::new(node_info(node(n, &[("cpu", "1"), ("pods", "10")]), vec![])))
            .collect();
        let mut statuses = NodeToStatus::new();
        statuses.insert(
            "a".into(),
            Status::new(Code::Unschedulable, ["Insufficient cpu"]),
        );
        for n in ["b", "c"] {
            statuses.insert(
                n.into(),
                Status::new(Code::UnschedulableAndUnresolvable, ["x"]),
            );
        }
        let (nominated, s) = DefaultPreemption::default().post_filter(
            &CycleState::default(),
            &p,
            &nodes,
            &statuses,
            &fw,
        );
        assert_eq!(nominated, None);
        assert_eq!(
            s.message(),
            "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn a_pod_that_never_preempts_says_so() {
        let fw = framework();
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
        let (_, s) = DefaultPreemption::default().post_filter(
            &CycleState::default(),
            &p,
            &[],
            &NodeToStatus::new(),
            &fw,
        );
        assert_eq!(
            s.message(),
            "preemption: not eligible due to preemptionPolicy=Never."
        );
    }

    fn at_priority(mut p: Pod, prio: i32, app: &str) -> Pod {
        p.spec.as_mut().unwrap().priority = Some(prio);
        p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        p.metadata.uid = Some(format!("uid-{}", p.metadata.name.clone().unwrap()));
        p
    }

    #[test]
    fn a_preemptor_whose_victims_are_still_being_evicted_waits_for_them() {
        let fw = framework();
        let p = at_priority(pod("p", &[&[("cpu", "1")]]), 10, "p");
        let plugin = DefaultPreemption::default();
        plugin.preempting.insert(&preemptor_id(&p));
        let (nominated, s) =
            plugin.post_filter(&CycleState::default(), &p, &[], &NodeToStatus::new(), &fw);
        assert_eq!(nominated, None);
        assert_eq!(
            s.message(),
            "preemption: waiting for the preemption for this pod to be finished"
        );
        plugin.preempting.remove(&preemptor_id(&p));
        assert!(!plugin.preempting.contains(&preemptor_id(&p)));
    }

    #[test]
    fn the_search_goes_on_until_a_candidate_violates_no_budget() {
        use k8s_openapi::api::policy::v1::{PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
        let fw = framework();
        let guarded = PodDisruptionBudget {
            metadata: ObjectMeta {
                name: Some("guarded".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(PodDisruptionBudgetSpec {
                selector: Some(LabelSelector {
                    match_labels: Some([("app".to_string(), "guarded".to_string())].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: Some(PodDisruptionBudgetStatus::default()),
        };
        // One candidate is enough by the numbers, but it must not violate the budget.
        let plugin = DefaultPreemption {
            args: DefaultPreemptionArgs {
                min_candidate_nodes_percentage: 0,
                min_candidate_nodes_absolute: 1,
            },
            pdbs: crate::listers::store_of([guarded]),
            ..Default::default()
        };
        let mut nodes = Vec::new();
        let mut statuses = NodeToStatus::new();
        for i in 0..5 {
            let name = format!("n{i}");
            let app = if i == 3 { "plain" } else { "guarded" };
            let victim = at_priority(pod(&format!("v{i}"), &[&[("cpu", "1")]]), 0, app);
            nodes.push(Arc::new(node_info(
                node(&name, &[("cpu", "1"), ("pods", "10")]),
                vec![victim],
            )));
            statuses.insert(name, Status::new(Code::Unschedulable, ["Insufficient cpu"]));
        }
        let p = at_priority(pod("p", &[&[("cpu", "1")]]), 10, "p");
        for _ in 0..10 {
            let (nominated, s) =
                plugin.post_filter(&CycleState::default(), &p, &nodes, &statuses, &fw);
            assert!(s.is_success(), "{}", s.message());
            assert_eq!(nominated.as_deref(), Some("n3"), "from any offset");
        }
    }

    #[test]
    fn a_node_still_short_after_evicting_everyone_reports_the_filter_reason() {
        let fw = framework();
        let mut p = pod("p", &[&[("cpu", "2")]]);
        p.spec.as_mut().unwrap().priority = Some(10);
        let n = Arc::new(node_info(
            node("a", &[("cpu", "1"), ("pods", "10")]),
            vec![pod("low", &[&[("cpu", "1")]])],
        ));
        let mut statuses = NodeToStatus::new();
        statuses.insert(
            "a".into(),
            Status::new(Code::Unschedulable, ["Insufficient cpu"]),
        );
        let (_, s) = DefaultPreemption::default().post_filter(
            &CycleState::default(),
            &p,
            &[n],
            &statuses,
            &fw,
        );
        assert_eq!(
            s.message(),
            "preemption: 0/1 nodes are available: 1 Insufficient cpu."
        );
    }
}
