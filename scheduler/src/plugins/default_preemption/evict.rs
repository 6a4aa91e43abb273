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

use super::{Preempting, preemptor_id};
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

/// One decided preemption: who preempts, where, and whom.
pub struct Preemption {
    /// The API client.
    pub client: kube::Client,
    /// Where the `Preempted` events go.
    pub recorder: Recorder,
    /// The preempting pod.
    pub preemptor: Arc<Pod>,
    /// The node it is nominated to.
    pub node: String,
    /// The pods to evict there, most important first.
    pub victims: Vec<PodInfo>,
    /// Lower-priority pods nominated to the node that lose their nomination.
    pub demoted: Vec<Arc<Pod>>,
    /// The profile's scheduler name (in the `DisruptionTarget` message).
    pub scheduler_name: String,
}

/// Upstream's `prepareCandidateAsync`, in the background: clears the nominations of the
/// demoted pods, evicts every victim but the last in parallel, marks the preemption finished
/// in `preempting`, then evicts the last victim, so the event of that last deletion finds the
/// preemptor eligible again and it is retried on its nominated node.
pub fn prepare_candidate(preemption: Preemption, preempting: Preempting) {
    let Preemption {
        client,
        recorder,
        preemptor,
        node,
        mut victims,
        demoted,
        scheduler_name,
    } = preemption;
    let id = preemptor_id(&preemptor);
    preempting.insert(&id);
    let span = info_span!("preempt", pod = %pod_key(&preemptor), node = %node);
    tokio::spawn(
        async move {
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
            let last = victims.pop();
            let evict = |v: &PodInfo| {
                let (client, recorder, preemptor) = (&client, &recorder, &preemptor);
                let (node, scheduler_name, pod) = (&node, &scheduler_name, v.pod.clone());
                async move { evict_one(client, recorder, preemptor, &pod, node, scheduler_name).await }
            };
            for r in futures::future::join_all(victims.iter().map(evict)).await {
                if let Err(e) = r {
                    info!(error = %e, "preemption could not evict a victim");
                }
            }
            preempting.remove(&id);
            if let Some(last) = last
                && let Err(e) = evict(&last).await
            {
                info!(error = %e, "preemption could not evict a victim");
            }
        }
        .instrument(span),
    );
}
