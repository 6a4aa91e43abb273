//! Node registration, as upstream's `registerWithAPIServer`: create the Node with its labels
//! (`kubernetes.io/hostname`, `kubernetes.io/os`, `kubernetes.io/arch` and their `beta.`
//! twins, plus `--node-labels`), `--register-with-taints`, the pod CIDR and its status; if it
//! already exists, reconcile the labels the kubelet owns and post the status.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSpec, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tracing::info;

use super::NodeContext;
use crate::Error;

/// The labels the kubelet sets on its Node.
pub fn node_labels(ctx: &NodeContext) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert("kubernetes.io/hostname".into(), ctx.node_name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/arch".into(), ctx.host.arch.clone());
    labels.insert("beta.kubernetes.io/os".into(), "linux".into());
    labels.insert("beta.kubernetes.io/arch".into(), ctx.host.arch.clone());
    labels.extend(ctx.labels.clone());
    labels
}

/// The Node object the kubelet creates.
pub fn initial_node(ctx: &NodeContext) -> Node {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "volumes.kubernetes.io/controller-managed-attach-detach".into(),
        "true".into(),
    );
    Node {
        metadata: ObjectMeta {
            name: Some(ctx.node_name.clone()),
            labels: Some(node_labels(ctx)),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: ctx.pod_cidr.clone(),
            pod_cidrs: ctx.pod_cidr.clone().map(|c| vec![c]),
            taints: (!ctx.taints.is_empty()).then(|| ctx.taints.clone()),
            ..Default::default()
        }),
        status: Some(super::status::node_status(ctx, &[], jiff::Timestamp::now())),
    }
}

/// Creates the Node, or reconciles an existing one; returns its UID.
pub async fn register(ctx: &NodeContext) -> Result<String, Error> {
    let api: Api<Node> = Api::all(ctx.client.clone());
    let node = match api.create(&PostParams::default(), &initial_node(ctx)).await {
        Ok(node) => {
            info!(node = %ctx.node_name, "successfully registered node");
            node
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let patch = serde_json::json!({ "metadata": { "labels": node_labels(ctx) } });
            let node = api
                .patch(
                    &ctx.node_name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map_err(Error::RegisterNode)?;
            info!(node = %ctx.node_name, "node was previously registered");
            node
        }
        Err(e) => return Err(Error::RegisterNode(e)),
    };
    Ok(node.metadata.uid.unwrap_or_default())
}

/// Parses `--register-with-taints` entries: `key=value:Effect` or `key:Effect`.
pub fn parse_taint(s: &str) -> Result<Taint, String> {
    let (kv, effect) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("invalid taint spec: {s}"))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(format!(
            "invalid taint effect: {effect}, unsupported taint effect"
        ));
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (kv, None),
    };
    if key.is_empty() {
        return Err(format!("invalid taint spec: {s}"));
    }
    Ok(Taint {
        key: key.to_string(),
        value,
        effect: effect.to_string(),
        time_added: None,
    })
}

/// Parses `--node-labels` entries: `key=value`.
pub fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid label {s:?}: want key=value"))?;
    if k.is_empty() {
        return Err(format!("invalid label {s:?}: empty key"));
    }
    Ok((k.to_string(), v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_parse_as_upstream_writes_them() {
        let t = parse_taint("dedicated=gpu:NoSchedule").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value.as_deref(), t.effect.as_str()),
            ("dedicated", Some("gpu"), "NoSchedule")
        );
        let t = parse_taint("node-role.kubernetes.io/control-plane:NoExecute").unwrap();
        assert_eq!(t.value, None);
        assert!(parse_taint("a=b:Sometimes").is_err());
        assert!(parse_taint("a=b").is_err());
    }

    #[test]
    fn labels_are_key_value_pairs() {
        assert_eq!(
            parse_label("tier=edge").unwrap(),
            ("tier".to_string(), "edge".to_string())
        );
        assert!(parse_label("tier").is_err());
    }
}
