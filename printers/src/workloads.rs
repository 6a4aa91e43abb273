//! Printers for workload controllers and their companions: ReplicationController, Deployment,
//! ReplicaSet, StatefulSet, DaemonSet, ControllerRevision, Job, CronJob, HorizontalPodAutoscaler,
//! PodDisruptionBudget and Scale.

use jiff::Timestamp;
use serde_json::Value;

use crate::descriptions as d;
use crate::format::{
    age, at, container_cells, creation_age, format_label_selector, format_labels, human_duration,
    int, int_or_string, is_deleting, label_selector_string, list, name, opt_text, print_bool_ptr,
    quantity_ptr, text, timestamp,
};
use crate::{AGE, CONTAINERS, Column, IMAGES, NAME, TablePrinter, col, wide};

/// `spec.replicas`, which the API server defaults to 1.
fn replicas(obj: &Value) -> i64 {
    at(obj, &["spec", "replicas"]).as_i64().unwrap_or(1)
}

/// Container names and images of `spec.template`.
fn template_containers(obj: &Value) -> (Value, Value) {
    let (names, images) = container_cells(list(obj, &["spec", "template", "spec", "containers"]));
    (Value::from(names), Value::from(images))
}

// ---------------------------------------------------------------- ReplicationController

static REPLICATION_CONTROLLER_COLUMNS: [Column; 8] = [
    NAME,
    col("Desired", "integer", d::RC_SPEC_REPLICAS),
    col("Current", "integer", d::RC_STATUS_REPLICAS),
    col("Ready", "integer", d::RC_STATUS_READY_REPLICAS),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::RC_SPEC_SELECTOR),
];

/// Prints core/v1 ReplicationControllers.
pub(crate) static REPLICATION_CONTROLLER: TablePrinter =
    TablePrinter::new(&REPLICATION_CONTROLLER_COLUMNS, |rc, now| {
        let (names, images) = template_containers(rc);
        vec![
            Value::from(name(rc)),
            Value::from(replicas(rc)),
            Value::from(int(rc, &["status", "replicas"])),
            Value::from(int(rc, &["status", "readyReplicas"])),
            creation_age(rc, now),
            names,
            images,
            Value::from(format_labels(at(rc, &["spec", "selector"]))),
        ]
    });

// ---------------------------------------------------------------- Deployment

static DEPLOYMENT_COLUMNS: [Column; 8] = [
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col("Up-to-date", "string", d::DEPLOY_STATUS_UPDATED),
    col("Available", "string", d::DEPLOY_STATUS_AVAILABLE),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::DEPLOY_SPEC_SELECTOR),
];

/// Prints apps/v1 Deployments.
pub(crate) static DEPLOYMENT: TablePrinter =
    TablePrinter::new(&DEPLOYMENT_COLUMNS, |deploy, now| {
        let (names, images) = template_containers(deploy);
        let selector = label_selector_string(at(deploy, &["spec", "selector"]))
            .unwrap_or_else(|()| "<invalid>".to_string());
        vec![
            Value::from(name(deploy)),
            Value::from(format!(
                "{}/{}",
                int(deploy, &["status", "readyReplicas"]),
                replicas(deploy)
            )),
            Value::from(int(deploy, &["status", "updatedReplicas"])),
            Value::from(int(deploy, &["status", "availableReplicas"])),
            creation_age(deploy, now),
            names,
            images,
            Value::from(selector),
        ]
    });

// ---------------------------------------------------------------- ReplicaSet

static REPLICA_SET_COLUMNS: [Column; 8] = [
    NAME,
    col("Desired", "integer", d::RS_SPEC_REPLICAS),
    col("Current", "integer", d::RS_STATUS_REPLICAS),
    col("Ready", "integer", d::RS_STATUS_READY_REPLICAS),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::RS_SPEC_SELECTOR),
];

/// Prints apps/v1 ReplicaSets.
pub(crate) static REPLICA_SET: TablePrinter = TablePrinter::new(&REPLICA_SET_COLUMNS, |rs, now| {
    let (names, images) = template_containers(rs);
    vec![
        Value::from(name(rs)),
        Value::from(replicas(rs)),
        Value::from(int(rs, &["status", "replicas"])),
        Value::from(int(rs, &["status", "readyReplicas"])),
        creation_age(rs, now),
        names,
        images,
        Value::from(format_label_selector(at(rs, &["spec", "selector"]))),
    ]
});

// ---------------------------------------------------------------- StatefulSet

static STATEFUL_SET_COLUMNS: [Column; 5] = [
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

/// Prints apps/v1 StatefulSets.
pub(crate) static STATEFUL_SET: TablePrinter =
    TablePrinter::new(&STATEFUL_SET_COLUMNS, |sts, now| {
        let (names, images) = template_containers(sts);
        vec![
            Value::from(name(sts)),
            Value::from(format!(
                "{}/{}",
                int(sts, &["status", "readyReplicas"]),
                replicas(sts)
            )),
            creation_age(sts, now),
            names,
            images,
        ]
    });

// ---------------------------------------------------------------- DaemonSet

static DAEMON_SET_COLUMNS: [Column; 11] = [
    NAME,
    col("Desired", "integer", d::DS_STATUS_DESIRED),
    col("Current", "integer", d::DS_STATUS_CURRENT),
    col("Ready", "integer", d::DS_STATUS_READY),
    col("Up-to-date", "integer", d::DS_STATUS_UPDATED),
    col("Available", "integer", d::DS_STATUS_AVAILABLE),
    col("Node Selector", "string", d::POD_SPEC_NODE_SELECTOR),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::DS_SPEC_SELECTOR),
];

/// Prints apps/v1 DaemonSets.
pub(crate) static DAEMON_SET: TablePrinter = TablePrinter::new(&DAEMON_SET_COLUMNS, |ds, now| {
    let (names, images) = template_containers(ds);
    vec![
        Value::from(name(ds)),
        Value::from(int(ds, &["status", "desiredNumberScheduled"])),
        Value::from(int(ds, &["status", "currentNumberScheduled"])),
        Value::from(int(ds, &["status", "numberReady"])),
        Value::from(int(ds, &["status", "updatedNumberScheduled"])),
        Value::from(int(ds, &["status", "numberAvailable"])),
        Value::from(format_labels(at(
            ds,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        creation_age(ds, now),
        names,
        images,
        Value::from(format_label_selector(at(ds, &["spec", "selector"]))),
    ]
});

// ---------------------------------------------------------------- ControllerRevision

static CONTROLLER_REVISION_COLUMNS: [Column; 4] = [
    NAME,
    col("Controller", "string", "Controller of the object"),
    col("Revision", "string", d::CONTROLLER_REVISION_REVISION),
    AGE,
];

/// Prints apps/v1 ControllerRevisions: CONTROLLER is `kind.group/name` of the controlling owner.
pub(crate) static CONTROLLER_REVISION: TablePrinter =
    TablePrinter::new(&CONTROLLER_REVISION_COLUMNS, |rev, now| {
        let controller = list(rev, &["metadata", "ownerReferences"])
            .iter()
            .find(|o| at(o, &["controller"]).as_bool() == Some(true))
            .map_or_else(
                || "<none>".to_string(),
                |owner| {
                    let api_version = text(owner, &["apiVersion"]);
                    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
                    let kind = text(owner, &["kind"]);
                    let owner_name = text(owner, &["name"]);
                    let group_kind = if group.is_empty() {
                        kind.to_string()
                    } else {
                        format!("{kind}.{group}")
                    };
                    if group_kind.is_empty() {
                        owner_name.to_string()
                    } else {
                        format!("{}/{owner_name}", group_kind.to_lowercase())
                    }
                },
            );
        vec![
            Value::from(name(rev)),
            Value::from(controller),
            Value::from(int(rev, &["revision"])),
            creation_age(rev, now),
        ]
    });

// ---------------------------------------------------------------- Job

static JOB_COLUMNS: [Column; 8] = [
    NAME,
    col("Status", "string", "Status of the job."),
    col("Completions", "string", d::JOB_STATUS_SUCCEEDED),
    col("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::JOB_SPEC_SELECTOR),
];

/// Prints batch/v1 Jobs.
pub(crate) static JOB: TablePrinter = TablePrinter::new(&JOB_COLUMNS, job_cells);

/// The status of the first condition of `type_`, as `hasJobCondition` reads it.
fn job_condition(job: &Value, type_: &str) -> bool {
    list(job, &["status", "conditions"])
        .iter()
        .find(|c| text(c, &["type"]) == type_)
        .is_some_and(|c| text(c, &["status"]) == "True")
}

fn job_status(job: &Value) -> &'static str {
    if job_condition(job, "Complete") {
        "Complete"
    } else if job_condition(job, "Failed") {
        "Failed"
    } else if is_deleting(job) {
        "Terminating"
    } else if job_condition(job, "Suspended") {
        "Suspended"
    } else if job_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn job_cells(job: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int(job, &["status", "succeeded"]);
    let completions = match at(job, &["spec", "completions"]).as_i64() {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = int(job, &["spec", "parallelism"]);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = timestamp(at(job, &["status", "startTime"]));
    let completion = timestamp(at(job, &["status", "completionTime"]));
    let duration = match (start, completion) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.duration_since(start).as_nanos()),
        (Some(start), Some(end)) => human_duration(end.duration_since(start).as_nanos()),
    };
    let (names, images) = template_containers(job);
    vec![
        Value::from(name(job)),
        Value::from(job_status(job)),
        Value::from(completions),
        Value::from(duration),
        creation_age(job, now),
        names,
        images,
        Value::from(format_label_selector(at(job, &["spec", "selector"]))),
    ]
}

// ---------------------------------------------------------------- CronJob

static CRON_JOB_COLUMNS: [Column; 10] = [
    NAME,
    col("Schedule", "string", d::CRONJOB_SPEC_SCHEDULE),
    col("Timezone", "string", d::CRONJOB_SPEC_TIME_ZONE),
    col("Suspend", "boolean", d::CRONJOB_SPEC_SUSPEND),
    col("Active", "integer", d::CRONJOB_STATUS_ACTIVE),
    col("Last Schedule", "string", d::CRONJOB_STATUS_LAST_SCHEDULE),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", d::JOB_SPEC_SELECTOR),
];

/// Prints batch/v1 CronJobs.
pub(crate) static CRON_JOB: TablePrinter = TablePrinter::new(&CRON_JOB_COLUMNS, |cj, now| {
    let last_schedule = at(cj, &["status", "lastScheduleTime"]);
    let last_schedule = if last_schedule.is_null() {
        "<none>".to_string()
    } else {
        age(last_schedule, now)
    };
    let job_spec = at(cj, &["spec", "jobTemplate", "spec"]);
    let (names, images) = container_cells(list(job_spec, &["template", "spec", "containers"]));
    vec![
        Value::from(name(cj)),
        Value::from(text(cj, &["spec", "schedule"])),
        Value::from(opt_text(cj, &["spec", "timeZone"]).unwrap_or("<none>")),
        Value::from(print_bool_ptr(at(cj, &["spec", "suspend"]))),
        Value::from(list(cj, &["status", "active"]).len() as i64),
        Value::from(last_schedule),
        creation_age(cj, now),
        Value::from(names),
        Value::from(images),
        Value::from(format_label_selector(at(job_spec, &["selector"]))),
    ]
});

// ---------------------------------------------------------------- HorizontalPodAutoscaler

static HPA_COLUMNS: [Column; 7] = [
    NAME,
    col("Reference", "string", d::HPA_SPEC_SCALE_TARGET_REF),
    col("Targets", "string", d::HPA_SPEC_METRICS),
    col("MinPods", "string", d::HPA_SPEC_MIN_REPLICAS),
    col("MaxPods", "string", d::HPA_SPEC_MAX_REPLICAS),
    col("Replicas", "string", d::HPA_STATUS_CURRENT_REPLICAS),
    AGE,
];

/// Prints autoscaling HorizontalPodAutoscalers (v2 shape; a v1 object's CPU target is mapped).
pub(crate) static HORIZONTAL_POD_AUTOSCALER: TablePrinter =
    TablePrinter::new(&HPA_COLUMNS, |hpa, now| {
        let target = at(hpa, &["spec", "scaleTargetRef"]);
        let min_pods = at(hpa, &["spec", "minReplicas"])
            .as_i64()
            .map_or_else(|| "<unset>".to_string(), |m| m.to_string());
        vec![
            Value::from(name(hpa)),
            Value::from(format!(
                "{}/{}",
                text(target, &["kind"]),
                text(target, &["name"])
            )),
            Value::from(hpa_metrics(hpa)),
            Value::from(min_pods),
            Value::from(int(hpa, &["spec", "maxReplicas"])),
            Value::from(int(hpa, &["status", "currentReplicas"])),
            creation_age(hpa, now),
        ]
    });

/// `(specs, statuses)` in the autoscaling/v2 shape, converting a v1 object's CPU fields.
fn hpa_metric_lists(hpa: &Value) -> (Vec<Value>, Vec<Value>) {
    let specs = list(hpa, &["spec", "metrics"]);
    if !specs.is_empty() {
        return (
            specs.to_vec(),
            list(hpa, &["status", "currentMetrics"]).to_vec(),
        );
    }
    let Some(target) = at(hpa, &["spec", "targetCPUUtilizationPercentage"]).as_i64() else {
        return (Vec::new(), Vec::new());
    };
    let spec = serde_json::json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": target}}});
    let status = match at(hpa, &["status", "currentCPUUtilizationPercentage"]).as_i64() {
        Some(current) => vec![
            serde_json::json!({"type": "Resource", "resource": {"name": "cpu",
            "current": {"averageUtilization": current}}}),
        ],
        None => Vec::new(),
    };
    (vec![spec], status)
}

/// `formatHPAMetrics`: `current/target` per metric, at most two, then `+ N more...`.
fn hpa_metrics(hpa: &Value) -> String {
    const MAX: usize = 2;
    let (specs, statuses) = hpa_metric_lists(hpa);
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let mut shown: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status_of =
            |field: &str| -> &Value { statuses.get(i).map_or(&Value::Null, |s| at(s, &[field])) };
        let entry = match text(spec, &["type"]) {
            "External" | "Object" => {
                let field = if text(spec, &["type"]) == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = at(spec, &[field, "target"]);
                let status = status_of(field);
                if !at(target, &["averageValue"]).is_null() {
                    let current = match at(status, &["current", "averageValue"]) {
                        Value::Null => "<unknown>".to_string(),
                        v => quantity_ptr(v),
                    };
                    format!(
                        "{current}/{} (avg)",
                        quantity_ptr(at(target, &["averageValue"]))
                    )
                } else {
                    let current = if status.is_null() {
                        "<unknown>".to_string()
                    } else {
                        quantity_ptr(at(status, &["current", "value"]))
                    };
                    format!("{current}/{}", quantity_ptr(at(target, &["value"])))
                }
            }
            "Pods" => {
                let status = status_of("pods");
                let current = if status.is_null() {
                    "<unknown>".to_string()
                } else {
                    quantity_ptr(at(status, &["current", "averageValue"]))
                };
                format!(
                    "{current}/{}",
                    quantity_ptr(at(spec, &["pods", "target", "averageValue"]))
                )
            }
            "Resource" | "ContainerResource" => {
                let field = if text(spec, &["type"]) == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let source = at(spec, &[field]);
                let target = at(source, &["target"]);
                let resource = text(source, &["name"]);
                let status = status_of(field);
                if !at(target, &["averageValue"]).is_null() {
                    let current = if status.is_null() {
                        "<unknown>".to_string()
                    } else {
                        quantity_ptr(at(status, &["current", "averageValue"]))
                    };
                    format!(
                        "{resource}: {current}/{}",
                        quantity_ptr(at(target, &["averageValue"]))
                    )
                } else {
                    let current = at(status, &["current", "averageUtilization"])
                        .as_i64()
                        .map_or_else(|| "<unknown>".to_string(), |u| format!("{u}%"));
                    let goal = at(target, &["averageUtilization"])
                        .as_i64()
                        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                    format!("{resource}: {current}/{goal}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        shown.push(entry);
    }
    let count = shown.len();
    if count > MAX {
        shown.truncate(MAX);
        format!("{} + {} more...", shown.join(", "), count - MAX)
    } else {
        shown.join(", ")
    }
}

// ---------------------------------------------------------------- PodDisruptionBudget

static POD_DISRUPTION_BUDGET_COLUMNS: [Column; 5] = [
    NAME,
    col(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    col(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    col(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

/// Prints policy/v1 PodDisruptionBudgets.
pub(crate) static POD_DISRUPTION_BUDGET: TablePrinter =
    TablePrinter::new(&POD_DISRUPTION_BUDGET_COLUMNS, |pdb, now| {
        let or_na = |v: &Value| {
            if v.is_null() {
                "N/A".to_string()
            } else {
                int_or_string(v)
            }
        };
        vec![
            Value::from(name(pdb)),
            Value::from(or_na(at(pdb, &["spec", "minAvailable"]))),
            Value::from(or_na(at(pdb, &["spec", "maxUnavailable"]))),
            Value::from(int(pdb, &["status", "disruptionsAllowed"])),
            creation_age(pdb, now),
        ]
    });

// ---------------------------------------------------------------- Scale

static SCALE_COLUMNS: [Column; 4] = [
    Column { format: "", ..NAME },
    col(
        "Desired",
        "integer",
        "replicas is the desired number of instances for the scaled object.",
    ),
    col(
        "Available",
        "integer",
        "replicas is the actual number of observed instances of the scaled object.",
    ),
    AGE,
];

/// Prints autoscaling/v1 Scale (the `/scale` subresource).
pub(crate) static SCALE: TablePrinter = TablePrinter::new(&SCALE_COLUMNS, |scale, now| {
    vec![
        Value::from(name(scale)),
        Value::from(int(scale, &["spec", "replicas"])),
        Value::from(int(scale, &["status", "replicas"])),
        creation_age(scale, now),
    ]
});
