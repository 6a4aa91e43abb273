//! A consistent view of the nodes for one scheduling cycle: the cache's node infos, shared
//! (copy-on-write) so taking one costs a pointer per node.

use std::sync::Arc;

use crate::framework::NodeInfo;

/// The nodes one cycle schedules against.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Every node with a Node object, in name order.
    pub nodes: Vec<Arc<NodeInfo>>,
}

impl Snapshot {
    /// How many nodes there are.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }
}
