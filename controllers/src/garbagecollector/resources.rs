//! What discovery says the server serves: every version of every resource (to resolve an
//! ownerReference's `apiVersion` and `kind` to a URL), and the preferred version of each
//! resource the collector can watch and delete.

use std::collections::HashMap;

use kube::Client;
use kube::core::discovery::{ApiResource, Scope};
use kube::discovery::Discovery;

/// Resources the collector never watches (upstream's `DefaultIgnoredResources`).
pub const IGNORED_RESOURCES: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];

/// One resource at one version, with what it supports.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// The verbs discovery lists for it.
    pub verbs: Vec<String>,
}

impl Resolved {
    /// Whether every verb in `verbs` is supported.
    pub fn supports(&self, verbs: &[&str]) -> bool {
        verbs.iter().all(|v| self.verbs.iter().any(|s| s == v))
    }

    /// `<version>/<plural>` within its group, the key monitors are kept under.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.resource.group, self.resource.version, self.resource.plural
        )
    }
}

/// A discovery snapshot.
#[derive(Clone, Debug, Default)]
pub struct Resources {
    by_kind: HashMap<(String, String), Vec<Resolved>>,
    preferred: Vec<Resolved>,
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

impl Resources {
    /// Reads discovery from the server.
    pub async fn discover(client: &Client) -> Result<Resources, kube::Error> {
        let discovery = Discovery::new(client.clone()).run().await?;
        let mut out = Resources::default();
        for group in discovery.groups() {
            let preferred = group.preferred_version_or_latest().to_string();
            for version in group.versions() {
                for (resource, caps) in group.versioned_resources(version) {
                    let resolved = Resolved {
                        namespaced: caps.scope == Scope::Namespaced,
                        verbs: caps.operations.clone(),
                        resource,
                    };
                    if version == preferred {
                        out.preferred.push(resolved.clone());
                    }
                    out.by_kind
                        .entry((
                            resolved.resource.group.clone(),
                            resolved.resource.kind.clone(),
                        ))
                        .or_default()
                        .push(resolved);
                }
            }
        }
        Ok(out)
    }

    /// The resource for an object's `apiVersion` and `kind`: that exact version, else any
    /// served version of the same group and kind.
    pub fn resolve(&self, api_version: &str, kind: &str) -> Option<&Resolved> {
        let (group, version) = split_api_version(api_version);
        let all = self.by_kind.get(&(group.to_string(), kind.to_string()))?;
        all.iter()
            .find(|r| r.resource.version == version)
            .or_else(|| all.first())
    }

    /// The preferred version of every resource that supports all of `verbs`.
    pub fn preferred_supporting(&self, verbs: &[&str]) -> Vec<Resolved> {
        self.preferred
            .iter()
            .filter(|r| r.supports(verbs))
            .cloned()
            .collect()
    }
}

/// Whether the collector leaves `r` alone ([`IGNORED_RESOURCES`]).
pub fn ignored(r: &Resolved) -> bool {
    IGNORED_RESOURCES
        .iter()
        .any(|(g, p)| *g == r.resource.group && *p == r.resource.plural)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
