//! Cells of the apps, batch, autoscaling and policy printers for realistic objects.

use ferrokube_printers::printer_for;
use jiff::Timestamp;
use serde_json::{Value, json};

fn now() -> Timestamp {
    "2026-01-10T12:00:00Z".parse().unwrap()
}

fn cells(group: &str, kind: &str, obj: Value) -> Vec<Value> {
    let printer = printer_for(group, kind);
    let cells = printer.cells(&obj, now());
    assert_eq!(
        cells.len(),
        printer.columns().len(),
        "{kind}: one cell per column"
    );
    cells
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": "2026-01-10T11:15:00Z"})
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {
        "containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "sidecar", "image": "busybox"}]}})
}

#[test]
fn a_deployment_shows_ready_over_desired_and_its_selector() {
    let deploy = json!({
        "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    assert_eq!(
        cells("apps", "Deployment", deploy),
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("45m"),
            json!("web,sidecar"),
            json!("nginx:1.27,busybox"),
            json!("app=web"),
        ]
    );
    let columns: Vec<(&str, i32)> = printer_for("apps", "Deployment")
        .columns()
        .iter()
        .map(|c| (c.name, c.priority))
        .collect();
    assert_eq!(
        columns,
        [
            ("Name", 0),
            ("Ready", 0),
            ("Up-to-date", 0),
            ("Available", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1)
        ]
    );
}

#[test]
fn a_deployment_with_a_malformed_selector_says_invalid() {
    let deploy = json!({"metadata": meta("bad"), "spec": {"replicas": 0,
        "selector": {"matchExpressions": [{"key": "app", "operator": "Bogus"}]}, "template": template()}});
    let c = cells("apps", "Deployment", deploy);
    assert_eq!(c[1], json!("0/0"));
    assert_eq!(c[7], json!("<invalid>"));
}

#[test]
fn replica_sets_stateful_sets_and_daemon_sets_show_their_counts() {
    let rs = json!({"metadata": meta("web-5d"), "spec": {"replicas": 2, "template": template(),
        "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d"}}},
        "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(
        cells("apps", "ReplicaSet", rs),
        vec![
            json!("web-5d"),
            json!(2),
            json!(2),
            json!(1),
            json!("45m"),
            json!("web,sidecar"),
            json!("nginx:1.27,busybox"),
            json!("app=web,pod-template-hash=5d"),
        ]
    );
    let sts = json!({"metadata": meta("db"), "spec": {"replicas": 3, "template": template()},
        "status": {"readyReplicas": 3}});
    assert_eq!(
        cells("apps", "StatefulSet", sts),
        vec![
            json!("db"),
            json!("3/3"),
            json!("45m"),
            json!("web,sidecar"),
            json!("nginx:1.27,busybox")
        ]
    );
    let mut ds_template = template();
    ds_template["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    let ds = json!({"metadata": meta("agent"), "spec": {"template": ds_template,
        "selector": {"matchLabels": {"app": "agent"}}},
        "status": {"desiredNumberScheduled": 4, "currentNumberScheduled": 4, "numberReady": 3,
            "updatedNumberScheduled": 4, "numberAvailable": 3}});
    assert_eq!(
        cells("apps", "DaemonSet", ds),
        vec![
            json!("agent"),
            json!(4),
            json!(4),
            json!(3),
            json!(4),
            json!(3),
            json!("kubernetes.io/os=linux"),
            json!("45m"),
            json!("web,sidecar"),
            json!("nginx:1.27,busybox"),
            json!("app=agent"),
        ]
    );
}

#[test]
fn a_controller_revision_names_its_controller_with_kind_and_group() {
    let rev = json!({"metadata": {"name": "agent-7c9", "creationTimestamp": "2026-01-10T11:15:00Z",
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "other"},
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": true}]},
        "revision": 2});
    assert_eq!(
        cells("apps", "ControllerRevision", rev),
        vec![
            json!("agent-7c9"),
            json!("daemonset.apps/agent"),
            json!(2),
            json!("45m")
        ]
    );
    let orphan = json!({"metadata": meta("r"), "revision": 1});
    assert_eq!(
        cells("apps", "ControllerRevision", orphan)[1],
        json!("<none>")
    );
}

#[test]
fn jobs_show_status_completions_and_duration() {
    let job = |spec: Value, status: Value| json!({"metadata": meta("pi"), "spec": spec, "status": status});
    let complete = job(
        json!({"completions": 1, "template": template(), "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}}),
        json!({"succeeded": 1, "startTime": "2026-01-10T11:15:00Z", "completionTime": "2026-01-10T11:15:42Z",
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}),
    );
    assert_eq!(
        cells("batch", "Job", complete),
        vec![
            json!("pi"),
            json!("Complete"),
            json!("1/1"),
            json!("42s"),
            json!("45m"),
            json!("web,sidecar"),
            json!("nginx:1.27,busybox"),
            json!("batch.kubernetes.io/controller-uid=u1"),
        ]
    );
    let running = job(
        json!({"parallelism": 3, "template": template()}),
        json!({"succeeded": 0, "startTime": "2026-01-10T11:55:00Z"}),
    );
    let c = cells("batch", "Job", running);
    assert_eq!(
        (&c[1], &c[2], &c[3]),
        (&json!("Running"), &json!("0/1 of 3"), &json!("5m"))
    );
    let suspended = job(
        json!({"completions": 5, "template": template()}),
        json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
    );
    let c = cells("batch", "Job", suspended);
    assert_eq!(
        (&c[1], &c[2], &c[3]),
        (&json!("Suspended"), &json!("0/5"), &json!(""))
    );
    let failed = job(
        json!({"template": template()}),
        json!({"conditions": [{"type": "Failed", "status": "True"}]}),
    );
    assert_eq!(cells("batch", "Job", failed)[1], json!("Failed"));
}

#[test]
fn a_cron_job_shows_schedule_suspend_and_last_schedule() {
    let cj = json!({"metadata": meta("nightly"), "spec": {"schedule": "0 3 * * *", "suspend": false,
        "jobTemplate": {"spec": {"template": template()}}},
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": "2026-01-10T03:00:00Z"}});
    assert_eq!(
        cells("batch", "CronJob", cj),
        vec![
            json!("nightly"),
            json!("0 3 * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("9h"),
            json!("45m"),
            json!("web,sidecar"),
            json!("nginx:1.27,busybox"),
            json!("<none>"),
        ]
    );
    let zoned = json!({"metadata": meta("z"), "spec": {"schedule": "@hourly", "timeZone": "Etc/UTC", "suspend": true}});
    let c = cells("batch", "CronJob", zoned);
    assert_eq!(
        (&c[2], &c[3], &c[5]),
        (&json!("Etc/UTC"), &json!("True"), &json!("<none>"))
    );
}

#[test]
fn an_autoscaler_formats_its_metric_targets() {
    let hpa = json!({"metadata": meta("web"), "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
        "minReplicas": 2, "maxReplicas": 10,
        "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "512Mi"}}}
        ]},
    "status": {"currentReplicas": 3, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "450m"}}}
    ]}});
    assert_eq!(
        cells("autoscaling", "HorizontalPodAutoscaler", hpa),
        vec![
            json!("web"),
            json!("Deployment/web"),
            json!("cpu: 45%/80%, <unknown>/1k + 1 more..."),
            json!("2"),
            json!(10),
            json!(3),
            json!("45m"),
        ]
    );
    let v1 = json!({"metadata": meta("v1"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"},
        "maxReplicas": 4, "targetCPUUtilizationPercentage": 50}});
    let c = cells("autoscaling", "HorizontalPodAutoscaler", v1);
    assert_eq!(
        (&c[2], &c[3]),
        (&json!("cpu: <unknown>/50%"), &json!("<unset>"))
    );
    let none = json!({"metadata": meta("n"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "n"}, "maxReplicas": 1}});
    assert_eq!(
        cells("autoscaling", "HorizontalPodAutoscaler", none)[2],
        json!("<none>")
    );
}

#[test]
fn a_disruption_budget_shows_min_or_max_and_allowed_disruptions() {
    let pdb = json!({"metadata": meta("web"), "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
    assert_eq!(
        cells("policy", "PodDisruptionBudget", pdb),
        vec![
            json!("web"),
            json!("50%"),
            json!("N/A"),
            json!(1),
            json!("45m")
        ]
    );
    let max = json!({"metadata": meta("db"), "spec": {"maxUnavailable": 1}});
    let c = cells("policy", "PodDisruptionBudget", max);
    assert_eq!(
        (&c[1], &c[2], &c[3]),
        (&json!("N/A"), &json!("1"), &json!(0))
    );
}
