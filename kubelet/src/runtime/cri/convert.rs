//! Pure translations between CRI messages and the runtime trait's types: timestamps in
//! nanoseconds, container states, namespace modes, resources.

use jiff::Timestamp;
use k8s_cri::v1 as cri;

use crate::runtime::{ContainerState, LinuxResources};

/// A CRI timestamp (nanoseconds since the epoch; 0 for unset).
pub fn timestamp(nanos: i64) -> Option<Timestamp> {
    if nanos <= 0 {
        return None;
    }
    Timestamp::from_nanosecond(i128::from(nanos)).ok()
}

/// The trait's state of a CRI container status.
pub fn container_state(status: &cri::ContainerStatus) -> ContainerState {
    let started_at = timestamp(status.started_at);
    match cri::ContainerState::try_from(status.state) {
        Ok(cri::ContainerState::ContainerCreated) => ContainerState::Created,
        Ok(cri::ContainerState::ContainerRunning) => ContainerState::Running {
            started_at: started_at.unwrap_or_else(Timestamp::now),
        },
        Ok(cri::ContainerState::ContainerExited) => ContainerState::Exited {
            started_at,
            finished_at: timestamp(status.finished_at)
                .or(started_at)
                .unwrap_or(Timestamp::UNIX_EPOCH),
            exit_code: status.exit_code,
            reason: if status.reason.is_empty() {
                if status.exit_code == 0 {
                    "Completed"
                } else {
                    "Error"
                }
                .to_string()
            } else {
                status.reason.clone()
            },
        },
        // As upstream: a container in an unknown state is treated as exited.
        _ => ContainerState::Exited {
            started_at,
            finished_at: timestamp(status.finished_at).unwrap_or_else(Timestamp::now),
            exit_code: if status.exit_code == 0 {
                255
            } else {
                status.exit_code
            },
            reason: "Unknown".into(),
        },
    }
}

/// The namespaces of a pod's containers: the pod's network (or the node's with
/// `hostNetwork`), the pod's IPC, a PID namespace per container (upstream's default).
pub fn namespace_options(host_network: bool) -> cri::NamespaceOption {
    cri::NamespaceOption {
        network: if host_network {
            cri::NamespaceMode::Node
        } else {
            cri::NamespaceMode::Pod
        } as i32,
        pid: cri::NamespaceMode::Container as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// CRI Linux resources, or None when nothing is set.
pub fn resources(r: &LinuxResources) -> Option<cri::LinuxContainerResources> {
    if *r == LinuxResources::default() {
        return None;
    }
    Some(cri::LinuxContainerResources {
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        cpu_shares: r.cpu_shares,
        memory_limit_in_bytes: r.memory_limit_in_bytes,
        oom_score_adj: r.oom_score_adj,
        ..Default::default()
    })
}

/// An exec timeout in whole seconds, rounded up (CRI's unit; 0 means none).
pub fn timeout_seconds(timeout: std::time::Duration) -> i64 {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn status(state: cri::ContainerState, exit_code: i32, reason: &str) -> cri::ContainerStatus {
        cri::ContainerStatus {
            state: state as i32,
            started_at: 1_000_000_000,
            finished_at: 2_000_000_000,
            exit_code,
            reason: reason.into(),
            ..Default::default()
        }
    }

    #[test]
    fn zero_timestamps_are_unset() {
        assert_eq!(timestamp(0), None);
        assert_eq!(timestamp(1_500_000_000).unwrap().as_millisecond(), 1500);
    }

    #[test]
    fn exited_containers_keep_code_reason_and_times() {
        let s = container_state(&status(cri::ContainerState::ContainerExited, 3, "Error"));
        let ContainerState::Exited {
            started_at,
            finished_at,
            exit_code,
            reason,
        } = s
        else {
            panic!("{s:?}");
        };
        assert_eq!(exit_code, 3);
        assert_eq!(reason, "Error");
        assert_eq!(started_at.unwrap().as_second(), 1);
        assert_eq!(finished_at.as_second(), 2);
        let ok = container_state(&status(cri::ContainerState::ContainerExited, 0, ""));
        assert!(matches!(ok, ContainerState::Exited { reason, .. } if reason == "Completed"));
    }

    #[test]
    fn running_created_and_unknown_states_map_as_upstream() {
        assert!(matches!(
            container_state(&status(cri::ContainerState::ContainerRunning, 0, "")),
            ContainerState::Running { .. }
        ));
        assert_eq!(
            container_state(&status(cri::ContainerState::ContainerCreated, 0, "")),
            ContainerState::Created
        );
        assert!(matches!(
            container_state(&status(cri::ContainerState::ContainerUnknown, 0, "")),
            ContainerState::Exited { exit_code: 255, .. }
        ));
    }

    #[test]
    fn host_network_pods_use_the_node_network_namespace() {
        assert_eq!(
            namespace_options(true).network,
            cri::NamespaceMode::Node as i32
        );
        assert_eq!(
            namespace_options(false).network,
            cri::NamespaceMode::Pod as i32
        );
        assert_eq!(
            namespace_options(false).pid,
            cri::NamespaceMode::Container as i32
        );
    }

    #[test]
    fn unset_resources_are_left_to_the_runtime_and_timeouts_round_up() {
        assert_eq!(resources(&LinuxResources::default()), None);
        let r = resources(&LinuxResources {
            cpu_shares: 512,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.cpu_shares, 512);
        assert_eq!(timeout_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(timeout_seconds(Duration::from_secs(1)), 1);
    }
}
