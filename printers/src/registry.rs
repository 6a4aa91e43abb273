//! Which printer serves which group and kind.

use crate::{Printer, cluster, core, pod, workloads};

/// The printer for objects of `kind` in API `group` (`""` or `"core"` for the core group);
/// the default `Name` / `Created At` printer when the kind has no dedicated one.
pub fn printer_for(group: &str, kind: &str) -> &'static dyn Printer {
    let group = if group == "core" { "" } else { group };
    match (group, kind) {
        ("", "Pod") => &pod::POD,
        ("", "Namespace") => &core::NAMESPACE,
        ("", "Node") => &core::NODE,
        ("", "Service") => &core::SERVICE,
        ("", "Endpoints") => &core::ENDPOINTS,
        ("", "ConfigMap") => &core::CONFIG_MAP,
        ("", "Secret") => &core::SECRET,
        ("", "ServiceAccount") => &core::SERVICE_ACCOUNT,
        ("", "Event") => &core::EVENT,
        ("", "PersistentVolume") => &core::PERSISTENT_VOLUME,
        ("", "PersistentVolumeClaim") => &core::PERSISTENT_VOLUME_CLAIM,
        ("", "ResourceQuota") => &core::RESOURCE_QUOTA,
        ("", "PodTemplate") => &core::POD_TEMPLATE,
        ("", "ComponentStatus") => &core::COMPONENT_STATUS,
        ("", "ReplicationController") => &workloads::REPLICATION_CONTROLLER,
        ("apps", "Deployment") => &workloads::DEPLOYMENT,
        ("apps", "ReplicaSet") => &workloads::REPLICA_SET,
        ("apps", "StatefulSet") => &workloads::STATEFUL_SET,
        ("apps", "DaemonSet") => &workloads::DAEMON_SET,
        ("apps", "ControllerRevision") => &workloads::CONTROLLER_REVISION,
        ("batch", "Job") => &workloads::JOB,
        ("batch", "CronJob") => &workloads::CRON_JOB,
        ("autoscaling", "HorizontalPodAutoscaler") => &workloads::HORIZONTAL_POD_AUTOSCALER,
        ("autoscaling", "Scale") => &workloads::SCALE,
        ("policy", "PodDisruptionBudget") => &workloads::POD_DISRUPTION_BUDGET,
        ("events.k8s.io", "Event") => &core::EVENTS_V1_EVENT,
        ("discovery.k8s.io", "EndpointSlice") => &cluster::ENDPOINT_SLICE,
        ("networking.k8s.io", "Ingress") => &cluster::INGRESS,
        ("networking.k8s.io", "IngressClass") => &cluster::INGRESS_CLASS,
        ("networking.k8s.io", "NetworkPolicy") => &cluster::NETWORK_POLICY,
        ("networking.k8s.io", "ServiceCIDR") => &cluster::SERVICE_CIDR,
        ("networking.k8s.io", "IPAddress") => &cluster::IP_ADDRESS,
        ("coordination.k8s.io", "Lease") => &cluster::LEASE,
        ("rbac.authorization.k8s.io", "RoleBinding") => &cluster::ROLE_BINDING,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => &cluster::CLUSTER_ROLE_BINDING,
        ("scheduling.k8s.io", "PriorityClass") => &cluster::PRIORITY_CLASS,
        ("storage.k8s.io", "StorageClass") => &cluster::STORAGE_CLASS,
        ("storage.k8s.io", "VolumeAttributesClass") => &cluster::VOLUME_ATTRIBUTES_CLASS,
        ("storage.k8s.io", "CSINode") => &cluster::CSI_NODE,
        ("storage.k8s.io", "CSIStorageCapacity") => &cluster::CSI_STORAGE_CAPACITY,
        ("node.k8s.io", "RuntimeClass") => &cluster::RUNTIME_CLASS,
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => &cluster::WEBHOOK_CONFIGURATION,
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            &cluster::CERTIFICATE_SIGNING_REQUEST
        }
        _ => &cluster::DEFAULT,
    }
}
