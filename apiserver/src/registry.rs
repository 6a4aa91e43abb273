//! The resource registry: one table entry per served resource (group, version, kind, names,
//! scope, verbs, subresources, categories) plus the hooks that give it its behaviour
//! ([`crate::strategy::Strategy`]). Discovery, routing, storage keys and OpenAPI all read it.

use std::collections::HashMap;

use k8s_openapi::api::{
    apps::v1 as apps, authentication::v1 as authentication, authorization::v1 as authorization,
    autoscaling::v2 as autoscaling, batch::v1 as batch, coordination::v1 as coordination,
    core::v1 as core, discovery::v1 as discovery, events::v1 as events,
    networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
    scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::strategy::{self, Strategy};

/// Decodes a JSON object through its typed k8s-openapi struct and back, which checks types and
/// drops unknown fields exactly where upstream's decoder would.
/// The error is the decode error prefixed by the JSON path where it happened.
pub type Normalizer = fn(&Value) -> Result<Value, String>;

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    let typed: T = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// Every verb a full read-write resource supports, in upstream's discovery order.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One served resource.
pub struct ResourceType {
    /// API group ("" for core).
    pub group: &'static str,
    /// API version, e.g. `v1`.
    pub version: &'static str,
    /// Kind, e.g. `Pod`.
    pub kind: &'static str,
    /// Plural resource name, e.g. `pods`.
    pub plural: &'static str,
    /// Singular resource name, e.g. `pod`.
    pub singular: &'static str,
    /// kubectl short names, e.g. `po`.
    pub short_names: &'static [&'static str],
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Verbs served on the main resource.
    pub verbs: &'static [&'static str],
    /// Subresources served, e.g. `status`, `scale`.
    pub subresources: &'static [&'static str],
    /// Categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// The OpenAPI definition name, e.g. `io.k8s.api.core.v1.Pod`.
    pub definition: &'static str,
    /// The typed decode used to prune and type-check bodies.
    pub normalize: Normalizer,
    /// Whether `metadata.generation` tracks spec changes.
    pub tracks_generation: bool,
    /// Defaulting, validation, status handling and selectable fields.
    pub strategy: &'static dyn Strategy,
}

impl ResourceType {
    /// `apiVersion` as written in objects: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group/resource used in error messages.
    pub fn group_resource(&self) -> crate::status::GroupResource<'static> {
        crate::status::GroupResource {
            group: self.group,
            resource: self.plural,
        }
    }

    /// Whether the resource has a `status` subresource.
    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }

    /// Whether `verb` is served on the main resource.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// The storage key prefix for this resource: `/registry/<group>/<plural>/`.
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("/registry/{group}/{}/", self.plural)
    }

    /// The storage key of one object.
    pub fn key(&self, namespace: &str, name: &str) -> String {
        if self.namespaced {
            format!("{}{namespace}/{name}", self.key_prefix())
        } else {
            format!("{}{name}", self.key_prefix())
        }
    }
}

macro_rules! resource {
    ($group:expr, $version:expr, $ty:ty, $kind:expr, $plural:expr, ns=$ns:expr,
     short=[$($short:expr),*], sub=[$($sub:expr),*], cat=[$($cat:expr),*], def=$def:expr,
     gen=$gen:expr, strategy=$strategy:expr $(, verbs=$verbs:expr)?) => {
        ResourceType {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: lower($kind),
            short_names: &[$($short),*],
            namespaced: $ns,
            verbs: { #[allow(unused_variables)] let v = ALL_VERBS; $( let v = $verbs; )? v },
            subresources: &[$($sub),*],
            categories: &[$($cat),*],
            definition: $def,
            normalize: roundtrip::<$ty>,
            tracks_generation: $gen,
            strategy: $strategy,
        }
    };
}

/// Lower-cases a kind into its singular resource name (leaked once at start-up).
fn lower(kind: &'static str) -> &'static str {
    Box::leak(kind.to_ascii_lowercase().into_boxed_str())
}

/// All built-in resources of the v1.33 API that Ferrokube serves.
pub fn builtin() -> Vec<ResourceType> {
    let s = &strategy::DEFAULT;
    vec![
        resource!("", "v1", core::Namespace, "Namespace", "namespaces", ns=false, short=["ns"], sub=["status", "finalize"], cat=[], def="io.k8s.api.core.v1.Namespace", gen=false, strategy=&strategy::NAMESPACE, verbs=&["create", "delete", "get", "list", "patch", "update", "watch"]),
        resource!("", "v1", core::Node, "Node", "nodes", ns=false, short=["no"], sub=["status", "proxy"], cat=[], def="io.k8s.api.core.v1.Node", gen=false, strategy=&strategy::NODE),
        resource!("", "v1", core::Pod, "Pod", "pods", ns=true, short=["po"], sub=["status", "binding", "eviction", "log", "exec", "attach", "portforward", "ephemeralcontainers", "resize"], cat=["all"], def="io.k8s.api.core.v1.Pod", gen=false, strategy=&strategy::POD),
        resource!("", "v1", core::Service, "Service", "services", ns=true, short=["svc"], sub=["status", "proxy"], cat=["all"], def="io.k8s.api.core.v1.Service", gen=false, strategy=&strategy::SERVICE),
        resource!("", "v1", core::Endpoints, "Endpoints", "endpoints", ns=true, short=["ep"], sub=[], cat=[], def="io.k8s.api.core.v1.Endpoints", gen=false, strategy=s),
        resource!("", "v1", core::ConfigMap, "ConfigMap", "configmaps", ns=true, short=["cm"], sub=[], cat=[], def="io.k8s.api.core.v1.ConfigMap", gen=false, strategy=s),
        resource!("", "v1", core::Secret, "Secret", "secrets", ns=true, short=[], sub=[], cat=[], def="io.k8s.api.core.v1.Secret", gen=false, strategy=&strategy::SECRET),
        resource!("", "v1", core::ServiceAccount, "ServiceAccount", "serviceaccounts", ns=true, short=["sa"], sub=["token"], cat=[], def="io.k8s.api.core.v1.ServiceAccount", gen=false, strategy=s),
        resource!("", "v1", core::Event, "Event", "events", ns=true, short=["ev"], sub=[], cat=[], def="io.k8s.api.core.v1.Event", gen=false, strategy=&strategy::EVENT),
        resource!("", "v1", core::PersistentVolume, "PersistentVolume", "persistentvolumes", ns=false, short=["pv"], sub=["status"], cat=[], def="io.k8s.api.core.v1.PersistentVolume", gen=false, strategy=s),
        resource!("", "v1", core::PersistentVolumeClaim, "PersistentVolumeClaim", "persistentvolumeclaims", ns=true, short=["pvc"], sub=["status"], cat=[], def="io.k8s.api.core.v1.PersistentVolumeClaim", gen=false, strategy=s),
        resource!("", "v1", core::ResourceQuota, "ResourceQuota", "resourcequotas", ns=true, short=["quota"], sub=["status"], cat=[], def="io.k8s.api.core.v1.ResourceQuota", gen=false, strategy=s),
        resource!("", "v1", core::LimitRange, "LimitRange", "limitranges", ns=true, short=["limits"], sub=[], cat=[], def="io.k8s.api.core.v1.LimitRange", gen=false, strategy=s),
        resource!("", "v1", core::ReplicationController, "ReplicationController", "replicationcontrollers", ns=true, short=["rc"], sub=["status", "scale"], cat=["all"], def="io.k8s.api.core.v1.ReplicationController", gen=true, strategy=s),
        resource!("apps", "v1", apps::Deployment, "Deployment", "deployments", ns=true, short=["deploy"], sub=["status", "scale"], cat=["all"], def="io.k8s.api.apps.v1.Deployment", gen=true, strategy=&strategy::DEPLOYMENT),
        resource!("apps", "v1", apps::ReplicaSet, "ReplicaSet", "replicasets", ns=true, short=["rs"], sub=["status", "scale"], cat=["all"], def="io.k8s.api.apps.v1.ReplicaSet", gen=true, strategy=&strategy::REPLICASET),
        resource!("apps", "v1", apps::StatefulSet, "StatefulSet", "statefulsets", ns=true, short=["sts"], sub=["status", "scale"], cat=["all"], def="io.k8s.api.apps.v1.StatefulSet", gen=true, strategy=&strategy::STATEFULSET),
        resource!("apps", "v1", apps::DaemonSet, "DaemonSet", "daemonsets", ns=true, short=["ds"], sub=["status"], cat=["all"], def="io.k8s.api.apps.v1.DaemonSet", gen=true, strategy=&strategy::DAEMONSET),
        resource!("apps", "v1", apps::ControllerRevision, "ControllerRevision", "controllerrevisions", ns=true, short=[], sub=[], cat=[], def="io.k8s.api.apps.v1.ControllerRevision", gen=false, strategy=s),
        resource!("batch", "v1", batch::Job, "Job", "jobs", ns=true, short=[], sub=["status"], cat=["all"], def="io.k8s.api.batch.v1.Job", gen=true, strategy=&strategy::JOB),
        resource!("batch", "v1", batch::CronJob, "CronJob", "cronjobs", ns=true, short=["cj"], sub=["status"], cat=["all"], def="io.k8s.api.batch.v1.CronJob", gen=true, strategy=&strategy::CRONJOB),
        resource!("discovery.k8s.io", "v1", discovery::EndpointSlice, "EndpointSlice", "endpointslices", ns=true, short=[], sub=[], cat=[], def="io.k8s.api.discovery.v1.EndpointSlice", gen=true, strategy=s),
        resource!("networking.k8s.io", "v1", networking::Ingress, "Ingress", "ingresses", ns=true, short=["ing"], sub=["status"], cat=[], def="io.k8s.api.networking.v1.Ingress", gen=true, strategy=s),
        resource!("networking.k8s.io", "v1", networking::IngressClass, "IngressClass", "ingressclasses", ns=false, short=[], sub=[], cat=[], def="io.k8s.api.networking.v1.IngressClass", gen=false, strategy=s),
        resource!("networking.k8s.io", "v1", networking::NetworkPolicy, "NetworkPolicy", "networkpolicies", ns=true, short=["netpol"], sub=[], cat=[], def="io.k8s.api.networking.v1.NetworkPolicy", gen=true, strategy=s),
        resource!("coordination.k8s.io", "v1", coordination::Lease, "Lease", "leases", ns=true, short=[], sub=[], cat=[], def="io.k8s.api.coordination.v1.Lease", gen=false, strategy=s),
        resource!("events.k8s.io", "v1", events::Event, "Event", "events", ns=true, short=["ev"], sub=[], cat=[], def="io.k8s.api.events.v1.Event", gen=false, strategy=s),
        resource!("authentication.k8s.io", "v1", authentication::TokenReview, "TokenReview", "tokenreviews", ns=false, short=[], sub=[], cat=[], def="io.k8s.api.authentication.v1.TokenReview", gen=false, strategy=s, verbs=&["create"]),
        resource!("authentication.k8s.io", "v1", authentication::SelfSubjectReview, "SelfSubjectReview", "selfsubjectreviews", ns=false, short=[], sub=[], cat=[], def="io.k8s.api.authentication.v1.SelfSubjectReview", gen=false, strategy=s, verbs=&["create"]),
        resource!("authorization.k8s.io", "v1", authorization::SelfSubjectAccessReview, "SelfSubjectAccessReview", "selfsubjectaccessreviews", ns=false, short=[], sub=[], cat=[], def="io.k8s.api.authorization.v1.SelfSubjectAccessReview", gen=false, strategy=s, verbs=&["create"]),
        resource!("authorization.k8s.io", "v1", authorization::SubjectAccessReview, "SubjectAccessReview", "subjectaccessreviews", ns=false, short=[], sub=[], cat=[], def="io.k8s.api.authorization.v1.SubjectAccessReview", gen=false, strategy=s, verbs=&["create"]),
        resource!("rbac.authorization.k8s.io", "v1", rbac::Role, "Role", "roles", ns=true, short=[], sub=[], cat=[], def="io.k8s.api.rbac.v1.Role", gen=false, strategy=&strategy::RBAC),
        resource!("rbac.authorization.k8s.io", "v1", rbac::ClusterRole, "ClusterRole", "clusterroles", ns=false, short=[], sub=[], cat=[], def="io.k8s.api.rbac.v1.ClusterRole", gen=false, strategy=&strategy::RBAC),
        resource!("rbac.authorization.k8s.io", "v1", rbac::RoleBinding, "RoleBinding", "rolebindings", ns=true, short=[], sub=[], cat=[], def="io.k8s.api.rbac.v1.RoleBinding", gen=false, strategy=&strategy::RBAC),
        resource!("rbac.authorization.k8s.io", "v1", rbac::ClusterRoleBinding, "ClusterRoleBinding", "clusterrolebindings", ns=false, short=[], sub=[], cat=[], def="io.k8s.api.rbac.v1.ClusterRoleBinding", gen=false, strategy=&strategy::RBAC),
        resource!("policy", "v1", policy::PodDisruptionBudget, "PodDisruptionBudget", "poddisruptionbudgets", ns=true, short=["pdb"], sub=["status"], cat=[], def="io.k8s.api.policy.v1.PodDisruptionBudget", gen=true, strategy=s),
        resource!("autoscaling", "v2", autoscaling::HorizontalPodAutoscaler, "HorizontalPodAutoscaler", "horizontalpodautoscalers", ns=true, short=["hpa"], sub=["status"], cat=["all"], def="io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler", gen=false, strategy=s),
        resource!("scheduling.k8s.io", "v1", scheduling::PriorityClass, "PriorityClass", "priorityclasses", ns=false, short=["pc"], sub=[], cat=[], def="io.k8s.api.scheduling.v1.PriorityClass", gen=false, strategy=s),
        resource!("storage.k8s.io", "v1", storage::StorageClass, "StorageClass", "storageclasses", ns=false, short=["sc"], sub=[], cat=[], def="io.k8s.api.storage.v1.StorageClass", gen=false, strategy=s),
        resource!("apiextensions.k8s.io", "v1", apiextensions::CustomResourceDefinition, "CustomResourceDefinition", "customresourcedefinitions", ns=false, short=["crd", "crds"], sub=["status"], cat=["api-extensions"], def="io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition", gen=true, strategy=s),
    ]
}

/// The registry: resources by (group, version, plural) plus lookup helpers.
pub struct Registry {
    resources: Vec<ResourceType>,
    /// By group, version and plural.
    by_path: HashMap<(&'static str, &'static str, &'static str), usize>,
    /// By group and plural: the first resource registered (what a storage key names).
    by_key: HashMap<(&'static str, &'static str), usize>,
}

impl Registry {
    /// Builds the registry of the built-in resources.
    pub fn new() -> Self {
        let resources = builtin();
        let by_path = resources
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.group, r.version, r.plural), i))
            .collect();
        let mut by_key = HashMap::new();
        for (i, r) in resources.iter().enumerate() {
            by_key.entry((r.group, r.plural)).or_insert(i);
        }
        Registry {
            resources,
            by_path,
            by_key,
        }
    }

    /// Finds a resource by group, version and plural.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.by_path
            .get(&(group, version, plural))
            .map(|&i| &self.resources[i])
    }

    /// Finds the resource whose storage key prefix `key` starts with.
    pub fn for_key(&self, key: &str) -> Option<&ResourceType> {
        let rest = key.strip_prefix("/registry/")?;
        let mut parts = rest.splitn(3, '/');
        let group = parts.next()?;
        let plural = parts.next()?;
        let group = if group == "core" { "" } else { group };
        self.by_key
            .get(&(group, plural))
            .map(|&i| &self.resources[i])
    }

    /// Every resource, in registration order.
    pub fn all(&self) -> &[ResourceType] {
        &self.resources
    }

    /// The groups served, each with its versions, in a stable order (core first).
    pub fn groups(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        for r in &self.resources {
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version);
                    }
                }
                None => out.push((r.group, vec![r.version])),
            }
        }
        out
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_key_names_the_first_resource_registered_for_its_group_and_plural() {
        let registry = Registry::new();
        let first = |group: &str, plural: &str| {
            registry
                .all()
                .iter()
                .find(|r| r.group == group && r.plural == plural)
                .map(|r| (r.group, r.version, r.plural))
        };
        for (key, group, plural) in [
            ("/registry/core/pods/default/a", "", "pods"),
            (
                "/registry/events.k8s.io/events/default/e",
                "events.k8s.io",
                "events",
            ),
            ("/registry/core/events/default/e", "", "events"),
            (
                "/registry/apps/deployments/default/d",
                "apps",
                "deployments",
            ),
            ("/registry/core/nodes/n", "", "nodes"),
        ] {
            let found = registry
                .for_key(key)
                .map(|r| (r.group, r.version, r.plural));
            assert_eq!(found, first(group, plural), "{key}");
            assert!(found.is_some(), "{key}");
        }
        assert!(registry.for_key("/registry/core/nothings/x").is_none());
        assert!(registry.for_key("/elsewhere/core/pods/x").is_none());
        assert_eq!(
            registry.lookup("apps", "v1", "deployments").map(|r| r.kind),
            Some("Deployment")
        );
        assert!(registry.lookup("apps", "v9", "deployments").is_none());
    }
}
