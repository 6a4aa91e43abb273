//! `pods/log` and the streaming pod subresources (`exec`, `attach`, `portforward`): the
//! container defaulted and checked as upstream's `LogLocation` / `streamLocation` do, the
//! options turned into the kubelet's query, then the kubelet's answer streamed (logs) or the
//! upgraded connection spliced through (streams).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tracing::debug;

use super::{kubelet_endpoint, kubelet_error, stream_body};
use crate::Apiserver;
use crate::http::{Body, full};
use crate::status::ApiError;

fn names(pod: &Value, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
        .collect()
}

/// The container a request is for: the one named, or the pod's only container, else the
/// upstream error listing the choices.
pub fn pick_container(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    match asked.filter(|c| !c.is_empty()) {
        Some(c) => {
            if containers
                .iter()
                .chain(&init)
                .chain(&ephemeral)
                .any(|n| n == c)
            {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            _ => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                );
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        },
    }
}

/// The raw `key=value` pairs of a query (still percent-encoded), in order.
fn raw_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The `ports` of a `PodPortForwardOptions` query, each parameter a port or a comma-separated
/// list of them (upstream's `Convert_Slice_string_To_Slice_int32`); the kubelet gets them as
/// one `port` parameter.
fn forwarded_ports(pairs: &[(String, String)]) -> Result<Vec<String>, ApiError> {
    let mut ports = Vec::new();
    for (_, value) in pairs.iter().filter(|(k, _)| k == "ports") {
        for p in crate::request::decode(value).split(',') {
            let port: u16 = p.parse().map_err(|e| {
                ApiError::bad_request(format!("cannot convert to []int32: parsing {p:?}: {e}"))
            })?;
            ports.push(port.to_string());
        }
    }
    Ok(ports)
}

fn is_true(v: &str) -> bool {
    matches!(v, "true" | "1" | "True")
}

async fn pod(state: &Arc<Apiserver>, ns: &str, name: &str) -> Result<Value, ApiError> {
    let r = state
        .objects
        .registry
        .lookup("", "v1", "pods")
        .ok_or_else(ApiError::path_not_found)?;
    Ok(state.objects.current(r, ns, name).await?.0)
}

/// `GET pods/{name}/log`.
pub async fn log(
    state: &Arc<Apiserver>,
    ns: &str,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let pod = pod(state, ns, name).await?;
    let pairs = raw_pairs(req.uri().query());
    let q = crate::request::query(req.uri().query());
    if let (Some(_), Some(_)) = (q.get("sinceSeconds"), q.get("sinceTime")) {
        return Err(ApiError::bad_request(
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    }
    let container = pick_container(&pod, name, q.get("container").map(String::as_str))?;
    let Some(node) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        // Not scheduled: no logs, as upstream (an empty stream).
        let mut resp = Response::new(full(Bytes::new()));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return Ok(resp);
    };
    let (host, port) = kubelet_endpoint(state, node).await?;
    let forwarded: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| match k.as_str() {
            "follow" | "previous" | "timestamps" => is_true(v),
            "sinceSeconds" | "sinceTime" | "tailLines" | "limitBytes" => true,
            _ => false,
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let target = format!(
        "/containerLogs/{}/{}/{}?{}",
        encode(ns),
        encode(name),
        encode(&container),
        forwarded.join("&")
    );
    let upstream = Request::get(target)
        .body(Empty::<Bytes>::new())
        .map_err(ApiError::internal)?;
    let resp = state.kubelet.send(&host, port, upstream).await?;
    if !resp.status().is_success() {
        return Err(kubelet_error(resp).await);
    }
    Ok(stream_body(resp))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `pods/{name}/exec`, `attach` and `portforward`: the upgrade request passed to the kubelet
/// and, when it switches protocols, both connections joined.
pub async fn stream(
    state: &Arc<Apiserver>,
    ns: &str,
    name: &str,
    sub: &str,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let pod = pod(state, ns, name).await?;
    let pairs = raw_pairs(req.uri().query());
    let q = crate::request::query(req.uri().query());
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("pod {name} does not have a host assigned")))?
        .to_string();
    if let Some(phase @ ("Succeeded" | "Failed")) =
        pod.pointer("/status/phase").and_then(Value::as_str)
    {
        return Err(ApiError::bad_request(format!(
            "cannot {sub} into a container in a completed pod; current phase is {phase}"
        )));
    }
    let target = if sub == "portforward" {
        let ports = forwarded_ports(&pairs)?;
        let query = if ports.is_empty() {
            String::new()
        } else {
            format!("?port={}", ports.join(","))
        };
        format!("/portForward/{}/{}{query}", encode(ns), encode(name))
    } else {
        let container = pick_container(&pod, name, q.get("container").map(String::as_str))?;
        let mut params: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for (flag, param) in [
            ("stdin", "input"),
            ("stdout", "output"),
            ("stderr", "error"),
            ("tty", "tty"),
        ] {
            if q.get(flag).is_some_and(|v| is_true(v)) {
                params.push(format!("{param}=1"));
            }
        }
        let kubelet_path = if sub == "exec" { "exec" } else { "attach" };
        format!(
            "/{kubelet_path}/{}/{}/{}?{}",
            encode(ns),
            encode(name),
            encode(&container),
            params.join("&")
        )
    };
    let (host, port) = kubelet_endpoint(state, &node).await?;
    let mut upstream = Request::builder()
        .method(req.method().clone())
        .uri(target)
        .body(Empty::<Bytes>::new())
        .map_err(ApiError::internal)?;
    for (k, v) in req.headers() {
        let k = k.as_str();
        if k.starts_with("sec-websocket-")
            || matches!(k, "upgrade" | "connection" | "x-stream-protocol-version")
        {
            upstream.headers_mut().append(
                http::HeaderName::from_bytes(k.as_bytes()).map_err(ApiError::internal)?,
                v.clone(),
            );
        }
    }
    let mut resp = state.kubelet.send(&host, port, upstream).await?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        if resp.status().is_success() {
            return Ok(stream_body(resp));
        }
        return Err(kubelet_error(resp).await);
    }
    let mut out = Response::new(full(Bytes::new()));
    *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (k, v) in resp.headers() {
        out.headers_mut().append(k.clone(), v.clone());
    }
    let client_side = hyper::upgrade::on(&mut req);
    let kubelet_side = hyper::upgrade::on(&mut resp);
    tokio::spawn(async move {
        let (client, kubelet) = match (client_side.await, kubelet_side.await) {
            (Ok(c), Ok(k)) => (c, k),
            (Err(e), _) | (_, Err(e)) => {
                debug!(error = %e, "upgrading a proxied stream failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut kubelet = TokioIo::new(kubelet);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut kubelet).await;
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_only_container_is_the_default_and_several_must_be_chosen_from() {
        let one = serde_json::json!({"spec": {"containers": [{"name": "main"}]}});
        assert_eq!(pick_container(&one, "p", None).unwrap(), "main");
        let two = serde_json::json!({"spec": {
            "initContainers": [{"name": "setup"}],
            "containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(
            pick_container(&two, "p", None).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [setup]"
        );
        assert_eq!(pick_container(&two, "p", Some("setup")).unwrap(), "setup");
        assert_eq!(
            pick_container(&two, "p", Some("c")).unwrap_err().message,
            "container c is not valid for pod p"
        );
    }

    #[test]
    fn forwarded_ports_join_repeated_and_comma_separated_parameters() {
        let pairs = raw_pairs(Some("ports=80%2C8080&ports=443&follow=true"));
        assert_eq!(forwarded_ports(&pairs).unwrap(), ["80", "8080", "443"]);
        let bad = raw_pairs(Some("ports=http"));
        assert_eq!(forwarded_ports(&bad).unwrap_err().code, 400);
    }
}
