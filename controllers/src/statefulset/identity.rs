//! A StatefulSet pod's stable identity, as upstream's `stateful_set_utils.go`: the name
//! `<set>-<ordinal>` counted from `spec.ordinals.start`, the `statefulset.kubernetes.io/pod-name`
//! and `apps.kubernetes.io/pod-index` labels, hostname and subdomain (the governing Service),
//! the `controller-revision-hash` label, and the pod built from a template. Pure functions.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;

/// The label holding a pod's own name (upstream's `StatefulSetPodNameLabel`).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label holding a pod's ordinal (upstream's `PodIndexLabel`).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The label naming the ControllerRevision a pod was built from (`StatefulSetRevisionLabel`).
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// Splits a pod name `<parent>-<ordinal>` (upstream's `getParentNameAndOrdinal`); the ordinal
/// is -1 when the name does not end in `-<digits>` that fit an int32.
pub fn parent_and_ordinal(name: &str) -> (&str, i64) {
    match name.rsplit_once('-') {
        Some((parent, digits))
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match digits.parse::<i32>() {
                Ok(n) => (parent, i64::from(n)),
                Err(_) => (parent, -1),
            }
        }
        _ => ("", -1),
    }
}

/// The pod's ordinal, or -1.
pub fn ordinal(pod: &Pod) -> i64 {
    parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default()).1
}

/// Whether the pod's name says it belongs to `set` (upstream's `isMemberOf`).
pub fn is_member_of(set: &StatefulSet, pod: &Pod) -> bool {
    let (parent, _) = parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default());
    parent == set.metadata.name.as_deref().unwrap_or_default()
}

/// `spec.replicas` (default 1).
pub fn replicas(set: &StatefulSet) -> i64 {
    i64::from(
        set.spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
            .max(0),
    )
}

/// The first ordinal (`spec.ordinals.start`, default 0).
pub fn start_ordinal(set: &StatefulSet) -> i64 {
    set.spec
        .as_ref()
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .map(i64::from)
        .unwrap_or(0)
}

/// Whether `ordinal` is one the set should run: `start <= ordinal < start + replicas`.
pub fn in_ordinal_range(set: &StatefulSet, ordinal: i64) -> bool {
    let start = start_ordinal(set);
    ordinal >= start && ordinal < start + replicas(set)
}

/// `<set>-<ordinal>`.
pub fn pod_name(set: &StatefulSet, ordinal: i64) -> String {
    format!("{}-{ordinal}", set.name_any())
}

/// `<template>-<set>-<ordinal>`.
pub fn claim_name(set: &StatefulSet, template: &PersistentVolumeClaim, ordinal: i64) -> String {
    format!("{}-{}-{ordinal}", template.name_any(), set.name_any())
}

/// The governing Service (`spec.serviceName`).
pub fn service_name(set: &StatefulSet) -> Option<String> {
    set.spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty())
}

/// The set's `volumeClaimTemplates`.
pub fn claim_templates(set: &StatefulSet) -> &[PersistentVolumeClaim] {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_deref())
        .unwrap_or_default()
}

/// Upstream's `identityMatches`: name, namespace and pod-name label agree with the ordinal.
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let (parent, ordinal) = parent_and_ordinal(name);
    ordinal >= 0
        && parent == set.metadata.name.as_deref().unwrap_or_default()
        && name == pod_name(set, ordinal)
        && pod.metadata.namespace == set.metadata.namespace
        && pod.labels().get(POD_NAME_LABEL).map(String::as_str) == Some(name)
}

/// Upstream's `storageMatches`: each claim template has a volume of its name using the pod's
/// claim.
pub fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let ordinal = ordinal(pod);
    if ordinal < 0 {
        return false;
    }
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default();
    claim_templates(set).iter().all(|t| {
        volumes.iter().any(|v| {
            v.name == t.name_any()
                && v.persistent_volume_claim
                    .as_ref()
                    .map(|c| c.claim_name.as_str())
                    == Some(claim_name(set, t, ordinal).as_str())
        })
    })
}

/// Upstream's `updateIdentity`: name, namespace and the pod-name and pod-index labels.
pub fn update_identity(set: &StatefulSet, pod: &mut Pod) {
    let ordinal = ordinal(pod);
    let name = pod_name(set, ordinal);
    pod.metadata.name = Some(name.clone());
    pod.metadata.namespace = set.metadata.namespace.clone();
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name);
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
}

/// Upstream's `updateStorage`: one volume per claim template pointing at the pod's claim,
/// replacing any volume of the same name; other volumes are kept.
pub fn update_storage(set: &StatefulSet, pod: &mut Pod) {
    let ordinal = ordinal(pod);
    let templates = claim_templates(set);
    if templates.is_empty() {
        return;
    }
    let spec = pod.spec.get_or_insert_with(Default::default);
    let mut volumes: Vec<Volume> = templates
        .iter()
        .map(|t| Volume {
            name: t.name_any(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(set, t, ordinal),
                read_only: None,
            }),
            ..Default::default()
        })
        .collect();
    for v in spec.volumes.take().unwrap_or_default() {
        if !templates.iter().any(|t| t.name_any() == v.name) {
            volumes.push(v);
        }
    }
    spec.volumes = Some(volumes);
}

/// The claims the pod at `ordinal` uses, named and labelled as upstream's
/// `getPersistentVolumeClaims` (template labels plus the selector's matchLabels).
pub fn claims_for(set: &StatefulSet, ordinal: i64) -> Vec<PersistentVolumeClaim> {
    let match_labels = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    claim_templates(set)
        .iter()
        .map(|t| {
            let mut claim = t.clone();
            claim.metadata = ObjectMeta {
                name: Some(claim_name(set, t, ordinal)),
                namespace: set.metadata.namespace.clone(),
                labels: Some({
                    let mut l = t.metadata.labels.clone().unwrap_or_default();
                    l.extend(match_labels.clone());
                    l
                }),
                annotations: t.metadata.annotations.clone(),
                finalizers: t.metadata.finalizers.clone(),
                ..Default::default()
            };
            claim.status = None;
            claim
        })
        .collect()
}

/// Upstream's `newStatefulSetPod`: the pod for `ordinal` from `set`'s template, owned by
/// `owner`, with its identity, hostname, subdomain and storage.
pub fn new_pod(set: &StatefulSet, ordinal: i64, owner: OwnerReference) -> Pod {
    let template = set
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut pod = Pod {
        metadata: ObjectMeta {
            name: Some(pod_name(set, ordinal)),
            namespace: set.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    };
    update_identity(set, &mut pod);
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = pod.metadata.name.clone();
    spec.subdomain = service_name(set);
    update_storage(set, &mut pod);
    pod
}

/// The pod's `controller-revision-hash` label ("" when missing).
pub fn pod_revision(pod: &Pod) -> &str {
    pod.labels()
        .get(REVISION_LABEL)
        .map(String::as_str)
        .unwrap_or_default()
}

/// Labels the pod with the revision it is built from.
pub fn set_pod_revision(pod: &mut Pod, revision: &str) {
    pod.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(REVISION_LABEL.into(), revision.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{StatefulSetOrdinals, StatefulSetSpec};
    use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn set(replicas: i32, start: Option<i32>) -> StatefulSet {
        StatefulSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(StatefulSetSpec {
                replicas: Some(replicas),
                ordinals: start.map(|s| StatefulSetOrdinals { start: Some(s) }),
                service_name: Some("nginx".into()),
                selector: LabelSelector {
                    match_labels: Some([("app".to_string(), "web".to_string())].into()),
                    ..Default::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".to_string(), "web".to_string())].into()),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec::default()),
                },
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some("www".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn names_split_into_parent_and_ordinal() {
        assert_eq!(parent_and_ordinal("web-0"), ("web", 0));
        assert_eq!(parent_and_ordinal("my-web-12"), ("my-web", 12));
        assert_eq!(parent_and_ordinal("web"), ("", -1));
        assert_eq!(parent_and_ordinal("web-x1"), ("", -1));
        assert_eq!(parent_and_ordinal("web-99999999999"), ("web", -1));
    }

    #[test]
    fn the_ordinal_range_starts_at_spec_ordinals_start() {
        let s = set(3, Some(5));
        assert!(!in_ordinal_range(&s, 4));
        assert!(in_ordinal_range(&s, 5));
        assert!(in_ordinal_range(&s, 7));
        assert!(!in_ordinal_range(&s, 8));
        assert!(in_ordinal_range(&set(1, None), 0));
    }

    #[test]
    fn a_new_pod_carries_its_identity_and_storage() {
        let s = set(3, None);
        let pod = new_pod(&s, 2, OwnerReference::default());
        assert_eq!(pod.metadata.name.as_deref(), Some("web-2"));
        assert_eq!(
            pod.labels().get(POD_NAME_LABEL).map(String::as_str),
            Some("web-2")
        );
        assert_eq!(
            pod.labels().get(POD_INDEX_LABEL).map(String::as_str),
            Some("2")
        );
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let vol = &spec.volumes.as_ref().unwrap()[0];
        assert_eq!(
            (
                vol.name.as_str(),
                vol.persistent_volume_claim
                    .as_ref()
                    .unwrap()
                    .claim_name
                    .as_str()
            ),
            ("www", "www-web-2")
        );
        assert!(identity_matches(&s, &pod));
        assert!(storage_matches(&s, &pod));
    }

    #[test]
    fn claims_are_named_per_template_set_and_ordinal_with_selector_labels() {
        let claims = claims_for(&set(1, None), 4);
        assert_eq!(claims[0].metadata.name.as_deref(), Some("www-web-4"));
        assert_eq!(
            claims[0]
                .metadata
                .labels
                .as_ref()
                .unwrap()
                .get("app")
                .map(String::as_str),
            Some("web")
        );
    }
}
