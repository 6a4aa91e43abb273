//! Upstream's InterPodAffinity table cases (a representative subset), ported.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Affinity, Namespace, Pod, PodAffinity, PodAffinityTerm, PodAntiAffinity,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};

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

fn labelled_pod(name: &str, ns: &str, l: &[(&str, &str)]) -> Pod {
    let mut p = pod(name, &[]);
    p.metadata.namespace = Some(ns.into());
    p.metadata.labels = Some(labels(l));
    p
}

fn on(mut p: Pod, node: &str) -> Pod {
    p.spec.as_mut().unwrap().node_name = Some(node.into());
    p
}

fn term(key: &str, op: &str, values: &[&str], topology: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            match_labels: None,
        }),
        topology_key: topology.into(),
        ..Default::default()
    }
}

#[derive(Default)]
struct Terms {
    affinity: Vec<PodAffinityTerm>,
    anti: Vec<PodAffinityTerm>,
    preferred: Vec<(i32, PodAffinityTerm)>,
    preferred_anti: Vec<(i32, PodAffinityTerm)>,
}

fn with(mut p: Pod, t: Terms) -> Pod {
    let weighted = |v: Vec<(i32, PodAffinityTerm)>| {
        v.into_iter()
            .map(|(weight, pod_affinity_term)| WeightedPodAffinityTerm {
                weight,
                pod_affinity_term,
            })
            .collect::<Vec<_>>()
    };
    p.spec.as_mut().unwrap().affinity = Some(Affinity {
        pod_affinity: Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(t.affinity),
            preferred_during_scheduling_ignored_during_execution: Some(weighted(t.preferred)),
        }),
        pod_anti_affinity: Some(PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(t.anti),
            preferred_during_scheduling_ignored_during_execution: Some(weighted(t.preferred_anti)),
        }),
        node_affinity: None,
    });
    p
}

fn nodes(specs: &[(&str, &[(&str, &str)])], pods: &[Pod]) -> Vec<Arc<NodeInfo>> {
    specs
        .iter()
        .map(|(name, l)| {
            let mut n = node(name, &[]);
            n.metadata.labels = Some(labels(l));
            let here = pods
                .iter()
                .filter(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some(name))
                .cloned()
                .collect();
            Arc::new(node_info(n, here))
        })
        .collect()
}

fn plugin() -> InterPodAffinity {
    InterPodAffinity {
        listers: Listers::default(),
        hard_pod_affinity_weight: DEFAULT_HARD_POD_AFFINITY_WEIGHT,
    }
}

/// A plugin whose namespace lister holds `team-a`, labelled `team: a`.
fn plugin_knowing_team_a() -> InterPodAffinity {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some("team-a".into()),
            labels: Some(labels(&[("team", "a")])),
            ..Default::default()
        },
        ..Default::default()
    };
    InterPodAffinity {
        listers: Listers {
            namespaces: store_of([namespace]),
            ..Default::default()
        },
        hard_pod_affinity_weight: 1,
    }
}

/// The filter verdict per node: "ok" or the reason, with the code.
fn verdicts(plugin: &InterPodAffinity, p: &Pod, ns: &[Arc<NodeInfo>]) -> Vec<(Code, String)> {
    let mut state = CycleState::default();
    let pre = plugin.pre_filter(&mut state, p, ns);
    ns.iter()
        .map(|n| {
            if pre.code == Code::Skip {
                return (Code::Success, "ok".into());
            }
            let s = plugin.filter(&state, p, n);
            (
                s.code,
                if s.is_success() {
                    "ok".into()
                } else {
                    s.message()
                },
            )
        })
        .collect()
}

fn ok() -> (Code, String) {
    (Code::Success, "ok".into())
}

const REGION: &[(&str, &str)] = &[("region", "r1"), ("zone", "z11")];

#[test]
fn a_pod_without_affinity_fits_an_empty_node() {
    let ns = nodes(&[("machine1", REGION)], &[]);
    let p = labelled_pod("p", "default", &[]);
    assert_eq!(verdicts(&plugin(), &p, &ns), [ok()]);
}

#[test]
fn affinity_in_operator_matching_an_existing_pod_is_satisfied() {
    let existing = on(
        labelled_pod("e", "default", &[("service", "securityscan")]),
        "machine1",
    );
    let ns = nodes(&[("machine1", REGION)], &[existing]);
    let p = with(
        labelled_pod("p", "default", &[]),
        Terms {
            affinity: vec![term("service", "In", &["securityscan", "value2"], "region")],
            ..Default::default()
        },
    );
    assert_eq!(verdicts(&plugin(), &p, &ns), [ok()]);
}

#[test]
fn affinity_does_not_match_a_pod_in_another_namespace() {
    let existing = on(
        labelled_pod("e", "default", &[("service", "securityscan")]),
        "machine1",
    );
    let ns = nodes(&[("machine1", REGION)], &[existing]);
    let mut t = term("service", "In", &["securityscan"], "region");
    t.namespaces = Some(vec!["DiffNameSpace".into()]);
    let p = with(
        labelled_pod("p", "default", &[]),
        Terms {
            affinity: vec![t],
            ..Default::default()
        },
    );
    assert_eq!(
        verdicts(&plugin(), &p, &ns),
        [(
            Code::UnschedulableAndUnresolvable,
            ERR_REASON_AFFINITY_RULES_NOT_MATCH.into()
        )]
    );
}

#[test]
fn a_namespace_selector_widens_the_term_to_the_selected_namespaces() {
    let existing = on(
        labelled_pod("e", "team-a", &[("service", "securityscan")]),
        "machine1",
    );
    let ns = nodes(&[("machine1", REGION)], &[existing]);
    let mut t = term("service", "In", &["securityscan"], "region");
    t.namespace_selector = Some(LabelSelector {
        match_labels: Some(labels(&[("team", "a")])),
        match_expressions: None,
    });
    let p = with(
        labelled_pod("p", "default", &[]),
        Terms {
            affinity: vec![t],
            ..Default::default()
        },
    );
    let with_namespaces = plugin_knowing_team_a();
    assert_eq!(verdicts(&with_namespaces, &p, &ns), [ok()]);
    assert_eq!(
        verdicts(&plugin(), &p, &ns)[0].1,
        ERR_REASON_AFFINITY_RULES_NOT_MATCH,
        "without the namespace's labels nothing is selected"
    );
}

#[test]
fn the_first_pod_of_a_group_with_affinity_to_itself_may_go_anywhere_with_the_topology_label() {
    let ns = nodes(
        &[("machine1", REGION), ("machine2", &[("zone", "z1")])],
        &[],
    );
    let p = with(
        labelled_pod("p", "default", &[("service", "securityscan")]),
        Terms {
            affinity: vec![term("service", "In", &["securityscan"], "region")],
            ..Default::default()
        },
    );
    let got = verdicts(&plugin(), &p, &ns);
    assert_eq!(got[0], ok());
    assert_eq!(
        got[1],
        (
            Code::UnschedulableAndUnresolvable,
            ERR_REASON_AFFINITY_RULES_NOT_MATCH.into()
        ),
        "a node without the topology label never satisfies affinity"
    );
}

#[test]
fn anti_affinity_keeps_the_pod_out_of_a_domain_with_a_matching_pod() {
    let existing = on(
        labelled_pod("e", "default", &[("service", "securityscan")]),
        "machine1",
    );
    let ns = nodes(
        &[
            ("machine1", &[("region", "r1")]),
            ("machine2", &[("region", "r1")]),
            ("machine3", &[("region", "r2")]),
        ],
        &[existing],
    );
    let p = with(
        labelled_pod("p", "default", &[]),
        Terms {
            anti: vec![term("service", "In", &["securityscan"], "region")],
            ..Default::default()
        },
    );
    let bad = (
        Code::Unschedulable,
        ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH.to_string(),
    );
    assert_eq!(verdicts(&plugin(), &p, &ns), [bad.clone(), bad, ok()]);
}

#[test]
fn an_existing_pods_anti_affinity_is_respected_symmetrically() {
    let existing = with(
        on(
            labelled_pod("e", "default", &[("service", "other")]),
            "machine1",
        ),
        Terms {
            anti: vec![term("security", "In", &["S1"], "zone")],
            ..Default::default()
        },
    );
    let ns = nodes(
        &[
            ("machine1", &[("zone", "z1")]),
            ("machine2", &[("zone", "z2")]),
        ],
        &[existing],
    );
    let p = labelled_pod("p", "default", &[("security", "S1")]);
    assert_eq!(
        verdicts(&plugin(), &p, &ns),
        [
            (
                Code::Unschedulable,
                ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH.into()
            ),
            ok()
        ]
    );
}

#[test]
fn match_label_keys_restrict_the_term_to_pods_with_the_same_values() {
    let old = on(
        labelled_pod("old", "default", &[("app", "web"), ("hash", "v1")]),
        "machine1",
    );
    let ns = nodes(
        &[
            ("machine1", &[("kubernetes.io/hostname", "machine1")]),
            ("machine2", &[("kubernetes.io/hostname", "machine2")]),
        ],
        &[old],
    );
    let mut t = term("app", "In", &["web"], "kubernetes.io/hostname");
    t.match_label_keys = Some(vec!["hash".into()]);
    let p = with(
        labelled_pod("new", "default", &[("app", "web"), ("hash", "v2")]),
        Terms {
            anti: vec![t],
            ..Default::default()
        },
    );
    assert_eq!(verdicts(&plugin(), &p, &ns), [ok(), ok()]);
}

fn normalized_scores(plugin: &InterPodAffinity, p: &Pod, ns: &[Arc<NodeInfo>]) -> Vec<i64> {
    let mut state = CycleState::default();
    plugin.pre_filter(&mut state, p, ns);
    if plugin.pre_score(&mut state, p, ns).code == Code::Skip {
        return vec![0; ns.len()];
    }
    let mut scores: Vec<NodeScore> = ns
        .iter()
        .map(|n| NodeScore {
            name: n.name(),
            score: plugin.score(&state, p, n).unwrap(),
        })
        .collect();
    plugin.normalize(&state, p, &mut scores);
    scores.iter().map(|s| s.score).collect()
}

const THREE_NODES: &[(&str, &[(&str, &str)])] = &[
    ("machine1", &[("region", "China")]),
    ("machine2", &[("region", "India")]),
    ("machine3", &[("az", "az1")]),
];

#[test]
fn preferred_affinity_favours_the_domain_of_matching_pods() {
    let existing = on(
        labelled_pod("e", "default", &[("security", "S1")]),
        "machine1",
    );
    let ns = nodes(THREE_NODES, &[existing]);
    let p = with(
        labelled_pod("p", "default", &[]),
        Terms {
            preferred: vec![(5, term("security", "In", &["S1"], "region"))],
            ..Default::default()
        },
    );
    assert_eq!(normalized_scores(&plugin(), &p, &ns), [100, 0, 0]);
}

#[test]
fn nodes_sharing_the_topology_value_share_the_score() {
    let existing = on(
        labelled_pod("e", "default", &[("security", "S1")]),
        "machine1",
    );
    let ns = nodes(
        &[
            ("machine1", &[("region", "China")]),
            ("machine2", &[("region", "China"), ("az", "az1")]),
            ("machine3", &[("region", "India")]),
        ],
        &[existing],
    );
    let p = with(
        labelled_pod("p", "default", &[]),
        Terms {
            preferred: vec![(5, term("security", "In", &["S1"], "region"))],
            ..Default::default()
        },
    );
    assert_eq!(normalized_scores(&plugin(), &p, &ns), [100, 100, 0]);
}

#[test]
fn preferred_anti_affinity_favours_domains_without_matching_pods() {
    let pods = [
        on(
            labelled_pod("e1", "default", &[("security", "S1")]),
            "machine1",
        ),
        on(
            labelled_pod("e2", "default", &[("security", "S2")]),
            "machine2",
        ),
    ];
    let ns = nodes(&THREE_NODES[..2], &pods);
    let p = with(
        labelled_pod("p", "default", &[]),
        Terms {
            preferred_anti: vec![(5, term("security", "In", &["S1"], "region"))],
            ..Default::default()
        },
    );
    assert_eq!(normalized_scores(&plugin(), &p, &ns), [0, 100]);
}

#[test]
fn an_existing_pods_required_affinity_counts_at_the_hard_weight() {
    let existing = with(
        on(labelled_pod("e", "default", &[("app", "db")]), "machine1"),
        Terms {
            affinity: vec![term("app", "In", &["web"], "region")],
            ..Default::default()
        },
    );
    let ns = nodes(THREE_NODES, &[existing]);
    let p = labelled_pod("p", "default", &[("app", "web")]);
    assert_eq!(normalized_scores(&plugin(), &p, &ns), [100, 0, 0]);
    let ignore = InterPodAffinity {
        hard_pod_affinity_weight: 0,
        ..plugin()
    };
    assert_eq!(normalized_scores(&ignore, &p, &ns), [0, 0, 0]);
}

#[test]
fn a_node_copy_without_the_conflicting_pod_fits_as_preemption_sees_it() {
    let existing = on(
        labelled_pod("e", "default", &[("service", "securityscan")]),
        "machine1",
    );
    let ns = nodes(&[("machine1", &[("region", "r1")])], &[existing]);
    let p = with(
        labelled_pod("p", "default", &[]),
        Terms {
            anti: vec![term("service", "In", &["securityscan"], "region")],
            ..Default::default()
        },
    );
    let pl = plugin();
    let mut state = CycleState::default();
    pl.pre_filter(&mut state, &p, &ns);
    assert!(!pl.filter(&state, &p, &ns[0]).is_success());
    let mut without = (*ns[0]).clone();
    without.remove_pod("default/e");
    assert!(
        pl.filter(&state, &p, &without).is_success(),
        "with the victim gone the domain is free"
    );
}

#[test]
fn an_existing_pods_anti_affinity_with_a_namespace_selector_rejects_pods_of_selected_namespaces() {
    let mut t = term("app", "In", &["web"], "zone");
    t.namespace_selector = Some(LabelSelector {
        match_labels: Some(labels(&[("team", "a")])),
        match_expressions: None,
    });
    let existing = with(
        on(labelled_pod("e", "default", &[]), "machine1"),
        Terms {
            anti: vec![t],
            ..Default::default()
        },
    );
    let ns = nodes(
        &[
            ("machine1", &[("zone", "z1")]),
            ("machine2", &[("zone", "z2")]),
        ],
        &[existing],
    );
    let with_namespaces = plugin_knowing_team_a();
    let selected = labelled_pod("p", "team-a", &[("app", "web")]);
    assert_eq!(
        verdicts(&with_namespaces, &selected, &ns),
        [
            (
                Code::Unschedulable,
                ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH.into()
            ),
            ok()
        ]
    );
    let elsewhere = labelled_pod("p", "team-b", &[("app", "web")]);
    assert_eq!(verdicts(&with_namespaces, &elsewhere, &ns), [ok(), ok()]);
}

#[test]
fn the_snapshot_index_follows_pods_added_and_removed_and_agrees_with_a_full_walk() {
    use crate::framework::PodInfo;
    use crate::snapshot::Snapshot;

    let anti = |name: &str, node: &str| {
        with(
            on(labelled_pod(name, "default", &[("color", "green")]), node),
            Terms {
                anti: vec![term("color", "In", &["green"], "kubernetes.io/hostname")],
                ..Default::default()
            },
        )
    };
    let specs: &[(&str, &[(&str, &str)])] = &[
        ("a", &[("kubernetes.io/hostname", "a")]),
        ("b", &[("kubernetes.io/hostname", "b")]),
    ];
    let mut snap = Snapshot::default();
    snap.replace_all(nodes(specs, &[anti("p1", "a")]));
    let incoming = anti("new", "");
    let verdicts_with = |snap: &Snapshot| {
        let mut state = CycleState::default();
        crate::snapshot::remember(&mut state, Arc::new(snap.clone()));
        let pre = plugin().pre_filter(&mut state, &incoming, &snap.nodes);
        assert!(pre.is_success());
        let walked = plugin().compute_pre_filter_state(&incoming, &snap.nodes);
        let indexed = state
            .read::<PreFilterState>("PreFilterInterPodAffinity")
            .unwrap();
        assert_eq!(indexed.anti_affinity_counts, walked.anti_affinity_counts);
        assert_eq!(
            indexed.existing_anti_affinity_counts,
            walked.existing_anti_affinity_counts
        );
        snap.nodes
            .iter()
            .map(|n| plugin().filter(&state, &incoming, n).is_success())
            .collect::<Vec<_>>()
    };
    assert_eq!(verdicts_with(&snap), [false, true]);

    let mut b = (*snap.nodes[1]).clone();
    b.add_pod(PodInfo::new(Arc::new(anti("p2", "b"))));
    snap.apply_changes(vec![("b".into(), Some(Arc::new(b)))]);
    assert_eq!(verdicts_with(&snap), [false, false]);

    let mut a = (*snap.nodes[0]).clone();
    assert!(a.remove_pod("default/p1"));
    snap.apply_changes(vec![("a".into(), Some(Arc::new(a)))]);
    assert_eq!(verdicts_with(&snap), [true, false]);
}
