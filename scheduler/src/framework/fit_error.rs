//! Why a pod fits no node, worded as upstream's `FitError`: `0/3 nodes are available: 1
//! Insufficient cpu, 2 node(s) had untolerated taint {k: v}. preemption: ...`.

use std::collections::BTreeMap;

use super::NodeToStatus;

/// The diagnosis of a failed scheduling attempt.
#[derive(Clone, Debug, Default)]
pub struct FitError {
    /// How many nodes there were.
    pub num_all_nodes: usize,
    /// Why each rejected node was rejected.
    pub statuses: NodeToStatus,
    /// A PreFilter's rejection of every node.
    pub pre_filter_msg: Option<String>,
    /// The PostFilter (preemption) message.
    pub post_filter_msg: Option<String>,
    /// A node PostFilter freed for the pod (`nominatedNodeName`).
    pub nominated_node: Option<String>,
    /// An internal error during scoring.
    pub error: Option<String>,
}

impl FitError {
    /// Each reason with the number of nodes that gave it, as `"<count> <reason>"`, sorted as
    /// strings (upstream's order).
    pub fn reasons(&self) -> Vec<String> {
        let mut histogram: BTreeMap<&str, usize> = BTreeMap::new();
        for s in self.statuses.values() {
            for r in &s.reasons {
                *histogram.entry(r.as_str()).or_default() += 1;
            }
        }
        let mut out: Vec<String> = histogram
            .into_iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        out.sort();
        out
    }

    /// The plugins that rejected a node (or every node in PreFilter): only the cluster
    /// events they registered for can make the pod schedulable.
    pub fn rejecting_plugins(&self) -> std::collections::BTreeSet<&'static str> {
        self.statuses
            .values()
            .map(|s| s.plugin)
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// The message users see in `FailedScheduling` and the PodScheduled condition.
    pub fn message(&self) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        if self.num_all_nodes == 0 {
            return "no nodes available to schedule pods".into();
        }
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        match &self.pre_filter_msg {
            Some(pre) => msg.push_str(&format!(" {pre}.")),
            None => msg.push_str(&format!(" {}.", self.reasons().join(", "))),
        }
        if let Some(post) = &self.post_filter_msg {
            msg.push(' ');
            msg.push_str(post);
        }
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{Code, Status};

    #[test]
    fn the_message_counts_each_reason_in_sorted_order() {
        let mut statuses = NodeToStatus::new();
        statuses.insert(
            "a".into(),
            Status::new(Code::Unschedulable, ["Insufficient cpu"]),
        );
        for n in ["b", "c"] {
            statuses.insert(
                n.into(),
                Status::new(
                    Code::UnschedulableAndUnresolvable,
                    ["node(s) had untolerated taint {k: v}"],
                ),
            );
        }
        let fit = FitError {
            num_all_nodes: 3,
            statuses,
            post_filter_msg: Some("preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.".into()),
            ..Default::default()
        };
        assert_eq!(
            fit.message(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn no_nodes_at_all() {
        let fit = FitError::default();
        assert_eq!(fit.message(), "no nodes available to schedule pods");
    }
}
