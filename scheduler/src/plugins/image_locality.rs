//! ImageLocality (Score; weight 1): favours nodes that already have the pod's container
//! images (from `status.images`), by image size scaled by how many nodes have it, between
//! upstream's thresholds of 23 MB and 1000 MB per container.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::framework::{
    Code, CycleState, Handle, MAX_NODE_SCORE, NodeInfo, Plugin, PluginSet, PreFilterPlugin,
    PreScorePlugin, ScorePlugin, Status,
};
use crate::plugins::inter_pod_affinity::remember_all_nodes;
use crate::snapshot;

/// The plugin's name.
pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
/// Below this sum a node scores 0.
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container: above this the score saturates.
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

const PRE_SCORE_STATE_KEY: &str = "PreScoreImageLocality";

/// The plugin.
pub struct ImageLocality;

/// Builds the plugin.
pub fn new(_: &Handle) -> PluginSet {
    let p = Arc::new(ImageLocality);
    PluginSet {
        pre_filter: Some(p.clone()),
        pre_score: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    }
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// `name:latest` when the name has no tag (upstream's `normalizedImageName`).
pub fn normalized_image_name(name: &str) -> String {
    let colon = name.rfind(':');
    let slash = name.rfind('/');
    if colon.map(|c| c as i64).unwrap_or(-1) <= slash.map(|s| s as i64).unwrap_or(-1) {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

/// The score from the summed (spread-scaled) image sizes of `containers` containers.
pub fn calculate_priority(sum: i64, containers: usize) -> i64 {
    let max_threshold = MAX_CONTAINER_THRESHOLD * containers as i64;
    let sum = sum.clamp(MIN_THRESHOLD, max_threshold.max(MIN_THRESHOLD));
    if max_threshold <= MIN_THRESHOLD {
        return 0;
    }
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
}

/// An image's size scaled by the share of nodes that have it.
pub fn scaled_image_score(size: i64, num_nodes: usize, total_nodes: usize) -> i64 {
    let spread = num_nodes as f64 / total_nodes.max(1) as f64;
    (size as f64 * spread) as i64
}

fn image_sizes(node: &Node) -> impl Iterator<Item = (&String, i64)> {
    node.status
        .iter()
        .flat_map(|s| s.images.iter().flatten())
        .flat_map(|i| {
            let size = i.size_bytes.unwrap_or(0);
            i.names.iter().flatten().map(move |n| (n, size))
        })
}

fn pod_images(pod: &Pod) -> Vec<String> {
    pod.spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
        .map(|c| normalized_image_name(c.image.as_deref().unwrap_or_default()))
        .collect()
}

/// How many nodes have each of the pod's images, and the total number of nodes.
struct PreScoreState {
    images: Vec<String>,
    num_nodes: HashMap<String, usize>,
    total_nodes: usize,
}

impl PreFilterPlugin for ImageLocality {
    fn pre_filter(&self, state: &mut CycleState, _: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        remember_all_nodes(state, nodes);
        Status::success()
    }
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        let images = pod_images(pod);
        // The snapshot counts the nodes of every image (upstream's `ImageStateSummary`), so
        // this does not look at each node.
        remember_all_nodes(state, nodes);
        let Some(snapshot) = snapshot::of_cycle(state) else {
            return Status::new(Code::Skip, Vec::<String>::new());
        };
        let num_nodes: HashMap<String, usize> = images
            .iter()
            .filter_map(|i| Some((i.clone(), *snapshot.image_num_nodes.get(i)?)))
            .collect();
        if num_nodes.is_empty() {
            // No node has any of the images: every node would score 0.
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        let total_nodes = snapshot.num_nodes();
        state.write(
            PRE_SCORE_STATE_KEY,
            PreScoreState {
                images,
                num_nodes,
                total_nodes,
            },
        );
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, _pod: &Pod, info: &NodeInfo) -> Result<i64, Status> {
        let (Some(s), Some(node)) = (
            state.read::<PreScoreState>(PRE_SCORE_STATE_KEY),
            info.node.as_deref(),
        ) else {
            return Ok(0);
        };
        let sizes: HashMap<&String, i64> = image_sizes(node).collect();
        let sum = s
            .images
            .iter()
            .filter_map(|i| {
                sizes
                    .get(i)
                    .map(|&size| scaled_image_score(size, s.num_nodes[i], s.total_nodes))
            })
            .sum();
        Ok(calculate_priority(sum, s.images.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::ContainerImage;

    fn with_images(name: &str, images: &[(&[&str], i64)]) -> Arc<NodeInfo> {
        let mut n = node(name, &[]);
        n.status.as_mut().unwrap().images = Some(
            images
                .iter()
                .map(|(names, size)| ContainerImage {
                    names: Some(names.iter().map(|s| s.to_string()).collect()),
                    size_bytes: Some(*size),
                })
                .collect(),
        );
        Arc::new(node_info(n, vec![]))
    }

    fn with_containers(images: &[&str]) -> Pod {
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().containers = images
            .iter()
            .map(|i| k8s_openapi::api::core::v1::Container {
                name: "c".into(),
                image: Some(i.to_string()),
                ..Default::default()
            })
            .collect();
        p
    }

    fn scores(p: &Pod, nodes: &[Arc<NodeInfo>]) -> Vec<i64> {
        let mut state = CycleState::default();
        ImageLocality.pre_filter(&mut state, p, nodes);
        ImageLocality.pre_score(&mut state, p, nodes);
        nodes
            .iter()
            .map(|n| ImageLocality.score(&state, p, n).unwrap())
            .collect()
    }

    #[test]
    fn image_names_get_latest_unless_tagged() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.2"), "nginx:1.2");
        assert_eq!(
            normalized_image_name("registry:5000/nginx"),
            "registry:5000/nginx:latest"
        );
    }

    // Upstream's node1 / node2 / node3 images: gcr.io/40 (40 MB) and gcr.io/300 (300 MB) on
    // node1, gcr.io/250 (250 MB) on node2, gcr.io/10 (10 MB) and gcr.io/2000 (2000 MB) on node3.
    fn upstream_nodes() -> Vec<Arc<NodeInfo>> {
        vec![
            with_images(
                "node1",
                &[
                    (&["gcr.io/40:latest", "gcr.io/40:v1"], 40 * MB),
                    (&["gcr.io/300:latest", "gcr.io/300:v1"], 300 * MB),
                ],
            ),
            with_images("node2", &[(&["gcr.io/250:latest"], 250 * MB)]),
            with_images(
                "node3",
                &[
                    (&["gcr.io/10:v1"], 10 * MB),
                    (&["gcr.io/2000:latest"], 2000 * MB),
                ],
            ),
        ]
    }

    #[test]
    fn two_images_spread_over_two_nodes() {
        // Upstream: pod with gcr.io/40 and gcr.io/250 on node1 and node2 → 0 and 4 ... with
        // 2 nodes; here with node3 too the spread is a third per image.
        let nodes = &upstream_nodes()[..2];
        let p = with_containers(&["gcr.io/40", "gcr.io/250"]);
        // node1: 40 MB * 1/2 = 20 MB < 23 MB → 0; node2: 250 MB * 1/2 = 125 MB →
        // 100 * (125 - 23) / (2000 - 23) = 5.
        assert_eq!(scores(&p, nodes), [0, 5]);
    }

    #[test]
    fn a_big_image_saturates_at_the_container_threshold() {
        let nodes = &upstream_nodes();
        let p = with_containers(&["gcr.io/2000:latest"]);
        // node3: 2000 MB * 1/3 = 666 MB → 100 * (666 - 23) / (1000 - 23) = 65.
        assert_eq!(scores(&p, nodes), [0, 0, 65]);
    }

    #[test]
    fn no_images_no_score() {
        assert_eq!(calculate_priority(0, 1), 0);
        assert_eq!(calculate_priority(5000 * MB, 1), 100);
    }
}
