//! Creating and deleting pods (upstream's `manageReplicas`): at most [`BURST_REPLICAS`] per
//! sync, creations in slow-start batches, deletions ranked by [`ranking`], each one recorded in
//! the expectations before it is sent and reported as an Event.
//!
//! [`BURST_REPLICAS`]: super::BURST_REPLICAS

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use kube::core::SelectorExt;
use kube::{Api, ResourceExt};
use tracing::debug;

use super::{Context, claim, ranking, selector};
use crate::events::EventType;
use crate::{Error, api_message, is_not_found, pod_util, slow_start};

/// Brings the number of `pods` (the active pods this ReplicaSet owns) to `spec.replicas`.
pub async fn manage(ctx: &Context, rs: &ReplicaSet, pods: &[Arc<Pod>]) -> Result<(), Error> {
    let key = pod_util::key(&rs.metadata);
    let want = rs
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0) as usize;
    if pods.len() < want {
        let count = (want - pods.len()).min(ctx.burst_replicas);
        let template = pod_from_template(rs)?;
        ctx.expectations.expect_creations(&key, count);
        debug!(count, "creating pods");
        let (created, error) = slow_start::run(count, slow_start::INITIAL_BATCH_SIZE, || {
            create_pod(ctx, rs, &template)
        })
        .await;
        // The creations that were never sent (or failed) will never be observed.
        for _ in created..count {
            ctx.expectations.creation_observed(&key);
        }
        return error.map_or(Ok(()), Err);
    }
    if pods.len() > want {
        let count = (pods.len() - want).min(ctx.burst_replicas);
        let related = related_pods(ctx, rs);
        let candidates: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let related: Vec<&Pod> = related.iter().map(|p| p.as_ref()).collect();
        let victims = ranking::pods_to_delete(&candidates, &related, count, jiff::Timestamp::now());
        ctx.expectations
            .expect_deletions(&key, victims.iter().map(|p| pod_util::key(&p.metadata)));
        debug!(count, "deleting pods");
        let results =
            futures::future::join_all(victims.iter().map(|p| delete_pod(ctx, rs, p))).await;
        let mut first_error = None;
        for (pod, result) in victims.iter().zip(results) {
            if let Err(e) = result {
                // The deletion will never be observed.
                ctx.expectations
                    .deletion_observed(&key, &pod_util::key(&pod.metadata));
                if !is_not_found(&e) {
                    first_error.get_or_insert(Error::DeletePods(api_message(&e)));
                }
            }
        }
        return first_error.map_or(Ok(()), Err);
    }
    Ok(())
}

/// Pods selected by this ReplicaSet or by any ReplicaSet with the same controller (its
/// Deployment's other revisions), for the "more pods on the same node" ranking.
fn related_pods(ctx: &Context, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
    let ns = rs.namespace();
    let siblings: Vec<Arc<ReplicaSet>> = match pod_util::controller_of(&rs.metadata) {
        None => vec![Arc::new(rs.clone())],
        Some(owner) => ctx.replicasets.state_filter(|other| {
            other.namespace() == ns
                && pod_util::controller_of(&other.metadata).is_some_and(|o| o.uid == owner.uid)
        }),
    };
    let mut seen = std::collections::HashSet::new();
    let mut related = Vec::new();
    for sibling in siblings {
        let Ok(sel) = selector(&sibling) else {
            continue;
        };
        for pod in ctx
            .pods
            .state_filter(|p| p.namespace() == ns && sel.matches(p.labels()))
        {
            if seen.insert(pod.uid()) {
                related.push(pod);
            }
        }
    }
    related
}

/// Upstream's `GetPodFromTemplate`: the template's labels, annotations, finalizers and spec,
/// `generateName: <rs>-`, and the controller reference.
pub fn pod_from_template(rs: &ReplicaSet) -> Result<Pod, Error> {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .ok_or_else(|| Error::InvalidObject("replicaset has no pod template".into()))?;
    let meta = template.metadata.clone().unwrap_or_default();
    let owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference =
        serde_json::from_value(claim::controller_ref(rs))
            .map_err(|e| Error::InvalidObject(e.to_string()))?;
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name_prefix(&rs.name_any())),
            namespace: rs.namespace(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}

/// Upstream's `getPodsPrefix`: `<name>-`, or the bare name if that would not be a valid name.
fn generate_name_prefix(name: &str) -> String {
    if name.len() < 253 {
        format!("{name}-")
    } else {
        name.to_string()
    }
}

async fn create_pod(ctx: &Context, rs: &ReplicaSet, template: &Pod) -> Result<(), Error> {
    if template.labels().is_empty() {
        return Err(Error::CreatePods("unable to create pods, no labels".into()));
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    match api.create(&PostParams::default(), template).await {
        Ok(pod) => {
            ctx.recorder.publish(
                rs,
                EventType::Normal,
                "SuccessfulCreate",
                format!("Created pod: {}", pod.name_any()),
            );
            Ok(())
        }
        Err(e) if namespace_terminating(&e) => Ok(()),
        Err(e) => {
            let message = api_message(&e);
            ctx.recorder.publish(
                rs,
                EventType::Warning,
                "FailedCreate",
                format!("Error creating: {message}"),
            );
            Err(Error::CreatePods(message))
        }
    }
}

/// Whether a create failed because the namespace is being deleted (nothing to do then).
fn namespace_terminating(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.details.as_ref().is_some_and(|d| {
        d.causes.iter().any(|c| c.reason == "NamespaceTerminating")
    }))
}

async fn delete_pod(ctx: &Context, rs: &ReplicaSet, pod: &Pod) -> kube::Result<()> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    let name = pod.name_any();
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {
            ctx.recorder.publish(
                rs,
                EventType::Normal,
                "SuccessfulDelete",
                format!("Deleted pod: {name}"),
            );
            Ok(())
        }
        Err(e) if is_not_found(&e) => Err(e),
        Err(e) => {
            ctx.recorder.publish(
                rs,
                EventType::Warning,
                "FailedDelete",
                format!("Error deleting: {}", api_message(&e)),
            );
            Err(e)
        }
    }
}
