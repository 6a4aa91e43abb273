//! VolumeRestrictions (PreFilter, Filter): a pod may not share a ReadWriteOncePod
//! PersistentVolumeClaim with any other pod, nor mount an inline GCE PD, AWS EBS, RBD or
//! iSCSI disk that a pod on the node already uses read-write.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Volume};

use crate::framework::{
    Code, CycleState, FilterPlugin, Handle, NodeInfo, Plugin, PluginSet, PreFilterPlugin, Status,
};
use crate::listers::Listers;

/// The plugin's name.
pub const NAME: &str = "VolumeRestrictions";

/// An inline disk is already in use on the node.
pub const ERR_REASON_DISK_CONFLICT: &str = "node(s) had no available disk";
/// Another pod uses the same ReadWriteOncePod claim.
pub const ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT: &str =
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode";

const PRE_FILTER_STATE_KEY: &str = "PreFilterVolumeRestrictions";

/// The plugin.
pub struct VolumeRestrictions {
    listers: Listers,
}

/// Builds the plugin.
pub fn new(handle: &Handle) -> PluginSet {
    let p = Arc::new(VolumeRestrictions {
        listers: handle.listers.clone(),
    });
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p),
        ..Default::default()
    }
}

impl Plugin for VolumeRestrictions {
    fn name(&self) -> &'static str {
        NAME
    }
}

struct PreFilterState {
    /// How many other pods use one of the pod's ReadWriteOncePod claims.
    conflicting_pvc_ref_count: usize,
}

fn has_inline_disk(v: &Volume) -> bool {
    v.gce_persistent_disk.is_some()
        || v.aws_elastic_block_store.is_some()
        || v.rbd.is_some()
        || v.iscsi.is_some()
}

/// Whether `a` (of the incoming pod) conflicts with `b` (of a pod on the node), as
/// upstream's `isVolumeConflict`.
pub fn is_volume_conflict(a: &Volume, b: &Volume) -> bool {
    if let (Some(x), Some(y)) = (&a.gce_persistent_disk, &b.gce_persistent_disk) {
        let ro = x.read_only.unwrap_or(false) && y.read_only.unwrap_or(false);
        if x.pd_name == y.pd_name && !ro {
            return true;
        }
    }
    if let (Some(x), Some(y)) = (&a.aws_elastic_block_store, &b.aws_elastic_block_store)
        && x.volume_id == y.volume_id
    {
        return true;
    }
    if let (Some(x), Some(y)) = (&a.iscsi, &b.iscsi) {
        let ro = x.read_only.unwrap_or(false) && y.read_only.unwrap_or(false);
        if x.iqn == y.iqn && !ro {
            return true;
        }
    }
    if let (Some(x), Some(y)) = (&a.rbd, &b.rbd) {
        let mons: BTreeSet<&String> = x.monitors.iter().collect();
        let shared = y.monitors.iter().any(|m| mons.contains(m));
        let pool = |p: &Option<String>| p.clone().unwrap_or_else(|| "rbd".into());
        let ro = x.read_only.unwrap_or(false) && y.read_only.unwrap_or(false);
        if shared && pool(&x.pool) == pool(&y.pool) && x.image == y.image && !ro {
            return true;
        }
    }
    false
}

fn pod_namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

fn claims(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
}

impl PreFilterPlugin for VolumeRestrictions {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        let ns = pod_namespace(pod);
        let mut rwop = BTreeSet::new();
        for claim in claims(pod) {
            let Some(pvc) = self.listers.persistent_volume_claim(ns, claim) else {
                return Status::new(
                    Code::UnschedulableAndUnresolvable,
                    [format!("persistentvolumeclaim \"{claim}\" not found")],
                );
            };
            let modes = pvc.spec.as_ref().and_then(|s| s.access_modes.as_deref());
            if modes
                .unwrap_or_default()
                .iter()
                .any(|m| m == "ReadWriteOncePod")
            {
                rwop.insert(claim.to_string());
            }
        }
        let inline = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .any(has_inline_disk);
        if rwop.is_empty() && !inline {
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        let me = (ns, pod.metadata.name.as_deref().unwrap_or_default());
        let conflicting_pvc_ref_count = nodes
            .iter()
            .flat_map(|n| &n.pods)
            .filter(|p| {
                pod_namespace(&p.pod) == ns
                    && (
                        pod_namespace(&p.pod),
                        p.pod.metadata.name.as_deref().unwrap_or_default(),
                    ) != me
            })
            .filter(|p| claims(&p.pod).any(|c| rwop.contains(c)))
            .count();
        state.write(
            PRE_FILTER_STATE_KEY,
            PreFilterState {
                conflicting_pvc_ref_count,
            },
        );
        Status::success()
    }
}

impl FilterPlugin for VolumeRestrictions {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let mine = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
        for v in mine.filter(|v| has_inline_disk(v)) {
            let taken = node
                .pods
                .iter()
                .flat_map(|p| p.pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()))
                .any(|w| is_volume_conflict(v, w));
            if taken {
                return Status::new(Code::Unschedulable, [ERR_REASON_DISK_CONFLICT]);
            }
        }
        if state
            .read::<PreFilterState>(PRE_FILTER_STATE_KEY)
            .is_some_and(|s| s.conflicting_pvc_ref_count > 0)
        {
            return Status::new(
                Code::Unschedulable,
                [ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT],
            );
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listers::store_of;
    use crate::plugins::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{
        GCEPersistentDiskVolumeSource, PersistentVolumeClaim, PersistentVolumeClaimSpec,
        PersistentVolumeClaimVolumeSource,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn with_volumes(name: &str, volumes: Vec<Volume>) -> Pod {
        let mut p = pod(name, &[]);
        p.spec.as_mut().unwrap().volumes = Some(volumes);
        p
    }

    fn gce(pd: &str, read_only: bool) -> Volume {
        Volume {
            name: "v".into(),
            gce_persistent_disk: Some(GCEPersistentDiskVolumeSource {
                pd_name: pd.into(),
                read_only: Some(read_only),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn claim(name: &str) -> Volume {
        Volume {
            name: "v".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: name.into(),
                read_only: None,
            }),
            ..Default::default()
        }
    }

    fn pvc(name: &str, mode: &str) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec![mode.into()]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn run(plugin: &VolumeRestrictions, p: &Pod, n: Arc<NodeInfo>) -> Status {
        let mut state = CycleState::default();
        let pre = plugin.pre_filter(&mut state, p, std::slice::from_ref(&n));
        if pre.code == Code::Skip {
            return plugin.filter(&state, p, &n);
        }
        if !pre.is_success() {
            return pre;
        }
        plugin.filter(&state, p, &n)
    }

    fn plugin() -> VolumeRestrictions {
        VolumeRestrictions {
            listers: Listers {
                persistent_volume_claims: store_of([
                    pvc("rwop", "ReadWriteOncePod"),
                    pvc("rwo", "ReadWriteOnce"),
                ]),
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_same_gce_disk_conflicts_unless_both_are_read_only() {
        let existing = with_volumes("a", vec![gce("foo", false)]);
        let n = Arc::new(node_info(node("n", &[]), vec![existing]));
        let s = run(
            &plugin(),
            &with_volumes("p", vec![gce("foo", false)]),
            n.clone(),
        );
        assert_eq!(s.message(), ERR_REASON_DISK_CONFLICT);
        assert!(run(&plugin(), &with_volumes("p", vec![gce("bar", false)]), n).is_success());
        let ro = Arc::new(node_info(
            node("n", &[]),
            vec![with_volumes("a", vec![gce("foo", true)])],
        ));
        assert!(run(&plugin(), &with_volumes("p", vec![gce("foo", true)]), ro).is_success());
    }

    #[test]
    fn a_read_write_once_pod_claim_in_use_conflicts() {
        let n = Arc::new(node_info(
            node("n", &[]),
            vec![
                with_volumes("a", vec![claim("rwop")]),
                with_volumes("b", vec![claim("rwo")]),
            ],
        ));
        let s = run(
            &plugin(),
            &with_volumes("p", vec![claim("rwop")]),
            n.clone(),
        );
        assert_eq!(s.code, Code::Unschedulable);
        assert_eq!(s.message(), ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT);
        assert!(run(&plugin(), &with_volumes("p", vec![claim("rwo")]), n.clone()).is_success());
        let s = run(&plugin(), &with_volumes("p", vec![claim("gone")]), n);
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), "persistentvolumeclaim \"gone\" not found");
    }
}
