//! Upstream's `EndpointSliceTracker`: the generation of every slice this controller wrote (or
//! that it expects to be deleted), per Service. A sync whose cache lacks a slice we wrote, or
//! holds an older generation of it, or still holds one we deleted, is working from a stale
//! cache and must wait, or it would create duplicates.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use super::reconciler::LABEL_SERVICE_NAME;

/// A tracked slice: the generation we wrote, or None when we expect its deletion.
type Generations = HashMap<String, Option<i64>>;

/// Generations of written slices, by Service key (`namespace/name`).
#[derive(Default)]
pub struct Tracker {
    by_service: Mutex<HashMap<String, Generations>>,
}

/// The `namespace/name` of the Service a slice belongs to (by its service-name label).
pub fn service_key(slice: &EndpointSlice) -> Option<String> {
    let name = slice.labels().get(LABEL_SERVICE_NAME)?;
    Some(format!("{}/{name}", slice.namespace().unwrap_or_default()))
}

fn uid(slice: &EndpointSlice) -> String {
    slice.uid().unwrap_or_default()
}

impl Tracker {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Generations>) -> R) -> R {
        f(&mut self.by_service.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Records a slice as written (created or updated) at its generation.
    pub fn update(&self, slice: &EndpointSlice) {
        let Some(key) = service_key(slice) else {
            return;
        };
        let generation = slice.metadata.generation.unwrap_or_default();
        self.with(|m| {
            m.entry(key)
                .or_default()
                .insert(uid(slice), Some(generation))
        });
    }

    /// Records that we deleted a slice.
    pub fn expect_deletion(&self, slice: &EndpointSlice) {
        let Some(key) = service_key(slice) else {
            return;
        };
        self.with(|m| m.entry(key).or_default().insert(uid(slice), None));
    }

    /// Whether a change to `slice` seen in the cache is news to us (not our own write).
    pub fn should_sync(&self, slice: &EndpointSlice) -> bool {
        let Some(key) = service_key(slice) else {
            return false;
        };
        self.with(|m| match m.get(&key).and_then(|g| g.get(&uid(slice))) {
            None => true,
            Some(None) => true,
            Some(Some(g)) => slice.metadata.generation.unwrap_or_default() > *g,
        })
    }

    /// A slice left the cache; true when we did not expect that (the Service needs a sync).
    pub fn handle_deletion(&self, slice: &EndpointSlice) -> bool {
        let Some(key) = service_key(slice) else {
            return false;
        };
        self.with(|m| {
            let Some(gens) = m.get_mut(&key) else {
                return false;
            };
            match gens.remove(&uid(slice)) {
                Some(None) => false,
                Some(Some(_)) => true,
                None => false,
            }
        })
    }

    /// Whether `slices` (the cached slices of Service `key`) lag behind our writes.
    pub fn stale(&self, key: &str, slices: &[&EndpointSlice]) -> bool {
        self.with(|m| {
            let Some(gens) = m.get(key) else {
                return false;
            };
            let mut seen = std::collections::HashSet::new();
            for s in slices {
                let u = uid(s);
                match gens.get(&u) {
                    Some(None) => return true,
                    Some(Some(g)) if *g > s.metadata.generation.unwrap_or_default() => return true,
                    _ => {}
                }
                seen.insert(u);
            }
            gens.iter().any(|(u, g)| g.is_some() && !seen.contains(u))
        })
    }

    /// Forgets a deleted Service.
    pub fn delete_service(&self, key: &str) {
        self.with(|m| m.remove(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slice(uid: &str, generation: i64) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": uid, "namespace": "ns", "uid": uid, "generation": generation,
                "labels": {LABEL_SERVICE_NAME: "web"}},
            "addressType": "IPv4", "endpoints": [],
        }))
        .unwrap()
    }

    #[test]
    fn a_cache_missing_or_behind_our_writes_is_stale() {
        let t = Tracker::default();
        t.update(&slice("a", 2));
        assert!(t.stale("ns/web", &[]));
        assert!(t.stale("ns/web", &[&slice("a", 1)]));
        assert!(!t.stale("ns/web", &[&slice("a", 2)]));
        assert!(!t.should_sync(&slice("a", 2)));
        assert!(t.should_sync(&slice("a", 3)));
        t.expect_deletion(&slice("a", 2));
        assert!(t.stale("ns/web", &[&slice("a", 2)]));
        assert!(!t.stale("ns/web", &[]));
        assert!(!t.handle_deletion(&slice("a", 2)));
    }
}
