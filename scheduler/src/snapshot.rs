//! A consistent view of the nodes for one scheduling cycle, as upstream's `Snapshot`: the
//! cache's node infos (shared copy-on-write), the lists of nodes holding pods with affinity
//! and with required anti-affinity (so InterPodAffinity looks at those alone when the incoming
//! pod has no terms of its own), and how many nodes have each image (ImageLocality). The
//! scheduler keeps one snapshot and the cache brings it up to date before every cycle by
//! replacing only the node infos that changed since the last one (upstream's
//! `UpdateSnapshot`), so a cycle costs nothing per unchanged node.
//!
//! A cycle finds its snapshot in the [`CycleState`] ([`remember`], [`of_cycle`]); plugins run
//! without one (unit tests) get one built from the nodes they were given.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::framework::{CycleState, NodeInfo, next_node_generation};
use crate::plugins::inter_pod_affinity::index::AffinityIndex;

/// Where a cycle's snapshot is kept in its [`CycleState`].
const SNAPSHOT_KEY: &str = "Snapshot";

/// The nodes one cycle schedules against.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Every node with a Node object, in name order.
    pub nodes: Vec<Arc<NodeInfo>>,
    /// The nodes with at least one pod with pod affinity or anti-affinity, in name order.
    pub have_pods_with_affinity: Vec<Arc<NodeInfo>>,
    /// The nodes with at least one pod with required pod anti-affinity, in name order.
    pub have_pods_with_required_anti_affinity: Vec<Arc<NodeInfo>>,
    /// How many nodes list each image name in `status.images`.
    pub image_num_nodes: Arc<HashMap<String, usize>>,
    /// The pods by label and the existing pods' required anti-affinity terms, per node, for
    /// InterPodAffinity's PreFilter; kept up to date with the nodes.
    pub affinity_index: Arc<AffinityIndex>,
    /// Every node info changed after this snapshot was taken has a generation at least this,
    /// so a node info with a lower one is the snapshot's own (or an unchanged copy of it).
    pub next_generation: u64,
}

/// The image names a node lists in `status.images`, each once.
pub fn node_image_names(node: &Node) -> HashSet<&str> {
    node.status
        .iter()
        .flat_map(|s| s.images.iter().flatten())
        .flat_map(|i| i.names.iter().flatten())
        .map(String::as_str)
        .collect()
}

/// Whether a node belongs in one of the pod-affinity lists.
type Membership = fn(&NodeInfo) -> bool;

/// Whether `n` holds pods with pod affinity or anti-affinity.
pub(crate) fn with_affinity(n: &NodeInfo) -> bool {
    n.pods_with_affinity > 0
}

/// Whether `n` holds pods with required pod anti-affinity.
pub(crate) fn with_required_anti_affinity(n: &NodeInfo) -> bool {
    n.pods_with_required_anti_affinity > 0
}

impl Snapshot {
    /// A snapshot of these nodes, its lists and image counts computed by looking at each.
    pub fn from_nodes(nodes: &[Arc<NodeInfo>]) -> Self {
        let mut images: HashMap<String, usize> = HashMap::new();
        for node in nodes.iter().filter_map(|n| n.node.as_deref()) {
            for name in node_image_names(node) {
                *images.entry(name.to_string()).or_default() += 1;
            }
        }
        let mut s = Snapshot {
            nodes: nodes.to_vec(),
            image_num_nodes: Arc::new(images),
            ..Default::default()
        };
        s.rebuild_lists();
        s.next_generation = next_node_generation();
        s
    }

    /// How many nodes there are.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The node info named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        match self.nodes.binary_search_by(|n| n.name().cmp(name)) {
            Ok(i) => Some(&self.nodes[i]),
            // Not in name order (a snapshot built from nodes given in another order).
            Err(_) => self.nodes.iter().find(|n| n.name() == name),
        }
    }

    /// Recomputes both pod-affinity lists and the affinity index from `nodes`.
    fn rebuild_lists(&mut self) {
        self.affinity_index = Arc::new(AffinityIndex::of_nodes(&self.nodes));
        self.have_pods_with_affinity = self
            .nodes
            .iter()
            .filter(|n| with_affinity(n))
            .cloned()
            .collect();
        self.have_pods_with_required_anti_affinity = self
            .nodes
            .iter()
            .filter(|n| with_required_anti_affinity(n))
            .cloned()
            .collect();
    }

    /// Replaces the whole node list (the cache's nodes in name order).
    pub(crate) fn replace_all(&mut self, nodes: Vec<Arc<NodeInfo>>) {
        self.nodes = nodes;
        self.rebuild_lists();
        self.next_generation = next_node_generation();
    }

    /// Applies the current state of the nodes that changed: `Some(info)` for a node that is
    /// (still or newly) there, `None` for one that is gone.
    pub(crate) fn apply_changes(&mut self, changed: Vec<(String, Option<Arc<NodeInfo>>)>) {
        let mut lists_touched = false;
        for (name, now) in &changed {
            let at = self.nodes.binary_search_by(|n| n.name().cmp(name.as_str()));
            let before = at.ok().map(|i| &self.nodes[i]);
            if !before
                .zip(now.as_ref())
                .is_some_and(|(b, n)| Arc::ptr_eq(b, n))
            {
                let index = Arc::make_mut(&mut self.affinity_index);
                if let Some(b) = before {
                    index.remove_node(b);
                }
                if let Some(n) = now {
                    index.add_node(n);
                }
            }
            lists_touched |= before
                .is_some_and(|b| with_affinity(b) || with_required_anti_affinity(b))
                || now
                    .as_ref()
                    .is_some_and(|n| with_affinity(n) || with_required_anti_affinity(n));
            match (at, now) {
                (Ok(i), Some(info)) => self.nodes[i] = info.clone(),
                (Err(i), Some(info)) => self.nodes.insert(i, info.clone()),
                (Ok(i), None) => {
                    self.nodes.remove(i);
                }
                (Err(_), None) => {}
            }
        }
        if lists_touched {
            // Each list stays in name order: a changed node is replaced, dropped or inserted
            // where it belongs, without looking at the other members.
            let lists: [(&mut Vec<Arc<NodeInfo>>, Membership); 2] = [
                (&mut self.have_pods_with_affinity, with_affinity),
                (
                    &mut self.have_pods_with_required_anti_affinity,
                    with_required_anti_affinity,
                ),
            ];
            for (list, member) in lists {
                for (name, now) in &changed {
                    let at = list.binary_search_by(|n| n.name().cmp(name.as_str()));
                    match (at, now.as_ref().filter(|n| member(n))) {
                        (Ok(i), Some(info)) => list[i] = info.clone(),
                        (Ok(i), None) => {
                            list.remove(i);
                        }
                        (Err(i), Some(info)) => list.insert(i, info.clone()),
                        (Err(_), None) => {}
                    }
                }
            }
        }
        self.next_generation = next_node_generation();
    }
}

/// Keeps `snapshot` in the cycle state as the cycle's snapshot.
pub fn remember(state: &mut CycleState, snapshot: Arc<Snapshot>) {
    state.write(SNAPSHOT_KEY, snapshot);
}

/// Keeps a snapshot of `nodes` in the cycle state unless the cycle has one already (plugins
/// called without the scheduler's snapshot).
pub fn remember_nodes(state: &mut CycleState, nodes: &[Arc<NodeInfo>]) {
    if of_cycle(state).is_none() {
        remember(state, Arc::new(Snapshot::from_nodes(nodes)));
    }
}

/// The cycle's snapshot, if one was kept.
pub fn of_cycle(state: &CycleState) -> Option<&Arc<Snapshot>> {
    state.read::<Arc<Snapshot>>(SNAPSHOT_KEY)
}

/// Drops the cycle's snapshot from the state (once filtering and scoring are done, so the
/// scheduler's copy is not shared while the binding runs).
pub fn forget(state: &mut CycleState) {
    state.remove(SNAPSHOT_KEY);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{
        ContainerImage, NodeStatus, PodAffinityTerm, PodAntiAffinity,
    };

    fn named(name: &str) -> Arc<NodeInfo> {
        Arc::new(node_info(node(name, &[("cpu", "4")]), vec![]))
    }

    fn with_anti_affinity(name: &str) -> Arc<NodeInfo> {
        let mut p = pod("p", &[&[("cpu", "1")]]);
        p.spec.as_mut().unwrap().affinity = Some(k8s_openapi::api::core::v1::Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        Arc::new(node_info(node(name, &[("cpu", "4")]), vec![p]))
    }

    fn names(list: &[Arc<NodeInfo>]) -> Vec<&str> {
        list.iter().map(|n| n.name()).collect()
    }

    #[test]
    fn changes_replace_insert_and_remove_nodes_in_name_order() {
        let mut s = Snapshot::default();
        s.replace_all(vec![named("a"), named("c")]);
        let b = named("b");
        s.apply_changes(vec![
            ("b".into(), Some(b.clone())),
            ("c".into(), None),
            ("d".into(), None),
        ]);
        assert_eq!(names(&s.nodes), ["a", "b"]);
        assert!(Arc::ptr_eq(s.get("b").unwrap(), &b));
    }

    #[test]
    fn the_anti_affinity_list_follows_the_pods_on_each_node() {
        let mut s = Snapshot::default();
        s.replace_all(vec![named("a"), with_anti_affinity("b"), named("c")]);
        assert_eq!(names(&s.have_pods_with_required_anti_affinity), ["b"]);
        assert_eq!(names(&s.have_pods_with_affinity), ["b"]);
        s.apply_changes(vec![
            ("a".into(), Some(with_anti_affinity("a"))),
            ("b".into(), Some(named("b"))),
        ]);
        assert_eq!(names(&s.have_pods_with_required_anti_affinity), ["a"]);
        s.apply_changes(vec![("c".into(), Some(with_anti_affinity("c")))]);
        assert_eq!(names(&s.have_pods_with_affinity), ["a", "c"]);
    }

    #[test]
    fn a_snapshot_built_from_nodes_counts_the_nodes_of_each_image() {
        let mut n = node("a", &[("cpu", "4")]);
        n.status.get_or_insert_with(NodeStatus::default).images = Some(vec![ContainerImage {
            names: Some(vec!["busybox:latest".into(), "busybox:latest".into()]),
            size_bytes: Some(1),
        }]);
        let s = Snapshot::from_nodes(&[Arc::new(node_info(n, vec![])), named("b")]);
        assert_eq!(s.image_num_nodes.get("busybox:latest"), Some(&1));
        assert_eq!(s.num_nodes(), 2);
    }
}
