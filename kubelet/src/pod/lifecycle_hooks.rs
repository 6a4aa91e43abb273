//! Container lifecycle hooks as upstream's `pkg/kubelet/lifecycle/handlers.go`: `postStart`
//! runs right after a container starts (a failure is a `FailedPostStartHook` warning and the
//! container is killed), `preStop` runs before a container is stopped, within its grace
//! period (a failure is a `FailedPreStopHook` warning; the stop goes on). Handlers: `exec`
//! (the runtime's `ExecSync`), `httpGet` and `sleep`.
//!
//! Entry points: [`post_start`] and [`kill`] (preStop, then stop with what is left of the grace
//! period, as upstream's `killContainer`).
//!
//! On the `sim` runtime `httpGet` hooks succeed (there is no pod network) unless the pod
//! annotation `sim.ferrokube.io/hook-<container>-<postStart|preStop>: fail` says otherwise;
//! `exec` hooks go to the sim runtime.

use std::time::Duration;

use ferrokube_controllers::events::EventType;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};
use tokio::time::Instant;

use super::events;
use super::probes::{ProbeDeps, http_get};
use crate::Error;

/// The annotation prefix that injects hook failures on the sim runtime.
pub const SIM_HOOK_ANNOTATION_PREFIX: &str = "sim.ferrokube.io/hook-";

/// `name_namespace(uid)`, as upstream's `format.Pod`.
fn pod_desc(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// The container a hook runs for.
struct Target<'a> {
    deps: &'a ProbeDeps,
    pod: &'a Pod,
    container: &'a Container,
    container_id: &'a str,
    pod_ip: &'a str,
}

/// Runs one handler (`hook` is `postStart` or `preStop`); the error is upstream's message.
async fn run(
    t: &Target<'_>,
    handler: &LifecycleHandler,
    hook: &str,
    timeout: Duration,
) -> Result<(), String> {
    let Target {
        deps,
        pod,
        container,
        container_id,
        pod_ip,
    } = *t;
    let injected = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| {
            a.get(&format!(
                "{SIM_HOOK_ANNOTATION_PREFIX}{}-{hook}",
                container.name
            ))
        })
        .is_some_and(|v| v == "fail");
    if let Some(exec) = &handler.exec {
        let command = exec.command.clone().unwrap_or_default();
        let fail = |error: String, message: String| {
            format!(
                "Exec lifecycle hook ([{}]) for Container {:?} in Pod {:?} failed - error: {error}, message: {message:?}",
                command.join(" "),
                container.name,
                pod_desc(pod)
            )
        };
        if deps.simulated && injected {
            return Err(fail(
                "command terminated with exit code 1".into(),
                String::new(),
            ));
        }
        return match deps
            .runtime
            .exec_sync(container_id, &command, timeout)
            .await
        {
            Ok(r) if r.exit_code == 0 => Ok(()),
            Ok(r) => Err(fail(
                format!(
                    "command '{}' exited with {}",
                    command.join(" "),
                    r.exit_code
                ),
                String::from_utf8_lossy(&r.stdout).into_owned()
                    + &String::from_utf8_lossy(&r.stderr),
            )),
            Err(e) => Err(fail(e.to_string(), String::new())),
        };
    }
    if let Some(http) = &handler.http_get {
        let path = http.path.clone().unwrap_or_default();
        let fail = |error: String| {
            format!(
                "HTTP lifecycle hook ({path}) for Container {:?} in Pod {:?} failed - error: {error}",
                container.name,
                pod_desc(pod)
            )
        };
        if deps.simulated {
            return if injected {
                Err(fail("simulated failure".into()))
            } else {
                Ok(())
            };
        }
        return match http_get(http, container, pod_ip, timeout).await {
            Ok(code) if (200..400).contains(&code) => Ok(()),
            Ok(code) => Err(fail(format!(
                "HTTP lifecycle hook returned status code {code}"
            ))),
            Err(e) => Err(fail(e)),
        };
    }
    if let Some(sleep) = &handler.sleep {
        let secs = u64::try_from(sleep.seconds).unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(secs).min(timeout)).await;
    }
    Ok(())
}

/// Runs `container`'s postStart hook, if any; on failure records `FailedPostStartHook` and
/// kills the container (it is then restarted per `restartPolicy`).
pub async fn post_start(
    deps: &ProbeDeps,
    pod: &Pod,
    container: &Container,
    container_id: &str,
    pod_ip: &str,
) -> Result<(), Error> {
    let Some(handler) = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.post_start.as_ref())
    else {
        return Ok(());
    };
    let grace = grace_period(pod);
    let target = Target {
        deps,
        pod,
        container,
        container_id,
        pod_ip,
    };
    if let Err(message) = run(&target, handler, "postStart", grace).await {
        events::publish(
            &deps.recorder,
            pod,
            &container.name,
            EventType::Warning,
            "FailedPostStartHook",
            message,
        );
        kill(
            deps,
            pod,
            container,
            container_id,
            pod_ip,
            grace,
            "FailedPostStartHook",
        )
        .await?;
    }
    Ok(())
}

/// The pod's termination grace period (30 s unless set).
pub fn grace_period(pod: &Pod) -> Duration {
    let secs = pod
        .metadata
        .deletion_grace_period_seconds
        .or(pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30)
        .max(0);
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// Kills a running container as upstream's `killContainer`: a `Killing` event with
/// `message`, its preStop hook within `grace`, then a stop with what is left of it.
pub async fn kill(
    deps: &ProbeDeps,
    pod: &Pod,
    container: &Container,
    container_id: &str,
    pod_ip: &str,
    grace: Duration,
    message: &str,
) -> Result<(), Error> {
    let message = if message.is_empty() {
        format!("Stopping container {}", container.name)
    } else {
        message.to_string()
    };
    events::publish(
        &deps.recorder,
        pod,
        &container.name,
        EventType::Normal,
        "Killing",
        message,
    );
    let started = Instant::now();
    if let Some(handler) = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
    {
        let target = Target {
            deps,
            pod,
            container,
            container_id,
            pod_ip,
        };
        let hook = run(&target, handler, "preStop", grace);
        match tokio::time::timeout(grace, hook).await {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                events::publish(
                    &deps.recorder,
                    pod,
                    &container.name,
                    EventType::Warning,
                    "FailedPreStopHook",
                    message,
                );
            }
            Err(_) => {
                events::publish(
                    &deps.recorder,
                    pod,
                    &container.name,
                    EventType::Warning,
                    "FailedPreStopHook",
                    format!(
                        "PreStopHook failed: the hook of container {:?} did not finish within the grace period",
                        container.name
                    ),
                );
            }
        }
    }
    let left = grace
        .saturating_sub(started.elapsed())
        .max(Duration::from_secs(2).min(grace));
    deps.runtime.stop_container(container_id, left).await?;
    Ok(())
}
