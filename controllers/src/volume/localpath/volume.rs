//! The PersistentVolume the `local-path` provisioner makes for a claim: named `pvc-<claim
//! uid>`, a `hostPath` directory `<base dir>/<pv name>` (type `DirectoryOrCreate`, so the
//! kubelet creates it when it mounts), pinned to the selected node by required node affinity on
//! `kubernetes.io/hostname`, pre-bound to the claim, with the class's reclaim policy and mount
//! options.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use crate::volume::persistentvolume::binding::claim_reference;
use crate::volume::persistentvolume::volume_sync::ANN_PROVISIONED_BY;

/// The name of the volume provisioned for `claim`, as upstream's external provisioners name it.
pub fn volume_name(claim: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", claim.uid().unwrap_or_default())
}

/// The volume for `claim` of `class` on the node whose `kubernetes.io/hostname` is `hostname`.
pub fn build(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    provisioner: &str,
    base_dir: &Path,
    hostname: &str,
) -> PersistentVolume {
    let name = volume_name(claim);
    let spec = claim.spec.clone().unwrap_or_default();
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .cloned();
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            annotations: Some(BTreeMap::from([(
                ANN_PROVISIONED_BY.to_string(),
                provisioner.to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            access_modes: spec.access_modes.clone(),
            capacity: storage.map(|s| BTreeMap::from([("storage".to_string(), s)])),
            claim_ref: Some(claim_reference(claim)),
            host_path: Some(HostPathVolumeSource {
                path: base_dir.join(&name).to_string_lossy().into_owned(),
                type_: Some("DirectoryOrCreate".into()),
            }),
            mount_options: class.mount_options.clone(),
            node_affinity: Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "kubernetes.io/hostname".into(),
                            operator: "In".into(),
                            values: Some(vec![hostname.to_string()]),
                        }]),
                        match_fields: None,
                    }],
                }),
            }),
            persistent_volume_reclaim_policy: Some(
                class
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".into()),
            ),
            storage_class_name: Some(class.name_any()),
            volume_mode: spec.volume_mode.clone(),
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_volume_is_a_host_directory_on_the_selected_node_pre_bound_to_the_claim() {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": "abc", "resourceVersion": "7"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                     "resources": {"requests": {"storage": "2Gi"}}},
        }))
        .unwrap();
        let class: StorageClass = serde_json::from_value(json!({
            "metadata": {"name": "local-path"},
            "provisioner": "ferrokube.io/local-path",
            "reclaimPolicy": "Retain",
        }))
        .unwrap();
        let pv = build(
            &claim,
            &class,
            "ferrokube.io/local-path",
            Path::new("/var/lib/ferrokube/storage"),
            "node-1",
        );
        let got = serde_json::to_value(&pv).unwrap();
        assert_eq!(got["metadata"]["name"], "pvc-abc");
        assert_eq!(
            got["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"],
            "ferrokube.io/local-path"
        );
        assert_eq!(
            got["spec"]["hostPath"],
            json!({"path": "/var/lib/ferrokube/storage/pvc-abc", "type": "DirectoryOrCreate"})
        );
        assert_eq!(got["spec"]["capacity"]["storage"], "2Gi");
        assert_eq!(got["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(got["spec"]["claimRef"]["uid"], "abc");
        assert_eq!(
            got["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
                ["values"],
            json!(["node-1"])
        );
    }
}
