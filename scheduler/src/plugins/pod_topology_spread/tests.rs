//! Upstream's PodTopologySpread table cases (a representative subset), ported.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

use super::common::*;
use super::filtering::*;
use super::*;
use crate::framework::{
    Code, CycleState, FilterPlugin, NodeInfo, NodeScore, PreFilterPlugin, PreScorePlugin,
    ScorePlugin,
};
use crate::listers::store_of;
use crate::plugins::testing::{node, node_info, pod};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn foo_pod(name: &str, node: &str) -> Pod {
    let mut p = pod(name, &[]);
    p.metadata.labels = Some(labels(&[("foo", "")]));
    p.spec.as_mut().unwrap().node_name = Some(node.into());
    p
}

fn constraint(skew: i32, key: &str, when: &str) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: skew,
        topology_key: key.into(),
        when_unsatisfiable: when.into(),
        label_selector: Some(LabelSelector {
            match_labels: Some(labels(&[("foo", "")])),
            match_expressions: None,
        }),
        ..Default::default()
    }
}

fn incoming(constraints: Vec<TopologySpreadConstraint>) -> Pod {
    let mut p = pod("p", &[]);
    p.metadata.labels = Some(labels(&[("foo", "")]));
    p.spec.as_mut().unwrap().topology_spread_constraints = Some(constraints);
    p
}

/// node-a, node-b in zone1; node-x, node-y in zone2.
fn four_nodes(pods: &[Pod]) -> Vec<Arc<NodeInfo>> {
    [
        ("node-a", "zone1"),
        ("node-b", "zone1"),
        ("node-x", "zone2"),
        ("node-y", "zone2"),
    ]
    .iter()
    .map(|(name, zone)| {
        let mut n = node(name, &[]);
        n.metadata.labels = Some(labels(&[("zone", zone), ("node", name)]));
        let here = pods
            .iter()
            .filter(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some(name))
            .cloned()
            .collect();
        Arc::new(node_info(n, here))
    })
    .collect()
}

fn plugin() -> PodTopologySpread {
    PodTopologySpread::with_args(Listers::default(), None)
}

fn verdicts(p: &Pod, ns: &[Arc<NodeInfo>]) -> Vec<Code> {
    let pl = plugin();
    let mut state = CycleState::default();
    let pre = pl.pre_filter(&mut state, p, ns);
    ns.iter()
        .map(|n| {
            if pre.code == Code::Skip {
                Code::Success
            } else {
                pl.filter(&state, p, n).code
            }
        })
        .collect()
}

use Code::{Success as Ok_, Unschedulable as No, UnschedulableAndUnresolvable as Never};

#[test]
fn no_existing_pods_every_node_fits() {
    let p = incoming(vec![constraint(1, "zone", DO_NOT_SCHEDULE)]);
    assert_eq!(verdicts(&p, &four_nodes(&[])), [Ok_, Ok_, Ok_, Ok_]);
}

#[test]
fn pods_in_another_namespace_do_not_count() {
    let mut others: Vec<Pod> = ["node-a", "node-a", "node-b"]
        .iter()
        .enumerate()
        .map(|(i, n)| foo_pod(&format!("o{i}"), n))
        .collect();
    for o in &mut others {
        o.metadata.namespace = Some("ns2".into());
    }
    let p = incoming(vec![constraint(1, "zone", DO_NOT_SCHEDULE)]);
    assert_eq!(verdicts(&p, &four_nodes(&others)), [Ok_, Ok_, Ok_, Ok_]);
}

#[test]
fn zones_spread_three_three_every_node_fits() {
    let pods: Vec<Pod> = ["node-a", "node-a", "node-b", "node-x", "node-y", "node-y"]
        .iter()
        .enumerate()
        .map(|(i, n)| foo_pod(&format!("p{i}"), n))
        .collect();
    let p = incoming(vec![constraint(1, "zone", DO_NOT_SCHEDULE)]);
    assert_eq!(verdicts(&p, &four_nodes(&pods)), [Ok_, Ok_, Ok_, Ok_]);
}

#[test]
fn a_node_without_the_topology_label_is_rejected_with_its_own_reason() {
    let mut ns = four_nodes(&[]);
    let mut n = node("node-b", &[]);
    n.metadata.labels = Some(labels(&[("zon", "zone1")]));
    ns[1] = Arc::new(node_info(n, vec![]));
    let p = incoming(vec![constraint(1, "zone", DO_NOT_SCHEDULE)]);
    let pl = plugin();
    let mut state = CycleState::default();
    pl.pre_filter(&mut state, &p, &ns);
    let s = pl.filter(&state, &p, &ns[1]);
    assert_eq!(s.code, Never);
    assert_eq!(s.message(), ERR_REASON_NODE_LABEL_NOT_MATCH);
}

#[test]
fn nodes_spread_two_one_zero_three_only_the_empty_node_fits() {
    let pods: Vec<Pod> = ["node-a", "node-a", "node-b", "node-y", "node-y", "node-y"]
        .iter()
        .enumerate()
        .map(|(i, n)| foo_pod(&format!("p{i}"), n))
        .collect();
    let p = incoming(vec![constraint(1, "node", DO_NOT_SCHEDULE)]);
    assert_eq!(verdicts(&p, &four_nodes(&pods)), [No, No, Ok_, No]);
    let pl = plugin();
    let mut state = CycleState::default();
    let ns = four_nodes(&pods);
    pl.pre_filter(&mut state, &p, &ns);
    assert_eq!(
        pl.filter(&state, &p, &ns[0]).message(),
        ERR_REASON_CONSTRAINTS_NOT_MATCH
    );
}

#[test]
fn two_constraints_must_both_hold() {
    // Zones 3 / 1 and nodes 2 / 1 / 0 / 1: only node-x (zone2, empty) fits both.
    let pods: Vec<Pod> = ["node-a", "node-a", "node-b", "node-y"]
        .iter()
        .enumerate()
        .map(|(i, n)| foo_pod(&format!("p{i}"), n))
        .collect();
    let p = incoming(vec![
        constraint(1, "zone", DO_NOT_SCHEDULE),
        constraint(1, "node", DO_NOT_SCHEDULE),
    ]);
    assert_eq!(verdicts(&p, &four_nodes(&pods)), [No, No, Ok_, No]);
}

#[test]
fn fewer_domains_than_min_domains_make_the_global_minimum_zero() {
    // Zones 2 / 1 with maxSkew 2: without minDomains every node fits; with minDomains 3 the
    // minimum counts as 0 and zone1 (2 + 1 > 2) is full.
    let pods: Vec<Pod> = ["node-a", "node-b", "node-x"]
        .iter()
        .enumerate()
        .map(|(i, n)| foo_pod(&format!("p{i}"), n))
        .collect();
    let mut c = constraint(2, "zone", DO_NOT_SCHEDULE);
    assert_eq!(
        verdicts(&incoming(vec![c.clone()]), &four_nodes(&pods)),
        [Ok_, Ok_, Ok_, Ok_]
    );
    c.min_domains = Some(3);
    assert_eq!(
        verdicts(&incoming(vec![c]), &four_nodes(&pods)),
        [No, No, Ok_, Ok_]
    );
}

#[test]
fn node_affinity_policy_honor_leaves_excluded_domains_out_of_the_minimum() {
    // zone1 holds 2 pods, zone2 none; the pod may only run in zone1. Honoring its node
    // affinity, zone2 is not a domain, so the minimum is 2 and zone1 fits; ignoring it, the
    // minimum is 0 and zone1 is too full.
    let pods: Vec<Pod> = ["node-a", "node-b"]
        .iter()
        .enumerate()
        .map(|(i, n)| foo_pod(&format!("p{i}"), n))
        .collect();
    let only_zone1 = |mut p: Pod| {
        p.spec.as_mut().unwrap().affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "zone".into(),
                            operator: "In".into(),
                            values: Some(vec!["zone1".into()]),
                        }]),
                        match_fields: None,
                    }],
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        p
    };
    let honor = only_zone1(incoming(vec![constraint(1, "zone", DO_NOT_SCHEDULE)]));
    assert_eq!(verdicts(&honor, &four_nodes(&pods))[..2], [Ok_, Ok_]);
    let mut c = constraint(1, "zone", DO_NOT_SCHEDULE);
    c.node_affinity_policy = Some("Ignore".into());
    let ignore = only_zone1(incoming(vec![c]));
    assert_eq!(verdicts(&ignore, &four_nodes(&pods))[..2], [No, No]);
}

fn normalized_scores(pl: &PodTopologySpread, p: &Pod, ns: &[Arc<NodeInfo>]) -> Vec<i64> {
    let mut state = CycleState::default();
    pl.pre_filter(&mut state, p, ns);
    if pl.pre_score(&mut state, p, ns).code == Code::Skip {
        return vec![];
    }
    let mut scores: Vec<NodeScore> = ns
        .iter()
        .map(|n| NodeScore {
            name: n.name(),
            score: pl.score(&state, p, n).unwrap(),
        })
        .collect();
    pl.normalize(&state, p, &mut scores);
    scores.iter().map(|s| s.score).collect()
}

#[test]
fn scoring_one_constraint_on_node_all_four_nodes_candidates() {
    // Upstream: pods 2 / 1 / 0 / 3 → 20, 60, 100, 0.
    let pods: Vec<Pod> = ["node-a", "node-a", "node-b", "node-y", "node-y", "node-y"]
        .iter()
        .enumerate()
        .map(|(i, n)| foo_pod(&format!("p{i}"), n))
        .collect();
    let p = incoming(vec![constraint(1, LABEL_HOSTNAME, SCHEDULE_ANYWAY)]);
    let ns: Vec<Arc<NodeInfo>> = four_nodes(&pods)
        .into_iter()
        .map(|n| {
            let mut info = (*n).clone();
            let mut node = (**info.node.as_ref().unwrap()).clone();
            node.metadata
                .labels
                .as_mut()
                .unwrap()
                .insert(LABEL_HOSTNAME.into(), node.metadata.name.clone().unwrap());
            info.set_node(Arc::new(node));
            Arc::new(info)
        })
        .collect();
    assert_eq!(normalized_scores(&plugin(), &p, &ns), [20, 60, 100, 0]);
}

#[test]
fn scoring_by_zone_prefers_the_emptier_zone() {
    let pods: Vec<Pod> = ["node-a", "node-b", "node-x"]
        .iter()
        .enumerate()
        .map(|(i, n)| foo_pod(&format!("p{i}"), n))
        .collect();
    let p = incoming(vec![constraint(1, "zone", SCHEDULE_ANYWAY)]);
    // zone1 holds 2, zone2 holds 1: raw round(2 ln 4) = 3 and round(ln 4) = 1 →
    // 100 * (3 + 1 - raw) / 3.
    assert_eq!(
        normalized_scores(&plugin(), &p, &four_nodes(&pods)),
        [33, 33, 100, 100]
    );
}

#[test]
fn system_defaults_apply_to_pods_of_a_replica_set() {
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels(&[("foo", "")])),
                match_expressions: None,
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let pl = PodTopologySpread::with_args(
        Listers {
            replica_sets: store_of([rs]),
            ..Default::default()
        },
        None,
    );
    let mut p = pod("p", &[]);
    p.metadata.labels = Some(labels(&[("foo", "")]));
    assert!(
        pl.constraints(&p, SCHEDULE_ANYWAY).is_empty(),
        "a pod without a controller or service gets no default constraints"
    );
    p.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "web".into(),
        uid: "u".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    let got = pl.constraints(&p, SCHEDULE_ANYWAY);
    assert_eq!(
        got.iter()
            .map(|c| (c.topology_key.as_str(), c.max_skew))
            .collect::<Vec<_>>(),
        [(LABEL_HOSTNAME, 3), (LABEL_TOPOLOGY_ZONE, 5)]
    );
    assert!(pl.constraints(&p, DO_NOT_SCHEDULE).is_empty());
}

#[test]
fn a_node_copy_without_victims_counts_its_remaining_pods() {
    // node-a holds 2 of the 2 matching pods: too full until preemption removes one.
    let pods: Vec<Pod> = ["node-a", "node-a"]
        .iter()
        .enumerate()
        .map(|(i, n)| foo_pod(&format!("p{i}"), n))
        .collect();
    let ns = four_nodes(&pods);
    let p = incoming(vec![constraint(1, "node", DO_NOT_SCHEDULE)]);
    let pl = plugin();
    let mut state = CycleState::default();
    pl.pre_filter(&mut state, &p, &ns);
    assert_eq!(pl.filter(&state, &p, &ns[0]).code, No);
    let mut without = (*ns[0]).clone();
    without.remove_pod("default/p0");
    without.remove_pod("default/p1");
    assert_eq!(pl.filter(&state, &p, &without).code, Ok_);
}

#[test]
fn counts_kept_between_cycles_follow_the_nodes_that_changed() {
    let pl = plugin();
    let p = incoming(vec![constraint(1, "zone", DO_NOT_SCHEDULE)]);
    let mut nodes = four_nodes(&[]);
    let first = pl.compute_pre_filter_state(&p, &nodes);
    assert_eq!(first.match_counts[0].get("zone1"), Some(&0));
    // Two matching pods land on node-a and one on node-x; node-y goes away.
    let land = |n: &Arc<NodeInfo>, pods: &[&str]| {
        let mut copy = (**n).clone();
        for name in pods {
            let bound = foo_pod(name, copy.name());
            copy.add_pod(crate::framework::PodInfo::new(Arc::new(bound)));
        }
        Arc::new(copy)
    };
    nodes[0] = land(&nodes[0], &["a1", "a2"]);
    nodes[2] = land(&nodes[2], &["x1"]);
    nodes.pop();
    let kept = pl.compute_pre_filter_state(&p, &nodes);
    let fresh = plugin().compute_pre_filter_state(&p, &nodes);
    assert_eq!(*kept.match_counts[0], *fresh.match_counts[0]);
    assert_eq!(kept.match_counts[0].get("zone1"), Some(&2));
    assert_eq!(kept.match_counts[0].get("zone2"), Some(&1));
    // With node-x gone too, zone2 is no longer a domain and the minimum is zone1's.
    nodes.pop();
    let kept = pl.compute_pre_filter_state(&p, &nodes);
    assert_eq!(kept.match_counts[0].get("zone2"), None);
    assert_eq!(kept.min_match(0), 2);
    assert_eq!(verdicts(&p, &nodes), [Ok_, Ok_]);
}

#[test]
fn a_node_moved_to_another_zone_is_spread_in_its_new_zone() {
    let mut n = node("node-a", &[]);
    n.metadata.labels = Some(labels(&[(LABEL_TOPOLOGY_ZONE, "zone1")]));
    let mut info = NodeInfo::new(Arc::new(n.clone()));
    assert_eq!(info.node_label(LABEL_TOPOLOGY_ZONE), Some("zone1"));
    n.metadata.labels = Some(labels(&[(LABEL_TOPOLOGY_ZONE, "zone2"), ("rack", "r1")]));
    info.set_node(Arc::new(n.clone()));
    assert_eq!(info.node_label(LABEL_TOPOLOGY_ZONE), Some("zone2"));
    assert_eq!(info.node_label("rack"), Some("r1"));
    n.metadata.labels = None;
    info.set_node(Arc::new(n));
    assert_eq!(info.node_label(LABEL_TOPOLOGY_ZONE), None);
    info.clear_node();
    assert_eq!(info.node_label("rack"), None);
}
