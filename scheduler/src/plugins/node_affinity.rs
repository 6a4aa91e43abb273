//! NodeAffinity (Filter, Score; weight 2): `spec.nodeSelector` and required node affinity
//! decide which nodes a pod may use; preferred node affinity terms add their weights to the
//! nodes they match.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, Pod};

use crate::framework::{
    Code, CycleState, FilterPlugin, Handle, NodeInfo, NodeScore, Plugin, PluginSet,
    PreFilterPlugin, PreScorePlugin, ScorePlugin, Status,
};
use crate::plugins::default_normalize_score;

/// The plugin's name.
pub const NAME: &str = "NodeAffinity";

/// The rejection reason.
pub const ERR_REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// The plugin.
pub struct NodeAffinity;

/// Builds the plugin.
pub fn new(_: &Handle) -> PluginSet {
    let p = Arc::new(NodeAffinity);
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p.clone()),
        pre_score: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    }
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => !value.is_some_and(|v| values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value, values) else {
                return false;
            };
            match (v.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(v), Ok(b)) if r.operator == "Gt" => v > b,
                (Ok(v), Ok(b)) => v < b,
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether one node selector term matches the node: every expression on labels and every
/// field expression (`metadata.name`); an empty term matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let name = (r.key == "metadata.name")
                .then(|| node.metadata.name.as_deref().unwrap_or_default());
            requirement_matches(r, name)
        })
}

/// Whether the node satisfies the pod's `nodeSelector` and required node affinity, as
/// upstream's `RequiredNodeAffinity.Match`.
pub fn required_matches(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    if let Some(selector) = spec.node_selector.as_ref() {
        let labels = node.metadata.labels.as_ref();
        if !selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        {
            return false;
        }
    }
    match spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        }) {
        Some(required) => required
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, node)),
        None => true,
    }
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
}

fn node_affinity(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::NodeAffinity> {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
}

impl PreFilterPlugin for NodeAffinity {
    /// Skip when the pod has neither a node selector nor required node affinity: every node
    /// passes (upstream's PreFilter).
    fn pre_filter(&self, _: &mut CycleState, pod: &Pod, _: &[Arc<NodeInfo>]) -> Status {
        let selector = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.as_ref())
            .is_some_and(|s| !s.is_empty());
        let required = node_affinity(pod).is_some_and(|a| {
            a.required_during_scheduling_ignored_during_execution
                .is_some()
        });
        if selector || required {
            Status::success()
        } else {
            Status::new(Code::Skip, Vec::<String>::new())
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    /// Skip when the pod has no preferred node affinity: every node would score 0.
    fn pre_score(&self, _: &mut CycleState, pod: &Pod, _: &[Arc<NodeInfo>]) -> Status {
        let preferred = node_affinity(pod).is_some_and(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
                .is_some_and(|p| !p.is_empty())
        });
        if preferred {
            Status::success()
        } else {
            Status::new(Code::Skip, Vec::<String>::new())
        }
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let Some(n) = node.node.as_ref() else {
            return Status::new(Code::UnschedulableAndUnresolvable, ["node not found"]);
        };
        if required_matches(pod, n) {
            Status::success()
        } else {
            Status::new(Code::UnschedulableAndUnresolvable, [ERR_REASON])
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let Some(n) = node.node.as_ref() else {
            return Ok(0);
        };
        let preferred = pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_deref()
            })
            .unwrap_or_default();
        Ok(preferred
            .iter()
            .filter(|p| p.weight != 0 && term_matches(&p.preference, n))
            .map(|p| p.weight as i64)
            .sum())
    }

    fn normalize(&self, _: &CycleState, _: &Pod, scores: &mut [NodeScore<'_>]) -> Status {
        default_normalize_score(false, scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity as Spec, NodeSelector, PreferredSchedulingTerm,
    };

    fn labelled(name: &str, labels: &[(&str, &str)]) -> NodeInfo {
        let mut n = node(name, &[]);
        n.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        node_info(n, vec![])
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn term(exprs: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(exprs),
            match_fields: None,
        }
    }

    fn with_affinity(spec: Spec) -> Pod {
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().affinity = Some(Affinity {
            node_affinity: Some(spec),
            ..Default::default()
        });
        p
    }

    fn required(terms: Vec<NodeSelectorTerm>) -> Pod {
        with_affinity(Spec {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: terms,
            }),
            ..Default::default()
        })
    }

    fn fits(p: &Pod, n: &NodeInfo) -> bool {
        NodeAffinity
            .filter(&CycleState::default(), p, n)
            .is_success()
    }

    #[test]
    fn no_selector_fits_any_node() {
        assert!(fits(&pod("p", &[]), &labelled("n", &[])));
    }

    #[test]
    fn a_node_selector_needs_every_label() {
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().node_selector =
            Some([("foo".to_string(), "bar".to_string())].into());
        assert!(!fits(&p, &labelled("n", &[])));
        assert!(!fits(&p, &labelled("n", &[("foo", "baz")])));
        assert!(fits(&p, &labelled("n", &[("foo", "bar"), ("x", "y")])));
        let s = NodeAffinity.filter(&CycleState::default(), &p, &labelled("n", &[]));
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), ERR_REASON);
    }

    #[test]
    fn required_terms_are_ored_and_expressions_anded() {
        let p = required(vec![
            term(vec![
                expr("foo", "In", &["bar", "value2"]),
                expr("diffkey", "Exists", &[]),
            ]),
            term(vec![expr("kernel", "Gt", &["5"])]),
        ]);
        assert!(!fits(&p, &labelled("n", &[("foo", "bar")])));
        assert!(fits(
            &p,
            &labelled("n", &[("foo", "bar"), ("diffkey", "1")])
        ));
        assert!(fits(&p, &labelled("n", &[("kernel", "6")])));
        assert!(!fits(&p, &labelled("n", &[("kernel", "4")])));
    }

    #[test]
    fn not_in_and_does_not_exist_match_missing_labels() {
        let p = required(vec![term(vec![
            expr("foo", "NotIn", &["bar"]),
            expr("gone", "DoesNotExist", &[]),
        ])]);
        assert!(fits(&p, &labelled("n", &[])));
        assert!(!fits(&p, &labelled("n", &[("foo", "bar")])));
        assert!(!fits(&p, &labelled("n", &[("gone", "x")])));
    }

    #[test]
    fn an_empty_term_matches_nothing_and_fields_match_the_name() {
        assert!(!fits(&required(vec![term(vec![])]), &labelled("n", &[])));
        let by_name = required(vec![NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![expr("metadata.name", "In", &["n1"])]),
        }]);
        assert!(fits(&by_name, &labelled("n1", &[])));
        assert!(!fits(&by_name, &labelled("n2", &[])));
    }

    #[test]
    fn preferred_terms_score_by_weight_normalised() {
        // Upstream's "all nodes matches some preferred scheduling requirements" case: raw
        // scores 2, 4, 11 and 0, normalised to the highest.
        let pref = |w: i32, k: &str, v: &str| PreferredSchedulingTerm {
            weight: w,
            preference: term(vec![expr(k, "In", &[v])]),
        };
        let p = with_affinity(Spec {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                pref(2, "foo", "bar"),
                pref(4, "key", "value"),
                pref(5, "az", "az1"),
            ]),
            ..Default::default()
        });
        let nodes = [
            labelled("m1", &[("foo", "bar")]),
            labelled("m2", &[("key", "value")]),
            labelled("m3", &[("foo", "bar"), ("key", "value"), ("az", "az1")]),
            labelled("m4", &[]),
        ];
        let state = CycleState::default();
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.name(),
                score: NodeAffinity.score(&state, &p, n).unwrap(),
            })
            .collect();
        NodeAffinity.normalize(&state, &p, &mut scores);
        let got: Vec<i64> = scores.iter().map(|s| s.score).collect();
        assert_eq!(got, [18, 36, 100, 0]);
    }
}
