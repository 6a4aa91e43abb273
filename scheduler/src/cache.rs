//! The scheduler's cache: every node and the pods bound or assumed to it. A pod is assumed
//! on its chosen node as soon as the scheduling cycle picks it, so the next cycle already
//! counts it while the binding is in flight; the watch confirming the binding replaces the
//! assumption, and a failed binding forgets it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::framework::{NodeInfo, PodInfo, pod_key};
use crate::snapshot::Snapshot;

/// Nodes and the pods on them.
#[derive(Default)]
pub struct Cache {
    nodes: BTreeMap<String, Arc<NodeInfo>>,
    /// Which node each known pod is on.
    pod_nodes: HashMap<String, String>,
    assumed: HashSet<String>,
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

impl Cache {
    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        Arc::make_mut(self.nodes.entry(name.to_string()).or_default())
    }

    /// A node appeared or changed.
    pub fn add_or_update_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        self.node_mut(&name).set_node(node);
    }

    /// A node is gone; pods still naming it keep an entry without a Node.
    pub fn remove_node(&mut self, name: &str) {
        let empty = match self.nodes.get_mut(name) {
            Some(info) => {
                let info = Arc::make_mut(info);
                info.node = None;
                info.pods.is_empty()
            }
            None => false,
        };
        if empty {
            self.nodes.remove(name);
        }
    }

    fn remove_pod_by_key(&mut self, key: &str) {
        if let Some(node) = self.pod_nodes.remove(key) {
            let now_empty = match self.nodes.get_mut(&node) {
                Some(info) => {
                    let info = Arc::make_mut(info);
                    info.remove_pod(key);
                    info.node.is_none() && info.pods.is_empty()
                }
                None => false,
            };
            if now_empty {
                self.nodes.remove(&node);
            }
        }
    }

    /// A bound pod appeared or changed (confirming an assumed pod).
    pub fn add_or_update_pod(&mut self, pod: Arc<Pod>) {
        let Some(node) = node_name(&pod).map(str::to_string) else {
            return;
        };
        let key = pod_key(&pod);
        self.assumed.remove(&key);
        self.remove_pod_by_key(&key);
        self.node_mut(&node).add_pod(PodInfo::new(pod));
        self.pod_nodes.insert(key, node);
    }

    /// A bound pod is gone.
    pub fn remove_pod(&mut self, pod: &Pod) {
        let key = pod_key(pod);
        self.assumed.remove(&key);
        self.remove_pod_by_key(&key);
    }

    /// Counts a pod on `node` before its binding is confirmed.
    pub fn assume_pod(&mut self, pod: &Pod, node: &str) {
        let mut assumed = pod.clone();
        if let Some(spec) = assumed.spec.as_mut() {
            spec.node_name = Some(node.to_string());
        }
        let key = pod_key(pod);
        self.add_or_update_pod(Arc::new(assumed));
        self.assumed.insert(key);
    }

    /// Drops an assumed pod whose binding failed.
    pub fn forget_pod(&mut self, pod: &Pod) {
        let key = pod_key(pod);
        if self.assumed.remove(&key) {
            self.remove_pod_by_key(&key);
        }
    }

    /// Whether the pod is assumed and not yet confirmed.
    pub fn is_assumed(&self, pod: &Pod) -> bool {
        self.assumed.contains(&pod_key(pod))
    }

    /// The nodes as they are now, for one scheduling cycle.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            nodes: self
                .nodes
                .values()
                .filter(|n| n.node.is_some())
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};

    fn bound(name: &str, node: &str, cpu: &str) -> Arc<Pod> {
        let mut p = pod(name, &[&[("cpu", cpu)]]);
        p.spec.as_mut().unwrap().node_name = Some(node.into());
        Arc::new(p)
    }

    #[test]
    fn bound_pods_add_to_their_node_requests() {
        let mut c = Cache::default();
        c.add_or_update_node(Arc::new(node("a", &[("cpu", "4")])));
        c.add_or_update_pod(bound("p1", "a", "1"));
        c.add_or_update_pod(bound("p2", "a", "500m"));
        let snap = c.snapshot();
        assert_eq!(snap.nodes[0].requested.milli_cpu, 1500);
        c.remove_pod(&bound("p1", "a", "1"));
        assert_eq!(c.snapshot().nodes[0].requested.milli_cpu, 500);
    }

    #[test]
    fn an_assumed_pod_counts_until_forgotten_and_is_confirmed_by_the_watch() {
        let mut c = Cache::default();
        c.add_or_update_node(Arc::new(node("a", &[("cpu", "4")])));
        let p = pod("p", &[&[("cpu", "1")]]);
        c.assume_pod(&p, "a");
        assert!(c.is_assumed(&p));
        assert_eq!(c.snapshot().nodes[0].requested.milli_cpu, 1000);
        c.forget_pod(&p);
        assert_eq!(c.snapshot().nodes[0].requested.milli_cpu, 0);
        c.assume_pod(&p, "a");
        c.add_or_update_pod(bound("p", "a", "1"));
        assert!(!c.is_assumed(&p));
        c.forget_pod(&p);
        assert_eq!(
            c.snapshot().nodes[0].pods.len(),
            1,
            "confirmed pods are not forgotten"
        );
    }

    #[test]
    fn a_snapshot_is_not_changed_by_later_updates() {
        let mut c = Cache::default();
        c.add_or_update_node(Arc::new(node("a", &[("cpu", "4")])));
        let snap = c.snapshot();
        c.add_or_update_pod(bound("p", "a", "1"));
        assert_eq!(snap.nodes[0].requested.milli_cpu, 0);
        c.remove_node("a");
        assert!(
            c.snapshot().nodes.is_empty(),
            "pods alone do not make a node"
        );
    }
}
