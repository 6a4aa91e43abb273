//! Workloads (apps/v1 and batch/v1): defaults as upstream, status reset on create, status kept
//! on main-resource updates, required selectors that match the template, immutable selectors.

use serde_json::{Value, json};

use super::{Strategy, cause, defaults, immutable, invalid, required, set_default};
use crate::status::StatusCause;

/// Which workload a [`WorkloadStrategy`] serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// batch/v1 Job.
    Job,
    /// batch/v1 CronJob.
    CronJob,
}

/// The strategy shared by the workload resources.
pub struct WorkloadStrategy(pub Workload);

/// Deployments.
pub static DEPLOYMENT: WorkloadStrategy = WorkloadStrategy(Workload::Deployment);
/// ReplicaSets.
pub static REPLICASET: WorkloadStrategy = WorkloadStrategy(Workload::ReplicaSet);
/// StatefulSets.
pub static STATEFULSET: WorkloadStrategy = WorkloadStrategy(Workload::StatefulSet);
/// DaemonSets.
pub static DAEMONSET: WorkloadStrategy = WorkloadStrategy(Workload::DaemonSet);
/// Jobs.
pub static JOB: WorkloadStrategy = WorkloadStrategy(Workload::Job);
/// CronJobs.
pub static CRONJOB: WorkloadStrategy = WorkloadStrategy(Workload::CronJob);

impl Strategy for WorkloadStrategy {
    fn default(&self, obj: &mut Value) {
        let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
            return;
        };
        match self.0 {
            Workload::Deployment => {
                set_default(spec, "replicas", json!(1));
                let strategy = set_default(spec, "strategy", json!({}));
                let ty = set_default(strategy, "type", json!("RollingUpdate")).clone();
                if ty == "RollingUpdate" {
                    let ru = set_default(strategy, "rollingUpdate", json!({}));
                    set_default(ru, "maxUnavailable", json!("25%"));
                    set_default(ru, "maxSurge", json!("25%"));
                }
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(spec, "progressDeadlineSeconds", json!(600));
            }
            Workload::ReplicaSet => {
                set_default(spec, "replicas", json!(1));
            }
            Workload::StatefulSet => {
                set_default(spec, "replicas", json!(1));
                set_default(spec, "podManagementPolicy", json!("OrderedReady"));
                let us = set_default(spec, "updateStrategy", json!({}));
                let ty = set_default(us, "type", json!("RollingUpdate")).clone();
                if ty == "RollingUpdate" {
                    let ru = set_default(us, "rollingUpdate", json!({}));
                    set_default(ru, "partition", json!(0));
                }
                set_default(spec, "revisionHistoryLimit", json!(10));
                let policy = set_default(spec, "persistentVolumeClaimRetentionPolicy", json!({}));
                set_default(policy, "whenDeleted", json!("Retain"));
                set_default(policy, "whenScaled", json!("Retain"));
                if let Some(vcts) = spec
                    .get_mut("volumeClaimTemplates")
                    .and_then(Value::as_array_mut)
                {
                    for t in vcts {
                        set_default(t, "apiVersion", json!("v1"));
                        set_default(t, "kind", json!("PersistentVolumeClaim"));
                        if let Some(s) = t.get_mut("spec").filter(|s| s.is_object()) {
                            set_default(s, "volumeMode", json!("Filesystem"));
                        }
                        set_default(t, "status", json!({"phase": "Pending"}));
                    }
                }
            }
            Workload::DaemonSet => {
                let us = set_default(spec, "updateStrategy", json!({}));
                let ty = set_default(us, "type", json!("RollingUpdate")).clone();
                if ty == "RollingUpdate" {
                    let ru = set_default(us, "rollingUpdate", json!({}));
                    set_default(ru, "maxUnavailable", json!(1));
                    set_default(ru, "maxSurge", json!(0));
                }
                set_default(spec, "revisionHistoryLimit", json!(10));
            }
            Workload::Job => {
                let parallelism = set_default(spec, "parallelism", json!(1)).clone();
                if spec.get("completions").is_none_or(Value::is_null) && parallelism == json!(1) {
                    spec["completions"] = json!(1);
                }
                set_default(spec, "backoffLimit", json!(6));
                set_default(spec, "completionMode", json!("NonIndexed"));
                set_default(spec, "suspend", json!(false));
                set_default(spec, "manualSelector", Value::Null);
                set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            }
            Workload::CronJob => {
                set_default(spec, "concurrencyPolicy", json!("Allow"));
                set_default(spec, "suspend", json!(false));
                set_default(spec, "successfulJobsHistoryLimit", json!(3));
                set_default(spec, "failedJobsHistoryLimit", json!(1));
                if let Some(jt) = spec
                    .pointer_mut("/jobTemplate/spec")
                    .filter(|s| s.is_object())
                    && let Some(t) = jt.get_mut("template")
                {
                    defaults::pod_template(t);
                }
            }
        }
        if let Some(t) = spec.get_mut("template") {
            defaults::pod_template(t);
            if self.0 == Workload::Job
                && let Some(s) = t.get_mut("spec").filter(|s| s.is_object())
            {
                // A Job's pods never restart in place by default.
                if s.get("restartPolicy") == Some(&json!("Always")) {
                    s["restartPolicy"] = json!("Never");
                }
            }
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({});
        if self.0 == Workload::Job {
            generate_job_selector(obj);
        }
    }

    fn prepare_for_update(&self, obj: &mut Value, old: &Value) {
        obj["status"] = old.get("status").cloned().unwrap_or(json!({}));
    }

    fn validate(&self, obj: &Value) -> Vec<StatusCause> {
        let mut causes = Vec::new();
        if self.0 == Workload::CronJob {
            if obj
                .pointer("/spec/schedule")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                causes.push(required("spec.schedule"));
            }
            return causes;
        }
        if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
            && r < 0
        {
            causes.push(invalid(
                "spec.replicas",
                &json!(r),
                "must be greater than or equal to 0",
            ));
        }
        let selector = obj.pointer("/spec/selector");
        let template_labels = obj
            .pointer("/spec/template/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        match selector {
            None | Some(Value::Null) => causes.push(required("spec.selector")),
            Some(sel) => {
                let empty = sel
                    .get("matchLabels")
                    .and_then(Value::as_object)
                    .is_none_or(|m| m.is_empty())
                    && sel
                        .get("matchExpressions")
                        .and_then(Value::as_array)
                        .is_none_or(|m| m.is_empty());
                if empty {
                    causes.push(invalid(
                        "spec.selector",
                        sel,
                        "empty selector is invalid for deployment",
                    ));
                } else if !selector_matches(sel, &template_labels) {
                    causes.push(invalid(
                        "spec.template.metadata.labels",
                        &json!(template_labels),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
        if obj
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .is_none_or(|c| c.is_empty())
        {
            causes.push(required("spec.template.spec.containers"));
        }
        if (self.0 == Workload::Deployment || self.0 == Workload::ReplicaSet)
            && let Some(rp) = obj
                .pointer("/spec/template/spec/restartPolicy")
                .and_then(Value::as_str)
            && rp != "Always"
        {
            causes.push(cause(
                "FieldValueNotSupported",
                "spec.template.spec.restartPolicy",
                format!("Unsupported value: {rp:?}: supported values: \"Always\""),
            ));
        }
        causes
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<StatusCause> {
        let mut causes = self.validate(obj);
        if self.0 != Workload::CronJob {
            let new_sel = obj.pointer("/spec/selector");
            if new_sel != old.pointer("/spec/selector") {
                causes.push(immutable("spec.selector", new_sel.unwrap_or(&Value::Null)));
            }
        }
        causes
    }

    fn field_labels(&self) -> &'static [&'static str] {
        match self.0 {
            Workload::ReplicaSet => &["status.replicas"],
            Workload::Job => &["status.successful"],
            _ => &[],
        }
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let path = format!("/{}", field.replace('.', "/"));
        Some(
            obj.pointer(&path)
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .to_string(),
        )
    }
}

fn selector_matches(selector: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let labels: std::collections::BTreeMap<String, String> = labels
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect();
    match ferrokube_apimachinery::labels::Selector::from_label_selector(selector) {
        Ok(sel) => sel.matches(&labels),
        Err(_) => false,
    }
}

/// Upstream generates a Job's selector from its UID unless `manualSelector` is set.
fn generate_job_selector(obj: &mut Value) {
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    if let Some(t) = spec.get_mut("template").filter(|t| t.is_object()) {
        let meta = set_default(t, "metadata", json!({}));
        let labels = set_default(meta, "labels", json!({}));
        labels["batch.kubernetes.io/controller-uid"] = json!(uid);
        labels["batch.kubernetes.io/job-name"] = json!(name);
        labels["controller-uid"] = json!(uid);
        labels["job-name"] = json!(name);
    }
}
