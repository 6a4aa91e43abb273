//! The StatefulSet's status, as upstream's `updateStatefulSetStatus` and
//! `stateful_set_status_updater.go`: a finished rolling update makes the update revision
//! current; the status subresource is written only when something changed, with one retry on a
//! fresh copy after a conflict.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tracing::debug;

use crate::{Error, api_message};

/// Upstream's `completeRollingUpdate`: once every replica is updated and ready, the update
/// revision becomes the current one.
pub fn complete_rolling_update(set: &StatefulSet, status: &mut StatefulSetStatus) {
    let rolling = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    let updated = status.updated_replicas.unwrap_or(0);
    if rolling
        && updated == status.replicas
        && status.ready_replicas.unwrap_or(0) == status.replicas
    {
        status.current_replicas = Some(updated);
        status.current_revision = status.update_revision.clone();
    }
}

/// Upstream's `inconsistentStatus`: whether `status` differs from what the set reports.
pub fn inconsistent(set: &StatefulSet, status: &StatefulSetStatus) -> bool {
    let Some(old) = set.status.as_ref() else {
        return true;
    };
    let n = |v: Option<i32>| v.unwrap_or(0);
    old.observed_generation.is_none()
        || status.observed_generation.unwrap_or(0) > old.observed_generation.unwrap_or(0)
        || status.replicas != old.replicas
        || n(status.current_replicas) != n(old.current_replicas)
        || n(status.ready_replicas) != n(old.ready_replicas)
        || n(status.updated_replicas) != n(old.updated_replicas)
        || n(status.available_replicas) != n(old.available_replicas)
        || status.current_revision != old.current_revision
        || status.update_revision != old.update_revision
        || n(status.collision_count) != n(old.collision_count)
}

/// Writes `status` (after completing a finished rollout) unless the set already has it.
pub async fn update(
    client: &Client,
    set: &StatefulSet,
    mut status: StatefulSetStatus,
) -> Result<StatefulSetStatus, Error> {
    complete_rolling_update(set, &mut status);
    if !inconsistent(set, &status) {
        return Ok(status);
    }
    status.conditions = set.status.as_ref().and_then(|s| s.conditions.clone());
    let api: Api<StatefulSet> =
        Api::namespaced(client.clone(), &set.namespace().unwrap_or_default());
    let mut obj = set.clone();
    for attempt in 0..2 {
        obj.status = Some(status.clone());
        match api
            .replace_status(&obj.name_any(), &PostParams::default(), &obj)
            .await
        {
            Ok(_) => return Ok(status),
            Err(e) if attempt == 0 => {
                debug!(error = %e, "status update failed; retrying on a fresh copy");
                obj = api
                    .get(&set.name_any())
                    .await
                    .map_err(|e| Error::UpdateStatus(api_message(&e)))?;
            }
            Err(e) => return Err(Error::UpdateStatus(api_message(&e))),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(replicas: i32, ready: i32, updated: i32) -> StatefulSetStatus {
        StatefulSetStatus {
            replicas,
            ready_replicas: Some(ready),
            updated_replicas: Some(updated),
            current_replicas: Some(replicas - updated),
            current_revision: Some("web-old".into()),
            update_revision: Some("web-new".into()),
            observed_generation: Some(2),
            ..Default::default()
        }
    }

    #[test]
    fn a_rollout_completes_when_every_replica_is_updated_and_ready() {
        let set = StatefulSet::default();
        let mut s = status(3, 3, 3);
        complete_rolling_update(&set, &mut s);
        assert_eq!(s.current_revision.as_deref(), Some("web-new"));
        assert_eq!(s.current_replicas, Some(3));
        let mut s = status(3, 2, 3);
        complete_rolling_update(&set, &mut s);
        assert_eq!(s.current_revision.as_deref(), Some("web-old"));
    }

    #[test]
    fn an_unchanged_status_is_not_written() {
        let s = status(3, 3, 0);
        let set = StatefulSet {
            status: Some(s.clone()),
            ..Default::default()
        };
        assert!(!inconsistent(&set, &s));
        let mut newer = s.clone();
        newer.ready_replicas = Some(2);
        assert!(inconsistent(&set, &newer));
        assert!(inconsistent(&StatefulSet::default(), &s));
    }
}
