//! Resources shared by the document tests: a handful of built-in kinds in both scopes.

// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

mod builtin;

use ferrokube_openapi::ResourceInfo;

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A resource with every verb.
pub fn resource(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    subresources: &[&str],
    definition: &str,
) -> ResourceInfo {
    ResourceInfo {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
        namespaced,
        verbs: ALL_VERBS.iter().map(|verb| (*verb).to_owned()).collect(),
        subresources: subresources.iter().map(|sub| (*sub).to_owned()).collect(),
        definition: definition.to_owned(),
    }
}

/// Pods, nodes, namespaces, service accounts, config maps, deployments and roles.
pub fn handful() -> Vec<ResourceInfo> {
    vec![
        resource(
            "",
            "v1",
            "Pod",
            "pods",
            true,
            &[
                "attach",
                "binding",
                "ephemeralcontainers",
                "eviction",
                "exec",
                "log",
                "portforward",
                "proxy",
                "resize",
                "status",
            ],
            "io.k8s.api.core.v1.Pod",
        ),
        resource(
            "",
            "v1",
            "Node",
            "nodes",
            false,
            &["proxy", "status"],
            "io.k8s.api.core.v1.Node",
        ),
        resource(
            "",
            "v1",
            "Namespace",
            "namespaces",
            false,
            &["finalize", "status"],
            "io.k8s.api.core.v1.Namespace",
        ),
        resource(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            true,
            &["token"],
            "io.k8s.api.core.v1.ServiceAccount",
        ),
        resource(
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            true,
            &[],
            "io.k8s.api.core.v1.ConfigMap",
        ),
        resource(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            true,
            &["scale", "status"],
            "io.k8s.api.apps.v1.Deployment",
        ),
        resource(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            true,
            &[],
            "io.k8s.api.rbac.v1.Role",
        ),
    ]
}

/// Every listable built-in kind with every verb; the kinds of [`handful`] keep their
/// subresources.
pub fn full() -> Vec<ResourceInfo> {
    let handful = handful();
    builtin::BUILTIN
        .iter()
        .map(|(group, version, kind, plural, namespaced, definition)| {
            let subresources: Vec<&str> = handful
                .iter()
                .find(|known| known.definition == *definition)
                .map(|known| known.subresources.iter().map(String::as_str).collect())
                .unwrap_or_default();
            resource(
                group,
                version,
                kind,
                plural,
                *namespaced,
                &subresources,
                definition,
            )
        })
        .collect()
}
