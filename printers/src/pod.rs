//! The Pod printer: READY, the aggregate STATUS (init progress, container reasons, terminating),
//! RESTARTS with the time of the last restart, and the wide IP / NODE / NOMINATED NODE /
//! READINESS GATES columns, following upstream's `printPod`.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::descriptions as d;
use crate::format::{
    age_since, at, creation_age, flag, int, is_deleting, list, name, text, timestamp,
};
use crate::{AGE, Column, NAME, TablePrinter, col, wide};

static COLUMNS: [Column; 9] = [
    NAME,
    col(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide("IP", "string", d::POD_STATUS_POD_IP),
    wide("Node", "string", d::POD_SPEC_NODE_NAME),
    wide(
        "Nominated Node",
        "string",
        d::POD_STATUS_NOMINATED_NODE_NAME,
    ),
    wide("Readiness Gates", "string", d::POD_SPEC_READINESS_GATES),
];

/// Prints core/v1 Pods.
pub(crate) static POD: TablePrinter = TablePrinter {
    columns: &COLUMNS,
    cells: pod_cells,
    conditions: pod_conditions,
};

/// `Completed` row conditions for pods that succeeded or failed.
fn pod_conditions(pod: &Value) -> Vec<Value> {
    let (reason, message) = match text(pod, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return Vec::new(),
    };
    vec![json!({"type": "Completed", "status": "True", "reason": reason, "message": message})]
}

/// Keeps the later of the recorded restart time and a container's last termination.
fn note_restart(latest: &mut Option<Timestamp>, status: &Value) {
    let last = at(status, &["lastState", "terminated"]);
    if last.is_null() {
        return;
    }
    if let Some(finished) = timestamp(at(last, &["finishedAt"]))
        && latest.is_none_or(|l| l < finished)
    {
        *latest = Some(finished);
    }
}

/// `Signal:N` / `ExitCode:N` for a terminated state without a reason.
fn exit_reason(terminated: &Value) -> String {
    let signal = int(terminated, &["signal"]);
    if signal != 0 {
        format!("Signal:{signal}")
    } else {
        format!("ExitCode:{}", int(terminated, &["exitCode"]))
    }
}

fn has_condition(pod: &Value, type_: &str) -> Option<bool> {
    list(pod, &["status", "conditions"])
        .iter()
        .find(|c| text(c, &["type"]) == type_)
        .map(|c| text(c, &["status"]) == "True")
}

/// The READY, STATUS and RESTARTS cells.
pub(crate) fn pod_summary(pod: &Value, now: Timestamp) -> (String, String, String) {
    let status = at(pod, &["status"]);
    let phase = text(status, &["phase"]);
    let mut reason = phase.to_string();
    if !text(status, &["reason"]).is_empty() {
        reason = text(status, &["reason"]).to_string();
    }
    if list(status, &["conditions"])
        .iter()
        .any(|c| text(c, &["type"]) == "PodScheduled" && text(c, &["reason"]) == "SchedulingGated")
    {
        reason = "SchedulingGated".to_string();
    }

    let init_specs = list(pod, &["spec", "initContainers"]);
    let restartable: HashMap<&str, bool> = init_specs
        .iter()
        .map(|c| (text(c, &["name"]), text(c, &["restartPolicy"]) == "Always"))
        .collect();
    let is_restartable = |name: &str| restartable.get(name).copied().unwrap_or(false);

    let total =
        list(pod, &["spec", "containers"]).len() + restartable.values().filter(|r| **r).count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut restartable_restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_restartable_restart: Option<Timestamp> = None;

    let mut initializing = false;
    for (i, container) in list(status, &["initContainerStatuses"]).iter().enumerate() {
        restarts += int(container, &["restartCount"]);
        note_restart(&mut last_restart, container);
        let sidecar = is_restartable(text(container, &["name"]));
        if sidecar {
            restartable_restarts += int(container, &["restartCount"]);
            note_restart(&mut last_restartable_restart, container);
        }
        let terminated = at(container, &["state", "terminated"]);
        let waiting = at(container, &["state", "waiting"]);
        if !terminated.is_null() && int(terminated, &["exitCode"]) == 0 {
            continue;
        }
        if sidecar && flag(container, &["started"]) {
            if flag(container, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        if !terminated.is_null() {
            let why = text(terminated, &["reason"]);
            reason = if why.is_empty() {
                format!("Init:{}", exit_reason(terminated))
            } else {
                format!("Init:{why}")
            };
        } else if !waiting.is_null()
            && !text(waiting, &["reason"]).is_empty()
            && text(waiting, &["reason"]) != "PodInitializing"
        {
            reason = format!("Init:{}", text(waiting, &["reason"]));
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || has_condition(pod, "Initialized") == Some(true) {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for container in list(status, &["containerStatuses"]).iter().rev() {
            restarts += int(container, &["restartCount"]);
            note_restart(&mut last_restart, container);
            let waiting = at(container, &["state", "waiting"]);
            let terminated = at(container, &["state", "terminated"]);
            if !waiting.is_null() && !text(waiting, &["reason"]).is_empty() {
                reason = text(waiting, &["reason"]).to_string();
            } else if !terminated.is_null() && !text(terminated, &["reason"]).is_empty() {
                reason = text(terminated, &["reason"]).to_string();
            } else if !terminated.is_null() {
                reason = exit_reason(terminated);
            } else if flag(container, &["ready"]) && !at(container, &["state", "running"]).is_null()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition_true(pod, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if is_deleting(pod) && text(status, &["reason"]) == "NodeLost" {
        reason = "Unknown".to_string();
    } else if is_deleting(pod) && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_cell = match last_restart {
        Some(when) if restarts != 0 => {
            format!("{restarts} ({} ago)", age_since(when, now))
        }
        _ => restarts.to_string(),
    };
    (format!("{ready}/{total}"), reason, restarts_cell)
}

/// Whether any condition of `type_` is True (upstream's `hasPodReadyCondition` scans them all).
fn has_condition_true(pod: &Value, type_: &str) -> bool {
    list(pod, &["status", "conditions"])
        .iter()
        .any(|c| text(c, &["type"]) == type_ && text(c, &["status"]) == "True")
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let (ready, reason, restarts) = pod_summary(pod, now);
    let status = at(pod, &["status"]);
    let pod_ip = list(status, &["podIPs"])
        .first()
        .map(|ip| text(ip, &["ip"]))
        .unwrap_or_else(|| text(status, &["podIP"]));
    let gates = list(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = list(status, &["conditions"]);
        let met = gates
            .iter()
            .filter(|gate| {
                let wanted = text(gate, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| text(c, &["type"]) == wanted)
                    .is_some_and(|c| text(c, &["status"]) == "True")
            })
            .count();
        format!("{met}/{}", gates.len())
    };
    vec![
        Value::from(name(pod)),
        Value::from(ready),
        Value::from(reason),
        Value::from(restarts),
        creation_age(pod, now),
        Value::from(or_none(pod_ip)),
        Value::from(or_none(text(pod, &["spec", "nodeName"]))),
        Value::from(or_none(text(status, &["nominatedNodeName"]))),
        Value::from(readiness_gates),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Printer;

    fn now() -> Timestamp {
        "2026-01-10T12:00:00Z".parse().unwrap()
    }

    fn cells(pod: Value) -> Vec<Value> {
        POD.cells(&pod, now())
    }

    fn pod(spec: Value, status: Value) -> Value {
        json!({
            "metadata": {"name": "web-0", "creationTimestamp": "2026-01-10T11:55:00Z"},
            "spec": spec,
            "status": status,
        })
    }

    #[test]
    fn a_running_pod_shows_ready_containers_and_its_wide_columns() {
        let p = pod(
            json!({"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-1"}),
            json!({
                "phase": "Running",
                "podIP": "10.0.0.5",
                "podIPs": [{"ip": "10.0.0.5"}],
                "containerStatuses": [
                    {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                    {"name": "b", "ready": false, "restartCount": 0, "state": {"running": {}}}
                ]
            }),
        );
        assert_eq!(
            cells(p),
            vec![
                json!("web-0"),
                json!("1/2"),
                json!("Running"),
                json!("0"),
                json!("5m"),
                json!("10.0.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn a_crash_looping_container_reports_its_waiting_reason_and_last_restart() {
        let p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({
                "phase": "Running",
                "containerStatuses": [{
                    "name": "a", "ready": false, "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-10T11:55:00Z"}}
                }]
            }),
        );
        let c = cells(p);
        assert_eq!(c[1], json!("0/1"));
        assert_eq!(c[2], json!("CrashLoopBackOff"));
        assert_eq!(c[3], json!("3 (5m ago)"));
    }

    #[test]
    fn init_containers_in_progress_show_init_counts() {
        let p = pod(
            json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]}),
            json!({
                "phase": "Pending",
                "initContainerStatuses": [
                    {"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
                    {"name": "i2", "restartCount": 0, "state": {"running": {}}}
                ],
                "containerStatuses": [{"name": "a", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]
            }),
        );
        assert_eq!(cells(p)[2], json!("Init:1/2"));
    }

    #[test]
    fn failed_init_containers_report_their_reason_or_exit_code() {
        let failing = |terminated: Value| {
            pod(
                json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]}),
                json!({
                    "phase": "Pending",
                    "initContainerStatuses": [{"name": "i1", "restartCount": 2, "state": {"terminated": terminated}}]
                }),
            )
        };
        assert_eq!(
            cells(failing(json!({"exitCode": 1, "reason": "Error"})))[2],
            json!("Init:Error")
        );
        assert_eq!(
            cells(failing(json!({"exitCode": 2})))[2],
            json!("Init:ExitCode:2")
        );
        assert_eq!(
            cells(failing(json!({"exitCode": 137, "signal": 9})))[2],
            json!("Init:Signal:9")
        );
        assert_eq!(cells(failing(json!({"exitCode": 1})))[3], json!("2"));
        let waiting = pod(
            json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]}),
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
        );
        assert_eq!(cells(waiting)[2], json!("Init:ImagePullBackOff"));
    }

    #[test]
    fn a_started_sidecar_counts_towards_ready_and_total() {
        let p = pod(
            json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "a"}]}),
            json!({
                "phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 1,
                    "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-10T11:58:00Z"}}}],
                "containerStatuses": [{"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}}]
            }),
        );
        let c = cells(p);
        assert_eq!(c[1], json!("2/2"));
        assert_eq!(c[2], json!("Running"));
        assert_eq!(c[3], json!("1 (2m ago)"));
    }

    #[test]
    fn a_succeeded_pod_is_completed_with_a_row_condition() {
        let p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Succeeded", "containerStatuses": [
                {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
        );
        assert_eq!(cells(p.clone())[2], json!("Completed"));
        assert_eq!(
            POD.conditions(&p),
            vec![
                json!({"type": "Completed", "status": "True", "reason": "Succeeded",
                "message": "The pod has completed successfully."})
            ]
        );
    }

    #[test]
    fn a_completed_container_beside_a_running_one_is_running_or_not_ready() {
        let status = |ready: &str| {
            json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": ready}],
            "containerStatuses": [
                {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}
            ]})
        };
        let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(
            cells(pod(spec.clone(), status("True")))[2],
            json!("Running")
        );
        assert_eq!(cells(pod(spec, status("False")))[2], json!("NotReady"));
    }

    #[test]
    fn a_deleted_pod_is_terminating_unless_its_node_was_lost() {
        let mut p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Running"}),
        );
        p["metadata"]["deletionTimestamp"] = json!("2026-01-10T11:59:00Z");
        assert_eq!(cells(p.clone())[2], json!("Terminating"));
        p["status"]["reason"] = json!("NodeLost");
        assert_eq!(cells(p)[2], json!("Unknown"));
    }

    #[test]
    fn a_gated_pod_says_scheduling_gated() {
        let p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
        );
        assert_eq!(cells(p)[2], json!("SchedulingGated"));
    }

    #[test]
    fn readiness_gates_count_the_true_conditions() {
        let p = pod(
            json!({"containers": [{"name": "a"}], "readinessGates": [
                {"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]}),
            json!({"phase": "Running", "nominatedNodeName": "node-2", "conditions": [
                {"type": "example.com/lb", "status": "True"}]}),
        );
        let c = cells(p);
        assert_eq!(c[5], json!("<none>"));
        assert_eq!(c[7], json!("node-2"));
        assert_eq!(c[8], json!("1/2"));
    }
}
