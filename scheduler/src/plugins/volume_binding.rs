//! VolumeBinding (PreFilter, Filter, PreBind): a pod's PersistentVolumeClaims must be
//! usable from the node. Bound claims need their PersistentVolume's node affinity to match;
//! unbound claims of an `Immediate` StorageClass keep the pod out until they bind; unbound
//! `WaitForFirstConsumer` claims need an available matching volume or a provisioner whose
//! allowed topologies include the node, and at PreBind get the
//! `volume.kubernetes.io/selected-node` annotation, after which the pod waits (at most
//! `bindTimeoutSeconds`) until the claim is Bound.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tracing::{debug, info};

use crate::framework::{
    BindFuture, Code, CycleState, FilterPlugin, Handle, NodeInfo, Plugin, PluginSet, PreBindPlugin,
    PreFilterPlugin, Status,
};
use crate::listers::Listers;
use crate::plugins::node_affinity;
use crate::resource::value;

/// The plugin's name.
pub const NAME: &str = "VolumeBinding";

/// A bound volume's node affinity excludes the node.
pub const ERR_REASON_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// No volume can be bound or provisioned for the node.
pub const ERR_REASON_BIND_CONFLICT: &str =
    "node(s) didn't find available persistent volumes to bind";
/// A claim is bound to a volume that does not exist.
pub const ERR_REASON_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// An `Immediate` claim is not bound yet.
pub const ERR_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";

/// The annotation telling provisioners which node the pod goes to.
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// The StorageClass provisioner that provisions nothing (static volumes only).
pub const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// Upstream's default `bindTimeoutSeconds`.
pub const DEFAULT_BIND_TIMEOUT_SECONDS: u64 = 600;

const PRE_FILTER_STATE_KEY: &str = "PreFilterVolumeBinding";

/// The plugin.
pub struct VolumeBinding {
    listers: Listers,
    client: Option<kube::Client>,
    bind_timeout: Duration,
    poll_interval: Duration,
}

/// Builds the plugin.
pub fn new(handle: &Handle) -> PluginSet {
    let seconds = handle
        .plugin_args(NAME)
        .and_then(|a| a.get("bindTimeoutSeconds"))
        .and_then(|s| s.as_u64())
        .unwrap_or(DEFAULT_BIND_TIMEOUT_SECONDS);
    let p = Arc::new(VolumeBinding {
        listers: handle.listers.clone(),
        client: handle.client.clone(),
        bind_timeout: Duration::from_secs(seconds),
        poll_interval: Duration::from_millis(200),
    });
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p.clone()),
        pre_bind: Some(p),
        ..Default::default()
    }
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// The pod's claims sorted by what binding still needs.
#[derive(Debug, Default)]
struct PodVolumeClaims {
    /// Claims bound to a volume.
    bound: Vec<Arc<PersistentVolumeClaim>>,
    /// Unbound `WaitForFirstConsumer` claims.
    delayed: Vec<Arc<PersistentVolumeClaim>>,
}

fn pod_namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

/// The claims a pod uses: its PVC volumes and its generic ephemeral volumes' claims; for
/// the latter, whether the claim name is generated.
fn claim_names(pod: &Pod) -> Vec<(String, bool)> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                Some((c.claim_name.clone(), false))
            } else {
                v.ephemeral
                    .as_ref()
                    .map(|_| (format!("{pod_name}-{}", v.name), true))
            }
        })
        .collect()
}

fn class_name(pvc: &PersistentVolumeClaim) -> &str {
    pvc.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or_default()
}

fn is_bound(pvc: &PersistentVolumeClaim) -> bool {
    pvc.spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .is_some_and(|v| !v.is_empty())
}

/// Whether the volume's required node affinity admits the node (no affinity: yes).
pub fn volume_node_affinity_matches(pv: &PersistentVolume, node: &Node) -> bool {
    match pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
    {
        Some(required) => required
            .node_selector_terms
            .iter()
            .any(|t| node_affinity::term_matches(t, node)),
        None => true,
    }
}

fn requested_storage(pvc: &PersistentVolumeClaim) -> i64 {
    pvc.spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| value(&q.0))
        .unwrap_or(0)
}

/// Whether an unbound, available volume could be bound to `pvc` for use on `node`: same
/// class, enough capacity, every requested access mode, and node affinity admitting it.
pub fn volume_matches_claim(
    pv: &PersistentVolume,
    pvc: &PersistentVolumeClaim,
    node: &Node,
) -> bool {
    let Some(spec) = pv.spec.as_ref() else {
        return false;
    };
    let available = spec.claim_ref.is_none()
        && pv.metadata.deletion_timestamp.is_none()
        && pv
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_none_or(|p| p == "Available");
    let capacity = spec
        .capacity
        .as_ref()
        .and_then(|c| c.get("storage"))
        .and_then(|q| value(&q.0))
        .unwrap_or(0);
    let modes = spec.access_modes.as_deref().unwrap_or_default();
    let wanted = pvc
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or_default();
    available
        && spec.storage_class_name.as_deref().unwrap_or_default() == class_name(pvc)
        && capacity >= requested_storage(pvc)
        && wanted.iter().all(|m| modes.contains(m))
        && volume_node_affinity_matches(pv, node)
}

impl VolumeBinding {
    fn classify(&self, pod: &Pod) -> Result<PodVolumeClaims, Status> {
        let ns = pod_namespace(pod);
        let mut claims = PodVolumeClaims::default();
        let mut unbound_immediate = false;
        for (name, ephemeral) in claim_names(pod) {
            let Some(pvc) = self.listers.persistent_volume_claim(ns, &name) else {
                let msg = if ephemeral {
                    format!(
                        "waiting for ephemeral volume controller to create the persistentvolumeclaim \"{name}\""
                    )
                } else {
                    format!("persistentvolumeclaim \"{name}\" not found")
                };
                return Err(Status::new(Code::UnschedulableAndUnresolvable, [msg]));
            };
            if pvc.metadata.deletion_timestamp.is_some() {
                return Err(Status::new(
                    Code::UnschedulableAndUnresolvable,
                    [format!("persistentvolumeclaim \"{name}\" is being deleted")],
                ));
            }
            if is_bound(&pvc) {
                claims.bound.push(pvc);
                continue;
            }
            let delayed = self
                .listers
                .storage_class(class_name(&pvc))
                .is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"));
            if delayed {
                claims.delayed.push(pvc);
            } else {
                unbound_immediate = true;
            }
        }
        if unbound_immediate {
            return Err(Status::new(
                Code::UnschedulableAndUnresolvable,
                [ERR_UNBOUND_IMMEDIATE],
            ));
        }
        Ok(claims)
    }

    fn can_provision(&self, pvc: &PersistentVolumeClaim, node: &Node) -> bool {
        let Some(class) = self.listers.storage_class(class_name(pvc)) else {
            return false;
        };
        if class.provisioner == NO_PROVISIONER {
            return false;
        }
        match class.allowed_topologies.as_deref() {
            None | Some([]) => true,
            Some(terms) => {
                let labels = node.metadata.labels.clone().unwrap_or_default();
                terms.iter().any(|t| {
                    t.match_label_expressions
                        .iter()
                        .flatten()
                        .all(|e| labels.get(&e.key).is_some_and(|v| e.values.contains(v)))
                })
            }
        }
    }
}

impl PreFilterPlugin for VolumeBinding {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, _: &[Arc<NodeInfo>]) -> Status {
        if claim_names(pod).is_empty() {
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        match self.classify(pod) {
            Ok(claims) => {
                state.write(PRE_FILTER_STATE_KEY, claims);
                Status::success()
            }
            Err(s) => s,
        }
    }
}

impl FilterPlugin for VolumeBinding {
    fn filter(&self, state: &CycleState, _pod: &Pod, info: &NodeInfo) -> Status {
        let Some(node) = info.node.as_deref() else {
            return Status::new(Code::UnschedulableAndUnresolvable, ["node not found"]);
        };
        let Some(claims) = state.read::<PodVolumeClaims>(PRE_FILTER_STATE_KEY) else {
            return Status::success();
        };
        let mut reasons = Vec::new();
        for pvc in &claims.bound {
            let pv_name = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref());
            match pv_name.and_then(|n| self.listers.persistent_volume(n)) {
                None => {
                    return Status::new(
                        Code::UnschedulableAndUnresolvable,
                        [ERR_REASON_PV_NOT_EXIST],
                    );
                }
                Some(pv) if !volume_node_affinity_matches(&pv, node) => {
                    reasons.push(ERR_REASON_NODE_CONFLICT);
                    break;
                }
                Some(_) => {}
            }
        }
        let all_volumes = self
            .listers
            .persistent_volumes
            .as_ref()
            .map(|s| s.state())
            .unwrap_or_default();
        let unbound_ok = claims.delayed.iter().all(|pvc| {
            all_volumes
                .iter()
                .any(|pv| volume_matches_claim(pv, pvc, node))
                || self.can_provision(pvc, node)
        });
        if !unbound_ok {
            reasons.push(ERR_REASON_BIND_CONFLICT);
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::new(Code::UnschedulableAndUnresolvable, reasons)
        }
    }
}

impl VolumeBinding {
    fn claim_bound(&self, ns: &str, name: &str) -> bool {
        self.listers
            .persistent_volume_claim(ns, name)
            .is_some_and(|pvc| {
                is_bound(&pvc)
                    && pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
            })
    }

    async fn bind_claims(&self, claims: &[Arc<PersistentVolumeClaim>], node: &str) -> Status {
        let Some(client) = self.client.clone() else {
            return Status::new(Code::Error, ["no API client to bind volumes with"]);
        };
        for pvc in claims {
            let ns = pvc.metadata.namespace.as_deref().unwrap_or("default");
            let name = pvc.metadata.name.as_deref().unwrap_or_default();
            let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
            let patch = json!({"metadata": {"annotations": {ANN_SELECTED_NODE: node}}});
            if let Err(e) = api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                return Status::new(Code::Error, [format!("binding volumes: {e}")]);
            }
            debug!(pvc = %format!("{ns}/{name}"), %node, "selected node for claim");
        }
        let waited = tokio::time::timeout(self.bind_timeout, async {
            loop {
                let pending = claims.iter().any(|pvc| {
                    !self.claim_bound(
                        pvc.metadata.namespace.as_deref().unwrap_or("default"),
                        pvc.metadata.name.as_deref().unwrap_or_default(),
                    )
                });
                if !pending {
                    return;
                }
                tokio::time::sleep(self.poll_interval).await;
            }
        })
        .await;
        match waited {
            Ok(()) => {
                info!(%node, claims = claims.len(), "claims bound");
                Status::success()
            }
            Err(_) => Status::new(
                Code::Error,
                ["binding volumes: context deadline exceeded".to_string()],
            ),
        }
    }
}

impl PreBindPlugin for VolumeBinding {
    fn pre_bind<'a>(
        &'a self,
        state: &'a CycleState,
        _pod: &'a Pod,
        node: &'a str,
    ) -> BindFuture<'a> {
        Box::pin(async move {
            let Some(claims) = state.read::<PodVolumeClaims>(PRE_FILTER_STATE_KEY) else {
                return Status::success();
            };
            if claims.delayed.is_empty() {
                return Status::success();
            }
            self.bind_claims(&claims.delayed, node).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listers::store_of;
    use crate::plugins::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{
        NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolumeClaimSpec,
        PersistentVolumeClaimVolumeSource, PersistentVolumeSpec, Volume, VolumeNodeAffinity,
    };
    use k8s_openapi::api::storage::v1::StorageClass;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: ns.map(Into::into),
            ..Default::default()
        }
    }

    fn pvc(name: &str, class: &str, volume: Option<&str>) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: meta(name, Some("default")),
            spec: Some(PersistentVolumeClaimSpec {
                storage_class_name: Some(class.into()),
                volume_name: volume.map(Into::into),
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pv(name: &str, class: &str, zone: Option<&str>) -> PersistentVolume {
        PersistentVolume {
            metadata: meta(name, None),
            spec: Some(PersistentVolumeSpec {
                storage_class_name: Some(class.into()),
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                capacity: Some(crate::plugins::testing::list(&[("storage", "1Gi")])),
                node_affinity: zone.map(|z| VolumeNodeAffinity {
                    required: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: "zone".into(),
                                operator: "In".into(),
                                values: Some(vec![z.into()]),
                            }]),
                            match_fields: None,
                        }],
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn class(name: &str, mode: &str, provisioner: &str) -> StorageClass {
        StorageClass {
            metadata: meta(name, None),
            provisioner: provisioner.into(),
            volume_binding_mode: Some(mode.into()),
            ..Default::default()
        }
    }

    fn plugin(
        pvcs: Vec<PersistentVolumeClaim>,
        pvs: Vec<PersistentVolume>,
        classes: Vec<StorageClass>,
    ) -> VolumeBinding {
        VolumeBinding {
            listers: Listers {
                persistent_volume_claims: store_of(pvcs),
                persistent_volumes: store_of(pvs),
                storage_classes: store_of(classes),
                ..Default::default()
            },
            client: None,
            bind_timeout: Duration::from_secs(1),
            poll_interval: Duration::from_millis(10),
        }
    }

    fn using(claims: &[&str]) -> Pod {
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().volumes = Some(
            claims
                .iter()
                .map(|c| Volume {
                    name: c.to_string(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: c.to_string(),
                        read_only: None,
                    }),
                    ..Default::default()
                })
                .collect(),
        );
        p
    }

    fn zoned(name: &str, zone: &str) -> Arc<NodeInfo> {
        let mut n = node(name, &[]);
        n.metadata.labels = Some([("zone".to_string(), zone.to_string())].into());
        Arc::new(node_info(n, vec![]))
    }

    fn verdicts(plugin: &VolumeBinding, p: &Pod, nodes: &[Arc<NodeInfo>]) -> Vec<String> {
        let mut state = CycleState::default();
        let pre = plugin.pre_filter(&mut state, p, nodes);
        if pre.is_rejected() {
            return vec![pre.message(); nodes.len()];
        }
        nodes
            .iter()
            .map(|n| {
                let s = plugin.filter(&state, p, n);
                if s.is_success() {
                    "ok".into()
                } else {
                    s.message()
                }
            })
            .collect()
    }

    #[test]
    fn a_pod_without_claims_is_skipped() {
        let p = plugin(vec![], vec![], vec![]);
        let s = p.pre_filter(&mut CycleState::default(), &pod("p", &[]), &[]);
        assert_eq!(s.code, Code::Skip);
    }

    #[test]
    fn a_bound_claim_follows_its_volume_node_affinity() {
        let p = plugin(
            vec![pvc("data", "fast", Some("pv-a"))],
            vec![pv("pv-a", "fast", Some("a"))],
            vec![],
        );
        assert_eq!(
            verdicts(&p, &using(&["data"]), &[zoned("n1", "a"), zoned("n2", "b")]),
            ["ok", ERR_REASON_NODE_CONFLICT]
        );
    }

    #[test]
    fn a_claim_bound_to_a_missing_volume_fits_nowhere() {
        let p = plugin(vec![pvc("data", "fast", Some("gone"))], vec![], vec![]);
        assert_eq!(
            verdicts(&p, &using(&["data"]), &[zoned("n1", "a")]),
            [ERR_REASON_PV_NOT_EXIST]
        );
    }

    #[test]
    fn an_unbound_immediate_claim_keeps_the_pod_out() {
        let p = plugin(
            vec![pvc("data", "fast", None)],
            vec![],
            vec![class("fast", "Immediate", "example.com/csi")],
        );
        assert_eq!(
            verdicts(&p, &using(&["data"]), &[zoned("n1", "a")]),
            [ERR_UNBOUND_IMMEDIATE]
        );
        let missing = plugin(vec![], vec![], vec![]);
        assert_eq!(
            verdicts(&missing, &using(&["data"]), &[zoned("n1", "a")]),
            ["persistentvolumeclaim \"data\" not found"]
        );
    }

    #[test]
    fn a_wait_for_first_consumer_claim_needs_a_matching_volume_or_a_provisioner() {
        let local = class("local", "WaitForFirstConsumer", NO_PROVISIONER);
        let p = plugin(
            vec![pvc("data", "local", None)],
            vec![pv("pv-b", "local", Some("b"))],
            vec![local],
        );
        assert_eq!(
            verdicts(&p, &using(&["data"]), &[zoned("n1", "a"), zoned("n2", "b")]),
            [ERR_REASON_BIND_CONFLICT, "ok"]
        );
        let dynamic = plugin(
            vec![pvc("data", "csi", None)],
            vec![],
            vec![class("csi", "WaitForFirstConsumer", "example.com/csi")],
        );
        assert_eq!(
            verdicts(&dynamic, &using(&["data"]), &[zoned("n1", "a")]),
            ["ok"]
        );
    }
}
