//! The scheduler's cache: every node and the pods bound or assumed to it. A pod is assumed
//! on its chosen node as soon as the scheduling cycle picks it, so the next cycle already
//! counts it while the binding is in flight; the watch confirming the binding replaces the
//! assumption, and a failed binding forgets it.
//!
//! Memory: the pods come from the watch through [`strip_pod_for_scheduling`], so the one copy
//! of each pod (shared by the informer's store, this cache and the queue) holds only what
//! scheduling reads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Node, Pod, Volume};

use crate::framework::{NodeInfo, PodInfo, pod_key};
use crate::snapshot::{Snapshot, node_image_names};

/// The annotation `kubectl apply` writes, a copy of the whole object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Keeps what the plugins read of a container: its name, image (ImageLocality), ports
/// (NodePorts), resources and restart policy (sidecar init containers); drops env, command,
/// probes, mounts, security context and the rest.
fn strip_container(c: &mut Container) {
    *c = Container {
        name: std::mem::take(&mut c.name),
        image: c.image.take(),
        ports: c.ports.take(),
        resources: c.resources.take(),
        restart_policy: c.restart_policy.take(),
        ..Default::default()
    };
}

/// Volumes no plugin looks at: the ones a pod's own objects or the node provide.
fn scheduling_irrelevant(v: &Volume) -> bool {
    v.projected.is_some()
        || v.secret.is_some()
        || v.config_map.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.host_path.is_some()
}

/// The scheduler's informer transform (upstream's scheduler strips managed fields the same
/// way): drops `managedFields`, the last-applied annotation, container details other than
/// name, image, ports, resources and restart policy, ephemeral containers, volumes no plugin
/// reads (projected service-account tokens, secrets, config maps, downward API, emptyDir,
/// hostPath) and the per-container statuses and IPs. The scheduler never writes a cached pod
/// back, so nothing dropped here can be lost on the server.
pub fn strip_pod_for_scheduling(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if let Some(a) = pod.metadata.annotations.as_mut() {
        a.remove(LAST_APPLIED);
        if a.is_empty() {
            pod.metadata.annotations = None;
        }
    }
    if let Some(spec) = pod.spec.as_mut() {
        spec.containers.iter_mut().for_each(strip_container);
        spec.init_containers
            .iter_mut()
            .flatten()
            .for_each(strip_container);
        spec.ephemeral_containers = None;
        if let Some(volumes) = spec.volumes.as_mut() {
            volumes.retain(|v| !scheduling_irrelevant(v));
            if volumes.is_empty() {
                spec.volumes = None;
            }
        }
    }
    if let Some(status) = pod.status.as_mut() {
        status.container_statuses = None;
        status.init_container_statuses = None;
        status.ephemeral_container_statuses = None;
        status.host_ips = None;
        status.pod_ips = None;
    }
}

/// Nodes and the pods on them.
#[derive(Default)]
pub struct Cache {
    nodes: BTreeMap<String, Arc<NodeInfo>>,
    /// Which node each known pod is on.
    pod_nodes: HashMap<String, String>,
    assumed: HashSet<String>,
    /// The nodes changed since the last [`Cache::update_snapshot`].
    dirty: HashSet<String>,
    /// How many nodes list each image name.
    image_num_nodes: HashMap<String, usize>,
    /// Whether `image_num_nodes` changed since the last [`Cache::update_snapshot`].
    images_changed: bool,
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

impl Cache {
    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        if !self.dirty.contains(name) {
            self.dirty.insert(name.to_string());
        }
        Arc::make_mut(self.nodes.entry(name.to_string()).or_default())
    }

    /// Counts (`by` = 1) or uncounts (-1) the images `node` lists.
    fn count_images(&mut self, node: Option<&Node>, by: isize) {
        for name in node.map(node_image_names).unwrap_or_default() {
            let n = self.image_num_nodes.entry(name.to_string()).or_default();
            *n = n.saturating_add_signed(by);
            if *n == 0 {
                self.image_num_nodes.remove(name);
            }
            self.images_changed = true;
        }
    }

    /// The Node object the cache holds under `name`.
    fn node_object(&self, name: &str) -> Option<Arc<Node>> {
        self.nodes.get(name).and_then(|n| n.node.clone())
    }

    /// A node appeared or changed.
    pub fn add_or_update_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let old = self.node_object(&name);
        if old.as_deref().map(node_image_names) != Some(node_image_names(&node)) {
            self.count_images(old.as_deref(), -1);
            self.count_images(Some(&node), 1);
        }
        self.node_mut(&name).set_node(node);
    }

    /// A node is gone; pods still naming it keep an entry without a Node.
    pub fn remove_node(&mut self, name: &str) {
        let old = self.node_object(name);
        self.count_images(old.as_deref(), -1);
        let empty = match self.nodes.get_mut(name) {
            Some(info) => {
                self.dirty.insert(name.to_string());
                let info = Arc::make_mut(info);
                info.clear_node();
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
                    self.dirty.insert(node.clone());
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
        let mut s = Snapshot::default();
        s.replace_all(self.present_nodes());
        s.image_num_nodes = Arc::new(self.image_num_nodes.clone());
        s
    }

    fn present_nodes(&self) -> Vec<Arc<NodeInfo>> {
        self.nodes
            .values()
            .filter(|n| n.node.is_some())
            .cloned()
            .collect()
    }

    /// Brings `snapshot` (the last one this cache updated, or an empty one) up to date,
    /// replacing only the nodes that changed since then (upstream's `UpdateSnapshot`).
    pub fn update_snapshot(&mut self, snapshot: &mut Snapshot) {
        if self.images_changed || snapshot.nodes.is_empty() {
            snapshot.image_num_nodes = Arc::new(self.image_num_nodes.clone());
            self.images_changed = false;
        }
        let dirty = std::mem::take(&mut self.dirty);
        // Many changes (the first cycle, a burst of new nodes): one pass over every node.
        if snapshot.nodes.is_empty() || dirty.len() * 16 > snapshot.nodes.len().max(1024) {
            snapshot.replace_all(self.present_nodes());
            return;
        }
        let changed = dirty
            .into_iter()
            .map(|name| {
                let now = self.nodes.get(&name).filter(|n| n.node.is_some()).cloned();
                (name, now)
            })
            .collect();
        snapshot.apply_changes(changed);
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
    fn stripping_keeps_what_scheduling_reads_and_drops_the_rest() {
        use k8s_openapi::api::core::v1::{
            ContainerPort, EnvVar, PersistentVolumeClaimVolumeSource, ProjectedVolumeSource,
        };
        let mut p = pod("p", &[&[("cpu", "1")]]);
        p.metadata.annotations = Some([(LAST_APPLIED.to_string(), "{...}".to_string())].into());
        let spec = p.spec.as_mut().unwrap();
        spec.containers[0].image = Some("busybox".into());
        spec.containers[0].ports = Some(vec![ContainerPort {
            container_port: 80,
            host_port: Some(8080),
            ..Default::default()
        }]);
        spec.containers[0].env = Some(vec![EnvVar {
            name: "A".into(),
            ..Default::default()
        }]);
        spec.containers[0].command = Some(vec!["sleep".into()]);
        spec.volumes = Some(vec![
            Volume {
                name: "token".into(),
                projected: Some(ProjectedVolumeSource::default()),
                ..Default::default()
            },
            Volume {
                name: "data".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: "data".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ]);
        let requests = crate::framework::PodInfo::new(Arc::new(p.clone())).requests;
        strip_pod_for_scheduling(&mut p);
        let spec = p.spec.as_ref().unwrap();
        let c = &spec.containers[0];
        assert_eq!(c.image.as_deref(), Some("busybox"));
        assert_eq!(c.ports.as_ref().unwrap()[0].host_port, Some(8080));
        assert!(c.env.is_none() && c.command.is_none());
        let volumes: Vec<_> = spec.volumes.iter().flatten().map(|v| &v.name).collect();
        assert_eq!(volumes, ["data"], "the claim stays for the volume plugins");
        assert!(p.metadata.annotations.is_none());
        assert_eq!(
            crate::framework::PodInfo::new(Arc::new(p)).requests,
            requests,
            "requests are unchanged"
        );
    }

    #[test]
    fn an_updated_snapshot_sees_every_change_and_shares_the_unchanged_nodes() {
        let mut c = Cache::default();
        for n in ["a", "b", "c"] {
            c.add_or_update_node(Arc::new(node(n, &[("cpu", "4")])));
        }
        let mut snap = Snapshot::default();
        c.update_snapshot(&mut snap);
        let before = snap.clone();
        c.add_or_update_pod(bound("p", "b", "1"));
        c.remove_node("c");
        c.add_or_update_node(Arc::new(node("d", &[("cpu", "4")])));
        c.update_snapshot(&mut snap);
        let names: Vec<_> = snap.nodes.iter().map(|n| n.name()).collect();
        assert_eq!(names, ["a", "b", "d"]);
        assert_eq!(snap.get("b").unwrap().requested.milli_cpu, 1000);
        assert!(Arc::ptr_eq(&snap.nodes[0], &before.nodes[0]), "a is shared");
        assert_eq!(
            before.get("b").unwrap().requested.milli_cpu,
            0,
            "the earlier snapshot is unchanged"
        );
        let fresh = c.snapshot();
        assert!(
            fresh
                .nodes
                .iter()
                .zip(&snap.nodes)
                .all(|(a, b)| Arc::ptr_eq(a, b))
        );
    }

    #[test]
    fn a_snapshot_counts_the_nodes_that_have_each_image() {
        use k8s_openapi::api::core::v1::{ContainerImage, NodeStatus};
        let with_image = |name: &str, image: &str| {
            let mut n = node(name, &[("cpu", "4")]);
            n.status.get_or_insert_with(NodeStatus::default).images = Some(vec![ContainerImage {
                names: Some(vec![image.into()]),
                size_bytes: Some(1),
            }]);
            Arc::new(n)
        };
        let mut c = Cache::default();
        let mut snap = Snapshot::default();
        c.add_or_update_node(with_image("a", "busybox:latest"));
        c.add_or_update_node(with_image("b", "busybox:latest"));
        c.update_snapshot(&mut snap);
        assert_eq!(snap.image_num_nodes.get("busybox:latest"), Some(&2));
        c.add_or_update_node(with_image("b", "nginx:latest"));
        c.remove_node("a");
        c.update_snapshot(&mut snap);
        assert_eq!(snap.image_num_nodes.get("busybox:latest"), None);
        assert_eq!(snap.image_num_nodes.get("nginx:latest"), Some(&1));
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
