//! One pod's worker, as upstream's pod workers: it syncs the pod whenever its object changes,
//! the runtime reports a change in its sandbox, or a restart back-off expires. A sync runs the
//! sandbox, then the init containers one at a time, then the containers, restarts exited
//! containers per `restartPolicy`, and writes the status when it changed. A pod with a
//! `deletionTimestamp` is terminated: its containers are stopped within the grace period, the
//! terminal status is written, and the pod is deleted with grace period 0 so the API server
//! removes it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, ResourceExt};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span, warn};

use super::back_off;
use super::env::{self, PodNetwork};
use super::events;
use super::lifecycle_hooks;
use super::probes::{PodProbes, ProbeDeps};
use super::resources;
use super::status::{Observed, pod_status};
use super::volumes::{PodVolumes, VolumeHost};
use crate::Error;
use crate::node::NodeContext;
use crate::runtime::{
    CONTAINER_TYPE_ANNOTATION, ContainerConfig, ContainerState, ContainerStatus, SandboxConfig,
};
use ferrokube_controllers::events::{EventType, Recorder};

/// A container waiting out its restart back-off.
struct BackOff {
    until: Instant,
    message: String,
}

/// A container whose image is not present: upstream's image pull back-off.
struct ImagePull {
    until: Instant,
    failures: u32,
    reason: &'static str,
    message: String,
}

/// Upstream's default `imagePullPolicy`: `Always` for `:latest` or no tag, else `IfNotPresent`.
fn default_pull_policy(image: &str) -> &'static str {
    let normalized = crate::runtime::image::normalize(image);
    if normalized.contains('@') || !normalized.ends_with(":latest") {
        "IfNotPresent"
    } else {
        "Always"
    }
}

/// The state one pod's worker keeps between syncs.
pub(crate) struct PodWorker {
    ctx: Arc<NodeContext>,
    pods: watch::Receiver<Option<Arc<Pod>>>,
    events: broadcast::Receiver<crate::runtime::RuntimeEvent>,
    sandbox: Option<String>,
    start_time: Option<Timestamp>,
    back_off: HashMap<String, BackOff>,
    /// Containers whose image is not there yet (pull failed, in back-off, or `Never`).
    image_pulls: HashMap<String, ImagePull>,
    /// Containers whose config could not be built: name to the `CreateContainerConfigError`
    /// message.
    config_errors: HashMap<String, String>,
    /// The pod's volumes.
    volumes: PodVolumes,
    /// The pod's probe workers.
    probes: PodProbes,
    /// What probes and hooks need (runtime, event recorder, the latest pod).
    probe_deps: ProbeDeps,
    last_status: Option<PodStatus>,
    /// The pod reached Succeeded or Failed; nothing runs any more.
    finished: bool,
}

/// What a sync asks of the worker's loop.
enum Next {
    /// Wait for a change (or until the instant, for a back-off).
    Wait(Option<Instant>),
    /// The pod is gone; the worker ends.
    Done,
}

impl PodWorker {
    /// A worker fed with the pod's latest object (None once it is gone from the API).
    pub(crate) fn new(ctx: Arc<NodeContext>, pods: watch::Receiver<Option<Arc<Pod>>>) -> Self {
        let events = ctx.runtime.events();
        let uid = pods
            .borrow()
            .as_ref()
            .and_then(|p| p.uid())
            .unwrap_or_default();
        let probe_deps = ProbeDeps {
            runtime: ctx.runtime.clone(),
            simulated: ctx.runtime_name == "sim",
            recorder: Recorder::new(ctx.client.clone(), "kubelet", Some(ctx.node_name.clone())),
            pods: pods.clone(),
        };
        PodWorker {
            config_errors: HashMap::new(),
            volumes: PodVolumes::new(&ctx.root_dir, &uid).with_files(ctx.volume_files),
            probes: PodProbes::default(),
            probe_deps,
            ctx,
            pods,
            events,
            sandbox: None,
            start_time: None,
            back_off: HashMap::new(),
            image_pulls: HashMap::new(),
            last_status: None,
            finished: false,
        }
    }

    /// Runs until the pod is terminated and deleted, or gone from the API. A sync, a
    /// termination and a tear-down are boxed while they run, so the task a pod keeps while
    /// it waits for a change holds only the wait, not the largest of those futures.
    pub(crate) async fn run(mut self) {
        let pod = self.pods.borrow().clone();
        let span = match &pod {
            Some(p) => {
                info_span!("pod", pod = %format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()), node = %self.ctx.node_name)
            }
            None => info_span!("pod", node = %self.ctx.node_name),
        };
        async move {
            loop {
                let pod = self.pods.borrow_and_update().clone();
                let next = match pod {
                    None => {
                        Box::pin(self.tear_down()).await;
                        Next::Done
                    }
                    Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
                        match Box::pin(self.terminate(&pod)).await {
                            Ok(()) => Next::Done,
                            Err(e) => {
                                warn!(error = %e, "terminating pod failed; retrying");
                                Next::Wait(Some(Instant::now() + self.ctx.retry_interval))
                            }
                        }
                    }
                    Some(pod) => match Box::pin(self.sync(&pod)).await {
                        Ok(wake) => Next::Wait(wake),
                        Err(e) => {
                            warn!(error = %e, "syncing pod failed; retrying");
                            Next::Wait(Some(Instant::now() + self.ctx.retry_interval))
                        }
                    },
                };
                let Next::Wait(wake) = next else {
                    return;
                };
                if !self.wait(wake).await {
                    Box::pin(self.tear_down()).await;
                    return;
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Waits for something that may need a sync; false when the pod feed closed.
    async fn wait(&mut self, wake: Option<Instant>) -> bool {
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                changed = self.pods.changed() => return changed.is_ok(),
                _ = self.probes.changed() => return true,
                event = self.events.recv() => match event {
                    Ok(e) if Some(&e.sandbox_id) == self.sandbox.as_ref() => return true,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return true,
                    Err(broadcast::error::RecvError::Closed) => return false,
                },
                _ = &mut sleep => return true,
            }
        }
    }

    fn api(&self, pod: &Pod) -> Api<Pod> {
        Api::namespaced(
            self.ctx.client.clone(),
            pod.namespace().as_deref().unwrap_or("default"),
        )
    }

    async fn containers(&self) -> Result<Vec<ContainerStatus>, Error> {
        match &self.sandbox {
            Some(id) => Ok(self.ctx.runtime.list_containers(id).await?),
            None => Ok(Vec::new()),
        }
    }

    /// Writes the status the runtime state gives, when it differs from the last one written.
    async fn write_status(&mut self, pod: &Pod, terminated: bool) -> Result<PodStatus, Error> {
        let containers = self.containers().await?;
        let sandbox = match &self.sandbox {
            Some(id) => Some(self.ctx.runtime.pod_sandbox_status(id).await?),
            None => None,
        };
        let back_off: HashMap<String, String> = self
            .back_off
            .iter()
            .map(|(k, v)| (k.clone(), v.message.clone()))
            .collect();
        let mut base = pod.clone();
        if let (Some(last), Some(status)) = (&self.last_status, base.status.as_mut()) {
            // Our last write may not have come back through the watch yet.
            status.conditions = last.conditions.clone();
            status.start_time = last.start_time.clone().or(status.start_time.take());
        }
        let observed = Observed {
            runtime_name: &self.ctx.runtime_name,
            sandbox: sandbox.as_ref(),
            containers: &containers,
            host_ip: &self.ctx.host_ip,
            start_time: self.start_time,
            back_off: &back_off,
            waiting: &self
                .image_pulls
                .iter()
                .map(|(k, v)| (k.clone(), (v.reason.to_string(), v.message.clone())))
                .chain(self.config_errors.iter().map(|(k, m)| {
                    (
                        k.clone(),
                        ("CreateContainerConfigError".to_string(), m.clone()),
                    )
                }))
                .collect(),
            terminated,
            probes: Some(&self.probes),
        };
        let status = pod_status(&base, &observed, Timestamp::now());
        if self.last_status.as_ref() != Some(&status) {
            let patch = serde_json::json!({ "status": status });
            self.api(pod)
                .patch_status(
                    &pod.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map_err(Error::UpdatePodStatus)?;
            debug!(phase = ?status.phase, "pod status written");
            self.last_status = Some(status.clone());
        }
        Ok(status)
    }

    /// One sync; returns when to wake for a restart back-off, if one is pending.
    async fn sync(&mut self, pod: &Pod) -> Result<Option<Instant>, Error> {
        if self.finished {
            return Ok(None);
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if self.sandbox.is_none() && matches!(phase, Some("Succeeded" | "Failed")) {
            // Already terminal (e.g. before this kubelet started): nothing to run.
            self.finished = true;
            return Ok(None);
        }
        self.start_time.get_or_insert_with(Timestamp::now);
        if !self.set_up_volumes(pod).await {
            // FailedMount: the pod waits in ContainerCreating and the mount is retried.
            self.write_status(pod, false).await?;
            return Ok(Some(Instant::now() + self.ctx.retry_interval));
        }
        self.adopt_sandbox(pod).await?;
        if self.sandbox.is_none() {
            let spec = pod.spec.clone().unwrap_or_default();
            let mut labels = BTreeMap::new();
            labels.insert("io.kubernetes.pod.name".into(), pod.name_any());
            labels.insert(
                "io.kubernetes.pod.namespace".into(),
                pod.namespace().unwrap_or_default(),
            );
            labels.insert(
                "io.kubernetes.pod.uid".into(),
                pod.uid().unwrap_or_default(),
            );
            let config = SandboxConfig {
                name: pod.name_any(),
                namespace: pod.namespace().unwrap_or_default(),
                uid: pod.uid().unwrap_or_default(),
                hostname: spec.hostname.clone().unwrap_or_else(|| pod.name_any()),
                log_directory: self
                    .ctx
                    .pod_logs_dir
                    .join(format!(
                        "{}_{}_{}",
                        pod.namespace().unwrap_or_default(),
                        pod.name_any(),
                        pod.uid().unwrap_or_default()
                    ))
                    .display()
                    .to_string(),
                host_network: spec.host_network.unwrap_or(false),
                labels,
            };
            self.sandbox = Some(self.ctx.runtime.run_pod_sandbox(&config).await?);
        }
        self.write_status(pod, false).await?;

        let wake = self.run_containers(pod).await?;
        let wake = self.run_probes(pod, wake).await?;
        let wake = match (wake, self.image_pull_wake()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let status = self.write_status(pod, false).await?;
        if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
            // A terminal pod keeps its status; its sandbox and IP are released.
            if let Some(id) = &self.sandbox {
                self.ctx.runtime.stop_pod_sandbox(id).await?;
            }
            self.finished = true;
            self.write_status(pod, false).await?;
            return Ok(None);
        }
        Ok(wake)
    }

    /// Starts what should run next: the first unfinished init container, else every
    /// container not running, honouring `restartPolicy` and the restart back-off.
    async fn run_containers(&mut self, pod: &Pod) -> Result<Option<Instant>, Error> {
        let spec = pod.spec.clone().unwrap_or_default();
        let restart_policy = spec
            .restart_policy
            .as_deref()
            .unwrap_or("Always")
            .to_string();
        let containers = self.containers().await?;
        let latest = |name: &str| containers.iter().rev().find(|c| c.name == name).cloned();
        let mut wake: Option<Instant> = None;
        for c in spec.init_containers.as_deref().unwrap_or_default() {
            match latest(&c.name).map(|s| (s.attempt, s.state)) {
                None => {
                    self.start(pod, c, true, 0).await?;
                    return Ok(None);
                }
                Some((_, ContainerState::Exited { exit_code: 0, .. })) => continue,
                Some((attempt, ContainerState::Exited { .. })) => {
                    if restart_policy != "Never" {
                        wake = self.restart(pod, c, true, attempt + 1).await?;
                    }
                    return Ok(wake);
                }
                Some(_) => return Ok(None),
            }
        }
        for c in &spec.containers {
            match latest(&c.name).map(|s| (s.attempt, s.state)) {
                None => self.start(pod, c, false, 0).await?,
                Some((attempt, ContainerState::Exited { exit_code, .. })) => {
                    let restart = restart_policy == "Always"
                        || (restart_policy == "OnFailure" && exit_code != 0);
                    if restart && let Some(at) = self.restart(pod, c, false, attempt + 1).await? {
                        wake = Some(wake.map_or(at, |w| w.min(at)));
                    }
                }
                Some(_) => {}
            }
        }
        Ok(wake)
    }

    /// Restarts a container once its back-off has passed; returns when to look again.
    async fn restart(
        &mut self,
        pod: &Pod,
        c: &Container,
        init: bool,
        attempt: u32,
    ) -> Result<Option<Instant>, Error> {
        let now = Instant::now();
        match self.back_off.get(&c.name) {
            Some(b) if b.until > now => return Ok(Some(b.until)),
            Some(_) => {
                self.back_off.remove(&c.name);
            }
            None => {
                let delay =
                    back_off::restart_delay(attempt, self.ctx.back_off_base, self.ctx.back_off_max);
                if !delay.is_zero() {
                    let message = back_off::message(
                        delay,
                        &c.name,
                        &pod.name_any(),
                        &pod.namespace().unwrap_or_default(),
                        &pod.uid().unwrap_or_default(),
                    );
                    let until = now + delay;
                    events::restart_back_off(&self.probe_deps.recorder, pod, &c.name);
                    self.back_off
                        .insert(c.name.clone(), BackOff { until, message });
                    return Ok(Some(until));
                }
            }
        }
        self.start(pod, c, init, attempt).await?;
        Ok(None)
    }

    async fn start(
        &mut self,
        pod: &Pod,
        c: &Container,
        init: bool,
        attempt: u32,
    ) -> Result<(), Error> {
        let Some(sandbox) = self.sandbox.clone() else {
            return Ok(());
        };
        let image = c.image.clone().unwrap_or_default();
        if !self.ensure_image(pod, c, &image).await? {
            return Ok(());
        }
        let net = self.pod_network().await;
        let environment = match env::resolve_with_services(
            &self.ctx.client,
            &self.ctx.services,
            pod,
            c,
            &net,
            &self.ctx.capacity,
        )
        .await
        {
            Ok(e) => e,
            Err(e) => {
                let message = e.to_string();
                warn!(container = %c.name, %message, "CreateContainerConfigError");
                events::failed(&self.probe_deps.recorder, pod, &c.name, &message);
                self.config_errors.insert(c.name.clone(), message);
                return Ok(());
            }
        };
        self.config_errors.remove(&c.name);
        for message in &environment.invalid_names {
            events::publish(
                &self.probe_deps.recorder,
                pod,
                &c.name,
                EventType::Warning,
                "InvalidEnvironmentVariableNames",
                message.clone(),
            );
        }
        let memory_capacity = self
            .ctx
            .capacity
            .get("memory")
            .and_then(|q| resources::value(q))
            .unwrap_or(0);
        let mut labels = BTreeMap::new();
        labels.insert("io.kubernetes.container.name".into(), c.name.clone());
        labels.insert("io.kubernetes.pod.name".into(), pod.name_any());
        labels.insert(
            "io.kubernetes.pod.namespace".into(),
            pod.namespace().unwrap_or_default(),
        );
        labels.insert(
            "io.kubernetes.pod.uid".into(),
            pod.uid().unwrap_or_default(),
        );
        let mut annotations = BTreeMap::new();
        annotations.insert(
            CONTAINER_TYPE_ANNOTATION.into(),
            if init { "init" } else { "regular" }.into(),
        );
        let config = ContainerConfig {
            name: c.name.clone(),
            image,
            command: env::expand_all(&c.command.clone().unwrap_or_default(), &environment.vars),
            args: env::expand_all(&c.args.clone().unwrap_or_default(), &environment.vars),
            mounts: self.volumes.mounts(pod, c),
            resources: resources::linux_resources(pod, c, memory_capacity),
            envs: environment.vars,
            attempt,
            labels,
            annotations,
            working_dir: c.working_dir.clone().unwrap_or_default(),
            log_path: format!("{}/{attempt}.log", c.name),
            tty: c.tty.unwrap_or(false),
            stdin: c.stdin.unwrap_or(false),
            stdin_once: c.stdin_once.unwrap_or(false),
        };
        let recorder = &self.probe_deps.recorder;
        let id = match self.ctx.runtime.create_container(&sandbox, &config).await {
            Ok(id) => id,
            Err(e) => {
                events::failed(recorder, pod, &c.name, &e.to_string());
                return Err(e.into());
            }
        };
        events::created(recorder, pod, &c.name);
        if let Err(e) = self.ctx.runtime.start_container(&id).await {
            events::failed(recorder, pod, &c.name, &e.to_string());
            return Err(e.into());
        }
        events::started(recorder, pod, &c.name);
        lifecycle_hooks::post_start(&self.probe_deps, pod, c, &id, &net.pod_ip).await?;
        Ok(())
    }

    /// Stops the pod's containers within its grace period, writes the terminal status and
    /// deletes the pod with grace period 0.
    async fn terminate(&mut self, pod: &Pod) -> Result<(), Error> {
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .or(pod
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds))
            .unwrap_or(30)
            .max(0);
        let timeout = std::time::Duration::from_secs(u64::try_from(grace).unwrap_or(0));
        self.adopt_sandbox(pod).await?;
        if let Some(sandbox) = self.sandbox.clone() {
            self.probes.stop();
            let running: Vec<ContainerStatus> = self
                .containers()
                .await?
                .into_iter()
                .filter(|c| !matches!(c.state, ContainerState::Exited { .. }))
                .collect();
            let pod_ip = self.pod_network().await.pod_ip;
            let deps = &self.probe_deps;
            let stops =
                running.iter().map(|c| {
                    let spec = container_spec(pod, &c.name);
                    let pod_ip = pod_ip.clone();
                    async move {
                        lifecycle_hooks::kill(deps, pod, &spec, &c.id, &pod_ip, timeout, "").await
                    }
                });
            for result in futures::future::join_all(stops).await {
                result?;
            }
            self.ctx.runtime.stop_pod_sandbox(&sandbox).await?;
            self.back_off.clear();
            // As upstream: first the stopped containers, then the terminal phase.
            self.write_status(pod, false).await?;
            self.write_status(pod, true).await?;
        }
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.uid(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.api(pod).delete(&pod.name_any(), &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(Error::DeletePod(e)),
        }
        self.tear_down().await;
        Ok(())
    }

    /// Finds the sandbox a previous run of the kubelet started for this pod, so its running
    /// containers are adopted rather than started again.
    async fn adopt_sandbox(&mut self, pod: &Pod) -> Result<(), Error> {
        if self.sandbox.is_none()
            && let Some(uid) = pod.uid()
        {
            self.sandbox = self.ctx.runtime.find_pod_sandbox(&uid).await?;
        }
        Ok(())
    }

    /// Makes sure the container's image is present as its `imagePullPolicy` asks (upstream's
    /// image manager); false, with the container's waiting reason recorded, when it is not.
    async fn ensure_image(&mut self, pod: &Pod, c: &Container, image: &str) -> Result<bool, Error> {
        let now = Instant::now();
        let recorder = &self.probe_deps.recorder;
        if let Some(p) = self.image_pulls.get_mut(&c.name)
            && p.until > now
        {
            if p.reason == "ErrImagePull" {
                p.reason = "ImagePullBackOff";
                p.message = format!("Back-off pulling image {image:?}");
                events::pull_back_off(recorder, pod, &c.name, image);
            }
            return Ok(false);
        }
        let policy = c
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| default_pull_policy(image).to_string());
        if policy != "Always" && self.ctx.runtime.image_status(image).await?.is_some() {
            // As upstream, on every start (identical events are aggregated into a count).
            events::already_present(recorder, pod, &c.name, image);
            self.image_pulls.remove(&c.name);
            return Ok(true);
        }
        let failures = self.image_pulls.get(&c.name).map_or(0, |p| p.failures) + 1;
        let delay =
            back_off::restart_delay(failures + 1, self.ctx.back_off_base, self.ctx.back_off_max);
        let (reason, message) = if policy == "Never" {
            (
                "ErrImageNeverPull",
                format!("Container image {image:?} is not present with pull policy of Never"),
            )
        } else {
            events::pulling(recorder, pod, &c.name, image);
            let pull_started = Instant::now();
            match self.ctx.runtime.pull_image(image).await {
                Ok(_) => {
                    events::pulled(recorder, pod, &c.name, image, pull_started.elapsed());
                    self.image_pulls.remove(&c.name);
                    return Ok(true);
                }
                Err(crate::runtime::RuntimeError::ImagePull(message)) => ("ErrImagePull", message),
                Err(e) => return Err(e.into()),
            }
        };
        match reason {
            "ErrImageNeverPull" => events::never_pull(recorder, pod, &c.name, &message),
            _ => events::pull_failed(recorder, pod, &c.name, image, &message),
        }
        warn!(container = %c.name, image, reason, %message, "image is not available");
        self.image_pulls.insert(
            c.name.clone(),
            ImagePull {
                until: now + delay,
                failures,
                reason,
                message,
            },
        );
        Ok(false)
    }

    /// When to look at images again: soon after a failed pull (to report `ImagePullBackOff`),
    /// else when the earliest back-off ends.
    fn image_pull_wake(&self) -> Option<Instant> {
        self.image_pulls
            .values()
            .map(|p| match p.reason {
                "ErrImagePull" => (Instant::now() + self.ctx.retry_interval).min(p.until),
                _ => p.until,
            })
            .min()
    }

    /// The node's and the pod's IPs.
    async fn pod_network(&self) -> PodNetwork {
        let pod_ip = match &self.sandbox {
            Some(id) => self
                .ctx
                .runtime
                .pod_sandbox_status(id)
                .await
                .map(|s| s.ip)
                .unwrap_or_default(),
            None => String::new(),
        };
        PodNetwork {
            host_ip: self.ctx.host_ip.clone(),
            pod_ip,
        }
    }

    /// Sets up (or refreshes, when due) the pod's volumes; false while one cannot be set up
    /// before the pod first ran (a `FailedMount` event says why).
    async fn set_up_volumes(&mut self, pod: &Pod) -> bool {
        if !self
            .volumes
            .refresh_due(pod, self.ctx.volume_resync_interval)
        {
            return true;
        }
        let host = VolumeHost {
            client: self.ctx.client.clone(),
            network: self.pod_network().await,
            allocatable: self.ctx.capacity.clone(),
        };
        let recorder = &self.probe_deps.recorder;
        match self.volumes.set_up(&host, pod).await {
            Ok(warnings) => {
                for (reason, message) in warnings {
                    recorder.publish(pod, EventType::Warning, &reason, message);
                }
                true
            }
            Err(e) => {
                warn!(error = %e, "FailedMount");
                recorder.publish(pod, EventType::Warning, "FailedMount", e.to_string());
                // Running containers keep their volumes as they were.
                self.sandbox.is_some()
            }
        }
    }

    /// Starts and stops probe workers, kills containers whose liveness (or startup) probe
    /// failed, and adds the volume refresh and config retry to `wake`.
    async fn run_probes(
        &mut self,
        pod: &Pod,
        wake: Option<Instant>,
    ) -> Result<Option<Instant>, Error> {
        let containers = self.containers().await?;
        let net = self.pod_network().await;
        self.probes
            .sync(&self.probe_deps, pod, &containers, &net.pod_ip);
        let restart_policy = pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into());
        for c in &containers {
            if !matches!(c.state, ContainerState::Running { .. }) {
                continue;
            }
            let Some(kind) = self.probes.failed(&c.name, &c.id) else {
                continue;
            };
            let mut message = format!("Container {} failed {} probe", c.name, kind.name());
            if restart_policy != "Never" {
                message.push_str(", will be restarted");
            }
            let spec = container_spec(pod, &c.name);
            let grace = lifecycle_hooks::grace_period(pod);
            lifecycle_hooks::kill(
                &self.probe_deps,
                pod,
                &spec,
                &c.id,
                &net.pod_ip,
                grace,
                &message,
            )
            .await?;
        }
        let mut wakes: Vec<Instant> = wake.into_iter().collect();
        wakes.extend(self.volumes.next_refresh(self.ctx.volume_resync_interval));
        if !self.config_errors.is_empty() {
            wakes.push(Instant::now() + self.ctx.retry_interval);
        }
        Ok(wakes.into_iter().min())
    }

    /// Removes the pod's sandbox and containers from the runtime.
    async fn tear_down(&mut self) {
        self.probes.stop();
        self.volumes.tear_down().await;
        if let Some(id) = self.sandbox.take()
            && let Err(e) = self.ctx.runtime.remove_pod_sandbox(&id).await
        {
            warn!(error = %e, "removing the pod sandbox failed");
        }
    }
}

/// The spec of container `name` (regular or init) in `pod`.
fn container_spec(pod: &Pod, name: &str) -> Container {
    let spec = pod.spec.clone().unwrap_or_default();
    spec.containers
        .into_iter()
        .chain(spec.init_containers.unwrap_or_default())
        .find(|c| c.name == name)
        .unwrap_or_else(|| Container {
            name: name.to_string(),
            ..Default::default()
        })
}
