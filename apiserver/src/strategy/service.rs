//! Services: defaulting (type, ports, traffic policies), immutable cluster IPs, and the
//! `spec.clusterIP` / `spec.type` field selectors. Allocation of cluster IPs and node ports
//! happens in [`crate::allocator`].

use serde_json::{Value, json};

use super::{NameRule, Strategy, cause, immutable, required, set_default, str_at};
use crate::status::StatusCause;

/// The service strategy.
pub static SERVICE: ServiceStrategy = ServiceStrategy;

/// See [`SERVICE`].
pub struct ServiceStrategy;

impl Strategy for ServiceStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1035Label
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
            return;
        };
        let ty = set_default(spec, "type", json!("ClusterIP"))
            .as_str()
            .unwrap_or("")
            .to_string();
        set_default(spec, "sessionAffinity", json!("None"));
        if ty != "ExternalName" {
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
        }
        if ty == "NodePort" || ty == "LoadBalancer" {
            set_default(spec, "externalTrafficPolicy", json!("Cluster"));
        }
        if ty == "LoadBalancer" {
            set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
        }
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports {
                set_default(p, "protocol", json!("TCP"));
                if let Some(port) = p.get("port").cloned() {
                    set_default(p, "targetPort", port);
                }
            }
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"loadBalancer": {}});
    }

    fn prepare_for_update(&self, obj: &mut Value, old: &Value) {
        obj["status"] = old
            .get("status")
            .cloned()
            .unwrap_or(json!({"loadBalancer": {}}));
    }

    fn validate(&self, obj: &Value) -> Vec<StatusCause> {
        let mut causes = Vec::new();
        let ty = str_at(obj, "spec.type").unwrap_or("ClusterIP");
        if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&ty) {
            causes.push(cause(
                "FieldValueNotSupported",
                "spec.type",
                format!("Unsupported value: {ty:?}: supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""),
            ));
        }
        let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
        let headless = str_at(obj, "spec.clusterIP") == Some("None");
        if ty != "ExternalName" && !headless && ports.is_none_or(|p| p.is_empty()) {
            causes.push(required("spec.ports"));
        }
        if let Some(ports) = ports {
            for (i, p) in ports.iter().enumerate() {
                match p.get("port").and_then(Value::as_i64) {
                    None => causes.push(required(&format!("spec.ports[{i}].port"))),
                    Some(n) if !(1..=65535).contains(&n) => causes.push(super::invalid(
                        &format!("spec.ports[{i}].port"),
                        &json!(n),
                        "must be between 1 and 65535, inclusive",
                    )),
                    _ => {}
                }
                if ports.len() > 1
                    && p.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
                {
                    causes.push(required(&format!("spec.ports[{i}].name")));
                }
            }
        }
        if ty == "ExternalName" && str_at(obj, "spec.externalName").unwrap_or("").is_empty() {
            causes.push(required("spec.externalName"));
        }
        causes
    }

    fn validate_update(&self, obj: &Value, old: &Value) -> Vec<StatusCause> {
        let mut causes = self.validate(obj);
        let old_ip = str_at(old, "spec.clusterIP").unwrap_or("");
        let new_ip = str_at(obj, "spec.clusterIP").unwrap_or("");
        let type_change_to_external = str_at(obj, "spec.type") == Some("ExternalName");
        if !old_ip.is_empty() && new_ip != old_ip && !type_change_to_external {
            causes.push(immutable("spec.clusterIPs[0]", &json!(new_ip)));
        }
        causes
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["spec.clusterIP", "spec.type"]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        Some(str_at(obj, field).unwrap_or("").to_string())
    }
}
