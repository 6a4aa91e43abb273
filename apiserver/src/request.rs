//! Turning a request path and query into what it asks for: a discovery document, a health
//! check, or a resource request (group, version, resource, namespace, name, subresource, verb),
//! as upstream's RequestInfo resolver does.

use std::collections::HashMap;

/// What a path names.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/healthz`, `/livez`, `/readyz` (and their `/...` children).
    Health,
    /// `/metrics`.
    Metrics,
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3`.
    OpenApiV3Index,
    /// `/.well-known/openid-configuration`: the service account issuer's discovery document.
    OpenIdConfiguration,
    /// `/openid/v1/jwks`: the keys service account tokens are signed with.
    OpenIdKeys,
    /// `/openapi/v3/<api/v1 | apis/g/v>`.
    OpenApiV3(String),
    /// `/api`.
    LegacyVersions,
    /// `/apis`.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    GroupVersion(String, String),
    /// A resource path.
    Resource(ResourcePath),
    /// Nothing served here.
    NotFound,
}

/// The parts of a resource path.
#[derive(Debug, Default, PartialEq, Eq, Clone)]
pub struct ResourcePath {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    /// Namespace from the path, if any.
    pub namespace: Option<String>,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource, if any.
    pub subresource: Option<String>,
    /// Whether the deprecated `/watch/` path prefix was used.
    pub watch_prefix: bool,
}

/// Resolves a request path.
pub fn route(path: &str) -> Route {
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["metrics"] => Route::Metrics,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Index,
        [".well-known", "openid-configuration"] => Route::OpenIdConfiguration,
        ["openid", "v1", "jwks"] => Route::OpenIdKeys,
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3(rest.join("/")),
        ["api"] => Route::LegacyVersions,
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group(group.to_string()),
        ["api", version] => Route::GroupVersion(String::new(), version.to_string()),
        ["apis", group, version] => Route::GroupVersion(group.to_string(), version.to_string()),
        ["api", version, rest @ ..] => resource_path("", version, rest),
        ["apis", group, version, rest @ ..] => resource_path(group, version, rest),
        _ => Route::NotFound,
    }
}

fn resource_path(group: &str, version: &str, rest: &[&str]) -> Route {
    let mut p = ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        ..Default::default()
    };
    let mut rest = rest;
    if rest.first() == Some(&"watch") {
        p.watch_prefix = true;
        rest = &rest[1..];
    }
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        p.namespace = Some(decode(rest[1]));
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    match rest {
        [resource] => p.resource = resource.to_string(),
        [resource, name] => {
            p.resource = resource.to_string();
            p.name = Some(decode(name));
        }
        [resource, name, sub, ..] => {
            p.resource = resource.to_string();
            p.name = Some(decode(name));
            p.subresource = Some(sub.to_string());
        }
        _ => return Route::NotFound,
    }
    if p.resource == "namespaces" {
        // `/api/v1/namespaces/foo` names the namespace foo itself.
        p.namespace = None;
    }
    Route::Resource(p)
}

/// Percent-decodes a path segment or query component (`+` as space in queries).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string into a map (last value wins; `+` decodes to a space).
pub fn query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_object_paths_resolve_to_resource_namespace_and_name() {
        let Route::Resource(p) = route("/api/v1/namespaces/default/pods/web-0/status") else {
            panic!("not a resource path")
        };
        assert_eq!(p.resource, "pods");
        assert_eq!(p.namespace.as_deref(), Some("default"));
        assert_eq!(p.name.as_deref(), Some("web-0"));
        assert_eq!(p.subresource.as_deref(), Some("status"));
    }

    #[test]
    fn a_namespace_path_names_the_namespace_itself() {
        let Route::Resource(p) = route("/api/v1/namespaces/kube-system") else {
            panic!()
        };
        assert_eq!(
            (p.resource.as_str(), p.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let Route::Resource(p) = route("/api/v1/namespaces/kube-system/finalize") else {
            panic!()
        };
        assert_eq!(p.subresource.as_deref(), Some("finalize"));
    }

    #[test]
    fn queries_are_percent_decoded() {
        let q = query(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&limit=5"));
        assert_eq!(q["labelSelector"], "app=web,tier in (a)");
        assert_eq!(q["limit"], "5");
    }
}
