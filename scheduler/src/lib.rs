//! The Ferrokube scheduler: assigns pending pods to nodes the way upstream's kube-scheduler
//! does, using only standard API calls (watch pods and nodes, create `pods/binding`), so it
//! runs against any conformant API server.
//!
//! Entry point: [`run`] (or [`start`], which also reports the bound health address) with a
//! [`Config`] whose fields mirror `kube-scheduler`'s flags. It connects with `--kubeconfig`,
//! serves `/healthz`, `/readyz` and `/metrics`, campaigns for the `kube-system/kube-scheduler`
//! Lease when leader election is on, fills its [`cache`] from the watches and runs the
//! [`scheduler`] cycle over the [`queue`] until shutdown.
//!
//! The pieces follow upstream's framework: [`queue`] (active, backoff, unschedulable and gated
//! pods, moved back by the [`cluster_event`]s their rejecting plugins registered for),
//! [`cache`] and [`snapshot`] (node infos with the requests of their pods), [`framework`] (extension-point traits, plugin registry, profile runtime), [`plugins`] (the
//! default plugins with upstream's semantics and weights), [`events`] (what users see) and
//! [`resource`] (the request arithmetic).

#![warn(missing_docs)]

pub mod cache;
pub mod cluster_event;
pub mod config;
pub mod events;
pub mod framework;
pub mod listers;
pub mod metrics;
pub mod plugins;
pub mod queue;
pub mod resource;
mod runner;
pub mod scheduler;
pub mod snapshot;

pub use config::Config;
pub use runner::{Running, run, start};

/// Why the scheduler failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client, health server or leader election could not be set up.
    #[error(transparent)]
    Component(#[from] ferrokube_component::Error),
    /// The profile names an unknown plugin or lacks a binder.
    #[error("build profile: {0}")]
    BuildProfile(String),
    /// A watched cache stopped before it synced.
    #[error("cache for {0} did not sync")]
    CacheSync(&'static str),
    /// This process lost its leader lease; upstream exits so a fresh replica can take over.
    #[error("leaderelection lost")]
    LeadershipLost,
}
