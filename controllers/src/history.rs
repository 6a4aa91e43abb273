//! ControllerRevision history, as upstream's `pkg/controller/history`: the snapshots of a
//! workload's template that StatefulSets (and DaemonSets) roll between. A revision is named
//! `<parent>-<hash>`, where the hash is FNV-1 (32 bit) over the revision's data plus the
//! parent's `collisionCount`, encoded with the "safe" alphabet upstream uses so names never
//! spell words. Creating a revision whose name is taken by different data bumps the collision
//! count and tries the next name ([`create`]).
//!
//! The hash covers our JSON encoding of the data, which differs from upstream's Go encoding in
//! field order and empty fields, so the hash values differ from upstream's for the same template.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::{Error, api_message};

/// Upstream's `ControllerRevisionHashLabel`: the hash of a revision's data, on the revision.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// The characters upstream's `rand.SafeEncodeString` maps bytes to (no vowels, no 0/1/3).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1 (not 1a), 32 bit, as Go's `hash/fnv.New32`.
fn fnv1_32(parts: &[&[u8]]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for part in parts {
        for b in *part {
            hash = hash.wrapping_mul(0x0100_0193);
            hash ^= u32::from(*b);
        }
    }
    hash
}

/// Upstream's `rand.SafeEncodeString`: each byte mapped into [`SAFE_ALPHABET`].
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// The bytes a revision's data hashes over: its compact JSON.
fn data_bytes(data: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(data).unwrap_or_default()
}

/// Upstream's `HashControllerRevision`: FNV-1 over the data and, when given, the decimal
/// collision count, safe-encoded.
pub fn hash(data: &serde_json::Value, collision_count: Option<i32>) -> String {
    let raw = data_bytes(data);
    let probe = collision_count.map(|c| c.to_string()).unwrap_or_default();
    safe_encode(&fnv1_32(&[&raw, probe.as_bytes()]).to_string())
}

/// Upstream's `ControllerRevisionName`: `<prefix>-<hash>`, the prefix cut to 223 bytes so the
/// name stays within 253.
pub fn name(prefix: &str, hash: &str) -> String {
    let mut cut = prefix.len().min(223);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash}", &prefix[..cut])
}

/// Upstream's `NewControllerRevision`: a revision of `data` numbered `revision`, labelled with
/// `labels` (the template's) plus the hash label, owned by `owner` (a controller reference).
/// The name is filled in by [`create`].
pub fn new_revision(
    namespace: &str,
    owner: serde_json::Value,
    labels: &BTreeMap<String, String>,
    data: serde_json::Value,
    revision: i64,
    collision_count: i32,
) -> Result<ControllerRevision, Error> {
    let mut labels = labels.clone();
    labels.insert(
        CONTROLLER_REVISION_HASH_LABEL.into(),
        hash(&data, Some(collision_count)),
    );
    let owner = serde_json::from_value(owner)
        .map_err(|e| Error::InvalidObject(format!("owner reference: {e}")))?;
    Ok(ControllerRevision {
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision,
    })
}

/// The revision's data (`null` when it has none).
pub fn data(revision: &ControllerRevision) -> &serde_json::Value {
    static NULL: serde_json::Value = serde_json::Value::Null;
    revision.data.as_ref().map(|d| &d.0).unwrap_or(&NULL)
}

/// Upstream's `EqualRevision`: the same data (the hash labels upstream also compares never
/// parse as numbers, so in practice only the data decides).
pub fn equal(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    data(a) == data(b)
}

/// Upstream's `FindEqualRevisions`: the revisions whose data equals `needle`'s, in order.
pub fn find_equal<'a>(
    revisions: &'a [ControllerRevision],
    needle: &ControllerRevision,
) -> Vec<&'a ControllerRevision> {
    revisions.iter().filter(|r| equal(r, needle)).collect()
}

/// Upstream's `SortControllerRevisions`: by revision number, then creation time, then name.
pub fn sort(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| {
                let (ta, tb) = (
                    a.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                );
                ta.partial_cmp(&tb).unwrap_or(Ordering::Equal)
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// Upstream's `nextRevision`: one more than the highest revision number (1 for none); expects
/// `revisions` sorted.
pub fn next_revision(revisions: &[ControllerRevision]) -> i64 {
    revisions.last().map(|r| r.revision + 1).unwrap_or(1)
}

/// Upstream's `CreateControllerRevision`: creates `revision` under `<parent>-<hash>`; when that
/// name holds different data, bumps `collision_count` and tries the next name. Returns the
/// stored revision (an existing one with the same data counts).
pub async fn create(
    api: &Api<ControllerRevision>,
    parent: &str,
    revision: &ControllerRevision,
    collision_count: &mut i32,
) -> Result<ControllerRevision, Error> {
    loop {
        let h = hash(data(revision), Some(*collision_count));
        let mut clone = revision.clone();
        clone.metadata.name = Some(name(parent, &h));
        clone
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(CONTROLLER_REVISION_HASH_LABEL.into(), h);
        match api.create(&PostParams::default(), &clone).await {
            Ok(created) => return Ok(created),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let existing = api
                    .get(clone.metadata.name.as_deref().unwrap_or_default())
                    .await
                    .map_err(|e| Error::CreateRevision(api_message(&e)))?;
                if equal(&existing, &clone) {
                    return Ok(existing);
                }
                *collision_count += 1;
            }
            Err(e) => return Err(Error::CreateRevision(api_message(&e))),
        }
    }
}

/// Upstream's `UpdateControllerRevision`: gives `revision` the number `number` (a rollback
/// makes an old revision the newest).
pub async fn renumber(
    api: &Api<ControllerRevision>,
    revision: &ControllerRevision,
    number: i64,
) -> Result<ControllerRevision, Error> {
    if revision.revision == number {
        return Ok(revision.clone());
    }
    let patch = json!({"revision": number});
    api.patch(
        revision.metadata.name.as_deref().unwrap_or_default(),
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .map_err(|e| Error::UpdateRevision(api_message(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1_matches_the_reference_values() {
        // Reference values of 32-bit FNV-1 (Go's hash/fnv.New32).
        assert_eq!(fnv1_32(&[b""]), 0x811c_9dc5);
        assert_eq!(fnv1_32(&[b"a"]), 0x050c_5d7e);
        assert_eq!(fnv1_32(&[b"abc"]), 0x439c_2f4b);
        assert_eq!(fnv1_32(&[b"a", b"bc"]), fnv1_32(&[b"abc"]));
    }

    #[test]
    fn safe_encoding_uses_only_the_safe_alphabet() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        let h = hash(&json!({"spec": {}}), Some(0));
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{h}");
    }

    #[test]
    fn the_hash_is_stable_and_changes_with_data_and_collisions() {
        let d = json!({"spec": {"template": {"$patch": "replace"}}});
        assert_eq!(hash(&d, Some(0)), hash(&d, Some(0)));
        assert_ne!(hash(&d, Some(0)), hash(&d, Some(1)));
        assert_ne!(hash(&d, Some(0)), hash(&json!({"spec": {}}), Some(0)));
    }

    #[test]
    fn names_are_prefix_dash_hash_within_253_bytes() {
        assert_eq!(name("web", "7b9f"), "web-7b9f");
        let long = "x".repeat(300);
        assert_eq!(name(&long, "abc").len(), 223 + 4);
    }

    #[test]
    fn revisions_sort_by_number_and_the_next_follows_the_last() {
        let rev = |n: i64, name: &str| ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            revision: n,
            data: None,
        };
        let mut revs = vec![rev(3, "c"), rev(1, "a"), rev(2, "b")];
        sort(&mut revs);
        let names: Vec<_> = revs
            .iter()
            .filter_map(|r| r.metadata.name.clone())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(next_revision(&revs), 4);
        assert_eq!(next_revision(&[]), 1);
    }
}
