//! Which PersistentVolume a claim gets, as upstream's `findBestMatchForClaim`
//! (`pkg/controller/volume/persistentvolume/index.go` and `util.FindMatchingVolume`): a volume
//! pre-bound to the claim wins; otherwise the smallest Available volume of the claim's class
//! whose capacity fits, whose labels match the claim's selector, whose volumeMode agrees and
//! whose access modes include the claim's — trying volumes with the fewest access modes first.
//! Claims of a `WaitForFirstConsumer` class only ever get a pre-bound volume here; the
//! scheduler picks the others.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};

use super::quantity::milli_value;

/// The beta annotation that named a class before `storageClassName` existed.
pub const ANN_BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// The claim's storage class name (`""` for none), as upstream's `GetPersistentVolumeClaimClass`.
pub fn claim_class(claim: &PersistentVolumeClaim) -> String {
    if let Some(c) = claim.annotations().get(ANN_BETA_STORAGE_CLASS) {
        return c.clone();
    }
    claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .unwrap_or_default()
}

/// The volume's storage class name (`""` for none), as upstream's `GetPersistentVolumeClass`.
pub fn volume_class(volume: &PersistentVolume) -> String {
    if let Some(c) = volume.annotations().get(ANN_BETA_STORAGE_CLASS) {
        return c.clone();
    }
    volume
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .unwrap_or_default()
}

/// Whether the volume's `claimRef` names this claim (with its UID, or with none yet).
pub fn is_bound_to_claim(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    r.name.as_deref() == Some(claim.name_any().as_str())
        && r.namespace == claim.namespace()
        && match r.uid.as_deref() {
            None | Some("") => true,
            Some(uid) => claim.uid().as_deref() == Some(uid),
        }
}

/// The claim's requested storage, in thousandths of a byte.
pub fn requested_storage(claim: &PersistentVolumeClaim) -> i128 {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| milli_value(&q.0))
        .unwrap_or(0)
}

/// The volume's storage capacity, in thousandths of a byte.
pub fn volume_capacity(volume: &PersistentVolume) -> i128 {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .and_then(|q| milli_value(&q.0))
        .unwrap_or(0)
}

/// Whether claim and volume disagree on volumeMode (both default to `Filesystem`).
pub fn volume_mode_mismatch(claim: &PersistentVolumeClaim, volume: &PersistentVolume) -> bool {
    let claim_mode = claim.spec.as_ref().and_then(|s| s.volume_mode.as_deref());
    let volume_mode = volume.spec.as_ref().and_then(|s| s.volume_mode.as_deref());
    claim_mode.unwrap_or("Filesystem") != volume_mode.unwrap_or("Filesystem")
}

fn claim_modes(claim: &PersistentVolumeClaim) -> BTreeSet<String> {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.clone())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn volume_modes(volume: &PersistentVolume) -> BTreeSet<String> {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.clone())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn phase(volume: &PersistentVolume) -> &str {
    volume
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Why a volume that a claim names in `spec.volumeName` cannot serve it (upstream's
/// `checkVolumeSatisfyClaim`), or Ok.
pub fn check_volume_satisfies_claim(
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Result<(), String> {
    if volume.metadata.deletion_timestamp.is_some() {
        return Err(format!(
            "the volume is marked for deletion {:?}",
            volume.name_any()
        ));
    }
    if volume_capacity(volume) < requested_storage(claim) {
        return Err("requested PV is too small".into());
    }
    if volume_class(volume) != claim_class(claim) {
        return Err("storageClassName does not match".into());
    }
    if volume_mode_mismatch(claim, volume) {
        return Err("incompatible volumeMode".into());
    }
    if !claim_modes(claim).is_subset(&volume_modes(volume)) {
        return Err("incompatible accessMode".into());
    }
    Ok(())
}

/// The volume the claim should bind to, if any (`delay_binding`: its class waits for the
/// first consumer). Errors only when the claim's selector is invalid.
pub fn find_best_match(
    claim: &PersistentVolumeClaim,
    volumes: &[Arc<PersistentVolume>],
    delay_binding: bool,
) -> Result<Option<Arc<PersistentVolume>>, String> {
    let wanted = claim_modes(claim);
    // Upstream's index: every distinct access-mode set that includes the claim's, fewest first.
    let mut mode_sets: Vec<BTreeSet<String>> = volumes
        .iter()
        .map(|v| volume_modes(v))
        .filter(|m| wanted.is_subset(m))
        .collect();
    mode_sets.sort_by_key(|m| (m.len(), m.clone()));
    mode_sets.dedup();
    let selector = match claim.spec.as_ref().and_then(|s| s.selector.clone()) {
        Some(s) => Some(Selector::try_from(s).map_err(|e| e.to_string())?),
        None => None,
    };
    for modes in mode_sets {
        let candidates: Vec<&Arc<PersistentVolume>> = volumes
            .iter()
            .filter(|v| volume_modes(v) == modes)
            .collect();
        if let Some(v) = find_matching_volume(claim, &candidates, selector.as_ref(), delay_binding)
        {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// Upstream's `FindMatchingVolume` without a node (the controller's path).
fn find_matching_volume(
    claim: &PersistentVolumeClaim,
    volumes: &[&Arc<PersistentVolume>],
    selector: Option<&Selector>,
    delay_binding: bool,
) -> Option<Arc<PersistentVolume>> {
    let requested = requested_storage(claim);
    let class = claim_class(claim);
    let mut smallest: Option<(&Arc<PersistentVolume>, i128)> = None;
    for &volume in volumes {
        let claimed = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        if claimed.is_some() && !is_bound_to_claim(volume, claim) {
            continue;
        }
        let capacity = volume_capacity(volume);
        if capacity < requested
            || volume_mode_mismatch(claim, volume)
            || volume.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        if is_bound_to_claim(volume, claim) {
            return Some(volume.clone());
        }
        if delay_binding {
            continue;
        }
        if phase(volume) != "Available"
            || selector.is_some_and(|s| !s.matches(volume.labels()))
            || volume_class(volume) != class
        {
            continue;
        }
        if smallest.is_none_or(|(_, c)| c > capacity) {
            smallest = Some((volume, capacity));
        }
    }
    smallest.map(|(v, _)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn volume(
        name: &str,
        size: &str,
        modes: &[&str],
        extra: serde_json::Value,
    ) -> Arc<PersistentVolume> {
        let mut v = json!({
            "metadata": {"name": name, "labels": {"tier": "fast"}},
            "spec": {"capacity": {"storage": size}, "accessModes": modes,
                     "hostPath": {"path": "/tmp"}},
            "status": {"phase": "Available"},
        });
        merge(&mut v, extra);
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn claim(size: &str, extra: serde_json::Value) -> PersistentVolumeClaim {
        let mut c = json!({
            "metadata": {"name": "data", "namespace": "default", "uid": "u1"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                     "resources": {"requests": {"storage": size}}},
        });
        merge(&mut c, extra);
        serde_json::from_value(c).unwrap()
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn best(c: &PersistentVolumeClaim, vs: &[Arc<PersistentVolume>]) -> Option<String> {
        find_best_match(c, vs, false).unwrap().map(|v| v.name_any())
    }

    #[test]
    fn the_smallest_volume_that_fits_wins() {
        let vs = [
            volume("big", "10Gi", &["ReadWriteOnce"], json!({})),
            volume("small", "1Gi", &["ReadWriteOnce"], json!({})),
            volume("fits", "2Gi", &["ReadWriteOnce"], json!({})),
        ];
        assert_eq!(
            best(&claim("1500Mi", json!({})), &vs).as_deref(),
            Some("fits")
        );
        assert_eq!(best(&claim("20Gi", json!({})), &vs), None);
    }

    #[test]
    fn class_selector_and_volume_mode_must_agree() {
        let vs = [
            volume(
                "gold",
                "1Gi",
                &["ReadWriteOnce"],
                json!({"spec": {"storageClassName": "gold"}}),
            ),
            volume(
                "block",
                "1Gi",
                &["ReadWriteOnce"],
                json!({"spec": {"volumeMode": "Block"}}),
            ),
            volume(
                "plain",
                "5Gi",
                &["ReadWriteOnce"],
                json!({"metadata": {"labels": {"tier": "slow"}}}),
            ),
        ];
        assert_eq!(
            best(&claim("1Gi", json!({})), &vs).as_deref(),
            Some("plain")
        );
        let gold = claim("1Gi", json!({"spec": {"storageClassName": "gold"}}));
        assert_eq!(best(&gold, &vs).as_deref(), Some("gold"));
        let block = claim("1Gi", json!({"spec": {"volumeMode": "Block"}}));
        assert_eq!(best(&block, &vs).as_deref(), Some("block"));
        let fast = claim(
            "1Gi",
            json!({"spec": {"selector": {"matchLabels": {"tier": "fast"}}}}),
        );
        assert_eq!(best(&fast, &vs), None);
    }

    #[test]
    fn volumes_with_fewer_access_modes_are_tried_first() {
        let vs = [
            volume("many", "1Gi", &["ReadWriteOnce", "ReadOnlyMany"], json!({})),
            volume("one", "5Gi", &["ReadWriteOnce"], json!({})),
            volume("other", "1Gi", &["ReadWriteMany"], json!({})),
        ];
        assert_eq!(best(&claim("1Gi", json!({})), &vs).as_deref(), Some("one"));
        let rox = claim("1Gi", json!({"spec": {"accessModes": ["ReadOnlyMany"]}}));
        assert_eq!(best(&rox, &vs).as_deref(), Some("many"));
    }

    #[test]
    fn a_volume_pre_bound_to_the_claim_wins_even_with_delayed_binding() {
        let vs = [
            volume("small", "1Gi", &["ReadWriteOnce"], json!({})),
            volume(
                "mine",
                "9Gi",
                &["ReadWriteOnce"],
                json!({
                "spec": {"claimRef": {"namespace": "default", "name": "data"}},
                "status": {"phase": "Available"}}),
            ),
            volume(
                "theirs",
                "1Gi",
                &["ReadWriteOnce"],
                json!({
                "spec": {"claimRef": {"namespace": "default", "name": "other"}}}),
            ),
        ];
        let c = claim("1Gi", json!({}));
        assert_eq!(best(&c, &vs).as_deref(), Some("mine"));
        assert_eq!(
            find_best_match(&c, &vs[..1], true)
                .unwrap()
                .map(|v| v.name_any()),
            None
        );
        assert_eq!(
            find_best_match(&c, &vs, true)
                .unwrap()
                .map(|v| v.name_any())
                .as_deref(),
            Some("mine")
        );
    }

    #[test]
    fn a_requested_volume_is_checked_against_the_claim() {
        let v = volume("v", "1Gi", &["ReadWriteOnce"], json!({}));
        assert_eq!(
            check_volume_satisfies_claim(&v, &claim("1Gi", json!({}))),
            Ok(())
        );
        assert_eq!(
            check_volume_satisfies_claim(&v, &claim("2Gi", json!({}))),
            Err("requested PV is too small".into())
        );
        let gold = claim("1Gi", json!({"spec": {"storageClassName": "gold"}}));
        assert_eq!(
            check_volume_satisfies_claim(&v, &gold),
            Err("storageClassName does not match".into())
        );
    }
}
