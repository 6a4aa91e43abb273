//! Pods: defaulting, the `Pending` status of a new pod, selectable fields, and validation of
//! the parts kubectl users hit most often.

use serde_json::{Value, json};

use super::{NameRule, Strategy, defaults, invalid, required, set_default, str_at};
use crate::status::StatusCause;

/// The pod strategy.
pub static POD: PodStrategy = PodStrategy;

/// See [`POD`].
pub struct PodStrategy;

impl Strategy for PodStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }

    fn default(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
            defaults::pod_spec(spec);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let qos = qos_class(obj);
        obj["status"] = json!({"phase": "Pending", "qosClass": qos});
    }

    fn prepare_for_update(&self, obj: &mut Value, old: &Value) {
        // Status is only written through pods/status.
        obj["status"] = old.get("status").cloned().unwrap_or(Value::Null);
    }

    fn validate(&self, obj: &Value) -> Vec<StatusCause> {
        let mut causes = Vec::new();
        let containers = obj.pointer("/spec/containers").and_then(Value::as_array);
        match containers {
            None => causes.push(required("spec.containers")),
            Some(cs) if cs.is_empty() => causes.push(required("spec.containers")),
            Some(cs) => {
                let mut seen = std::collections::HashSet::new();
                for (i, c) in cs.iter().enumerate() {
                    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                    if name.is_empty() {
                        causes.push(required(&format!("spec.containers[{i}].name")));
                    } else if !seen.insert(name) {
                        causes.push(super::cause(
                            "FieldValueDuplicate",
                            &format!("spec.containers[{i}].name"),
                            format!("Duplicate value: {name:?}"),
                        ));
                    }
                    if c.get("image")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
                    {
                        causes.push(required(&format!("spec.containers[{i}].image")));
                    }
                }
            }
        }
        if let Some(rp) = str_at(obj, "spec.restartPolicy")
            && !["Always", "OnFailure", "Never"].contains(&rp)
        {
            causes.push(super::cause(
                    "FieldValueNotSupported",
                    "spec.restartPolicy",
                    format!(
                        "Unsupported value: {rp:?}: supported values: \"Always\", \"OnFailure\", \"Never\""
                    ),
                ));
        }
        causes
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<StatusCause> {
        let mut causes = self.validate(obj);
        // Upstream allows only image, activeDeadlineSeconds, tolerations (additions) and
        // terminationGracePeriodSeconds changes of a pod's spec.
        let strip = |spec: Option<&Value>| {
            let mut s = spec.cloned().unwrap_or(Value::Null);
            for list in ["containers", "initContainers"] {
                if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
                    for c in cs {
                        if let Some(m) = c.as_object_mut() {
                            m.remove("image");
                        }
                    }
                }
            }
            if let Some(m) = s.as_object_mut() {
                m.remove("activeDeadlineSeconds");
                m.remove("tolerations");
                m.remove("terminationGracePeriodSeconds");
                m.remove("schedulingGates");
            }
            s
        };
        if strip(obj.get("spec")) != strip(old.get("spec")) {
            causes.push(super::cause(
                "FieldValueForbidden",
                "spec",
                "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
            ));
        }
        if let (Some(n), Some(o)) = (str_at(obj, "spec.nodeName"), str_at(old, "spec.nodeName"))
            && n != o
        {
            causes.push(invalid("spec.nodeName", &json!(n), "field is immutable"));
        }
        causes
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "spec.hostNetwork" => Some(
                obj.pointer("/spec/hostNetwork")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string(),
            ),
            "status.podIPs" => Some(
                obj.pointer("/status/podIPs/0/ip")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            f => Some(str_at(obj, f).unwrap_or("").to_string()),
        }
    }
}

/// The pod's QoS class from its containers' requests and limits, as upstream computes it.
pub fn qos_class(pod: &Value) -> &'static str {
    let mut containers: Vec<&Value> = Vec::new();
    for list in ["containers", "initContainers"] {
        if let Some(cs) = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
        {
            containers.extend(cs.iter());
        }
    }
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        for res in ["cpu", "memory"] {
            let r = requests.and_then(|m| m.get(res));
            let l = limits.and_then(|m| m.get(res));
            if r.is_some() || l.is_some() {
                any = true;
            }
            match (r, l) {
                (_, None) => guaranteed = false,
                (Some(r), Some(l)) if r != l => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Adds the service-account defaults a pod gets at admission (`serviceAccountName`, the
/// `kube-api-access-*` projected token volume and its mounts) and the default
/// not-ready/unreachable tolerations (DefaultTolerationSeconds, 300 s).
pub fn admit(pod: &mut Value, suffix: &str) {
    let Some(spec) = pod.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    let sa = set_default(spec, "serviceAccountName", json!("default")).clone();
    set_default(spec, "serviceAccount", sa);
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        != Some(false);
    let mount_path = "/var/run/secrets/kubernetes.io/serviceaccount";
    let already_mounted = spec
        .get("containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter().any(|c| {
                c.get("volumeMounts")
                    .and_then(Value::as_array)
                    .is_some_and(|ms| {
                        ms.iter()
                            .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(mount_path))
                    })
            })
        })
        .unwrap_or(false);
    if automount && !already_mounted {
        let name = format!("kube-api-access-{suffix}");
        let vol = json!({
            "name": name,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]
            }
        });
        let vols = set_default(spec, "volumes", json!([]));
        if let Some(v) = vols.as_array_mut() {
            v.push(vol);
        }
        for list in ["containers", "initContainers"] {
            if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs {
                    let mounts = set_default(c, "volumeMounts", json!([]));
                    if let Some(m) = mounts.as_array_mut() {
                        m.push(json!({"name": name, "readOnly": true, "mountPath": mount_path}));
                    }
                }
            }
        }
    }
    let tolerations = set_default(spec, "tolerations", json!([]));
    if let Some(list) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let covered = list.iter().any(|t| {
                let k = t.get("key").and_then(Value::as_str);
                let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
                let op = t.get("operator").and_then(Value::as_str).unwrap_or("Equal");
                (k == Some(key) || (k.is_none() && op == "Exists"))
                    && (effect.is_empty() || effect == "NoExecute")
            });
            if !covered {
                list.push(json!({
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300
                }));
            }
        }
    }
    let priority = set_default(spec, "priority", json!(0));
    let _ = priority;
}
