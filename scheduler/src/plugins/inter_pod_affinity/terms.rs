//! Pod affinity terms as the scheduler evaluates them (upstream's `framework.AffinityTerm`):
//! a label selector, the namespaces it applies to (or a namespace selector), and a topology
//! key; plus the label-selector matching that PodTopologySpread shares.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::listers::Listers;

/// One requirement of a compiled selector.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Requirement {
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => !labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A compiled label selector (upstream's `labels.Selector`): `Nothing` matches no labels, an
/// empty requirement list matches every label set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    /// Matches nothing (a nil selector in an affinity term, or an invalid one).
    Nothing,
    /// Matches labels satisfying every requirement.
    Requirements(Vec<RequirementRef>),
}

/// An opaque requirement of a [`Selector`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequirementRef(Requirement);

impl Selector {
    /// Matches every label set.
    pub fn everything() -> Self {
        Selector::Requirements(Vec::new())
    }

    /// As upstream's `metav1.LabelSelectorAsSelector`: `None` matches nothing, `{}` matches
    /// everything, an unknown operator matches nothing.
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Self {
        let Some(selector) = selector else {
            return Selector::Nothing;
        };
        let mut reqs = Vec::new();
        for (k, v) in selector.match_labels.iter().flatten() {
            reqs.push(RequirementRef(Requirement::In(
                k.clone(),
                BTreeSet::from([v.clone()]),
            )));
        }
        for e in selector.match_expressions.iter().flatten() {
            match requirement(e) {
                Some(r) => reqs.push(RequirementRef(r)),
                None => return Selector::Nothing,
            }
        }
        Selector::Requirements(reqs)
    }

    /// Whether the labels satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Requirements(reqs) => reqs.iter().all(|r| r.0.matches(labels)),
        }
    }

    /// Whether it has no requirements (and so matches everything).
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }

    /// The key and values of its first `In` requirement: only labels with one of these
    /// values can match (None for `Nothing` and for selectors without one).
    pub fn first_in_requirement(&self) -> Option<(&str, &BTreeSet<String>)> {
        match self {
            Selector::Nothing => None,
            Selector::Requirements(reqs) => reqs.iter().find_map(|r| match &r.0 {
                Requirement::In(k, vs) => Some((k.as_str(), vs)),
                _ => None,
            }),
        }
    }

    /// Adds `key In (value)` requirements (upstream's `mergeLabelSetWithSelector`).
    pub fn with_label_values(mut self, pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        if let Selector::Requirements(reqs) = &mut self {
            for (k, v) in pairs {
                reqs.push(RequirementRef(Requirement::In(k, BTreeSet::from([v]))));
            }
        }
        self
    }

    /// Adds `key NotIn (value)` requirements (for `mismatchLabelKeys`).
    fn without_label_values(mut self, pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        if let Selector::Requirements(reqs) = &mut self {
            for (k, v) in pairs {
                reqs.push(RequirementRef(Requirement::NotIn(k, BTreeSet::from([v]))));
            }
        }
        self
    }
}

fn requirement(e: &LabelSelectorRequirement) -> Option<Requirement> {
    let values: BTreeSet<String> = e.values.iter().flatten().cloned().collect();
    Some(match e.operator.as_str() {
        "In" => Requirement::In(e.key.clone(), values),
        "NotIn" => Requirement::NotIn(e.key.clone(), values),
        "Exists" => Requirement::Exists(e.key.clone()),
        "DoesNotExist" => Requirement::DoesNotExist(e.key.clone()),
        _ => return None,
    })
}

/// A pod's labels (empty when it has none).
pub fn pod_labels(pod: &Pod) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    pod.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

/// A pod's namespace (`default` when unset).
pub fn pod_namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

/// A pod affinity term ready to match pods.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AffinityTerm {
    /// The namespaces it applies to.
    pub namespaces: BTreeSet<String>,
    /// Namespaces whose labels match this also apply.
    pub namespace_selector: Selector,
    /// Which pods it is about.
    pub selector: Selector,
    /// The node label that defines a topology domain.
    pub topology_key: String,
}

/// A preferred term with its weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedAffinityTerm {
    /// The term.
    pub term: AffinityTerm,
    /// Its weight (1..=100).
    pub weight: i64,
}

impl AffinityTerm {
    /// Compiles `term` of `pod` (upstream's `newAffinityTerm`): namespaces default to the
    /// pod's own when neither `namespaces` nor `namespaceSelector` is set; `matchLabelKeys` /
    /// `mismatchLabelKeys` add `In` / `NotIn` requirements on the pod's own label values.
    pub fn new(pod: &Pod, term: &PodAffinityTerm) -> Self {
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(pod_namespace(pod).to_string());
        }
        let labels = pod_labels(pod);
        let pick = |keys: &Option<Vec<String>>| -> Vec<(String, String)> {
            keys.iter()
                .flatten()
                .filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
                .collect()
        };
        let mut selector = Selector::from_label_selector(term.label_selector.as_ref());
        if term.label_selector.is_some() {
            selector = selector
                .with_label_values(pick(&term.match_label_keys))
                .without_label_values(pick(&term.mismatch_label_keys));
        }
        AffinityTerm {
            namespaces,
            namespace_selector: Selector::from_label_selector(term.namespace_selector.as_ref()),
            selector,
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether `pod` (whose namespace has `namespace_labels`) matches: its namespace is
    /// listed or selected, and its labels match (upstream's `AffinityTerm.Matches`).
    pub fn matches(&self, pod: &Pod, namespace_labels: Option<&BTreeMap<String, String>>) -> bool {
        let ns_ok = self.namespaces.contains(pod_namespace(pod))
            || namespace_labels.is_some_and(|l| self.namespace_selector.matches(l));
        ns_ok && self.selector.matches(pod_labels(pod))
    }

    /// Replaces the namespace selector by the namespaces it selects now (upstream's
    /// `mergeAffinityTermNamespacesIfNotEmpty`), so matching needs no namespace labels.
    pub fn merge_selected_namespaces(&mut self, listers: &Listers) {
        if self.namespace_selector == Selector::Nothing {
            return;
        }
        for ns in listers.all_namespaces() {
            if self
                .namespace_selector
                .matches(ns.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()))
                && let Some(name) = &ns.metadata.name
            {
                self.namespaces.insert(name.clone());
            }
        }
        self.namespace_selector = Selector::Nothing;
    }
}

/// The labels of `namespace`, if the namespace is known (upstream's
/// `GetNamespaceLabelsSnapshot`).
pub fn namespace_labels(listers: &Listers, namespace: &str) -> BTreeMap<String, String> {
    listers
        .namespace(namespace)
        .and_then(|n| n.metadata.labels.clone())
        .unwrap_or_default()
}

/// The compiled pod affinity and anti-affinity terms of a pod (upstream's `PodInfo`).
#[derive(Clone, Debug, Default)]
pub struct PodTerms {
    /// Required affinity.
    pub required_affinity: Vec<AffinityTerm>,
    /// Required anti-affinity.
    pub required_anti_affinity: Vec<AffinityTerm>,
    /// Preferred affinity.
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    /// Preferred anti-affinity.
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
}

impl PodTerms {
    /// Compiles every pod (anti-)affinity term of `pod`.
    pub fn of(pod: &Pod) -> Self {
        let Some(affinity) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
            return PodTerms::default();
        };
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::new(pod, t))
                .collect()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>| {
            terms
                .into_iter()
                .flatten()
                .map(|t| WeightedAffinityTerm {
                    term: AffinityTerm::new(pod, &t.pod_affinity_term),
                    weight: t.weight as i64,
                })
                .collect::<Vec<_>>()
        };
        let pa = affinity.pod_affinity.as_ref();
        let paa = affinity.pod_anti_affinity.as_ref();
        PodTerms {
            required_affinity: required(pa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti_affinity: required(paa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: preferred(pa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti_affinity: preferred(paa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
        }
    }

    /// Whether the pod has any pod affinity or anti-affinity at all.
    pub fn is_empty(&self) -> bool {
        self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty()
    }
}

/// Whether a pod has any pod affinity or anti-affinity (upstream's `PodsWithAffinity`), cheaply.
pub fn has_pod_affinity(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
}

pub use crate::framework::has_required_anti_affinity;

/// Whether `pod` matches every term (false for no terms), ignoring namespace selectors.
pub fn pod_matches_all_terms(terms: &[AffinityTerm], pod: &Pod) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(labels: &[(&str, &str)], exprs: &[(&str, &str, &[&str])]) -> LabelSelector {
        LabelSelector {
            match_labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            match_expressions: Some(
                exprs
                    .iter()
                    .map(|(k, op, vs)| LabelSelectorRequirement {
                        key: k.to_string(),
                        operator: op.to_string(),
                        values: Some(vs.iter().map(|v| v.to_string()).collect()),
                    })
                    .collect(),
            ),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_missing_selector_matches_nothing_and_an_empty_one_everything() {
        assert!(!Selector::from_label_selector(None).matches(&labels(&[])));
        assert!(
            Selector::from_label_selector(Some(&LabelSelector::default())).matches(&labels(&[]))
        );
    }

    #[test]
    fn selectors_and_their_requirements() {
        let s = Selector::from_label_selector(Some(&sel(
            &[("app", "web")],
            &[("tier", "NotIn", &["db"]), ("env", "Exists", &[])],
        )));
        assert!(s.matches(&labels(&[("app", "web"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "prod"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        let bad = Selector::from_label_selector(Some(&sel(&[], &[("a", "Gt", &["1"])])));
        assert!(!bad.matches(&labels(&[("a", "2")])));
    }
}
