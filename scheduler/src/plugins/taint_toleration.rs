//! TaintToleration (Filter, Score; weight 3): a node's `NoSchedule` / `NoExecute` taints
//! keep out pods that do not tolerate them; untolerated `PreferNoSchedule` taints lower the
//! node's score.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Taint, Toleration};

use crate::framework::{
    Code, CycleState, FilterPlugin, Handle, NodeInfo, NodeScore, Plugin, PluginSet, ScorePlugin,
    Status,
};
use crate::plugins::default_normalize_score;

/// The plugin's name.
pub const NAME: &str = "TaintToleration";

/// The plugin.
pub struct TaintToleration;

/// Builds the plugin.
pub fn new(_: &Handle) -> PluginSet {
    let p = Arc::new(TaintToleration);
    PluginSet {
        filter: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    }
}

/// Whether `toleration` tolerates `taint`, as upstream's `Toleration.ToleratesTaint`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    let operator = toleration.operator.as_deref().unwrap_or_default();
    if key != taint.key && !(key.is_empty() && operator == "Exists") {
        return false;
    }
    match operator {
        "Exists" => true,
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default()
}

fn taints(node: &NodeInfo) -> &[Taint] {
    node.node
        .as_ref()
        .and_then(|n| n.spec.as_ref())
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if !node.summary.has_filter_taints {
            return Status::success();
        }
        let tolerations = tolerations(pod);
        let untolerated = taints(node).iter().find(|t| {
            (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(tolerations, t)
        });
        match untolerated {
            None => Status::success(),
            Some(t) => Status::new(
                Code::UnschedulableAndUnresolvable,
                [format!(
                    "node(s) had untolerated taint {{{}: {}}}",
                    t.key,
                    t.value.as_deref().unwrap_or_default()
                )],
            ),
        }
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        if !node.summary.has_prefer_no_schedule_taints {
            return Ok(0);
        }
        // Only the tolerations with no effect or PreferNoSchedule count here.
        let prefer = |t: &&Toleration| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        };
        Ok(taints(node)
            .iter()
            .filter(|t| {
                t.effect == "PreferNoSchedule"
                    && !tolerations(pod)
                        .iter()
                        .filter(prefer)
                        .any(|tol| tolerates(tol, t))
            })
            .count() as i64)
    }

    fn normalize(&self, _: &CycleState, _: &Pod, scores: &mut [NodeScore<'_>]) -> Status {
        default_normalize_score(true, scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()),
            effect: effect.into(),
            ..Default::default()
        }
    }

    fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(op.into()),
            value: Some(value.into()),
            effect: Some(effect.into()),
            ..Default::default()
        }
    }

    fn tainted(name: &str, taints: Vec<Taint>) -> NodeInfo {
        let mut n = node(name, &[]);
        n.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
            taints: Some(taints),
            ..Default::default()
        });
        node_info(n, vec![])
    }

    fn tolerating(tolerations: Vec<Toleration>) -> Pod {
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().tolerations = Some(tolerations);
        p
    }

    #[test]
    fn a_pod_without_tolerations_is_kept_off_a_tainted_node() {
        let s = TaintToleration.filter(
            &CycleState::default(),
            &pod("p", &[]),
            &tainted("n", vec![taint("dedicated", "user1", "NoSchedule")]),
        );
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            s.message(),
            "node(s) had untolerated taint {dedicated: user1}"
        );
    }

    #[test]
    fn a_taint_added_to_a_known_node_keeps_the_pod_off_and_its_removal_lets_it_in() {
        let p = pod("p", &[]);
        let mut info = tainted("n", vec![]);
        assert!(
            TaintToleration
                .filter(&CycleState::default(), &p, &info)
                .is_success()
        );
        let mut n = (**info.node.as_ref().unwrap()).clone();
        n.spec.as_mut().unwrap().taints = Some(vec![taint("dedicated", "user1", "NoExecute")]);
        info.set_node(Arc::new(n.clone()));
        let s = TaintToleration.filter(&CycleState::default(), &p, &info);
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        n.spec.as_mut().unwrap().taints =
            Some(vec![taint("dedicated", "user1", "PreferNoSchedule")]);
        info.set_node(Arc::new(n));
        assert!(
            TaintToleration
                .filter(&CycleState::default(), &p, &info)
                .is_success()
        );
        assert_eq!(
            TaintToleration.score(&CycleState::default(), &p, &info),
            Ok(1)
        );
    }

    #[test]
    fn a_matching_toleration_lets_the_pod_in() {
        let s = TaintToleration.filter(
            &CycleState::default(),
            &tolerating(vec![toleration(
                "dedicated",
                "Equal",
                "user1",
                "NoSchedule",
            )]),
            &tainted("n", vec![taint("dedicated", "user1", "NoSchedule")]),
        );
        assert!(s.is_success());
    }

    #[test]
    fn a_toleration_with_another_value_does_not() {
        let s = TaintToleration.filter(
            &CycleState::default(),
            &tolerating(vec![toleration(
                "dedicated",
                "Equal",
                "user2",
                "NoSchedule",
            )]),
            &tainted("n", vec![taint("dedicated", "user1", "NoSchedule")]),
        );
        assert!(s.is_rejected());
    }

    #[test]
    fn exists_with_an_empty_key_tolerates_everything() {
        let t = Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert!(tolerates(&t, &taint("foo", "bar", "NoExecute")));
    }

    #[test]
    fn prefer_no_schedule_taints_do_not_filter() {
        let s = TaintToleration.filter(
            &CycleState::default(),
            &pod("p", &[]),
            &tainted("n", vec![taint("foo", "bar", "PreferNoSchedule")]),
        );
        assert!(s.is_success());
    }

    #[test]
    fn nodes_with_fewer_untolerated_prefer_no_schedule_taints_score_higher() {
        // Upstream's "the more intolerable taints a node has, the lower score it gets".
        let p = tolerating(vec![toleration("foo", "Equal", "bar", "PreferNoSchedule")]);
        let nodes = [
            tainted("a", vec![taint("foo", "bar", "PreferNoSchedule")]),
            tainted("b", vec![taint("cpu-type", "arm64", "PreferNoSchedule")]),
            tainted(
                "c",
                vec![
                    taint("cpu-type", "arm64", "PreferNoSchedule"),
                    taint("disk-type", "ssd", "PreferNoSchedule"),
                ],
            ),
        ];
        let state = CycleState::default();
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.name(),
                score: TaintToleration.score(&state, &p, n).unwrap(),
            })
            .collect();
        TaintToleration.normalize(&state, &p, &mut scores);
        let got: Vec<i64> = scores.iter().map(|s| s.score).collect();
        assert_eq!(got, [100, 50, 0]);
    }
}
