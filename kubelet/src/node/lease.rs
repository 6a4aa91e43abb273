//! The node heartbeat: the kubelet's Lease in `kube-node-lease`, named after the node, held by
//! it (`leaseDurationSeconds` 40) and owned by the Node object, renewed every 10 s
//! (upstream's `renewInterval`, a quarter of the duration). The first renewal creates it.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::NodeContext;
use crate::Error;

/// The namespace node leases live in.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

fn lease(ctx: &NodeContext, node_uid: &str, duration_seconds: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(ctx.node_name.clone()),
            namespace: Some(NODE_LEASE_NAMESPACE.into()),
            owner_references: (!node_uid.is_empty()).then(|| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: ctx.node_name.clone(),
                    uid: node_uid.to_string(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(ctx.node_name.clone()),
            lease_duration_seconds: Some(duration_seconds),
            renew_time: Some(MicroTime(jiff::Timestamp::now())),
            ..Default::default()
        }),
    }
}

/// Renews the Lease once, creating it when missing.
pub async fn renew(ctx: &NodeContext, node_uid: &str, duration_seconds: i32) -> Result<(), Error> {
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), NODE_LEASE_NAMESPACE);
    let desired = lease(ctx, node_uid, duration_seconds);
    let patch = serde_json::json!({ "spec": desired.spec });
    match api
        .patch(
            &ctx.node_name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            match api.create(&PostParams::default(), &desired).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                Err(e) => Err(Error::RenewLease(e)),
            }
        }
        Err(e) => Err(Error::RenewLease(e)),
    }
}

/// Renews the Lease every `interval` (the first time one interval from now) until `stop`
/// turns true.
pub async fn keep_renewed(
    ctx: &NodeContext,
    node_uid: String,
    duration_seconds: i32,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // The first renewal happened at registration.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        match renew(ctx, &node_uid, duration_seconds).await {
            Ok(()) => debug!(node = %ctx.node_name, "lease renewed"),
            Err(e) => warn!(node = %ctx.node_name, error = %e, "failed to update lease"),
        }
    }
}
