//! Resources with small rules: the default strategy, namespaces, nodes, secrets and events.

use serde_json::{Value, json};

use super::{NameRule, Strategy, set_default, str_at};

/// The strategy of resources with no special rules.
pub static DEFAULT: DefaultStrategy = DefaultStrategy;

/// See [`DEFAULT`].
pub struct DefaultStrategy;

impl Strategy for DefaultStrategy {}

/// Namespaces: the `kubernetes` finalizer, phase `Active`, the `kubernetes.io/metadata.name` label.
pub static NAMESPACE: NamespaceStrategy = NamespaceStrategy;

/// See [`NAMESPACE`].
pub struct NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }

    fn default(&self, obj: &mut Value) {
        let name = str_at(obj, "metadata.name").unwrap_or("").to_string();
        if !name.is_empty() {
            let labels = set_default(&mut obj["metadata"], "labels", json!({}));
            labels["kubernetes.io/metadata.name"] = json!(name);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
        obj["status"] = json!({"phase": "Active"});
    }

    fn prepare_for_update(&self, obj: &mut Value, old: &Value) {
        obj["spec"] = old.get("spec").cloned().unwrap_or(Value::Null);
        obj["status"] = old.get("status").cloned().unwrap_or(Value::Null);
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["status.phase"]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        Some(str_at(obj, field).unwrap_or("").to_string())
    }
}

/// Nodes: status only through nodes/status, `spec.unschedulable` selectable.
pub static NODE: NodeStrategy = NodeStrategy;

/// See [`NODE`].
pub struct NodeStrategy;

impl Strategy for NodeStrategy {
    fn prepare_for_update(&self, obj: &mut Value, old: &Value) {
        obj["status"] = old.get("status").cloned().unwrap_or(Value::Null);
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["spec.unschedulable"]
    }

    fn field_value(&self, obj: &Value, _field: &str) -> Option<String> {
        Some(
            obj.pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        )
    }
}

/// Secrets: type `Opaque` by default, `type` selectable.
pub static SECRET: SecretStrategy = SecretStrategy;

/// See [`SECRET`].
pub struct SecretStrategy;

impl Strategy for SecretStrategy {
    fn default(&self, obj: &mut Value) {
        set_default(obj, "type", json!("Opaque"));
        fold_string_data(obj);
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["type"]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        Some(str_at(obj, field).unwrap_or("").to_string())
    }
}

/// Moves the write-only `stringData` into `data` (base64), its keys winning, as upstream's
/// conversion does; `stringData` is never stored.
fn fold_string_data(obj: &mut Value) {
    use base64::Engine;
    let Some(fields) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(entries)) = fields.remove("stringData") else {
        return;
    };
    if entries.is_empty() {
        return;
    }
    let data = fields.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    if let Some(data) = data.as_object_mut() {
        for (k, v) in entries {
            let text = v.as_str().unwrap_or_default();
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

/// Core events: the involvedObject and reason fields kubectl describe selects on.
pub static EVENT: EventStrategy = EventStrategy;

/// See [`EVENT`].
pub struct EventStrategy;

impl Strategy for EventStrategy {
    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        if field == "source" {
            let component = str_at(obj, "source.component").unwrap_or("");
            let reporting = str_at(obj, "reportingComponent").unwrap_or("");
            return Some(
                if component.is_empty() {
                    reporting
                } else {
                    component
                }
                .to_string(),
            );
        }
        Some(str_at(obj, field).unwrap_or("").to_string())
    }
}

/// RBAC objects: names are path segments (`system:controller:foo` is valid).
pub static RBAC: RbacStrategy = RbacStrategy;

/// See [`RBAC`].
pub struct RbacStrategy;

impl Strategy for RbacStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
}
