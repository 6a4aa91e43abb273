//! Printers for networking, discovery, RBAC, coordination, scheduling, storage, admission and
//! certificate kinds, plus the default `Name` / `Created At` table used for everything else
//! (Role, ClusterRole, LimitRange, CustomResourceDefinition, custom resources, ...).

use jiff::Timestamp;
use serde_json::Value;

use crate::core::load_balancer_addresses;
use crate::descriptions as d;
use crate::format::{
    at, creation_age, flag, format_label_selector, human_duration, int, list, list_with_more, name,
    opt_text, quantity, text, timestamp,
};
use crate::{AGE, Column, NAME, TablePrinter, col, wide};

// ---------------------------------------------------------------- default

static DEFAULT_COLUMNS: [Column; 2] = [NAME, col("Created At", "date", d::META_CREATION_TIMESTAMP)];

/// The default table for kinds without a printer: name and RFC 3339 creation time.
pub(crate) static DEFAULT: TablePrinter = TablePrinter::new(&DEFAULT_COLUMNS, |obj, _now| {
    let created = timestamp(at(obj, &["metadata", "creationTimestamp"]))
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    vec![Value::from(name(obj)), Value::from(created)]
});

// ---------------------------------------------------------------- Ingress, IngressClass

static INGRESS_COLUMNS: [Column; 6] = [
    NAME,
    col(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    col(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    col(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    col("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

/// Prints networking.k8s.io/v1 Ingresses.
pub(crate) static INGRESS: TablePrinter = TablePrinter::new(&INGRESS_COLUMNS, |ing, now| {
    let ports = if list(ing, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        Value::from(name(ing)),
        Value::from(opt_text(ing, &["spec", "ingressClassName"]).unwrap_or("<none>")),
        Value::from(ingress_hosts(list(ing, &["spec", "rules"]))),
        Value::from(load_balancer_addresses(at(
            ing,
            &["status", "loadBalancer"],
        ))),
        Value::from(ports),
        creation_age(ing, now),
    ]
});

/// `formatHosts`: up to three rule hosts, `*` when none is set.
fn ingress_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = text(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".to_string();
    }
    let ret = hosts.join(",");
    if more {
        format!("{ret} + {} more...", rules.len() - MAX)
    } else {
        ret
    }
}

static INGRESS_CLASS_COLUMNS: [Column; 4] = [
    NAME,
    col(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    col(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

/// Prints networking.k8s.io/v1 IngressClasses.
pub(crate) static INGRESS_CLASS: TablePrinter =
    TablePrinter::new(&INGRESS_CLASS_COLUMNS, |class, now| {
        let params = at(class, &["spec", "parameters"]);
        let parameters = if params.is_null() {
            "<none>".to_string()
        } else {
            let mut p = text(params, &["kind"]).to_string();
            if let Some(group) = opt_text(params, &["apiGroup"]) {
                p = format!("{p}.{group}");
            }
            format!("{p}/{}", text(params, &["name"]))
        };
        vec![
            Value::from(name(class)),
            Value::from(text(class, &["spec", "controller"])),
            Value::from(parameters),
            creation_age(class, now),
        ]
    });

// ---------------------------------------------------------------- NetworkPolicy

static NETWORK_POLICY_COLUMNS: [Column; 3] = [
    NAME,
    col(
        "Pod-Selector",
        "string",
        d::NETWORK_POLICY_SPEC_POD_SELECTOR,
    ),
    AGE,
];

/// Prints networking.k8s.io/v1 NetworkPolicies.
pub(crate) static NETWORK_POLICY: TablePrinter =
    TablePrinter::new(&NETWORK_POLICY_COLUMNS, |np, now| {
        // The pod selector is a struct upstream, never nil: a missing one selects everything.
        let selector = match at(np, &["spec", "podSelector"]) {
            Value::Null => Value::Object(Default::default()),
            s => s.clone(),
        };
        vec![
            Value::from(name(np)),
            Value::from(format_label_selector(&selector)),
            creation_age(np, now),
        ]
    });

// ---------------------------------------------------------------- EndpointSlice

static ENDPOINT_SLICE_COLUMNS: [Column; 5] = [
    NAME,
    col("AddressType", "string", d::ENDPOINT_SLICE_ADDRESS_TYPE),
    col("Ports", "string", d::ENDPOINT_SLICE_PORTS),
    col("Endpoints", "string", d::ENDPOINT_SLICE_ENDPOINTS),
    AGE,
];

/// Prints discovery.k8s.io/v1 EndpointSlices.
pub(crate) static ENDPOINT_SLICE: TablePrinter =
    TablePrinter::new(&ENDPOINT_SLICE_COLUMNS, |slice, now| {
        const MAX: usize = 3;
        let ports = list(slice, &["ports"]);
        let port_names: Vec<String> = ports
            .iter()
            .take(MAX)
            .map(
                |p| match (at(p, &["port"]).as_i64(), opt_text(p, &["name"])) {
                    (Some(port), _) => port.to_string(),
                    (None, Some(name)) => name.to_string(),
                    (None, None) => "*".to_string(),
                },
            )
            .collect();
        let addresses: Vec<&str> = list(slice, &["endpoints"])
            .iter()
            .flat_map(|e| list(e, &["addresses"]).iter().filter_map(Value::as_str))
            .collect();
        let shown: Vec<String> = addresses.iter().take(MAX).map(|a| a.to_string()).collect();
        vec![
            Value::from(name(slice)),
            Value::from(text(slice, &["addressType"])),
            Value::from(list_with_more(&port_names, ports.len(), MAX)),
            Value::from(list_with_more(&shown, addresses.len(), MAX)),
            creation_age(slice, now),
        ]
    });

// ---------------------------------------------------------------- Lease

static LEASE_COLUMNS: [Column; 3] = [
    NAME,
    col("Holder", "string", d::LEASE_SPEC_HOLDER_IDENTITY),
    AGE,
];

/// Prints coordination.k8s.io/v1 Leases.
pub(crate) static LEASE: TablePrinter = TablePrinter::new(&LEASE_COLUMNS, |lease, now| {
    vec![
        Value::from(name(lease)),
        Value::from(text(lease, &["spec", "holderIdentity"])),
        creation_age(lease, now),
    ]
});

// ---------------------------------------------------------------- RoleBinding, ClusterRoleBinding

static ROLE_BINDING_COLUMNS: [Column; 6] = [
    NAME,
    col("Role", "string", d::ROLE_BINDING_ROLE_REF),
    AGE,
    wide("Users", "string", "Users in the roleBinding"),
    wide("Groups", "string", "Groups in the roleBinding"),
    wide(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the roleBinding",
    ),
];

static CLUSTER_ROLE_BINDING_COLUMNS: [Column; 6] = [
    NAME,
    col("Role", "string", d::CLUSTER_ROLE_BINDING_ROLE_REF),
    AGE,
    wide("Users", "string", "Users in the clusterRoleBinding"),
    wide("Groups", "string", "Groups in the clusterRoleBinding"),
    wide(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
    ),
];

/// Prints rbac.authorization.k8s.io/v1 RoleBindings.
pub(crate) static ROLE_BINDING: TablePrinter =
    TablePrinter::new(&ROLE_BINDING_COLUMNS, binding_cells);

/// Prints rbac.authorization.k8s.io/v1 ClusterRoleBindings.
pub(crate) static CLUSTER_ROLE_BINDING: TablePrinter =
    TablePrinter::new(&CLUSTER_ROLE_BINDING_COLUMNS, binding_cells);

fn binding_cells(binding: &Value, now: Timestamp) -> Vec<Value> {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut service_accounts = Vec::new();
    for subject in list(binding, &["subjects"]) {
        let subject_name = text(subject, &["name"]);
        match text(subject, &["kind"]) {
            "ServiceAccount" => {
                service_accounts.push(format!("{}/{subject_name}", text(subject, &["namespace"])))
            }
            "User" => users.push(subject_name.to_string()),
            "Group" => groups.push(subject_name.to_string()),
            _ => {}
        }
    }
    vec![
        Value::from(name(binding)),
        Value::from(format!(
            "{}/{}",
            text(binding, &["roleRef", "kind"]),
            text(binding, &["roleRef", "name"])
        )),
        creation_age(binding, now),
        Value::from(users.join(", ")),
        Value::from(groups.join(", ")),
        Value::from(service_accounts.join(", ")),
    ]
}

// ---------------------------------------------------------------- PriorityClass

static PRIORITY_CLASS_COLUMNS: [Column; 5] = [
    NAME,
    col("Value", "integer", d::PRIORITY_CLASS_VALUE),
    col(
        "Global-Default",
        "boolean",
        d::PRIORITY_CLASS_GLOBAL_DEFAULT,
    ),
    AGE,
    col(
        "PreemptionPolicy",
        "string",
        d::PRIORITY_CLASS_PREEMPTION_POLICY,
    ),
];

/// Prints scheduling.k8s.io/v1 PriorityClasses.
pub(crate) static PRIORITY_CLASS: TablePrinter =
    TablePrinter::new(&PRIORITY_CLASS_COLUMNS, |pc, now| {
        vec![
            Value::from(name(pc)),
            Value::from(int(pc, &["value"])),
            Value::from(flag(pc, &["globalDefault"])),
            creation_age(pc, now),
            Value::from(text(pc, &["preemptionPolicy"])),
        ]
    });

// ---------------------------------------------------------------- StorageClass

static STORAGE_CLASS_COLUMNS: [Column; 6] = [
    NAME,
    col("Provisioner", "string", d::STORAGE_CLASS_PROVISIONER),
    col("ReclaimPolicy", "string", d::STORAGE_CLASS_RECLAIM_POLICY),
    col(
        "VolumeBindingMode",
        "string",
        d::STORAGE_CLASS_VOLUME_BINDING_MODE,
    ),
    col(
        "AllowVolumeExpansion",
        "string",
        d::STORAGE_CLASS_ALLOW_VOLUME_EXPANSION,
    ),
    AGE,
];

/// Whether an annotation marks the object as the default of its class.
fn is_default_class(obj: &Value, annotations: &[&str]) -> bool {
    annotations
        .iter()
        .any(|a| opt_text(obj, &["metadata", "annotations", a]) == Some("true"))
}

/// Prints storage.k8s.io/v1 StorageClasses; the default class is marked `(default)`.
pub(crate) static STORAGE_CLASS: TablePrinter =
    TablePrinter::new(&STORAGE_CLASS_COLUMNS, |sc, now| {
        let mut display = name(sc).to_string();
        if is_default_class(
            sc,
            &[
                "storageclass.kubernetes.io/is-default-class",
                "storageclass.beta.kubernetes.io/is-default-class",
            ],
        ) {
            display.push_str(" (default)");
        }
        vec![
            Value::from(display),
            Value::from(text(sc, &["provisioner"])),
            Value::from(opt_text(sc, &["reclaimPolicy"]).unwrap_or("Delete")),
            Value::from(opt_text(sc, &["volumeBindingMode"]).unwrap_or("Immediate")),
            Value::from(flag(sc, &["allowVolumeExpansion"])),
            creation_age(sc, now),
        ]
    });

// ---------------------------------------------------------------- smaller cluster kinds

static VOLUME_ATTRIBUTES_CLASS_COLUMNS: [Column; 3] = [
    NAME,
    col(
        "DriverName",
        "string",
        "Name of the CSI driver This field is immutable.",
    ),
    AGE,
];

/// Prints storage.k8s.io VolumeAttributesClasses.
pub(crate) static VOLUME_ATTRIBUTES_CLASS: TablePrinter =
    TablePrinter::new(&VOLUME_ATTRIBUTES_CLASS_COLUMNS, |vac, now| {
        let mut display = name(vac).to_string();
        if is_default_class(vac, &["storage.kubernetes.io/is-default-class"]) {
            display.push_str(" (default)");
        }
        vec![
            Value::from(display),
            Value::from(text(vac, &["driverName"])),
            creation_age(vac, now),
        ]
    });

static CSI_NODE_COLUMNS: [Column; 3] = [
    NAME,
    col(
        "Drivers",
        "integer",
        "Drivers indicates the number of CSI drivers registered on the node",
    ),
    AGE,
];

/// Prints storage.k8s.io/v1 CSINodes.
pub(crate) static CSI_NODE: TablePrinter = TablePrinter::new(&CSI_NODE_COLUMNS, |node, now| {
    vec![
        Value::from(name(node)),
        Value::from(list(node, &["spec", "drivers"]).len() as i64),
        creation_age(node, now),
    ]
});

static CSI_STORAGE_CAPACITY_COLUMNS: [Column; 3] = [
    NAME,
    col(
        "StorageClassName",
        "string",
        "storageClassName represents the name of the StorageClass that the reported capacity applies to. It must meet the same requirements as the name of a StorageClass object (non-empty, DNS subdomain). If that object no longer exists, the CSIStorageCapacity object is obsolete and should be removed by its creator. This field is immutable.",
    ),
    col(
        "Capacity",
        "string",
        "capacity is the value reported by the CSI driver in its GetCapacityResponse for a GetCapacityRequest with topology and parameters that match the previous fields.\n\nThe semantic is currently (CSI spec 1.2) defined as: The available capacity, in bytes, of the storage that can be used to provision volumes. If not set, that information is currently unavailable.",
    ),
];

/// Prints storage.k8s.io/v1 CSIStorageCapacities.
pub(crate) static CSI_STORAGE_CAPACITY: TablePrinter =
    TablePrinter::new(&CSI_STORAGE_CAPACITY_COLUMNS, |cap, _now| {
        let capacity = match at(cap, &["capacity"]) {
            Value::Null => "<unset>".to_string(),
            q => quantity(q),
        };
        vec![
            Value::from(name(cap)),
            Value::from(text(cap, &["storageClassName"])),
            Value::from(capacity),
        ]
    });

static RUNTIME_CLASS_COLUMNS: [Column; 3] = [NAME, col("Handler", "string", ""), AGE];

/// Prints node.k8s.io/v1 RuntimeClasses.
pub(crate) static RUNTIME_CLASS: TablePrinter =
    TablePrinter::new(&RUNTIME_CLASS_COLUMNS, |rc, now| {
        vec![
            Value::from(name(rc)),
            Value::from(text(rc, &["handler"])),
            creation_age(rc, now),
        ]
    });

static WEBHOOK_CONFIGURATION_COLUMNS: [Column; 3] = [
    NAME,
    col(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

/// Prints admissionregistration.k8s.io/v1 Mutating/ValidatingWebhookConfigurations.
pub(crate) static WEBHOOK_CONFIGURATION: TablePrinter =
    TablePrinter::new(&WEBHOOK_CONFIGURATION_COLUMNS, |cfg, now| {
        vec![
            Value::from(name(cfg)),
            Value::from(list(cfg, &["webhooks"]).len() as i64),
            creation_age(cfg, now),
        ]
    });

static CERTIFICATE_SIGNING_REQUEST_COLUMNS: [Column; 6] = [
    NAME,
    AGE,
    col(
        "SignerName",
        "string",
        "signerName indicates the requested signer, and is a qualified name.",
    ),
    col(
        "Requestor",
        "string",
        "request contains an x509 certificate signing request encoded in a \"CERTIFICATE REQUEST\" PEM block. When serialized as JSON or YAML, the data is additionally base64-encoded.",
    ),
    col(
        "RequestedDuration",
        "string",
        "expirationSeconds is the requested duration of validity of the issued certificate.",
    ),
    col(
        "Condition",
        "string",
        "conditions applied to the request. Known conditions are \"Approved\", \"Denied\", and \"Failed\".",
    ),
];

/// Prints certificates.k8s.io/v1 CertificateSigningRequests.
pub(crate) static CERTIFICATE_SIGNING_REQUEST: TablePrinter =
    TablePrinter::new(&CERTIFICATE_SIGNING_REQUEST_COLUMNS, |csr, now| {
        let has = |t: &str| {
            list(csr, &["status", "conditions"])
                .iter()
                .any(|c| text(c, &["type"]) == t)
        };
        let mut condition = if has("Denied") {
            "Denied".to_string()
        } else if has("Approved") {
            "Approved".to_string()
        } else {
            "Pending".to_string()
        };
        if has("Failed") {
            condition.push_str(",Failed");
        }
        if !text(csr, &["status", "certificate"]).is_empty() {
            condition.push_str(",Issued");
        }
        let signer = match text(csr, &["spec", "signerName"]) {
            "" => "<none>",
            s => s,
        };
        let requested = at(csr, &["spec", "expirationSeconds"])
            .as_i64()
            .map_or_else(
                || "<none>".to_string(),
                |s| human_duration(i128::from(s) * 1_000_000_000),
            );
        vec![
            Value::from(name(csr)),
            creation_age(csr, now),
            Value::from(signer),
            Value::from(text(csr, &["spec", "username"])),
            Value::from(requested),
            Value::from(condition),
        ]
    });

static SERVICE_CIDR_COLUMNS: [Column; 3] = [
    NAME,
    col(
        "CIDRs",
        "string",
        "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" or \"2001:db8::/64\") from which to assign service cluster IPs. Max of two CIDRs is allowed, one of each IP family. This field is immutable.",
    ),
    AGE,
];

/// Prints networking.k8s.io ServiceCIDRs.
pub(crate) static SERVICE_CIDR: TablePrinter =
    TablePrinter::new(&SERVICE_CIDR_COLUMNS, |cidr, now| {
        let cidrs: Vec<&str> = list(cidr, &["spec", "cidrs"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        vec![
            Value::from(name(cidr)),
            Value::from(cidrs.join(",")),
            creation_age(cidr, now),
        ]
    });

static IP_ADDRESS_COLUMNS: [Column; 2] = [
    NAME,
    col(
        "ParentRef",
        "string",
        "ParentRef references the resource that an IPAddress is attached to. An IPAddress must reference a parent object.",
    ),
];

/// Prints networking.k8s.io IPAddresses (upstream lists two columns but fills a third, AGE).
pub(crate) static IP_ADDRESS: TablePrinter = TablePrinter::new(&IP_ADDRESS_COLUMNS, |ip, now| {
    let parent = at(ip, &["spec", "parentRef"]);
    let parent_ref = if parent.is_null() {
        "<none>".to_string()
    } else {
        let group = text(parent, &["group"]);
        let resource = text(parent, &["resource"]);
        let mut out = if group.is_empty() {
            resource.to_lowercase()
        } else {
            format!("{resource}.{group}").to_lowercase()
        };
        let namespace = text(parent, &["namespace"]);
        if !namespace.is_empty() {
            out = format!("{out}/{namespace}");
        }
        format!("{out}/{}", text(parent, &["name"]))
    };
    vec![
        Value::from(name(ip)),
        Value::from(parent_ref),
        creation_age(ip, now),
    ]
});
