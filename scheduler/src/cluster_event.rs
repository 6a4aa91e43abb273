//! The cluster events that can make an unschedulable pod schedulable (upstream's
//! `ClusterEvent` of a resource and an action), how a watch change maps to one, and which
//! events each default plugin registers for (upstream's `EventsToRegister`): a pod rejected
//! by some plugins is moved back to the active or backoff queue only by an event one of
//! those plugins cares about.

use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;

/// The kind of object an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventResource {
    /// A pod bound to a node (pending pods' own updates are handled by the queue).
    AssignedPod,
    /// A node.
    Node,
    /// A PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// A PersistentVolume.
    PersistentVolume,
    /// A StorageClass.
    StorageClass,
    /// A Namespace.
    Namespace,
    /// Every resource (only in registrations: "any event").
    Wildcard,
    /// The periodic flush of pods unschedulable for too long.
    UnschedulableTimeout,
}

/// What happened, as a set of bits (upstream's `ActionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActionType(pub u32);

impl ActionType {
    /// The object appeared.
    pub const ADD: ActionType = ActionType(1);
    /// The object went away.
    pub const DELETE: ActionType = ActionType(1 << 1);
    /// A node's allocatable resources changed.
    pub const UPDATE_NODE_ALLOCATABLE: ActionType = ActionType(1 << 2);
    /// A node's labels changed.
    pub const UPDATE_NODE_LABEL: ActionType = ActionType(1 << 3);
    /// A node's taints or `spec.unschedulable` changed.
    pub const UPDATE_NODE_TAINT: ActionType = ActionType(1 << 4);
    /// A node's conditions changed.
    pub const UPDATE_NODE_CONDITION: ActionType = ActionType(1 << 5);
    /// An assigned pod's labels changed.
    pub const UPDATE_POD_LABEL: ActionType = ActionType(1 << 6);
    /// An assigned pod's requests went down.
    pub const UPDATE_POD_SCALE_DOWN: ActionType = ActionType(1 << 7);
    /// Any other update.
    pub const UPDATE_OTHER: ActionType = ActionType(1 << 8);
    /// Every kind of update.
    pub const UPDATE: ActionType = ActionType(0b1_1111_1100);
    /// Everything.
    pub const ALL: ActionType = ActionType(u32::MAX);

    /// Both sets of actions.
    pub const fn or(self, other: ActionType) -> ActionType {
        ActionType(self.0 | other.0)
    }

    /// Whether the two sets share an action.
    pub fn intersects(self, other: ActionType) -> bool {
        self.0 & other.0 != 0
    }
}

/// A change in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClusterEvent {
    /// What it is about.
    pub resource: EventResource,
    /// What happened.
    pub action: ActionType,
}

impl ClusterEvent {
    /// An event.
    pub const fn new(resource: EventResource, action: ActionType) -> Self {
        ClusterEvent { resource, action }
    }

    /// The 5-minute flush: moves every pod.
    pub const UNSCHEDULABLE_TIMEOUT: ClusterEvent =
        ClusterEvent::new(EventResource::UnschedulableTimeout, ActionType::ALL);

    /// Whether a plugin registered for `self` cares about `event`.
    pub fn matches(&self, event: &ClusterEvent) -> bool {
        if event.resource == EventResource::UnschedulableTimeout {
            return true;
        }
        (self.resource == EventResource::Wildcard || self.resource == event.resource)
            && self.action.intersects(event.action)
    }

    /// A short label for logs and metrics, as upstream's event labels.
    pub fn label(&self) -> String {
        format!("{:?}/{:#x}", self.resource, self.action.0)
    }
}

use ActionType as A;
use EventResource as R;

const fn ev(resource: EventResource, action: ActionType) -> ClusterEvent {
    ClusterEvent::new(resource, action)
}

const ANY: &[ClusterEvent] = &[ev(R::Wildcard, A::ALL)];
const NODE_ADD: ClusterEvent = ev(R::Node, A::ADD);

const POD_ANY: ActionType = A::ADD.or(A::UPDATE_POD_LABEL).or(A::DELETE);
const TAINTS: &[ClusterEvent] = &[ev(R::Node, A::ADD.or(A::UPDATE_NODE_TAINT))];
const NODE_NAME: &[ClusterEvent] = &[NODE_ADD];
const NODE_AFFINITY: &[ClusterEvent] = &[ev(R::Node, A::ADD.or(A::UPDATE_NODE_LABEL))];
const NODE_PORTS: &[ClusterEvent] = &[ev(R::AssignedPod, A::DELETE), NODE_ADD];
const FIT: &[ClusterEvent] = &[
    ev(R::AssignedPod, A::DELETE.or(A::UPDATE_POD_SCALE_DOWN)),
    ev(R::Node, A::ADD.or(A::UPDATE_NODE_ALLOCATABLE)),
];
const INTER_POD_AFFINITY: &[ClusterEvent] = &[
    ev(R::AssignedPod, POD_ANY),
    ev(R::Node, A::ADD.or(A::UPDATE_NODE_LABEL)),
    ev(R::Namespace, A::ADD.or(A::UPDATE)),
];
const TOPOLOGY_SPREAD: &[ClusterEvent] = &[
    ev(R::AssignedPod, POD_ANY),
    ev(
        R::Node,
        A::ADD
            .or(A::DELETE)
            .or(A::UPDATE_NODE_LABEL)
            .or(A::UPDATE_NODE_TAINT),
    ),
];
const VOLUME_BINDING: &[ClusterEvent] = &[
    ev(R::PersistentVolumeClaim, A::ADD.or(A::UPDATE)),
    ev(R::PersistentVolume, A::ADD.or(A::UPDATE)),
    ev(R::StorageClass, A::ADD.or(A::UPDATE)),
    ev(
        R::Node,
        A::ADD.or(A::UPDATE_NODE_LABEL).or(A::UPDATE_NODE_TAINT),
    ),
];
const VOLUME_RESTRICTIONS: &[ClusterEvent] = &[
    ev(R::AssignedPod, A::DELETE),
    ev(R::PersistentVolumeClaim, A::ADD.or(A::UPDATE)),
    NODE_ADD,
];

/// The events a plugin registered for; a plugin we do not know registers for everything.
pub fn events_to_register(plugin: &str) -> &'static [ClusterEvent] {
    match plugin {
        "NodeUnschedulable" | "TaintToleration" => TAINTS,
        "NodeName" => NODE_NAME,
        "NodeAffinity" => NODE_AFFINITY,
        "NodePorts" => NODE_PORTS,
        "NodeResourcesFit" => FIT,
        "InterPodAffinity" => INTER_POD_AFFINITY,
        "PodTopologySpread" => TOPOLOGY_SPREAD,
        "VolumeBinding" => VOLUME_BINDING,
        "VolumeRestrictions" => VOLUME_RESTRICTIONS,
        // Gates are lifted by the pod's own update; preemption and binders reject nothing.
        "SchedulingGates"
        | "DefaultPreemption"
        | "DefaultBinder"
        | "ImageLocality"
        | "NodeResourcesBalancedAllocation"
        | "PrioritySort" => &[],
        _ => ANY,
    }
}

/// Whether an event could help a pod rejected by `plugins` (none known: any event may).
pub fn worth_requeuing<'a>(
    plugins: impl IntoIterator<Item = &'a &'static str>,
    event: &ClusterEvent,
) -> bool {
    let mut any = false;
    for p in plugins {
        any = true;
        if events_to_register(p).iter().any(|r| r.matches(event)) {
            return true;
        }
    }
    !any || event.resource == R::UnschedulableTimeout
}

/// What changed between two versions of a node (upstream's `nodeSchedulingPropertiesChange`);
/// `None` when nothing a plugin reads changed.
pub fn node_update(old: &Node, new: &Node) -> Option<ActionType> {
    let mut action = ActionType(0);
    let alloc = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
    if alloc(old) != alloc(new) {
        action = action.or(A::UPDATE_NODE_ALLOCATABLE);
    }
    if old.metadata.labels != new.metadata.labels {
        action = action.or(A::UPDATE_NODE_LABEL);
    }
    let taints = |n: &Node| n.spec.as_ref().map(|s| (s.unschedulable, s.taints.clone()));
    if taints(old) != taints(new) {
        action = action.or(A::UPDATE_NODE_TAINT);
    }
    let conditions = |n: &Node| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|c| {
                c.iter()
                    .map(|c| (c.type_.clone(), c.status.clone()))
                    .collect::<Vec<_>>()
            })
    };
    if conditions(old) != conditions(new) {
        action = action.or(A::UPDATE_NODE_CONDITION);
    }
    (action.0 != 0).then_some(action)
}

/// What changed between two versions of an assigned pod; `None` when nothing a plugin reads
/// changed.
pub fn assigned_pod_update(old: &Pod, new: &Pod) -> Option<ActionType> {
    let mut action = ActionType(0);
    if old.metadata.labels != new.metadata.labels {
        action = action.or(A::UPDATE_POD_LABEL);
    }
    let (was, now) = (
        crate::resource::pod_requests(old, false),
        crate::resource::pod_requests(new, false),
    );
    let scaled_down = now.milli_cpu < was.milli_cpu
        || now.memory < was.memory
        || now.ephemeral_storage < was.ephemeral_storage
        || was.scalar.iter().any(|(k, v)| now.get(k) < *v);
    if scaled_down {
        action = action.or(A::UPDATE_POD_SCALE_DOWN);
    }
    (action.0 != 0).then_some(action)
}

/// Objects the listers watch whose changes are cluster events.
pub trait WatchedKind {
    /// The event resource.
    const RESOURCE: EventResource;

    /// Whether an update changed something plugins read.
    fn relevant_update(old: &Self, new: &Self) -> bool;
}

impl WatchedKind for PersistentVolumeClaim {
    const RESOURCE: EventResource = R::PersistentVolumeClaim;
    fn relevant_update(old: &Self, new: &Self) -> bool {
        old.spec != new.spec
            || old.status != new.status
            || old.metadata.annotations != new.metadata.annotations
    }
}

impl WatchedKind for PersistentVolume {
    const RESOURCE: EventResource = R::PersistentVolume;
    fn relevant_update(old: &Self, new: &Self) -> bool {
        old.spec != new.spec || old.status != new.status
    }
}

impl WatchedKind for StorageClass {
    const RESOURCE: EventResource = R::StorageClass;
    fn relevant_update(old: &Self, new: &Self) -> bool {
        old.allowed_topologies != new.allowed_topologies
            || old.volume_binding_mode != new.volume_binding_mode
    }
}

impl WatchedKind for Namespace {
    const RESOURCE: EventResource = R::Namespace;
    fn relevant_update(old: &Self, new: &Self) -> bool {
        old.metadata.labels != new.metadata.labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_appearing_helps_a_pod_volume_binding_rejected() {
        let pvc_add = ev(R::PersistentVolumeClaim, A::ADD);
        assert!(worth_requeuing(&["VolumeBinding"], &pvc_add));
        assert!(!worth_requeuing(&["NodeResourcesFit"], &pvc_add));
    }

    #[test]
    fn a_new_node_helps_resource_fit_but_a_condition_change_does_not() {
        assert!(worth_requeuing(&["NodeResourcesFit"], &NODE_ADD));
        let cond = ev(R::Node, A::UPDATE_NODE_CONDITION);
        assert!(!worth_requeuing(&["NodeResourcesFit"], &cond));
    }

    #[test]
    fn a_pod_rejected_by_no_known_plugin_moves_on_any_event() {
        let none: [&'static str; 0] = [];
        assert!(worth_requeuing(&none, &ev(R::StorageClass, A::ADD)));
        assert!(worth_requeuing(
            &["MyCustomPlugin"],
            &ev(R::Namespace, A::ADD)
        ));
    }

    #[test]
    fn the_timeout_moves_every_pod() {
        assert!(worth_requeuing(
            &["NodeAffinity"],
            &ClusterEvent::UNSCHEDULABLE_TIMEOUT
        ));
    }

    #[test]
    fn affinity_cares_about_pod_labels_and_namespaces_but_fit_does_not() {
        let label = ev(R::AssignedPod, A::UPDATE_POD_LABEL);
        assert!(worth_requeuing(&["InterPodAffinity"], &label));
        assert!(worth_requeuing(&["PodTopologySpread"], &label));
        assert!(!worth_requeuing(&["NodeResourcesFit"], &label));
        assert!(worth_requeuing(
            &["InterPodAffinity"],
            &ev(R::Namespace, A::UPDATE_OTHER)
        ));
    }
}
