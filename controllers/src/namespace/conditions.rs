//! The namespace's deletion conditions, as upstream's `namespaceConditionUpdater`: each of the
//! five condition types is either a failure reported by this pass or its "all good" form, and
//! a condition's `lastTransitionTime` only moves when its status changes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::NamespaceCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The condition types the namespace controller maintains, in upstream's order, with the
/// reason and message each has when nothing is wrong.
pub const CONDITION_TYPES: [(&str, &str, &str); 5] = [
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

/// What is left in a namespace after a deletion pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentTotals {
    /// Remaining objects per `<resource>.<group>`.
    pub remaining: BTreeMap<String, usize>,
    /// Remaining objects per finalizer they carry.
    pub finalizers: BTreeMap<String, usize>,
}

/// The failures of one pass; [`Conditions::apply`] turns them into the namespace's conditions.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    failures: Vec<(&'static str, &'static str, String)>,
}

impl Conditions {
    /// Discovery failed (`DiscoveryFailed`).
    pub fn discovery_failed(&mut self, message: String) {
        self.failures
            .push((CONDITION_TYPES[0].0, "DiscoveryFailed", message));
    }

    /// Deleting some resource types failed (`ContentDeletionFailed`).
    pub fn content_deletion_failed(&mut self, errors: &[String]) {
        if errors.is_empty() {
            return;
        }
        let joined = if errors.len() == 1 {
            errors[0].clone()
        } else {
            format!("[{}]", errors.join(", "))
        };
        self.failures.push((
            CONDITION_TYPES[2].0,
            "ContentDeletionFailed",
            format!(
                "Failed to delete all resource types, {} remaining: {joined}",
                errors.len()
            ),
        ));
    }

    /// Objects or finalizers remain (`SomeResourcesRemain`, `SomeFinalizersRemain`).
    pub fn content_totals(&mut self, totals: &ContentTotals) {
        if !totals.remaining.is_empty() {
            let parts: Vec<String> = totals
                .remaining
                .iter()
                .map(|(gr, n)| format!("{gr} has {n} resource instances"))
                .collect();
            self.failures.push((
                CONDITION_TYPES[3].0,
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", parts.join(", ")),
            ));
        }
        if !totals.finalizers.is_empty() {
            let parts: Vec<String> = totals
                .finalizers
                .iter()
                .map(|(f, n)| format!("{f} in {n} resource instances"))
                .collect();
            self.failures.push((
                CONDITION_TYPES[4].0,
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    parts.join(", ")
                ),
            ));
        }
    }

    /// The namespace's new conditions given its current ones; None when nothing changes.
    pub fn apply(
        &self,
        current: &[NamespaceCondition],
        now: jiff::Timestamp,
    ) -> Option<Vec<NamespaceCondition>> {
        let mut next: Vec<NamespaceCondition> = current
            .iter()
            .filter(|c| !CONDITION_TYPES.iter().any(|(t, _, _)| *t == c.type_))
            .cloned()
            .collect();
        for (type_, ok_reason, ok_message) in CONDITION_TYPES {
            let (status, reason, message) = match self.failures.iter().find(|f| f.0 == type_) {
                Some((_, reason, message)) => ("True", *reason, message.clone()),
                None => ("False", ok_reason, ok_message.to_string()),
            };
            let old = current.iter().find(|c| c.type_ == type_);
            let transition = match old {
                Some(o) if o.status == status => o.last_transition_time.clone(),
                _ => Some(Time(now)),
            };
            next.push(NamespaceCondition {
                type_: type_.into(),
                status: status.into(),
                reason: Some(reason.into()),
                message: Some(message),
                last_transition_time: transition,
            });
        }
        let same = next.len() == current.len()
            && next.iter().all(|n| {
                current.iter().any(|c| {
                    c.type_ == n.type_
                        && c.status == n.status
                        && c.reason == n.reason
                        && c.message == n.message
                })
            });
        (!same).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2025-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_clean_pass_reports_every_condition_false_with_upstream_reasons() {
        let conds = Conditions::default().apply(&[], now()).unwrap();
        assert_eq!(conds.len(), 5);
        assert!(conds.iter().all(|c| c.status == "False"));
        assert_eq!(conds[3].reason.as_deref(), Some("ContentRemoved"));
        assert_eq!(
            conds[4].message.as_deref(),
            Some("All content-preserving finalizers finished")
        );
        // The same pass again changes nothing.
        assert!(Conditions::default().apply(&conds, now()).is_none());
    }

    #[test]
    fn remaining_content_is_listed_by_resource_and_finalizer() {
        let mut c = Conditions::default();
        c.content_totals(&ContentTotals {
            remaining: BTreeMap::from([("configmaps.".into(), 2), ("deployments.apps".into(), 1)]),
            finalizers: BTreeMap::from([("example.com/keep".into(), 1)]),
        });
        let conds = c.apply(&[], now()).unwrap();
        let remaining = conds
            .iter()
            .find(|c| c.type_ == "NamespaceContentRemaining")
            .unwrap();
        assert_eq!(remaining.status, "True");
        assert_eq!(remaining.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            remaining.message.as_deref(),
            Some(
                "Some resources are remaining: configmaps. has 2 resource instances, deployments.apps has 1 resource instances"
            )
        );
        let finalizers = conds
            .iter()
            .find(|c| c.type_ == "NamespaceFinalizersRemaining")
            .unwrap();
        assert_eq!(
            finalizers.message.as_deref(),
            Some(
                "Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances"
            )
        );
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_changes() {
        let first = Conditions::default().apply(&[], now()).unwrap();
        let later: jiff::Timestamp = "2025-01-01T00:05:00Z".parse().unwrap();
        let mut c = Conditions::default();
        c.discovery_failed("boom".into());
        let second = c.apply(&first, later).unwrap();
        let discovery = &second[0];
        assert_eq!(discovery.last_transition_time, Some(Time(later)));
        assert_eq!(second[1].last_transition_time, Some(Time(now())));
    }
}
