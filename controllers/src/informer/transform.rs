//! Informer transforms (upstream's `SharedInformerFactory` `WithTransform`): what each cache
//! drops before it stores an object. Entry point: [`pod`], the transform of the shared pod
//! cache.
//!
//! A typed Pod costs about 13 KiB in a cache, almost all of it containers, volumes and status
//! detail that no controller here reads. [`pod`] keeps exactly the fields the controllers read
//! from the shared pod cache, and who needs them:
//!
//! | field | read by |
//! |---|---|
//! | `metadata.name`, `namespace`, `uid`, `resourceVersion`, `generation` | all (keys, events, the informer's re-list diff) |
//! | `metadata.labels` | ReplicaSet, Deployment, StatefulSet, Endpoints, EndpointSlice (selectors, `pod-template-hash`) |
//! | `metadata.ownerReferences` | ReplicaSet, Deployment, StatefulSet (adoption, grouping by owner) |
//! | `metadata.creationTimestamp` | ReplicaSet (which pods to delete first) |
//! | `metadata.deletionTimestamp`, `deletionGracePeriodSeconds` | all (active / terminating pods) |
//! | `metadata.annotations[controller.kubernetes.io/pod-deletion-cost]` | ReplicaSet (deletion ranking) |
//! | `spec.nodeName` | ReplicaSet, node lifecycle, taint eviction, Endpoints, EndpointSlice, PV binder |
//! | `spec.hostname`, `spec.subdomain` | Endpoints, EndpointSlice (endpoint hostnames) |
//! | `spec.tolerations` | taint eviction |
//! | `spec.volumes` (PVC and ephemeral sources only) | PV binder (claims of unscheduled pods) |
//! | `spec.containers`, sidecar `spec.initContainers` (name, ports, restartPolicy; only those with ports) | Endpoints, EndpointSlice (named target ports) |
//! | `status.phase` | ReplicaSet, Deployment (Recreate), Endpoints, EndpointSlice |
//! | `status.conditions[type=Ready]` (type, status, lastTransitionTime) | ReplicaSet, Deployment, Endpoints, EndpointSlice, node lifecycle |
//! | `status.podIP`, `status.podIPs` | Endpoints, EndpointSlice |
//! | `status.containerStatuses`: one entry, the container with the most restarts, when it has any (name, restartCount) | ReplicaSet (deletion ranking reads only the highest restart count) |
//!
//! Pods controlled by a StatefulSet are kept whole (less `managedFields`): the StatefulSet
//! controller compares their identity and storage with its template and writes them back with
//! a full update, which must not lose what this transform would drop. A pod the StatefulSet
//! controller adopts comes back through the watch with its new owner and is then kept whole.
//!
//! The shared Node cache ([`node`]) drops `status.images`, often the largest part of a Node:
//! the node lifecycle, taint eviction and EndpointSlice controllers read labels, taints,
//! conditions and addresses, and the node lifecycle controller reads a node fresh before it
//! writes one.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Node, Pod, PodCondition, PodSpec, PodStatus, Volume,
};

use super::strip_managed_fields;
use crate::replicaset::ranking::POD_DELETION_COST;

/// The shared pod cache's transform: keeps the fields listed in this module's table, or the
/// whole pod (less `managedFields`) when a StatefulSet controls it.
pub fn pod(pod: &mut Pod) {
    strip_managed_fields(pod);
    if controlled_by_statefulset(pod) {
        return;
    }
    strip_metadata(pod);
    pod.spec = pod.spec.take().and_then(strip_spec);
    pod.status = pod.status.take().and_then(strip_status);
}

/// The shared Node cache's transform: no `managedFields`, no `status.images`.
pub fn node(node: &mut Node) {
    strip_managed_fields(node);
    if let Some(status) = node.status.as_mut() {
        status.images = None;
    }
}

fn controlled_by_statefulset(pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.kind == "StatefulSet")
}

fn strip_metadata(pod: &mut Pod) {
    let meta = &mut pod.metadata;
    meta.generate_name = None;
    meta.finalizers = None;
    meta.self_link = None;
    meta.annotations = meta.annotations.take().and_then(|mut all| {
        let cost = all.remove_entry(POD_DELETION_COST)?;
        Some(BTreeMap::from([cost]))
    });
    if meta.labels.as_ref().is_some_and(BTreeMap::is_empty) {
        meta.labels = None;
    }
}

/// The spec's kept fields; None when none is set (readers treat a missing spec as empty).
fn strip_spec(spec: PodSpec) -> Option<PodSpec> {
    let kept = PodSpec {
        node_name: spec.node_name.filter(|n| !n.is_empty()),
        hostname: spec.hostname,
        subdomain: spec.subdomain,
        tolerations: spec.tolerations.filter(|t| !t.is_empty()),
        volumes: non_empty(
            spec.volumes
                .into_iter()
                .flatten()
                .filter_map(claim_volume)
                .collect(),
        ),
        containers: spec
            .containers
            .into_iter()
            .filter_map(|c| ported_container(c, false))
            .collect(),
        init_containers: non_empty(
            spec.init_containers
                .into_iter()
                .flatten()
                .filter_map(|c| ported_container(c, true))
                .collect(),
        ),
        ..Default::default()
    };
    (kept != PodSpec::default()).then_some(kept)
}

/// A volume reduced to its name and claim source; None for volumes of other sources.
fn claim_volume(v: Volume) -> Option<Volume> {
    (v.persistent_volume_claim.is_some() || v.ephemeral.is_some()).then(|| Volume {
        name: v.name,
        persistent_volume_claim: v.persistent_volume_claim,
        ephemeral: v.ephemeral,
        ..Default::default()
    })
}

/// A container reduced to what named-port lookup reads; None when it declares no ports (or,
/// for an init container, is not a restartable sidecar).
fn ported_container(c: Container, init: bool) -> Option<Container> {
    let sidecar = c.restart_policy.as_deref() == Some("Always");
    if c.ports.as_ref().is_none_or(Vec::is_empty) || (init && !sidecar) {
        return None;
    }
    Some(Container {
        name: c.name,
        ports: c.ports,
        restart_policy: c.restart_policy,
        ..Default::default()
    })
}

/// The container with the most restarts, as the only status kept (a `ContainerStatus` is
/// large and the ranking reads nothing but the highest restart count); None when no container
/// has restarted, which reads the same.
fn most_restarted(statuses: Vec<ContainerStatus>) -> Option<Vec<ContainerStatus>> {
    let top = statuses.into_iter().max_by_key(|c| c.restart_count)?;
    (top.restart_count > 0).then(|| {
        vec![ContainerStatus {
            name: top.name,
            restart_count: top.restart_count,
            ..Default::default()
        }]
    })
}

/// The status's kept fields; None when none is set.
fn strip_status(status: PodStatus) -> Option<PodStatus> {
    let kept = PodStatus {
        phase: status.phase,
        conditions: non_empty(
            status
                .conditions
                .into_iter()
                .flatten()
                .filter(|c| c.type_ == "Ready")
                .map(|c| PodCondition {
                    type_: c.type_,
                    status: c.status,
                    last_transition_time: c.last_transition_time,
                    ..Default::default()
                })
                .collect(),
        ),
        pod_ip: status.pod_ip,
        pod_ips: status.pod_ips.filter(|ips| !ips.is_empty()),
        container_statuses: most_restarted(status.container_statuses.unwrap_or_default()),
        ..Default::default()
    };
    (kept != PodStatus::default()).then_some(kept)
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| {
        let mut v = v;
        v.shrink_to_fit();
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A pod as the API server returns one made from a typical Deployment template, plus
    /// whatever `extra` merges in.
    fn full_pod(extra: serde_json::Value) -> Pod {
        let mut base = json!({
            "metadata": {
                "name": "web-abc", "generateName": "web-", "namespace": "default",
                "uid": "u-1", "resourceVersion": "42", "generation": 1,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": "web", "pod-template-hash": "abc"},
                "annotations": {"note": "a long note", POD_DELETION_COST: "7"},
                "finalizers": ["example.com/keep"],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-abc", "uid": "rs-1", "controller": true}],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]
            },
            "spec": {
                "nodeName": "node-a",
                "containers": [{"name": "c", "image": "nginx:1",
                    "env": [{"name": "A", "value": "1"}],
                    "terminationMessagePath": "/dev/termination-log"}],
                "volumes": [{"name": "kube-api-access",
                    "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}],
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                    "effect": "NoExecute", "tolerationSeconds": 300}],
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                "schedulerName": "default-scheduler", "serviceAccountName": "default"
            },
            "status": {
                "phase": "Running", "qosClass": "BestEffort", "hostIP": "10.0.0.1",
                "podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}],
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True", "reason": "R", "message": "m",
                     "lastTransitionTime": "2026-01-01T00:00:05Z"}
                ],
                "containerStatuses": [{"name": "c", "image": "nginx:1", "imageID": "sha",
                    "ready": true, "restartCount": 3,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:04Z"}}}]
            }
        });
        merge(&mut base, extra);
        serde_json::from_value(base).expect("a valid pod")
    }

    fn merge(base: &mut serde_json::Value, extra: serde_json::Value) {
        match (base, extra) {
            (serde_json::Value::Object(b), serde_json::Value::Object(e)) => {
                for (k, v) in e {
                    merge(b.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (b, e) => *b = e,
        }
    }

    fn transformed(extra: serde_json::Value) -> Pod {
        let mut p = full_pod(extra);
        pod(&mut p);
        p
    }

    #[test]
    fn identity_labels_owners_and_timestamps_are_kept() {
        let p = transformed(
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:01:00Z",
            "deletionGracePeriodSeconds": 30}}),
        );
        let m = &p.metadata;
        assert_eq!(m.name.as_deref(), Some("web-abc"));
        assert_eq!(m.namespace.as_deref(), Some("default"));
        assert_eq!(m.uid.as_deref(), Some("u-1"));
        assert_eq!(m.resource_version.as_deref(), Some("42"));
        assert_eq!(m.labels, full_pod(json!({})).metadata.labels);
        assert_eq!(
            m.owner_references,
            full_pod(json!({})).metadata.owner_references
        );
        assert!(m.creation_timestamp.is_some());
        assert!(m.deletion_timestamp.is_some());
        assert_eq!(m.deletion_grace_period_seconds, Some(30));
    }

    #[test]
    fn only_the_deletion_cost_annotation_is_kept() {
        let p = transformed(json!({}));
        assert_eq!(
            p.metadata.annotations,
            Some(BTreeMap::from([(POD_DELETION_COST.into(), "7".into())]))
        );
        let mut plain = full_pod(json!({}));
        plain.metadata.annotations = Some(BTreeMap::from([("note".into(), "x".into())]));
        pod(&mut plain);
        assert_eq!(plain.metadata.annotations, None);
    }

    #[test]
    fn managed_fields_generate_name_and_finalizers_are_dropped() {
        let m = transformed(json!({})).metadata;
        assert_eq!(m.managed_fields, None);
        assert_eq!(m.generate_name, None);
        assert_eq!(m.finalizers, None);
    }

    #[test]
    fn node_name_and_tolerations_are_kept_for_eviction_and_ranking() {
        let spec = transformed(json!({})).spec.expect("a spec");
        assert_eq!(spec.node_name.as_deref(), Some("node-a"));
        assert_eq!(
            spec.tolerations,
            full_pod(json!({})).spec.unwrap().tolerations
        );
    }

    #[test]
    fn hostname_subdomain_and_named_ports_are_kept_for_endpoints() {
        let spec = transformed(json!({"spec": {
            "hostname": "web-0", "subdomain": "web",
            "containers": [
                {"name": "c", "image": "nginx:1",
                 "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]},
                {"name": "quiet", "image": "busybox"}
            ],
            "initContainers": [
                {"name": "proxy", "image": "envoy", "restartPolicy": "Always",
                 "ports": [{"name": "admin", "containerPort": 9901}]},
                {"name": "setup", "image": "busybox", "ports": [{"containerPort": 1}]}
            ]
        }}))
        .spec
        .expect("a spec");
        assert_eq!(spec.hostname.as_deref(), Some("web-0"));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
        assert_eq!(spec.containers.len(), 1);
        let c = &spec.containers[0];
        assert_eq!(c.name, "c");
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 8080);
        assert_eq!(c.image, None);
        let init = spec.init_containers.expect("the sidecar");
        assert_eq!(init.len(), 1);
        assert_eq!(init[0].name, "proxy");
        assert_eq!(init[0].restart_policy.as_deref(), Some("Always"));
    }

    #[test]
    fn only_claim_volumes_are_kept_for_the_binder() {
        let spec = transformed(json!({"spec": {"volumes": [
            {"name": "token", "projected": {"sources": []}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data-0"}},
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}
        ]}}))
        .spec
        .expect("a spec");
        let volumes = spec.volumes.expect("claim volumes");
        let names: Vec<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["data", "scratch"]);
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "data-0"
        );
        assert!(volumes[1].ephemeral.is_some());
    }

    #[test]
    fn unread_spec_fields_are_dropped() {
        let spec = transformed(json!({})).spec.expect("a spec");
        assert!(spec.containers.is_empty());
        assert_eq!(spec.volumes, None);
        assert_eq!(spec.restart_policy, None);
        assert_eq!(spec.service_account_name, None);
    }

    #[test]
    fn phase_ready_condition_ips_and_restart_counts_are_kept() {
        let status = transformed(json!({})).status.expect("a status");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let conditions = status.conditions.expect("the Ready condition");
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].type_, "Ready");
        assert_eq!(conditions[0].status, "True");
        assert!(conditions[0].last_transition_time.is_some());
        assert_eq!(conditions[0].message, None);
        assert_eq!(status.pod_ip.as_deref(), Some("10.1.0.5"));
        assert_eq!(status.pod_ips.unwrap()[0].ip, "10.1.0.5");
        let containers = status.container_statuses.expect("container statuses");
        assert_eq!(containers[0].restart_count, 3);
        assert_eq!(containers[0].state, None);
        assert_eq!(status.qos_class, None);
        assert_eq!(status.host_ip, None);
    }

    #[test]
    fn only_the_most_restarted_container_is_kept_and_none_when_nothing_restarted() {
        let two = |a: i32, b: i32| {
            json!({"status": {"containerStatuses": [
                {"name": "a", "image": "x", "ready": true, "restartCount": a},
                {"name": "b", "image": "x", "ready": true, "restartCount": b}
            ]}})
        };
        let kept = transformed(two(1, 4)).status.expect("a status");
        let containers = kept
            .container_statuses
            .expect("the most restarted container");
        assert_eq!(containers.len(), 1);
        assert_eq!(
            (containers[0].name.as_str(), containers[0].restart_count),
            ("b", 4)
        );
        let fresh = transformed(two(0, 0)).status.expect("a status");
        assert_eq!(fresh.container_statuses, None);
        assert_eq!(
            crate::pod_util::max_container_restarts(&transformed(two(0, 0))),
            0
        );
        assert_eq!(
            crate::pod_util::max_container_restarts(&transformed(two(2, 1))),
            2
        );
    }

    #[test]
    fn a_pod_with_nothing_kept_has_no_spec_or_status() {
        let mut p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            "status": {"qosClass": "BestEffort"}
        }))
        .unwrap();
        pod(&mut p);
        assert_eq!(p.spec, None);
        assert_eq!(p.status, None);
    }

    #[test]
    fn a_statefulset_pod_is_kept_whole_but_for_managed_fields() {
        let extra = json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1",
            "kind": "StatefulSet", "name": "db", "uid": "ss-1", "controller": true}]}});
        let mut want = full_pod(extra.clone());
        want.metadata.managed_fields = None;
        assert_eq!(transformed(extra), want);
    }

    #[test]
    fn nodes_keep_labels_taints_conditions_and_addresses_but_not_their_images() {
        let mut n: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "a"},
                "managedFields": [{"manager": "kubelet", "operation": "Update"}]},
            "spec": {"taints": [{"key": "k", "effect": "NoExecute"}]},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "images": [{"names": ["busybox:latest"], "sizeBytes": 1000}]
            }
        }))
        .unwrap();
        let mut want = n.clone();
        node(&mut n);
        want.metadata.managed_fields = None;
        want.status.as_mut().unwrap().images = None;
        assert_eq!(n, want);
    }
}
