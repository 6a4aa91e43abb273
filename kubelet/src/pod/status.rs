//! A pod's status as upstream's kubelet generates it (`generateAPIPodStatus`, `getPhase`,
//! `status/generate.go`), computed purely from the pod and what the runtime reports:
//! container and init container statuses, the phase, and the PodReadyToStartContainers,
//! Initialized, Ready, ContainersReady and PodScheduled conditions, keeping each condition's
//! `lastTransitionTime` while its status is unchanged.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState as ApiContainerState, ContainerStateRunning,
    ContainerStateTerminated, ContainerStateWaiting, ContainerStatus as ApiContainerStatus, HostIP,
    Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::probes::{PodProbes, ProbeStatus};
use super::resources::qos_class;
use crate::runtime::{ContainerState, ContainerStatus, SandboxStatus};

/// Condition types the kubelet owns (others, e.g. readiness gates, are kept as they are).
const OWNED: &[&str] = &[
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
];

/// What the pod worker knows about a pod's runtime state.
#[derive(Debug)]
pub struct Observed<'a> {
    /// The runtime's name, the `containerID` prefix (`sim`, `containerd`).
    pub runtime_name: &'a str,
    /// The pod's sandbox, once run.
    pub sandbox: Option<&'a SandboxStatus>,
    /// The pod's containers as the runtime lists them, oldest first.
    pub containers: &'a [ContainerStatus],
    /// The node's IP.
    pub host_ip: &'a str,
    /// When the kubelet first started working on the pod.
    pub start_time: Option<Timestamp>,
    /// Containers waiting to be restarted: name to the `CrashLoopBackOff` message.
    pub back_off: &'a HashMap<String, String>,
    /// Containers that cannot be created yet: name to the waiting (reason, message), e.g.
    /// `ErrImagePull`, `ImagePullBackOff`, `ErrImageNeverPull`.
    pub waiting: &'a HashMap<String, (String, String)>,
    /// Whether the pod is being deleted and all its containers have stopped.
    pub terminated: bool,
    /// Probe results (`started`, `ready`); None: running containers are started and ready.
    pub probes: Option<&'a PodProbes>,
}

/// The status to write for `pod`.
pub fn pod_status(pod: &Pod, observed: &Observed<'_>, now: Timestamp) -> PodStatus {
    let spec = pod.spec.clone().unwrap_or_default();
    let old = pod.status.clone().unwrap_or_default();
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let init_specs = spec.init_containers.as_deref().unwrap_or_default();

    let init_statuses: Vec<ApiContainerStatus> = init_specs
        .iter()
        .map(|c| container_status(c, true, observed, "PodInitializing"))
        .collect();
    let initialized = init_statuses.iter().all(|s| s.ready);
    let waiting_reason = if initialized {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let statuses: Vec<ApiContainerStatus> = spec
        .containers
        .iter()
        .map(|c| container_status(c, false, observed, waiting_reason))
        .collect();

    let phase = phase(
        &init_statuses,
        &statuses,
        restart_policy,
        observed.terminated,
    );

    let mut conditions = vec![
        condition(
            "PodReadyToStartContainers",
            observed.sandbox.is_some_and(|s| s.ready) && !observed.terminated,
            None,
            None,
        ),
        initialized_condition(init_specs, &init_statuses, &statuses, phase),
    ];
    let containers_ready = containers_ready_condition(&statuses, phase);
    let mut ready = containers_ready.clone();
    ready.type_ = "Ready".into();
    conditions.push(ready);
    conditions.push(containers_ready);
    let old_conditions = old.conditions.clone().unwrap_or_default();
    let scheduled = old_conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .cloned()
        .unwrap_or_else(|| condition("PodScheduled", true, None, None));
    conditions.push(scheduled);
    conditions.extend(
        old_conditions
            .iter()
            .filter(|c| c.type_ != "PodScheduled" && !OWNED.contains(&c.type_.as_str()))
            .cloned(),
    );
    for c in &mut conditions {
        let previous = old_conditions
            .iter()
            .find(|o| o.type_ == c.type_ && o.status == c.status);
        if c.last_transition_time.is_none() {
            c.last_transition_time = Some(
                previous
                    .and_then(|p| p.last_transition_time.clone())
                    .unwrap_or(Time(now)),
            );
        }
    }

    let pod_ip = observed
        .sandbox
        .filter(|s| !s.ip.is_empty())
        .map(|s| s.ip.clone())
        .or(old.pod_ip.clone());
    PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(conditions),
        host_ip: Some(observed.host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: observed.host_ip.to_string(),
        }]),
        pod_ip: pod_ip.clone(),
        pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]),
        start_time: old.start_time.clone().or(observed.start_time.map(Time)),
        qos_class: old.qos_class.clone().or(Some(qos_class(pod).to_string())),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        nominated_node_name: old.nominated_node_name.clone(),
        ..Default::default()
    }
}

/// One container's status from its latest runtime container (and the one before it).
fn container_status(
    spec: &Container,
    init: bool,
    observed: &Observed<'_>,
    waiting_reason: &str,
) -> ApiContainerStatus {
    let mut attempts = observed
        .containers
        .iter()
        .filter(|c| c.name == spec.name)
        .rev();
    let latest = attempts.next();
    let previous = attempts.next();
    let held = observed.waiting.get(&spec.name);
    let Some(latest) = latest else {
        return ApiContainerStatus {
            name: spec.name.clone(),
            image: spec.image.clone().unwrap_or_default(),
            image_id: String::new(),
            ready: false,
            started: Some(false),
            restart_count: 0,
            state: Some(match held {
                Some((reason, message)) => waiting(reason, Some(message)),
                None => waiting(waiting_reason, None),
            }),
            ..Default::default()
        };
    };
    let container_id = format!("{}://{}", observed.runtime_name, latest.id);
    let mut status = ApiContainerStatus {
        name: spec.name.clone(),
        image: latest.image.clone(),
        image_id: latest.image_ref.clone(),
        container_id: Some(container_id.clone()),
        restart_count: i32::try_from(latest.attempt).unwrap_or(i32::MAX),
        last_state: previous.map(|p| {
            terminated_state(p, &format!("{}://{}", observed.runtime_name, p.id))
                .unwrap_or_default()
        }),
        ..Default::default()
    };
    match &latest.state {
        ContainerState::Created => {
            status.state = Some(waiting(waiting_reason, None));
            status.started = Some(false);
        }
        ContainerState::Running { started_at } => {
            status.state = Some(ApiContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(*started_at)),
                }),
                ..Default::default()
            });
            let probed = observed
                .probes
                .map(|p| p.status(spec, &latest.id, true))
                .unwrap_or(ProbeStatus {
                    started: true,
                    ready: true,
                });
            status.started = Some(probed.started);
            status.ready = probed.ready && !init && !observed.terminated;
        }
        ContainerState::Exited { exit_code, .. } => {
            let terminated = terminated_state(latest, &container_id);
            status.started = Some(false);
            status.ready = init && *exit_code == 0;
            match (observed.back_off.get(&spec.name), held) {
                (_, Some((reason, message))) => {
                    status.last_state = terminated;
                    status.state = Some(waiting(reason, Some(message)));
                }
                (Some(message), None) => {
                    status.last_state = terminated;
                    status.state = Some(waiting("CrashLoopBackOff", Some(message)));
                }
                (None, None) => status.state = terminated,
            }
        }
    }
    status
}

fn waiting(reason: &str, message: Option<&str>) -> ApiContainerState {
    ApiContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message: message.map(str::to_string),
        }),
        ..Default::default()
    }
}

fn terminated_state(c: &ContainerStatus, container_id: &str) -> Option<ApiContainerState> {
    let ContainerState::Exited {
        started_at,
        finished_at,
        exit_code,
        reason,
    } = &c.state
    else {
        return None;
    };
    Some(ApiContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: *exit_code,
            reason: Some(reason.clone()),
            started_at: started_at.map(Time),
            finished_at: Some(Time(*finished_at)),
            container_id: Some(container_id.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn terminated_exit(s: &ApiContainerStatus) -> Option<i32> {
    s.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code)
}

fn last_exit(s: &ApiContainerStatus) -> Option<i32> {
    s.last_state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| t.exit_code)
}

fn is_running(s: &ApiContainerStatus) -> bool {
    s.state.as_ref().is_some_and(|st| st.running.is_some())
}

/// Upstream's `getPhase`.
pub fn phase(
    init: &[ApiContainerStatus],
    containers: &[ApiContainerStatus],
    restart_policy: &str,
    terminated: bool,
) -> &'static str {
    let mut pending_init = 0;
    let mut failed_init = 0;
    for s in init {
        match terminated_exit(s) {
            Some(0) => {}
            Some(_) => failed_init += 1,
            None if last_exit(s).is_some_and(|c| c != 0) => failed_init += 1,
            None => pending_init += 1,
        }
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in containers {
        if is_running(s) {
            running += 1;
        } else if let Some(code) = terminated_exit(s) {
            stopped += 1;
            if code == 0 {
                succeeded += 1;
            }
        } else if let Some(code) = last_exit(s) {
            stopped += 1;
            if code == 0 {
                succeeded += 1;
            }
        } else {
            waiting += 1;
        }
    }
    if failed_init > 0 && restart_policy == "Never" {
        return "Failed";
    }
    let phase = if pending_init > 0 || failed_init > 0 || waiting > 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if stopped > 0 {
        if terminated {
            if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            }
        } else {
            match restart_policy {
                "Always" => "Running",
                "OnFailure" if stopped == succeeded => "Succeeded",
                "OnFailure" => "Running",
                _ if stopped == succeeded => "Succeeded",
                _ => "Failed",
            }
        }
    } else {
        "Pending"
    };
    if terminated && matches!(phase, "Pending" | "Running") {
        "Failed"
    } else {
        phase
    }
}

fn condition(
    type_: &str,
    status: bool,
    reason: Option<&str>,
    message: Option<&str>,
) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.map(str::to_string),
        message: message.map(str::to_string),
        ..Default::default()
    }
}

/// Go's `%s` of a `[]string`: `[a b]`.
fn go_list(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

fn initialized_condition(
    specs: &[Container],
    init: &[ApiContainerStatus],
    containers: &[ApiContainerStatus],
    phase: &str,
) -> PodCondition {
    if phase == "Succeeded" {
        return condition("Initialized", true, Some("PodCompleted"), None);
    }
    let any_started = containers
        .iter()
        .any(|s| s.started == Some(true) || terminated_exit(s).is_some());
    if any_started {
        return condition("Initialized", true, None, None);
    }
    let incomplete: Vec<&str> = specs
        .iter()
        .zip(init)
        .filter(|(_, s)| !s.ready)
        .map(|(c, _)| c.name.as_str())
        .collect();
    if incomplete.is_empty() {
        condition("Initialized", true, None, None)
    } else {
        let message = format!(
            "containers with incomplete status: {}",
            go_list(&incomplete)
        );
        condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(&message),
        )
    }
}

fn containers_ready_condition(containers: &[ApiContainerStatus], phase: &str) -> PodCondition {
    match phase {
        "Succeeded" => return condition("ContainersReady", false, Some("PodCompleted"), None),
        "Failed" => return condition("ContainersReady", false, Some("PodFailed"), None),
        _ => {}
    }
    let unready: Vec<&str> = containers
        .iter()
        .filter(|s| !s.ready)
        .map(|s| s.name.as_str())
        .collect();
    if unready.is_empty() {
        condition("ContainersReady", true, None, None)
    } else {
        let message = format!("containers with unready status: {}", go_list(&unready));
        condition(
            "ContainersReady",
            false,
            Some("ContainersNotReady"),
            Some(&message),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;

    fn pod(init: &[&str], containers: &[&str], restart_policy: &str) -> Pod {
        let c = |n: &&str| Container {
            name: n.to_string(),
            image: Some("busybox".into()),
            ..Default::default()
        };
        Pod {
            spec: Some(PodSpec {
                init_containers: (!init.is_empty()).then(|| init.iter().map(c).collect()),
                containers: containers.iter().map(c).collect(),
                restart_policy: Some(restart_policy.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn sandbox() -> SandboxStatus {
        SandboxStatus {
            id: "s".into(),
            ready: true,
            ip: "10.244.0.2".into(),
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn runtime_container(name: &str, attempt: u32, state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            id: format!("{name}-{attempt}"),
            sandbox_id: "s".into(),
            name: name.into(),
            attempt,
            state,
            image: "docker.io/library/busybox:latest".into(),
            image_ref: "docker.io/library/busybox@sha256:00".into(),
        }
    }

    fn running() -> ContainerState {
        ContainerState::Running {
            started_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn exited(code: i32) -> ContainerState {
        ContainerState::Exited {
            started_at: Some(Timestamp::UNIX_EPOCH),
            finished_at: Timestamp::UNIX_EPOCH,
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
        }
    }

    fn status_of(pod: &Pod, containers: &[ContainerStatus], terminated: bool) -> PodStatus {
        let back_off = HashMap::new();
        let sandbox = sandbox();
        let observed = Observed {
            runtime_name: "sim",
            sandbox: Some(&sandbox),
            containers,
            host_ip: "10.0.0.2",
            start_time: Some(Timestamp::UNIX_EPOCH),
            back_off: &back_off,
            waiting: &HashMap::new(),
            terminated,
            probes: None,
        };
        pod_status(pod, &observed, Timestamp::UNIX_EPOCH)
    }

    fn condition_of<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
    }

    #[test]
    fn a_running_container_makes_the_pod_running_and_ready() {
        let p = pod(&[], &["web"], "Always");
        let s = status_of(&p, &[runtime_container("web", 0, running())], false);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.2"));
        let types: Vec<&str> = s
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(
            types,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );
        assert!(
            s.conditions
                .as_ref()
                .unwrap()
                .iter()
                .all(|c| c.status == "True")
        );
        let c = &s.container_statuses.as_ref().unwrap()[0];
        assert!(c.ready);
        assert_eq!(c.started, Some(true));
        assert_eq!(c.container_id.as_deref(), Some("sim://web-0"));
    }

    #[test]
    fn containers_wait_while_an_init_container_runs() {
        let p = pod(&["setup"], &["web"], "Always");
        let s = status_of(&p, &[runtime_container("setup", 0, running())], false);
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let init = condition_of(&s, "Initialized");
        assert_eq!(init.status, "False");
        assert_eq!(init.reason.as_deref(), Some("ContainersNotInitialized"));
        assert_eq!(
            init.message.as_deref(),
            Some("containers with incomplete status: [setup]")
        );
        let web = &s.container_statuses.as_ref().unwrap()[0];
        let waiting = web.state.as_ref().unwrap().waiting.as_ref().unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("PodInitializing"));
        let ready = condition_of(&s, "Ready");
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [web]")
        );
    }

    #[test]
    fn a_completed_init_container_is_ready_and_terminated() {
        let p = pod(&["setup"], &["web"], "Always");
        let s = status_of(
            &p,
            &[
                runtime_container("setup", 0, exited(0)),
                runtime_container("web", 0, running()),
            ],
            false,
        );
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let setup = &s.init_container_statuses.as_ref().unwrap()[0];
        assert!(setup.ready);
        let t = setup.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(t.reason.as_deref(), Some("Completed"));
    }

    #[test]
    fn exits_end_never_and_onfailure_pods_as_upstream() {
        let never = pod(&[], &["job"], "Never");
        let ok = status_of(&never, &[runtime_container("job", 0, exited(0))], false);
        assert_eq!(ok.phase.as_deref(), Some("Succeeded"));
        assert_eq!(
            condition_of(&ok, "Ready").reason.as_deref(),
            Some("PodCompleted")
        );
        let failed = status_of(&never, &[runtime_container("job", 0, exited(2))], false);
        assert_eq!(failed.phase.as_deref(), Some("Failed"));
        let on_failure = pod(&[], &["job"], "OnFailure");
        let retrying = status_of(
            &on_failure,
            &[runtime_container("job", 0, exited(2))],
            false,
        );
        assert_eq!(retrying.phase.as_deref(), Some("Running"));
    }

    #[test]
    fn a_deleted_pod_whose_containers_stopped_is_terminal() {
        let p = pod(&[], &["web"], "Always");
        let s = status_of(&p, &[runtime_container("web", 0, exited(0))], true);
        assert_eq!(s.phase.as_deref(), Some("Succeeded"));
        let never_ran = status_of(&p, &[], true);
        assert_eq!(never_ran.phase.as_deref(), Some("Failed"));
    }

    #[test]
    fn restarts_count_attempts_and_keep_the_last_termination() {
        let p = pod(&[], &["web"], "Always");
        let s = status_of(
            &p,
            &[
                runtime_container("web", 0, exited(1)),
                runtime_container("web", 1, running()),
            ],
            false,
        );
        let web = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(web.restart_count, 1);
        let last = web
            .last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap();
        assert_eq!(last.exit_code, 1);
    }

    #[test]
    fn transition_times_stay_while_a_condition_holds() {
        let mut p = pod(&[], &["web"], "Always");
        let first = status_of(&p, &[runtime_container("web", 0, running())], false);
        p.status = Some(first);
        let back_off = HashMap::new();
        let sandbox = sandbox();
        let containers = [runtime_container("web", 0, running())];
        let later = Timestamp::from_second(1000).unwrap();
        let observed = Observed {
            runtime_name: "sim",
            sandbox: Some(&sandbox),
            containers: &containers,
            host_ip: "10.0.0.2",
            start_time: Some(later),
            back_off: &back_off,
            waiting: &HashMap::new(),
            terminated: false,
            probes: None,
        };
        let second = pod_status(&p, &observed, later);
        assert_eq!(
            condition_of(&second, "Ready").last_transition_time,
            Some(Time(Timestamp::UNIX_EPOCH))
        );
        assert_eq!(second.start_time, Some(Time(Timestamp::UNIX_EPOCH)));
    }
}
