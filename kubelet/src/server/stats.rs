//! `/stats/summary`: upstream's Summary API shape (`node` with its system containers, cpu,
//! memory, network, fs, runtime image fs and rlimit; one entry per pod with its containers),
//! filled with what the runtime reports. The `sim` runtime reports no usage: every figure is 0.

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::routes::respond;
use super::{Body, NodeServer};
use crate::logs::rfc3339_nano;
use crate::runtime::ContainerState;

fn cpu(time: &str) -> Value {
    json!({ "time": time, "usageNanoCores": 0, "usageCoreNanoSeconds": 0 })
}

fn memory(time: &str) -> Value {
    json!({
        "time": time, "usageBytes": 0, "workingSetBytes": 0, "rssBytes": 0,
        "pageFaults": 0, "majorPageFaults": 0,
    })
}

fn fs(time: &str) -> Value {
    json!({ "time": time, "availableBytes": 0, "capacityBytes": 0, "usedBytes": 0,
            "inodesFree": 0, "inodes": 0, "inodesUsed": 0 })
}

fn network(time: &str) -> Value {
    json!({ "time": time, "name": "eth0", "rxBytes": 0, "rxErrors": 0, "txBytes": 0,
            "txErrors": 0, "interfaces": [{ "name": "eth0", "rxBytes": 0, "rxErrors": 0,
            "txBytes": 0, "txErrors": 0 }] })
}

/// Ready sandboxes, and running / exited / created containers in them.
pub async fn running_counts(server: &NodeServer) -> (usize, Vec<(&'static str, usize)>) {
    let sandboxes = server
        .runtime
        .list_pod_sandboxes()
        .await
        .unwrap_or_default();
    let mut counts = [("created", 0), ("exited", 0), ("running", 0)];
    let mut pods = 0;
    for s in sandboxes.iter().filter(|s| s.ready) {
        pods += 1;
        for c in server
            .runtime
            .list_containers(&s.id)
            .await
            .unwrap_or_default()
        {
            let i = match c.state {
                ContainerState::Created => 0,
                ContainerState::Exited { .. } => 1,
                ContainerState::Running { .. } => 2,
            };
            counts[i].1 += 1;
        }
    }
    (pods, counts.to_vec())
}

/// Serves `/stats/summary`.
pub async fn summary(server: &NodeServer) -> Response<Body> {
    let now = rfc3339_nano(jiff::Timestamp::now());
    let started = rfc3339_nano(server.started_at);
    let mut pods = Vec::new();
    for s in server
        .runtime
        .list_pod_sandboxes()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.ready)
    {
        let containers: Vec<Value> = server
            .runtime
            .list_containers(&s.id)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| match c.state {
                ContainerState::Running { started_at } => Some(json!({
                    "name": c.name,
                    "startTime": rfc3339_nano(started_at),
                    "cpu": cpu(&now),
                    "memory": memory(&now),
                    "rootfs": fs(&now),
                    "logs": fs(&now),
                })),
                _ => None,
            })
            .collect();
        pods.push(json!({
            "podRef": { "name": s.name, "namespace": s.namespace, "uid": s.uid },
            "startTime": rfc3339_nano(s.created_at),
            "containers": containers,
            "cpu": cpu(&now),
            "memory": memory(&now),
            "network": network(&now),
            "volume": [],
            "ephemeral-storage": fs(&now),
            "process_stats": { "process_count": 0 },
        }));
    }
    let body = json!({
        "node": {
            "nodeName": server.node_name,
            "systemContainers": [
                { "name": "kubelet", "startTime": started, "cpu": cpu(&now), "memory": memory(&now) },
                { "name": "pods", "startTime": started, "cpu": cpu(&now), "memory": memory(&now) },
            ],
            "startTime": started,
            "cpu": cpu(&now),
            "memory": memory(&now),
            "network": network(&now),
            "fs": fs(&now),
            "runtime": { "imageFs": fs(&now), "containerFs": fs(&now) },
            "rlimit": { "time": now, "maxpid": 0, "curproc": 0 },
        },
        "pods": pods,
    });
    respond(
        StatusCode::OK,
        "application/json",
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}
