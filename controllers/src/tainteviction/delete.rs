//! The eviction itself (upstream's `addConditionAndDeletePod`): the `DisruptionTarget`
//! condition first, so the pod's owner can tell why it went, then the delete.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};

use crate::{api_message, is_not_found};

/// Attempts before giving up (upstream's `retries`).
const RETRIES: usize = 5;

/// Marks pod `ns/name` with `DisruptionTarget` (reason `DeletionByTaintManager`) and deletes
/// it, retrying a few times; a pod already gone counts as done.
pub async fn add_condition_and_delete(client: &Client, ns: &str, name: &str) -> Result<(), String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut last = String::new();
    for attempt in 0..RETRIES {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let patch = serde_json::json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": Time(Timestamp::now()),
        }]}});
        let params = PatchParams::default();
        match api
            .patch_status(name, &params, &Patch::Strategic(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => {
                last = api_message(&e);
                continue;
            }
        }
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => last = api_message(&e),
        }
    }
    Err(last)
}
