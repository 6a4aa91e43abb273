//! Server-side apply and field ownership (`metadata.managedFields`), on plain JSON values, as
//! structured-merge-diff v4 does it for the Kubernetes API server.
//!
//! The entry point is [`FieldManager`]: [`FieldManager::update`] records an Update operation
//! (create, update, non-apply patch), and [`FieldManager::merge`] followed by
//! [`FieldManager::record_apply`] performs an Apply (merging the configuration into the live
//! object, pruning what the applier no longer sets, detecting [`Conflict`]s). Field sets are
//! [`FieldSet`]s of [`PathElement`]s, encoded as FieldsV1. Types come from the OpenAPI
//! definitions ([`crate::patch::OpenApiSchemas`]) and the built-in [`crate::extensions`] table.

mod created;
mod managers;
mod path;
mod set;
mod typed;
mod walk;

pub use managers::{Applied, FieldManager, ManagedFieldsEntry, Operation, decode, encode};
pub use path::{Path, PathElement, compare_values, path_string};
pub use set::FieldSet;
pub use typed::{ListType, Type, Typer, item_element};
pub use walk::{Comparison, compare, merge, prune, to_field_set};

/// One field an applier would take from another manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's identifier (what upstream sorts conflicts by).
    pub identifier: String,
    /// The other manager as upstream names it: `"kubectl" using apps/v1`.
    pub manager: String,
    /// The field, as upstream prints paths: `.spec.replicas`.
    pub path: String,
}

/// Why server-side apply or field ownership bookkeeping failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A `managedFields` entry or its FieldsV1 set could not be decoded.
    #[error("failed to decode managed fields: {0}")]
    DecodeFieldsV1(String),
    /// An item of a `map` list lacks a key field, or is not an object.
    #[error("{0}")]
    ReadListItem(String),
    /// The applied configuration changes fields other managers own (HTTP 409).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
}

impl ApplyError {
    /// For [`ApplyError::Conflicts`]: each conflict as upstream's `FieldManagerConflict`
    /// cause, `(message, field)`, e.g. `("conflict with \"kubectl\" using apps/v1",
    /// ".spec.replicas")`.
    pub fn conflict_causes(&self) -> Vec<(String, String)> {
        match self {
            ApplyError::Conflicts(conflicts) => sorted(conflicts)
                .into_iter()
                .map(|c| (format!("conflict with {}", c.manager), c.path.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn sorted(conflicts: &[Conflict]) -> Vec<&Conflict> {
    let mut out: Vec<&Conflict> = conflicts.iter().collect();
    out.sort_by(|a, b| managers::conflict_order(a, b));
    out
}

/// Upstream's conflict message: one conflict on one line, several grouped by manager.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager, only.path
        );
    }
    let mut lines: Vec<String> = Vec::new();
    let mut current: Option<&str> = None;
    for conflict in sorted(conflicts) {
        if current != Some(conflict.identifier.as_str()) {
            lines.push(format!("conflicts with {}:", conflict.manager));
            current = Some(&conflict.identifier);
        }
        lines.push(format!("- {}", conflict.path));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests;
