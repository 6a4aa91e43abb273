//! The ownership graph, as upstream's `GraphBuilder` keeps it: one node per object UID with its
//! ownerReferences and the UIDs of its dependents. Owners named by a reference but not (yet)
//! observed are "virtual" nodes that the collector verifies against the API server.
//!
//! Every change returns the [`Work`] it causes: UIDs to check for deletion
//! (`attemptToDelete`) and owners whose dependents must be orphaned (`attemptToOrphan`).
//! This file is pure bookkeeping; the API calls live in `delete.rs` and `orphan.rs`.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// The finalizer that makes the collector delete dependents before their owner.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The finalizer that makes the collector strip references to the owner from its dependents.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// Where an object lives: enough to read it back from the API server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `apiVersion` (`apps/v1`).
    pub api_version: String,
    /// `kind` (`ReplicaSet`).
    pub kind: String,
    /// The namespace (of the dependent, for a virtual owner); None when cluster-scoped.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{} {ns}/{}", self.api_version, self.kind, self.name),
            None => write!(f, "{}/{} {}", self.api_version, self.kind, self.name),
        }
    }
}

/// What a watch event says about one object.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The object.
    pub identity: Identity,
    /// `metadata.ownerReferences`.
    pub owners: Vec<OwnerReference>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `metadata.finalizers`.
    pub finalizers: Vec<String>,
}

/// One object in the graph.
#[derive(Clone, Debug)]
pub struct Node {
    /// The object (for a virtual node: as its dependents reference it).
    pub identity: Identity,
    /// Its ownerReferences as last observed.
    pub owners: Vec<OwnerReference>,
    /// UIDs of the objects that reference it as an owner.
    pub dependents: BTreeSet<String>,
    /// `deletionTimestamp` is set.
    pub being_deleted: bool,
    /// Being deleted with the `foregroundDeletion` finalizer: waits for its dependents.
    pub deleting_dependents: bool,
    /// Being deleted with the `orphan` finalizer.
    pub orphaning: bool,
    /// Seen through a watch (false: only known from a dependent's ownerReference).
    pub observed: bool,
}

/// Items the collector should look at after a graph change.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// UIDs to check for deletion (dangling owners, foreground progress, virtual owners).
    pub attempt_to_delete: Vec<String>,
    /// Owner UIDs whose dependents must be orphaned.
    pub attempt_to_orphan: Vec<String>,
}

impl Work {
    fn delete(&mut self, uid: &str) {
        if !self.attempt_to_delete.iter().any(|u| u == uid) {
            self.attempt_to_delete.push(uid.to_string());
        }
    }
}

/// The graph of every watched object and the owners they name.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
}

impl Graph {
    /// The node for `uid`.
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// How many nodes (observed or virtual) the graph holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// UIDs of observed objects of `api_version` / `kind` that are not in `except` (what a
    /// completed re-list of that resource no longer returns).
    pub fn observed_of(
        &self,
        api_version: &str,
        kind: &str,
        except: &std::collections::HashSet<String>,
    ) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| {
                n.observed && n.identity.kind == kind && n.identity.api_version == api_version
            })
            .filter(|n| !except.contains(&n.identity.uid))
            .map(|n| n.identity.uid.clone())
            .collect()
    }

    /// Dependents of `uid` whose reference to it has `blockOwnerDeletion: true`.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<&Node> {
        let Some(node) = self.nodes.get(uid) else {
            return Vec::new();
        };
        node.dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| {
                d.owners
                    .iter()
                    .any(|o| o.uid == uid && o.block_owner_deletion == Some(true))
            })
            .collect()
    }

    /// An object was added or updated (upstream's `processGraphChanges` for add/update).
    pub fn observe(&mut self, obs: Observation) -> Work {
        let mut work = Work::default();
        let uid = obs.identity.uid.clone();
        let deleting_dependents =
            obs.deleting && obs.finalizers.iter().any(|f| f == FOREGROUND_FINALIZER);
        let orphaning = obs.deleting && obs.finalizers.iter().any(|f| f == ORPHAN_FINALIZER);
        let (old_owners, was_orphaning, was_deleting_dependents) = match self.nodes.get_mut(&uid) {
            None => {
                self.nodes.insert(
                    uid.clone(),
                    Node {
                        identity: obs.identity.clone(),
                        owners: obs.owners.clone(),
                        dependents: BTreeSet::new(),
                        being_deleted: obs.deleting,
                        deleting_dependents: false,
                        orphaning: false,
                        observed: true,
                    },
                );
                (Vec::new(), false, false)
            }
            Some(node) => {
                node.identity = obs.identity.clone();
                node.observed = true;
                node.being_deleted |= obs.deleting;
                let old = std::mem::replace(&mut node.owners, obs.owners.clone());
                (old, node.orphaning, node.deleting_dependents)
            }
        };
        // Owner references that appeared, vanished or stopped blocking.
        let added: Vec<&OwnerReference> = obs
            .owners
            .iter()
            .filter(|o| !old_owners.iter().any(|p| p.uid == o.uid))
            .collect();
        for owner in added {
            self.add_dependent(&uid, owner, obs.identity.namespace.as_deref(), &mut work);
        }
        for old in &old_owners {
            let now = obs.owners.iter().find(|o| o.uid == old.uid);
            if now.is_none()
                && let Some(owner) = self.nodes.get_mut(&old.uid)
            {
                owner.dependents.remove(&uid);
            }
            let unblocked = old.block_owner_deletion == Some(true)
                && now.is_none_or(|n| n.block_owner_deletion != Some(true));
            if unblocked
                && self
                    .nodes
                    .get(&old.uid)
                    .is_some_and(|o| o.deleting_dependents)
            {
                work.delete(&old.uid);
            }
        }
        // Transitions (upstream's `processTransitions`).
        let node = self.nodes.get_mut(&uid).expect("node inserted above");
        node.orphaning = orphaning;
        if orphaning && !was_orphaning {
            work.attempt_to_orphan.push(uid.clone());
            return work;
        }
        if deleting_dependents && !was_deleting_dependents {
            node.deleting_dependents = true;
            for dep in &node.dependents {
                work.delete(dep);
            }
            work.delete(&uid);
        }
        work
    }

    fn add_dependent(
        &mut self,
        dependent: &str,
        owner: &OwnerReference,
        namespace: Option<&str>,
        work: &mut Work,
    ) {
        match self.nodes.get_mut(&owner.uid) {
            Some(node) => {
                node.dependents.insert(dependent.to_string());
            }
            None => {
                self.nodes.insert(
                    owner.uid.clone(),
                    Node {
                        identity: Identity {
                            api_version: owner.api_version.clone(),
                            kind: owner.kind.clone(),
                            namespace: namespace.map(String::from),
                            name: owner.name.clone(),
                            uid: owner.uid.clone(),
                        },
                        owners: Vec::new(),
                        dependents: BTreeSet::from([dependent.to_string()]),
                        being_deleted: false,
                        deleting_dependents: false,
                        orphaning: false,
                        observed: false,
                    },
                );
                // Verify that the owner exists.
                work.delete(&owner.uid);
            }
        }
    }

    /// An object was deleted (a watch event), or a virtual owner turned out not to exist
    /// (`virtual_only`: then an observed node is kept).
    pub fn remove(&mut self, uid: &str, virtual_only: bool) -> Work {
        let mut work = Work::default();
        if virtual_only && self.nodes.get(uid).is_none_or(|n| n.observed) {
            return work;
        }
        let Some(node) = self.nodes.remove(uid) else {
            return work;
        };
        for owner in &node.owners {
            if let Some(o) = self.nodes.get_mut(&owner.uid) {
                o.dependents.remove(uid);
                if o.deleting_dependents {
                    work.delete(&owner.uid);
                }
            }
        }
        for dep in &node.dependents {
            work.delete(dep);
        }
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: format!("cm-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn obs(uid: &str, owners: Vec<OwnerReference>, finalizers: &[&str]) -> Observation {
        Observation {
            identity: Identity {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("default".into()),
                name: format!("cm-{uid}"),
                uid: uid.into(),
            },
            owners,
            deleting: !finalizers.is_empty(),
            finalizers: finalizers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn an_unseen_owner_becomes_a_virtual_node_to_verify() {
        let mut g = Graph::default();
        let work = g.observe(obs("child", vec![owner("parent", true)], &[]));
        assert_eq!(work.attempt_to_delete, ["parent"]);
        let parent = g.get("parent").unwrap();
        assert!(!parent.observed);
        assert!(parent.dependents.contains("child"));
        assert_eq!(parent.identity.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn a_deleted_owner_queues_its_dependents() {
        let mut g = Graph::default();
        g.observe(obs("parent", vec![], &[]));
        g.observe(obs("child", vec![owner("parent", true)], &[]));
        let work = g.remove("parent", false);
        assert_eq!(work.attempt_to_delete, ["child"]);
        assert!(g.get("parent").is_none());
    }

    #[test]
    fn foreground_deletion_queues_dependents_and_the_owner() {
        let mut g = Graph::default();
        g.observe(obs("parent", vec![], &[]));
        g.observe(obs("child", vec![owner("parent", true)], &[]));
        let work = g.observe(obs("parent", vec![], &[FOREGROUND_FINALIZER]));
        assert_eq!(work.attempt_to_delete, ["child", "parent"]);
        assert!(g.get("parent").unwrap().deleting_dependents);
        assert_eq!(g.blocking_dependents("parent").len(), 1);
        // The dependent going away lets the owner finish.
        let work = g.remove("child", false);
        assert_eq!(work.attempt_to_delete, ["parent"]);
        assert!(g.blocking_dependents("parent").is_empty());
    }

    #[test]
    fn the_orphan_finalizer_queues_the_owner_for_orphaning_once() {
        let mut g = Graph::default();
        g.observe(obs("parent", vec![], &[]));
        let work = g.observe(obs("parent", vec![], &[ORPHAN_FINALIZER]));
        assert_eq!(work.attempt_to_orphan, ["parent"]);
        let again = g.observe(obs("parent", vec![], &[ORPHAN_FINALIZER]));
        assert!(again.attempt_to_orphan.is_empty());
    }

    #[test]
    fn a_dependent_that_stops_blocking_requeues_a_waiting_owner() {
        let mut g = Graph::default();
        g.observe(obs("parent", vec![], &[]));
        g.observe(obs("child", vec![owner("parent", true)], &[]));
        g.observe(obs("parent", vec![], &[FOREGROUND_FINALIZER]));
        let work = g.observe(obs("child", vec![], &[]));
        assert_eq!(work.attempt_to_delete, ["parent"]);
        assert!(g.get("parent").unwrap().dependents.is_empty());
    }

    #[test]
    fn a_relist_names_the_observed_objects_it_no_longer_returned() {
        let mut g = Graph::default();
        g.observe(obs("kept", vec![], &[]));
        g.observe(obs("gone", vec![], &[]));
        g.observe(obs("child", vec![owner("virtual", false)], &[]));
        let seen = std::collections::HashSet::from(["kept".to_string(), "child".to_string()]);
        assert_eq!(g.observed_of("v1", "ConfigMap", &seen), ["gone"]);
        assert!(g.observed_of("apps/v1", "ConfigMap", &seen).is_empty());
    }

    #[test]
    fn a_virtual_delete_keeps_an_observed_node() {
        let mut g = Graph::default();
        g.observe(obs("parent", vec![], &[]));
        assert_eq!(g.remove("parent", true), Work::default());
        assert!(g.get("parent").is_some());
    }
}
