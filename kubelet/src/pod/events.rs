//! The Events a pod worker records about a pod's containers, with upstream's reasons and
//! messages (`pkg/kubelet/events`, the image manager and `kuberuntime`): `Pulling`, `Pulled`,
//! `Failed`, `ErrImageNeverPull` and `BackOff` for images; `Created`, `Started` and `BackOff`
//! for containers. Source component `kubelet`, host the node's name (the worker's
//! [`Recorder`]). `Killing` is recorded where containers are killed
//! ([`super::lifecycle_hooks::kill`]).

use std::time::Duration;

use ferrokube_controllers::events::{EventType, Recorder};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

/// The `involvedObject.fieldPath` upstream gives a container's events:
/// `spec.containers{name}`, or `spec.initContainers{name}` for an init container.
pub fn container_field_path(pod: &Pod, container: &str) -> String {
    let init = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.name == container));
    let list = if init { "initContainers" } else { "containers" };
    format!("spec.{list}{{{container}}}")
}

/// Records an event about one of the pod's containers.
pub fn publish(
    recorder: &Recorder,
    pod: &Pod,
    container: &str,
    type_: EventType,
    reason: &str,
    message: String,
) {
    recorder.publish_about(
        pod,
        Some(container_field_path(pod, container)),
        type_,
        reason,
        message,
    );
}

/// `Pulling image "busybox"`.
pub fn pulling(recorder: &Recorder, pod: &Pod, container: &str, image: &str) {
    publish(
        recorder,
        pod,
        container,
        EventType::Normal,
        "Pulling",
        format!("Pulling image {image:?}"),
    );
}

/// `Successfully pulled image "busybox" in 12ms (12ms including waiting)`.
pub fn pulled(recorder: &Recorder, pod: &Pod, container: &str, image: &str, took: Duration) {
    let took = go_duration(took);
    publish(
        recorder,
        pod,
        container,
        EventType::Normal,
        "Pulled",
        format!("Successfully pulled image {image:?} in {took} ({took} including waiting)"),
    );
}

/// `Container image "busybox" already present on machine` (policy `IfNotPresent` or `Never`).
pub fn already_present(recorder: &Recorder, pod: &Pod, container: &str, image: &str) {
    publish(
        recorder,
        pod,
        container,
        EventType::Normal,
        "Pulled",
        format!("Container image {image:?} already present on machine"),
    );
}

/// A pull that failed: `Failed to pull image "x": why`, then `Error: ErrImagePull`.
pub fn pull_failed(recorder: &Recorder, pod: &Pod, container: &str, image: &str, message: &str) {
    publish(
        recorder,
        pod,
        container,
        EventType::Warning,
        "Failed",
        format!("Failed to pull image {image:?}: {message}"),
    );
    failed(recorder, pod, container, "ErrImagePull");
}

/// A missing image with policy `Never`: `ErrImageNeverPull`, then `Error: ErrImageNeverPull`.
pub fn never_pull(recorder: &Recorder, pod: &Pod, container: &str, message: &str) {
    publish(
        recorder,
        pod,
        container,
        EventType::Warning,
        "ErrImageNeverPull",
        message.to_string(),
    );
    failed(recorder, pod, container, "ErrImageNeverPull");
}

/// Waiting out an image pull back-off: `Back-off pulling image "x"`, then
/// `Error: ImagePullBackOff`.
pub fn pull_back_off(recorder: &Recorder, pod: &Pod, container: &str, image: &str) {
    publish(
        recorder,
        pod,
        container,
        EventType::Normal,
        "BackOff",
        format!("Back-off pulling image {image:?}"),
    );
    failed(recorder, pod, container, "ImagePullBackOff");
}

/// `Error: <reason or message>` (reason `Failed`): a container could not be created or
/// started.
pub fn failed(recorder: &Recorder, pod: &Pod, container: &str, error: &str) {
    publish(
        recorder,
        pod,
        container,
        EventType::Warning,
        "Failed",
        format!("Error: {error}"),
    );
}

/// `Created container: main`.
pub fn created(recorder: &Recorder, pod: &Pod, container: &str) {
    publish(
        recorder,
        pod,
        container,
        EventType::Normal,
        "Created",
        format!("Created container: {container}"),
    );
}

/// `Started container main`.
pub fn started(recorder: &Recorder, pod: &Pod, container: &str) {
    publish(
        recorder,
        pod,
        container,
        EventType::Normal,
        "Started",
        format!("Started container {container}"),
    );
}

/// `Back-off restarting failed container main in pod web_default(uid)`.
pub fn restart_back_off(recorder: &Recorder, pod: &Pod, container: &str) {
    publish(
        recorder,
        pod,
        container,
        EventType::Warning,
        "BackOff",
        restart_back_off_message(pod, container),
    );
}

/// Upstream's `BackOff` message: the pod as `name_namespace(uid)`.
pub fn restart_back_off_message(pod: &Pod, container: &str) -> String {
    format!(
        "Back-off restarting failed container {container} in pod {}_{}({})",
        pod.name_any(),
        pod.namespace().unwrap_or_default(),
        pod.uid().unwrap_or_default()
    )
}

/// A duration as Go prints it, to the millisecond: `12ms`, `1.5s`, `2m3.25s`.
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let seconds = |ms: u128| {
        let whole = ms / 1000;
        let frac = ms % 1000;
        if frac == 0 {
            format!("{whole}s")
        } else {
            let digits = format!("{frac:03}");
            format!("{whole}.{}s", digits.trim_end_matches('0'))
        }
    };
    if ms < 60_000 {
        return seconds(ms);
    }
    format!("{}m{}", ms / 60_000, seconds(ms % 60_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    #[test]
    fn container_events_name_the_container_list_it_is_in() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [{"name": "setup"}],
                "containers": [{"name": "main"}]
            }
        }))
        .expect("a pod");
        assert_eq!(container_field_path(&pod, "main"), "spec.containers{main}");
        assert_eq!(
            container_field_path(&pod, "setup"),
            "spec.initContainers{setup}"
        );
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        assert_eq!(go_duration(Duration::from_micros(12_400)), "12ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(2)), "2s");
        assert_eq!(go_duration(Duration::from_millis(123_250)), "2m3.25s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
    }

    #[test]
    fn the_back_off_message_names_the_pod_as_upstream_formats_it() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("u-1".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            restart_back_off_message(&pod, "main"),
            "Back-off restarting failed container main in pod web_default(u-1)"
        );
    }
}
