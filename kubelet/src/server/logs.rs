//! `/containerLogs/{namespace}/{pod}/{container}`: which container instance's log to read
//! (upstream's `validateContainerLogStatus`, from the pod's status: the running one, the last
//! terminated one, or with `previous` the one before), the `PodLogOptions` query, then the log
//! file streamed by [`crate::logs::read`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::Api;
use tokio::sync::mpsc;
use tracing::debug;

use super::routes::text_error;
use super::{Body, NodeServer};
use crate::logs::{self, LogOptions};
use crate::runtime::ContainerState;

fn flag(q: &BTreeMap<String, Vec<String>>, key: &str) -> bool {
    q.get(key)
        .and_then(|v| v.first())
        .is_some_and(|v| v == "true" || v == "1")
}

fn number(q: &BTreeMap<String, Vec<String>>, key: &str) -> Result<Option<i64>, String> {
    match q.get(key).and_then(|v| v.first()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{key}: invalid value {v:?}")),
    }
}

/// The `PodLogOptions` of a query, validated as upstream, with `sinceSeconds` resolved
/// against `now`; returns the options and whether `previous` was asked for.
pub fn parse_options(
    q: &BTreeMap<String, Vec<String>>,
    now: Timestamp,
) -> Result<(LogOptions, bool), String> {
    let tail = number(q, "tailLines")?;
    let limit = number(q, "limitBytes")?;
    let since_seconds = number(q, "sinceSeconds")?;
    let since_time = match q.get("sinceTime").and_then(|v| v.first()) {
        Some(t) if !t.is_empty() => Some(
            t.parse::<Timestamp>()
                .map_err(|_| format!("sinceTime: invalid value {t:?}"))?,
        ),
        _ => None,
    };
    if tail.is_some_and(|t| t < 0) {
        return Err("tailLines: Invalid value: must be greater than or equal to 0".into());
    }
    if limit.is_some_and(|l| l < 1) {
        return Err("limitBytes: Invalid value: must be greater than 0".into());
    }
    if since_seconds.is_some() && since_time.is_some() {
        return Err("at most one of `sinceTime` or `sinceSeconds` may be specified".into());
    }
    if since_seconds.is_some_and(|s| s < 1) {
        return Err("sinceSeconds: Invalid value: must be greater than 0".into());
    }
    let since = match (since_seconds, since_time) {
        (Some(s), _) => Some(now - jiff::SignedDuration::from_secs(s)),
        (None, t) => t,
    };
    Ok((
        LogOptions {
            tail_lines: tail.map(|t| t.unsigned_abs()),
            since,
            limit_bytes: limit.map(|l| l.unsigned_abs()),
            timestamps: flag(q, "timestamps"),
            follow: flag(q, "follow"),
        },
        flag(q, "previous"),
    ))
}

/// The id (`runtime://id`) of the container instance whose log to read, as upstream's
/// `validateContainerLogStatus` picks it from the pod's status, or the error it answers.
pub fn log_container_id(
    status: &PodStatus,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<String, String> {
    let found = [
        status.container_statuses.as_deref(),
        status.init_container_statuses.as_deref(),
        status.ephemeral_container_statuses.as_deref(),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .find(|s| s.name == container)
    .ok_or_else(|| format!("container {container:?} in pod {pod:?} is not available"))?;
    let last = found
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.container_id.clone())
        .filter(|id| !id.is_empty());
    let state = found.state.clone().unwrap_or_default();
    if previous {
        return last.ok_or_else(|| {
            format!("previous terminated container {container:?} in pod {pod:?} not found")
        });
    }
    if state.running.is_some() {
        return found
            .container_id
            .clone()
            .ok_or_else(|| format!("container {container:?} in pod {pod:?} is not available"));
    }
    if let Some(t) = state.terminated {
        return t
            .container_id
            .filter(|id| !id.is_empty())
            .or(last)
            .ok_or_else(|| format!("container {container:?} in pod {pod:?} is terminated"));
    }
    if found
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .is_some()
    {
        return last.ok_or_else(|| format!("container {container:?} in pod {pod:?} is terminated"));
    }
    match state.waiting.and_then(|w| w.reason) {
        Some(r) if r == "ErrImagePull" => Err(format!(
            "container {container:?} in pod {pod:?} is waiting to start: image can't be pulled"
        )),
        Some(r) if r == "ImagePullBackOff" => Err(format!(
            "container {container:?} in pod {pod:?} is waiting to start: trying and failing to pull image"
        )),
        Some(r) => Err(format!(
            "container {container:?} in pod {pod:?} is waiting to start: {r}"
        )),
        None => Err(format!(
            "container {container:?} in pod {pod:?} is waiting to start - no logs yet"
        )),
    }
}

/// Where a container instance of a pod is: its sandbox and its log file.
pub struct Located {
    /// The sandbox it runs in.
    pub sandbox_id: String,
    /// The runtime's id (without the `runtime://` prefix).
    pub container_id: String,
    /// Its log file.
    pub log_path: PathBuf,
}

/// Finds a container instance of the pod with `uid` in the runtime.
pub async fn locate(server: &NodeServer, uid: &str, container_id: &str) -> Option<Located> {
    let id = container_id
        .split_once("://")
        .map_or(container_id, |(_, id)| id);
    let sandboxes = server.runtime.list_pod_sandboxes().await.ok()?;
    for s in sandboxes.into_iter().filter(|s| s.uid == uid) {
        let Ok(containers) = server.runtime.list_containers(&s.id).await else {
            continue;
        };
        if let Some(c) = containers.into_iter().find(|c| c.id == id) {
            return Some(Located {
                sandbox_id: s.id.clone(),
                container_id: c.id.clone(),
                log_path: PathBuf::from(&s.log_directory)
                    .join(&c.name)
                    .join(format!("{}.log", c.attempt)),
            });
        }
    }
    None
}

/// Whether a container instance still runs.
pub async fn is_running(server: &NodeServer, sandbox_id: &str, container_id: &str) -> bool {
    match server.runtime.list_containers(sandbox_id).await {
        Ok(cs) => cs
            .iter()
            .any(|c| c.id == container_id && matches!(c.state, ContainerState::Running { .. })),
        Err(_) => false,
    }
}

/// The pod bound to this node with that namespace and name.
pub async fn bound_pod(server: &NodeServer, ns: &str, name: &str) -> Result<Pod, Response<Body>> {
    let api: Api<Pod> = Api::namespaced(server.client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(p))
            if p.spec.as_ref().and_then(|s| s.node_name.as_deref())
                == Some(server.node_name.as_str()) =>
        {
            Ok(p)
        }
        Ok(_) => Err(text_error(
            StatusCode::NOT_FOUND,
            format!("pod {name:?} does not exist"),
        )),
        Err(e) => Err(text_error(StatusCode::INTERNAL_SERVER_ERROR, e)),
    }
}

/// Whether the pod's spec has a container (of any kind) with that name.
pub fn has_container(pod: &Pod, container: &str) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.containers.iter().any(|c| c.name == container)
        || spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| c.name == container)
        || spec
            .ephemeral_containers
            .iter()
            .flatten()
            .any(|c| c.name == container)
}

/// Serves `/containerLogs/{ns}/{pod}/{container}`.
pub async fn container_logs(
    server: &std::sync::Arc<NodeServer>,
    ns: &str,
    name: &str,
    container: &str,
    q: &BTreeMap<String, Vec<String>>,
) -> Response<Body> {
    let pod = match bound_pod(server, ns, name).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    if !has_container(&pod, container) {
        return text_error(
            StatusCode::NOT_FOUND,
            format!("container {container:?} not found in pod {name:?}"),
        );
    }
    let (options, previous) = match parse_options(q, Timestamp::now()) {
        Ok(o) => o,
        Err(e) => return text_error(StatusCode::BAD_REQUEST, e),
    };
    let status = pod.status.clone().unwrap_or_default();
    let id = match log_container_id(&status, name, container, previous) {
        Ok(id) => id,
        Err(e) => return text_error(StatusCode::BAD_REQUEST, e),
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let Some(found) = locate(server, &uid, &id).await else {
        return text_error(
            StatusCode::BAD_REQUEST,
            format!("container {container:?} in pod {name:?} is not available"),
        );
    };
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let reader_server = server.clone();
    tokio::spawn(async move {
        let Located {
            sandbox_id,
            container_id,
            log_path,
        } = found;
        let srv = reader_server;
        let running = || {
            let srv = srv.clone();
            let (s, c) = (sandbox_id.clone(), container_id.clone());
            async move { is_running(&srv, &s, &c).await }
        };
        if let Err(e) = logs::read(&log_path, options, tx, running).await {
            debug!(path = %log_path.display(), error = %e, "reading a container log failed");
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(Frame::data(chunk)), rx))
    })
    .boxed();
    let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState as State, ContainerStateRunning, ContainerStateTerminated,
        ContainerStateWaiting, ContainerStatus,
    };

    fn status(state: State, last: Option<&str>) -> PodStatus {
        PodStatus {
            container_statuses: Some(vec![ContainerStatus {
                name: "main".into(),
                container_id: Some("sim://now".into()),
                state: Some(state),
                last_state: last.map(|id| State {
                    terminated: Some(ContainerStateTerminated {
                        container_id: Some(id.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    fn running() -> State {
        State {
            running: Some(ContainerStateRunning::default()),
            ..Default::default()
        }
    }

    #[test]
    fn a_running_container_logs_itself_and_previous_logs_the_last_terminated_one() {
        let s = status(running(), Some("sim://before"));
        assert_eq!(
            log_container_id(&s, "p", "main", false).unwrap(),
            "sim://now"
        );
        assert_eq!(
            log_container_id(&s, "p", "main", true).unwrap(),
            "sim://before"
        );
        let s = status(running(), None);
        assert_eq!(
            log_container_id(&s, "p", "main", true).unwrap_err(),
            "previous terminated container \"main\" in pod \"p\" not found"
        );
    }

    #[test]
    fn a_waiting_container_has_no_logs_yet() {
        let waiting = State {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ContainerCreating".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            log_container_id(&status(waiting, None), "p", "main", false).unwrap_err(),
            "container \"main\" in pod \"p\" is waiting to start: ContainerCreating"
        );
        assert_eq!(
            log_container_id(&PodStatus::default(), "p", "main", false).unwrap_err(),
            "container \"main\" in pod \"p\" is not available"
        );
    }

    #[test]
    fn log_options_validate_as_upstream() {
        let q = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<String>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                .collect()
        };
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let (o, previous) = parse_options(
            &q(&[
                ("tailLines", "3"),
                ("sinceSeconds", "60"),
                ("follow", "true"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(o.tail_lines, Some(3));
        assert_eq!(o.since, Some("2026-01-01T00:00:00Z".parse().unwrap()));
        assert!(o.follow && !previous);
        assert!(parse_options(&q(&[("tailLines", "-1")]), now).is_err());
        assert!(parse_options(&q(&[("limitBytes", "0")]), now).is_err());
        assert_eq!(
            parse_options(
                &q(&[("sinceSeconds", "1"), ("sinceTime", "2026-01-01T00:00:00Z")]),
                now
            )
            .unwrap_err(),
            "at most one of `sinceTime` or `sinceSeconds` may be specified"
        );
    }
}
