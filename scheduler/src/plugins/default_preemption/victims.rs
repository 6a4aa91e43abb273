//! Which pods to evict on one node, as upstream's `SelectVictimsOnNode`: remove every
//! lower-priority pod, check the preemptor fits, then add them back most important first
//! (PodDisruptionBudget-protected ones before the others) and keep out only those without
//! which it no longer fits.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{NO_VICTIMS, priority};
use crate::framework::{Code, CycleState, Framework, NodeInfo, PodInfo, Status};

/// The pods to evict on a node and how many of them a PodDisruptionBudget protects.
#[derive(Clone, Debug)]
pub struct Victims {
    /// The victims, most important first.
    pub pods: Vec<PodInfo>,
    /// How many of them violate a PodDisruptionBudget.
    pub pdb_violations: usize,
}

/// When the pod started (`status.startTime`, else its creation), nanoseconds since the epoch.
pub fn start_time(pod: &Pod) -> Option<i128> {
    pod.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0.as_nanosecond())
}

/// Upstream's `MoreImportantPod` as an ordering: higher priority first, then the one that
/// started earlier.
fn importance(a: &PodInfo, b: &PodInfo) -> std::cmp::Ordering {
    priority(&b.pod).cmp(&priority(&a.pod)).then_with(|| {
        start_time(&a.pod)
            .unwrap_or(i128::MAX)
            .cmp(&start_time(&b.pod).unwrap_or(i128::MAX))
    })
}

/// Whether a label selector selects these labels; a missing or empty selector selects nothing
/// (upstream's rule for PodDisruptionBudgets).
pub fn pdb_selects(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(sel) = selector else { return false };
    let exprs = sel.match_expressions.as_deref().unwrap_or_default();
    let plain = sel.match_labels.as_ref();
    if exprs.is_empty() && plain.is_none_or(|m| m.is_empty()) {
        return false;
    }
    if let Some(m) = plain
        && m.iter().any(|(k, v)| labels.get(k) != Some(v))
    {
        return false;
    }
    exprs.iter().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let got = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => got.is_some_and(|v| values.contains(v)),
            "NotIn" => got.is_none_or(|v| !values.contains(v)),
            "Exists" => got.is_some(),
            "DoesNotExist" => got.is_none(),
            _ => false,
        }
    })
}

/// Splits pods into those whose eviction would violate a PodDisruptionBudget and the rest,
/// spending each budget's `disruptionsAllowed` as upstream's `filterPodsWithPDBViolation`.
fn split_by_pdb(
    pods: Vec<PodInfo>,
    pdbs: &[Arc<PodDisruptionBudget>],
) -> (Vec<PodInfo>, Vec<PodInfo>) {
    let mut allowed: HashMap<usize, i32> = pdbs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let n = p
                .status
                .as_ref()
                .map(|s| s.disruptions_allowed)
                .unwrap_or(0);
            (i, n)
        })
        .collect();
    let (mut violating, mut fine) = (Vec::new(), Vec::new());
    for p in pods {
        let labels = p.pod.metadata.labels.clone().unwrap_or_default();
        let ns = p.pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = p.pod.metadata.name.as_deref().unwrap_or_default();
        let mut violates = false;
        for (i, pdb) in pdbs.iter().enumerate() {
            if pdb.metadata.namespace.as_deref().unwrap_or("default") != ns
                || !pdb_selects(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()), &labels)
            {
                continue;
            }
            let already = pdb
                .status
                .as_ref()
                .and_then(|s| s.disrupted_pods.as_ref())
                .is_some_and(|d| d.contains_key(name));
            if already {
                continue;
            }
            let left = allowed.entry(i).or_default();
            *left -= 1;
            if *left < 0 {
                violates = true;
            }
        }
        if violates {
            violating.push(p);
        } else {
            fine.push(p);
        }
    }
    (violating, fine)
}

/// The victims on `node` that make room for `pod`, or why there are none (the filter status
/// with every lower-priority pod gone, or `No preemption victims found for incoming pod`).
pub fn select_victims_on_node(
    framework: &Framework,
    state: &CycleState,
    pod: &Pod,
    node: &NodeInfo,
    pdbs: &[Arc<PodDisruptionBudget>],
) -> Result<Victims, Status> {
    let mine = priority(pod);
    let mut potential: Vec<PodInfo> = node
        .pods
        .iter()
        .filter(|p| priority(&p.pod) < mine)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::new(
            Code::UnschedulableAndUnresolvable,
            [NO_VICTIMS],
        ));
    }
    let mut without = node.clone();
    for v in &potential {
        without.remove_pod(&v.key());
    }
    let s = framework.run_filter_with_nominated(state, pod, &without);
    if !s.is_success() {
        return Err(s);
    }
    potential.sort_by(importance);
    let (violating, fine) = split_by_pdb(potential, pdbs);
    let mut victims = Vec::new();
    let mut pdb_violations = 0;
    for (group, protected) in [(violating, true), (fine, false)] {
        for p in group {
            without.add_pod(p.clone());
            if !framework
                .run_filter_with_nominated(state, pod, &without)
                .is_success()
            {
                without.remove_pod(&p.key());
                if protected {
                    pdb_violations += 1;
                }
                victims.push(p);
            }
        }
    }
    if victims.is_empty() {
        // The pod fits without evicting anyone: upstream still reports no victims.
        return Err(Status::new(
            Code::UnschedulableAndUnresolvable,
            [NO_VICTIMS],
        ));
    }
    victims.sort_by(importance);
    Ok(Victims {
        pods: victims,
        pdb_violations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodStatus;
    use k8s_openapi::api::policy::v1::{PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelectorRequirement, Time};

    use crate::framework::Handle;
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

    fn prio(name: &str, cpu: &str, p: i32, started: i64) -> Pod {
        let mut pod = pod(name, &[&[("cpu", cpu)]]);
        pod.spec.as_mut().unwrap().priority = Some(p);
        pod.metadata.labels = Some([("app".to_string(), name.to_string())].into());
        pod.status = Some(PodStatus {
            start_time: Some(Time(jiff::Timestamp::from_second(started).unwrap())),
            ..Default::default()
        });
        pod
    }

    fn names(v: &Victims) -> Vec<String> {
        v.pods
            .iter()
            .map(|p| p.pod.metadata.name.clone().unwrap())
            .collect()
    }

    #[test]
    fn only_the_least_important_pods_needed_are_evicted() {
        let fw = framework();
        let n = node_info(
            node("a", &[("cpu", "3"), ("pods", "10")]),
            vec![
                prio("low-old", "1", 1, 100),
                prio("low-new", "1", 1, 200),
                prio("mid", "1", 5, 50),
            ],
        );
        let v = select_victims_on_node(
            &fw,
            &CycleState::default(),
            &prio("high", "1", 10, 0),
            &n,
            &[],
        )
        .unwrap();
        assert_eq!(
            names(&v),
            ["low-new"],
            "the most recently started low pod goes"
        );
        assert_eq!(v.pdb_violations, 0);
    }

    #[test]
    fn equal_or_higher_priority_pods_are_never_victims() {
        let fw = framework();
        let n = node_info(
            node("a", &[("cpu", "1"), ("pods", "10")]),
            vec![prio("same", "1", 10, 0)],
        );
        let err = select_victims_on_node(
            &fw,
            &CycleState::default(),
            &prio("high", "1", 10, 0),
            &n,
            &[],
        )
        .unwrap_err();
        assert_eq!(err.reasons, [NO_VICTIMS]);
    }

    #[test]
    fn a_pdb_protected_pod_is_reprieved_before_an_unprotected_one() {
        let fw = framework();
        let n = node_info(
            node("a", &[("cpu", "2"), ("pods", "10")]),
            vec![prio("guarded", "1", 1, 200), prio("plain", "1", 1, 100)],
        );
        let pdb = PodDisruptionBudget {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
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
            status: Some(PodDisruptionBudgetStatus {
                disruptions_allowed: 0,
                ..Default::default()
            }),
        };
        let v = select_victims_on_node(
            &fw,
            &CycleState::default(),
            &prio("high", "1", 10, 0),
            &n,
            &[Arc::new(pdb)],
        )
        .unwrap();
        assert_eq!(names(&v), ["plain"]);
        assert_eq!(v.pdb_violations, 0);
    }

    #[test]
    fn selectors_follow_the_pdb_rules() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        assert!(!pdb_selects(None, &labels));
        assert!(!pdb_selects(Some(&LabelSelector::default()), &labels));
        let expr = |op: &str, values: &[&str]| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: op.into(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            ..Default::default()
        };
        assert!(pdb_selects(Some(&expr("In", &["web"])), &labels));
        assert!(!pdb_selects(Some(&expr("NotIn", &["web"])), &labels));
        assert!(pdb_selects(Some(&expr("Exists", &[])), &labels));
    }
}
