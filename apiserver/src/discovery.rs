//! Discovery documents: `/api`, `/apis`, per-group and per-group-version resource lists, and
//! the aggregated discovery (`apidiscovery.k8s.io/v2`) that kubectl asks for first.

use serde_json::{Value, json};

use crate::registry::{Registry, ResourceType};

/// The aggregated discovery media type (v2).
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the Accept header asks for aggregated discovery (v2 or v2beta1), and which.
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    for part in accept.split(',') {
        let p: Vec<&str> = part.split(';').map(str::trim).collect();
        if p.contains(&"g=apidiscovery.k8s.io") && p.contains(&"as=APIGroupDiscoveryList") {
            if p.contains(&"v=v2") {
                return Some("v2");
            }
            if p.contains(&"v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// `/api`.
pub fn legacy_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn api_group(group: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis`.
pub fn groups(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| {
            let mut v = api_group(g, &vs);
            if let Some(m) = v.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            v
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(registry: &Registry, name: &str) -> Option<Value> {
    registry
        .groups()
        .into_iter()
        .find(|(g, _)| *g == name)
        .map(|(g, vs)| api_group(g, &vs))
}

fn resource_entries(r: &ResourceType) -> Vec<Value> {
    let mut out = vec![{
        let mut v = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        v
    }];
    for sub in r.subresources {
        let (kind, group, version, verbs): (&str, Option<&str>, Option<&str>, &[&str]) = match *sub
        {
            "status" => (r.kind, None, None, &["get", "patch", "update"]),
            "scale" => (
                "Scale",
                Some("autoscaling"),
                Some("v1"),
                &["get", "patch", "update"],
            ),
            "binding" => ("Binding", None, None, &["create"]),
            "eviction" => ("Eviction", Some("policy"), Some("v1"), &["create"]),
            "token" => (
                "TokenRequest",
                Some("authentication.k8s.io"),
                Some("v1"),
                &["create"],
            ),
            "finalize" => (r.kind, None, None, &["update"]),
            "log" => ("Pod", None, None, &["get"]),
            "exec" | "attach" | "portforward" => ("PodExecOptions", None, None, &["create", "get"]),
            "proxy" => (
                "NodeProxyOptions",
                None,
                None,
                &["create", "delete", "get", "patch", "update"],
            ),
            "ephemeralcontainers" | "resize" => (r.kind, None, None, &["get", "patch", "update"]),
            _ => (r.kind, None, None, &["get"]),
        };
        let mut v = json!({
            "name": format!("{}/{sub}", r.plural),
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": kind,
            "verbs": verbs,
        });
        if let Some(g) = group {
            v["group"] = json!(g);
        }
        if let Some(ver) = version {
            v["version"] = json!(ver);
        }
        out.push(v);
    }
    out
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources: Vec<Value> = registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .flat_map(resource_entries)
        .collect();
    if resources.is_empty() {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    }))
}

/// The aggregated discovery document of `/api` (legacy = true) or `/apis`.
pub fn aggregated(registry: &Registry, legacy: bool, api_version: &str) -> Value {
    let items: Vec<Value> = registry
        .groups()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == legacy)
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = registry
                        .all()
                        .iter()
                        .filter(|r| r.group == g && r.version == *v)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{api_version}"),
        "metadata": {},
        "items": items,
    })
}

fn aggregated_resource(r: &ResourceType) -> Value {
    let mut v = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    let subs: Vec<Value> = resource_entries(r)
        .into_iter()
        .skip(1)
        .map(|s| {
            let name = s["name"]
                .as_str()
                .unwrap_or("")
                .split('/')
                .nth(1)
                .unwrap_or("")
                .to_string();
            json!({
                "subresource": name,
                "responseKind": {
                    "group": s.get("group").cloned().unwrap_or(json!(r.group)),
                    "version": s.get("version").cloned().unwrap_or(json!(r.version)),
                    "kind": s["kind"],
                },
                "verbs": s["verbs"],
            })
        })
        .collect();
    if !subs.is_empty() {
        v["subresources"] = json!(subs);
    }
    v
}
