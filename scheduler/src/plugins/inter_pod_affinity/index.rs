//! An index of the snapshot's pods for InterPodAffinity's PreFilter, kept up to date as nodes
//! change (pods added, removed or assumed), so a cycle counts the pods matching a term
//! without visiting every pod:
//!
//! - the pods by (namespace, label key, label value), per node: a term whose selector has an
//!   `In` requirement (every `matchLabels` entry is one) needs only look at the pods carrying
//!   one of its values, in one of its namespaces;
//! - the existing pods' required anti-affinity terms, each distinct term once with how many
//!   pods on each node have it: matching the incoming pod against a term once covers every
//!   pod that has it.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::terms::{AffinityTerm, pod_labels, pod_namespace};
use crate::framework::NodeInfo;

/// The pods of one node that carry one label value.
#[derive(Clone, Debug)]
pub struct NodePods {
    /// The node (for its topology labels).
    pub node: Arc<Node>,
    /// The pods.
    pub pods: Vec<Arc<Pod>>,
}

/// How many pods of one node have one required anti-affinity term.
#[derive(Clone, Debug)]
pub struct NodeTermCount {
    /// The node (for its topology labels).
    pub node: Arc<Node>,
    /// How many of its pods have the term.
    pub pods: i64,
}

/// The index (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct AffinityIndex {
    /// `namespace\0key\0value` → node name → the pods there with that label.
    by_label: HashMap<String, HashMap<String, NodePods>>,
    /// Required anti-affinity term of existing pods → node name → how many pods have it.
    anti_affinity_terms: HashMap<AffinityTerm, HashMap<String, NodeTermCount>>,
}

fn label_key(namespace: &str, key: &str, value: &str) -> String {
    let mut k = String::with_capacity(namespace.len() + key.len() + value.len() + 2);
    k.push_str(namespace);
    k.push('\0');
    k.push_str(key);
    k.push('\0');
    k.push_str(value);
    k
}

impl AffinityIndex {
    /// The index of these nodes' pods.
    pub fn of_nodes(nodes: &[Arc<NodeInfo>]) -> Self {
        let mut idx = AffinityIndex::default();
        for n in nodes {
            idx.add_node(n);
        }
        idx
    }

    /// Indexes the pods of `info` (nothing when it has no Node object).
    pub fn add_node(&mut self, info: &NodeInfo) {
        let Some(node) = &info.node else {
            return;
        };
        let name = info.name();
        for p in &info.pods {
            let ns = pod_namespace(&p.pod);
            for (k, v) in pod_labels(&p.pod) {
                self.by_label
                    .entry(label_key(ns, k, v))
                    .or_default()
                    .entry(name.to_string())
                    .or_insert_with(|| NodePods {
                        node: node.clone(),
                        pods: Vec::new(),
                    })
                    .pods
                    .push(p.pod.clone());
            }
            for t in p.terms.iter().flat_map(|t| &t.required_anti_affinity) {
                if !self.anti_affinity_terms.contains_key(t) {
                    self.anti_affinity_terms.insert(t.clone(), HashMap::new());
                }
                let Some(per_node) = self.anti_affinity_terms.get_mut(t) else {
                    continue;
                };
                per_node
                    .entry(name.to_string())
                    .or_insert_with(|| NodeTermCount {
                        node: node.clone(),
                        pods: 0,
                    })
                    .pods += 1;
            }
        }
    }

    /// Stops indexing the pods of `info`, as [`AffinityIndex::add_node`] indexed them.
    pub fn remove_node(&mut self, info: &NodeInfo) {
        if info.node.is_none() {
            return;
        }
        let name = info.name();
        for p in &info.pods {
            let ns = pod_namespace(&p.pod);
            for (k, v) in pod_labels(&p.pod) {
                let key = label_key(ns, k, v);
                let Some(per_node) = self.by_label.get_mut(&key) else {
                    continue;
                };
                if let Some(entry) = per_node.get_mut(name) {
                    if let Some(i) = entry.pods.iter().position(|q| Arc::ptr_eq(q, &p.pod)) {
                        entry.pods.swap_remove(i);
                    }
                    if entry.pods.is_empty() {
                        per_node.remove(name);
                    }
                }
                if per_node.is_empty() {
                    self.by_label.remove(&key);
                }
            }
            for t in p.terms.iter().flat_map(|t| &t.required_anti_affinity) {
                let Some(per_node) = self.anti_affinity_terms.get_mut(t) else {
                    continue;
                };
                if let Some(entry) = per_node.get_mut(name) {
                    entry.pods -= 1;
                    if entry.pods <= 0 {
                        per_node.remove(name);
                    }
                }
                if per_node.is_empty() {
                    self.anti_affinity_terms.remove(t);
                }
            }
        }
    }

    /// The nodes' pods that may match `term`: those carrying a value of the first `In`
    /// requirement of its selector, in its namespaces (each pod at most once). None when the
    /// selector has no `In` requirement, so every pod must be looked at.
    pub fn candidates<'a>(
        &'a self,
        term: &'a AffinityTerm,
    ) -> Option<impl Iterator<Item = &'a NodePods> + 'a> {
        let (key, values) = term.selector.first_in_requirement()?;
        Some(term.namespaces.iter().flat_map(move |ns| {
            values.iter().flat_map(move |v| {
                self.by_label
                    .get(&label_key(ns, key, v))
                    .into_iter()
                    .flat_map(|per_node| per_node.values())
            })
        }))
    }

    /// The existing pods' distinct required anti-affinity terms, with how many pods on each
    /// node have each.
    pub fn anti_affinity_terms(
        &self,
    ) -> impl Iterator<Item = (&AffinityTerm, impl Iterator<Item = &NodeTermCount>)> {
        self.anti_affinity_terms
            .iter()
            .map(|(t, per_node)| (t, per_node.values()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::PodInfo;
    use crate::plugins::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{Affinity, PodAffinityTerm, PodAntiAffinity};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::collections::BTreeMap;

    fn labeled(name: &str, ns: &str, color: &str, anti: bool) -> Pod {
        let mut p = pod(name, &[&[("cpu", "1")]]);
        p.metadata.namespace = Some(ns.into());
        p.metadata.labels = Some(BTreeMap::from([("color".into(), color.into())]));
        if anti {
            p.spec.as_mut().unwrap().affinity = Some(Affinity {
                pod_anti_affinity: Some(PodAntiAffinity {
                    required_during_scheduling_ignored_during_execution: Some(vec![
                        PodAffinityTerm {
                            label_selector: Some(LabelSelector {
                                match_labels: Some(BTreeMap::from([(
                                    "color".into(),
                                    color.into(),
                                )])),
                                ..Default::default()
                            }),
                            topology_key: "kubernetes.io/hostname".into(),
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        p
    }

    fn term(namespaces: &[&str], color: &str) -> AffinityTerm {
        AffinityTerm {
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
            namespace_selector: super::super::terms::Selector::Nothing,
            selector: super::super::terms::Selector::from_label_selector(Some(&LabelSelector {
                match_labels: Some(BTreeMap::from([("color".into(), color.into())])),
                ..Default::default()
            })),
            topology_key: "kubernetes.io/hostname".into(),
        }
    }

    fn matching(idx: &AffinityIndex, t: &AffinityTerm) -> usize {
        idx.candidates(t)
            .unwrap()
            .flat_map(|n| n.pods.iter())
            .filter(|p| t.matches(p, None))
            .count()
    }

    fn anti_affinity_pods(idx: &AffinityIndex) -> i64 {
        idx.anti_affinity_terms()
            .flat_map(|(_, per_node)| per_node.map(|n| n.pods))
            .sum()
    }

    #[test]
    fn a_pod_added_to_a_node_is_counted_and_a_removed_one_no_longer() {
        let a = Arc::new(node_info(
            node("a", &[("cpu", "4")]),
            vec![labeled("p1", "default", "green", true)],
        ));
        let mut idx = AffinityIndex::of_nodes(std::slice::from_ref(&a));
        let green = term(&["default"], "green");
        assert_eq!(matching(&idx, &green), 1);
        assert_eq!(anti_affinity_pods(&idx), 1);

        let mut a2 = (*a).clone();
        a2.add_pod(PodInfo::new(Arc::new(labeled(
            "p2", "default", "green", true,
        ))));
        idx.remove_node(&a);
        idx.add_node(&a2);
        assert_eq!(matching(&idx, &green), 2);
        assert_eq!(anti_affinity_pods(&idx), 2);

        let mut a3 = a2.clone();
        assert!(a3.remove_pod("default/p1"));
        idx.remove_node(&a2);
        idx.add_node(&a3);
        assert_eq!(matching(&idx, &green), 1);
        assert_eq!(anti_affinity_pods(&idx), 1);

        idx.remove_node(&a3);
        assert_eq!(matching(&idx, &green), 0);
        assert_eq!(anti_affinity_pods(&idx), 0);
        assert!(idx.by_label.is_empty() && idx.anti_affinity_terms.is_empty());
    }

    #[test]
    fn a_term_sees_only_the_pods_of_its_namespaces() {
        let a = Arc::new(node_info(
            node("a", &[("cpu", "4")]),
            vec![
                labeled("p1", "team-a", "green", false),
                labeled("p2", "team-b", "green", false),
                labeled("p3", "team-b", "blue", false),
            ],
        ));
        let idx = AffinityIndex::of_nodes(&[a]);
        assert_eq!(matching(&idx, &term(&["team-a"], "green")), 1);
        assert_eq!(matching(&idx, &term(&["team-a", "team-b"], "green")), 2);
        assert_eq!(matching(&idx, &term(&["team-c"], "green")), 0);
        assert_eq!(matching(&idx, &term(&["team-b"], "blue")), 1);
    }

    #[test]
    fn a_selector_without_an_in_requirement_has_no_candidates() {
        let mut t = term(&["default"], "green");
        t.selector = super::super::terms::Selector::everything();
        assert!(AffinityIndex::default().candidates(&t).is_none());
    }
}
