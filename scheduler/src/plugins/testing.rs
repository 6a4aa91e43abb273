//! Builders for plugin unit tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Node, NodeStatus, Pod, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::framework::{NodeInfo, PodInfo};

/// A resource list from (name, quantity) pairs.
pub fn list(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

/// A node with these allocatable resources.
pub fn node(name: &str, allocatable: &[(&str, &str)]) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        status: Some(NodeStatus {
            allocatable: Some(list(allocatable)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A pod named `name` with one container per request list.
pub fn pod(name: &str, containers: &[&[(&str, &str)]]) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: containers
                .iter()
                .enumerate()
                .map(|(i, r)| Container {
                    name: format!("c{i}"),
                    resources: (!r.is_empty()).then(|| ResourceRequirements {
                        requests: Some(list(r)),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A node info holding `pods`.
pub fn node_info(node: Node, pods: Vec<Pod>) -> NodeInfo {
    let mut n = NodeInfo::new(Arc::new(node));
    for p in pods {
        n.add_pod(PodInfo::new(Arc::new(p)));
    }
    n
}
