//! Making room on the chosen node through the API, as upstream's `prepareCandidate`: each
//! victim gets a `DisruptionTarget` condition (reason `PreemptionByScheduler`), is deleted and
//! gets a `Preempted` event; lower-priority pods nominated to the same node lose their
//! nomination.

use std::sync::Arc;

use ferrokube_controllers::events::{EventType, Recorder};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use tracing::{Instrument, debug, info, info_span};

use crate::framework::{PodInfo, pod_key};

/// Why eviction of one victim failed.
#[derive(Debug, thiserror::Error)]
pub enum EvictError {
    /// The DisruptionTarget condition could not be written.
    #[error("add DisruptionTarget condition to {pod}: {source}")]
    AddCondition {
        /// The victim.
        pod: String,
        /// The API error.
        source: kube::Error,
    },
    /// The victim could not be deleted.
    #[error("delete victim {pod}: {source}")]
    DeleteVictim {
        /// The victim.
        pod: String,
        /// The API error.
        source: kube::Error,
    },
}

/// The `Preempted` event's message.
pub fn preempted_message(preemptor: &Pod, node: &str) -> String {
    format!(
        "Preempted by pod {} on node {node}",
        preemptor.metadata.uid.as_deref().unwrap_or_default()
    )
}

fn pods_api(client: &kube::Client, pod: &Pod) -> Api<Pod> {
    Api::namespaced(
        client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    )
}

async fn evict_one(
    client: &kube::Client,
    recorder: &Recorder,
    preemptor: &Pod,
    victim: &Pod,
    node: &str,
    scheduler_name: &str,
) -> Result<(), EvictError> {
    let api = pods_api(client, victim);
    let name = victim.metadata.name.as_deref().unwrap_or_default();
    let condition = serde_json::json!({"status": {"conditions": [{
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "PreemptionByScheduler",
        "message": format!("{scheduler_name}: preempting to accommodate a higher priority pod"),
        "lastTransitionTime": Timestamp::now().to_string(),
    }]}});
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(condition))
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(source) => {
            return Err(EvictError::AddCondition {
                pod: pod_key(victim),
                source,
            });
        }
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(source) => {
            return Err(EvictError::DeleteVictim {
                pod: pod_key(victim),
                source,
            });
        }
    }
    recorder.publish(
        victim,
        EventType::Normal,
        "Preempted",
        preempted_message(preemptor, node),
    );
    Ok(())
}

/// Evicts the victims and clears the nominations of `demoted` pods, in the background.
pub fn prepare_candidate(
    client: kube::Client,
    recorder: Recorder,
    preemptor: Arc<Pod>,
    node: String,
    victims: Vec<PodInfo>,
    demoted: Vec<Arc<Pod>>,
    scheduler_name: String,
) {
    let span = info_span!("preempt", pod = %pod_key(&preemptor), node = %node);
    tokio::spawn(
        async move {
            let evictions = victims.iter().map(|v| {
                evict_one(
                    &client,
                    &recorder,
                    &preemptor,
                    &v.pod,
                    &node,
                    &scheduler_name,
                )
            });
            for r in futures::future::join_all(evictions).await {
                if let Err(e) = r {
                    info!(error = %e, "preemption could not evict a victim");
                }
            }
            for p in demoted {
                let patch = serde_json::json!({"status": {"nominatedNodeName": null}});
                let name = p.metadata.name.as_deref().unwrap_or_default();
                if let Err(e) = pods_api(&client, &p)
                    .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                {
                    debug!(pod = %pod_key(&p), error = %e, "could not clear nominatedNodeName");
                }
            }
        }
        .instrument(span),
    );
}
