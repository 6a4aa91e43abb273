//! The Ferrokube controller manager: the controllers that keep workloads at their desired
//! state, built on kube-runtime and using only standard API calls, so they run against any
//! conformant API server (ours or upstream's kube-apiserver).
//!
//! Entry point: [`run`] (or [`start`], which also reports the bound health address) with a
//! [`Config`] whose fields mirror `kube-controller-manager`'s flags. It connects with
//! `--kubeconfig`, serves `/healthz`, `/readyz` and `/metrics`, campaigns for the
//! `kube-system/kube-controller-manager` Lease when leader election is on, fills the shared
//! [`informer`] caches, and then runs the enabled controllers until shutdown:
//!
//! - [`replicaset`] — keeps a ReplicaSet's pods at `spec.replicas`;
//! - [`deployment`] — rolls a Deployment's pods through ReplicaSets (RollingUpdate, Recreate);
//! - [`endpoint`] — keeps each selector Service's Endpoints listing its pods' addresses;
//! - [`endpointslice`] — keeps each selector Service's EndpointSlices, packed to limit churn;
//! - [`garbagecollector`] — deletes objects whose owners are gone; foreground and orphan deletion;
//! - [`namespace`] — empties a deleted namespace, then finalizes it;
//! - [`statefulset`] — runs pods with stable names and storage, rolled between [`history`]
//!   revisions;
//! - [`endpointslicemirroring`] — mirrors hand-written Endpoints of selectorless Services;
//! - [`nodelifecycle`] — marks silent nodes Unknown and taints them `NoExecute`;
//! - [`tainteviction`] — deletes pods that do not tolerate their node's `NoExecute` taints;
//! - [`volume::persistentvolume`] — binds PersistentVolumeClaims to PersistentVolumes;
//! - [`volume::localpath`] — provisions `local-path` volumes (host directories on a node).
//!
//! Building blocks shared by the controllers: [`informer`] (a watched cache whose changes fan
//! out to controllers), [`expectations`] (no duplicate creates or deletes from a stale cache),
//! [`slow_start`] (batched creates), [`events`] (core/v1 Events as upstream's recorder writes
//! them), [`pod_util`] (readiness and availability) and [`metrics`].

#![warn(missing_docs)]

pub mod deployment;
pub mod endpoint;
pub mod endpointslice;
pub mod endpointslicemirroring;
pub mod events;
pub mod expectations;
pub mod garbagecollector;
pub mod history;
pub mod informer;
mod manager;
pub mod metrics;
pub mod namespace;
pub mod nodelifecycle;
pub mod pod_util;
pub mod replicaset;
pub mod retry;
pub mod runner;
pub mod slow_start;
pub mod statefulset;
pub mod tainteviction;
pub mod volume;

pub use manager::{
    Config, DEFAULT_KUBE_API_BURST, DEFAULT_KUBE_API_QPS, Running, known_controllers, run, start,
};

/// Why the controller manager or one of its controllers failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--controllers` named a controller that does not exist.
    #[error("{0:?} is not in the list of known controllers")]
    UnknownController(String),
    /// The client, health server or leader election could not be set up.
    #[error(transparent)]
    Component(#[from] ferrokube_component::Error),
    /// This process lost its leader lease; upstream exits so a fresh replica can take over.
    #[error("leaderelection lost")]
    LeadershipLost,
    /// A watched cache stopped before it synced.
    #[error("cache for {0} did not sync")]
    CacheSync(&'static str),
    /// An object's label selector could not be parsed.
    #[error("invalid label selector: {0}")]
    Selector(String),
    /// Adopting or releasing a pod failed.
    #[error("claim pods: {0}")]
    ClaimPods(String),
    /// Creating pods failed; the API server's message, as upstream reports it.
    #[error("{0}")]
    CreatePods(String),
    /// Deleting pods failed; the API server's message.
    #[error("unable to delete pods: {0}")]
    DeletePods(String),
    /// Creating a Deployment's new ReplicaSet failed.
    #[error("{0}")]
    CreateReplicaSet(String),
    /// Updating a ReplicaSet (size, annotations) failed.
    #[error("update replica set: {0}")]
    UpdateReplicaSet(String),
    /// Deleting an old ReplicaSet failed.
    #[error("delete replica set: {0}")]
    DeleteReplicaSet(String),
    /// Writing the status subresource failed.
    #[error("update status: {0}")]
    UpdateStatus(String),
    /// Creating or updating a Service's Endpoints failed.
    #[error("{0}")]
    UpdateEndpoints(String),
    /// Writing a Service's EndpointSlices failed (or pods were skipped and need a retry).
    #[error("{0}")]
    UpdateEndpointSlices(String),
    /// The cache does not yet reflect this controller's own writes; retry after it catches up.
    #[error("{0}")]
    StaleCache(String),
    /// The object lacks a field the controller needs (e.g. a pod template).
    #[error("{0}")]
    InvalidObject(String),
    /// Updating a pod (a StatefulSet pod's identity or storage) failed.
    #[error("{0}")]
    UpdatePods(String),
    /// Creating a StatefulSet pod's PersistentVolumeClaims failed.
    #[error("{0}")]
    CreateClaims(String),
    /// Updating a claim's owner references for the retention policy failed.
    #[error("{0}")]
    UpdateClaims(String),
    /// Creating a ControllerRevision failed.
    #[error("create controller revision: {0}")]
    CreateRevision(String),
    /// Adopting or renumbering a ControllerRevision failed.
    #[error("update controller revision: {0}")]
    UpdateRevision(String),
    /// Deleting an old ControllerRevision failed.
    #[error("delete controller revision: {0}")]
    DeleteRevision(String),
}

/// The message a user sees for a failed API call: the `Status` message for API errors (as
/// client-go's `StatusError.Error()`), the error text otherwise.
pub(crate) fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}

/// Whether an API error is a 404.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
