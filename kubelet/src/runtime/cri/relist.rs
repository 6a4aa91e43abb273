//! The relisting PLEG: containerd 1.6 has no `GetContainerEvents`, so every period the
//! containers and sandboxes are listed and each one whose state changed (or that appeared or
//! went away) is announced on the runtime's event stream, which wakes its pod's worker.

use std::collections::HashMap;
use std::time::Duration;

use k8s_cri::v1 as cri;
use tokio::sync::broadcast;
use tracing::debug;

use super::connection::Clients;
use crate::runtime::RuntimeEvent;

/// What one relist saw: id to (sandbox id, state).
pub type Snapshot = HashMap<String, (String, i32)>;

/// The changes between two relists, as events.
pub fn changes(old: &Snapshot, new: &Snapshot) -> Vec<RuntimeEvent> {
    let mut events = Vec::new();
    for (id, (sandbox, state)) in new {
        if old.get(id).map(|(_, s)| s) != Some(state) {
            events.push(RuntimeEvent {
                sandbox_id: sandbox.clone(),
                container_id: (id != sandbox).then(|| id.clone()),
            });
        }
    }
    for (id, (sandbox, _)) in old {
        if !new.contains_key(id) {
            events.push(RuntimeEvent {
                sandbox_id: sandbox.clone(),
                container_id: (id != sandbox).then(|| id.clone()),
            });
        }
    }
    events
}

async fn snapshot(clients: &Clients) -> Result<Snapshot, tonic::Status> {
    let mut runtime = clients.runtime.clone();
    let sandboxes = runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
        .await?
        .into_inner()
        .items;
    let containers = runtime
        .list_containers(cri::ListContainersRequest { filter: None })
        .await?
        .into_inner()
        .containers;
    let mut out = Snapshot::new();
    for s in sandboxes {
        out.insert(s.id.clone(), (s.id, s.state));
    }
    for c in containers {
        out.insert(c.id, (c.pod_sandbox_id, c.state));
    }
    Ok(out)
}

/// Relists every `period` until the task is aborted.
pub async fn run(clients: Clients, events: broadcast::Sender<RuntimeEvent>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<Snapshot> = None;
    loop {
        tick.tick().await;
        match snapshot(&clients).await {
            Ok(now) => {
                if let Some(old) = &last {
                    for e in changes(old, &now) {
                        // No receivers is fine: nobody is waiting on that pod.
                        let _ = events.send(e);
                    }
                }
                last = Some(now);
            }
            Err(e) => debug!(error = %e, "relist failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(items: &[(&str, &str, i32)]) -> Snapshot {
        items
            .iter()
            .map(|(id, sb, st)| (id.to_string(), (sb.to_string(), *st)))
            .collect()
    }

    #[test]
    fn a_changed_new_or_gone_container_is_announced_with_its_sandbox() {
        let old = snap(&[("s", "s", 0), ("a", "s", 1), ("b", "s", 1)]);
        let new = snap(&[("s", "s", 0), ("a", "s", 2), ("c", "s", 0)]);
        let mut got: Vec<Option<String>> = changes(&old, &new)
            .into_iter()
            .map(|e| {
                assert_eq!(e.sandbox_id, "s");
                e.container_id
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                Some("a".to_string()),
                Some("b".to_string()),
                Some("c".to_string())
            ]
        );
    }

    #[test]
    fn nothing_changed_means_no_events() {
        let s = snap(&[("s", "s", 0), ("a", "s", 1)]);
        assert!(changes(&s, &s).is_empty());
    }
}
