//! A container's environment, as upstream's `makeEnvironmentVariables`
//! (`pkg/kubelet/kubelet_pods.go`) builds it: `envFrom` sources (ConfigMaps and Secrets, with
//! prefixes; invalid names skipped and reported), then `env` entries (`value` with `$(VAR)`
//! expansion, `valueFrom` with `fieldRef`, `resourceFieldRef`, `configMapKeyRef` and
//! `secretKeyRef`), then the service variables (`<SVC>_SERVICE_HOST`, `<SVC>_PORT_...`) for
//! the services of the pod's namespace when `enableServiceLinks` (default true) and always for
//! the `kubernetes` master service.
//!
//! Entry points: [`resolve_with_services`] (what pod workers call) and [`resolve`] (reads the
//! services from the API server, for one-off callers). A missing non-optional reference is an [`EnvError`] whose text is
//! upstream's, which the pod worker reports as `CreateContainerConfigError`.
//!
//! The services come from a [`ServiceCache`]: one watch of every Service shared by all the
//! nodes of a process (upstream's kubelet service lister), so starting a container reads no
//! Services from the API server.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use ferrokube_controllers::informer::Informer;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service, ServiceSpec};
use kube::Api;
use kube::api::ListParams;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tokio::sync::watch;

use super::resources::{ResourceFieldError, resource_field_value};

/// Why a container's environment could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A referenced ConfigMap does not exist.
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    /// A referenced Secret does not exist.
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    /// Reading a ConfigMap failed.
    #[error("couldn't get configMap {namespace}/{name}: {source}")]
    GetConfigMap {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Reading a Secret failed.
    #[error("couldn't get secret {namespace}/{name}: {source}")]
    GetSecret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A `configMapKeyRef` names a key the ConfigMap lacks.
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound {
        /// The key.
        key: String,
        /// The ConfigMap's namespace.
        namespace: String,
        /// The ConfigMap's name.
        name: String,
    },
    /// A `secretKeyRef` names a key the Secret lacks.
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound {
        /// The key.
        key: String,
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// Listing the services for the service variables failed.
    #[error("failed to list services when setting up env vars: {0}")]
    ListServices(#[source] kube::Error),
    /// The Service cache has not completed its first list (upstream's message).
    #[error("services have not yet been read at least once, cannot construct envvars")]
    ServicesNotSynced,
    /// A `fieldRef` names a field the downward API does not expose.
    #[error("unsupported fieldPath: {0}")]
    UnsupportedFieldPath(String),
    /// A `resourceFieldRef` could not be evaluated.
    #[error(transparent)]
    ResourceField(#[from] ResourceFieldError),
}

/// What the node knows about a pod that is not (yet) in its object.
#[derive(Clone, Debug, Default)]
pub struct PodNetwork {
    /// The node's IP (`status.hostIP`).
    pub host_ip: String,
    /// The pod's IP (`status.podIP`), once its sandbox runs.
    pub pod_ip: String,
}

/// A container's resolved environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedEnv {
    /// The variables, in order: `envFrom`, `env`, then service variables not set otherwise.
    pub vars: Vec<(String, String)>,
    /// Messages for `InvalidEnvironmentVariableNames` warning events (skipped `envFrom` keys).
    pub invalid_names: Vec<String>,
}

impl ResolvedEnv {
    /// Sets `name` (keeping its first position when it is set again).
    fn set(&mut self, name: String, value: String) {
        match self.vars.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name, value)),
        }
    }
}

/// Whether `name` is a valid environment variable name (`[-._a-zA-Z][-._a-zA-Z0-9]*`).
pub fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let allowed = |c: char| c == '-' || c == '.' || c == '_' || c.is_ascii_alphabetic();
    allowed(first) && chars.all(|c| allowed(c) || c.is_ascii_digit())
}

/// Expands `$(VAR)` references in `input` with `lookup`, as upstream's `expansion.Expand`:
/// `$$` is an escaped `$`, an unknown `$(VAR)` stays as written, and a `$` before anything
/// else is kept.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            out.push_str(&input[checkpoint..i]);
            match bytes[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                }
                b'(' => match input[i + 2..].find(')') {
                    Some(end) => {
                        let name = &input[i + 2..i + 2 + end];
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => out.push_str(&input[i..i + 3 + end]),
                        }
                        i += 3 + end;
                    }
                    None => {
                        // An unterminated reference is kept as written.
                        out.push_str(&input[i..]);
                        i = bytes.len();
                    }
                },
                _ => {
                    out.push('$');
                    i += 1;
                }
            }
            checkpoint = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

/// Expands `$(VAR)` in a container's `command` or `args` with its resolved environment.
pub fn expand_all(list: &[String], env: &[(String, String)]) -> Vec<String> {
    let map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    list.iter()
        .map(|s| expand(s, |n| map.get(n).map(|v| v.to_string())))
        .collect()
}

/// `my-svc` -> `MY_SVC`.
fn env_name(service: &str) -> String {
    service.to_uppercase().replace('-', "_")
}

fn has_cluster_ip(s: &Service) -> bool {
    s.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty() && ip != "None")
}

/// The variables Docker links would set for `services`, as upstream's `envvars.FromServices`
/// (services without a cluster IP are skipped).
pub fn service_env(services: &[Service]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in services.iter().filter(|s| has_cluster_ip(s)) {
        let spec = s.spec.clone().unwrap_or_default();
        let ip = spec.cluster_ip.unwrap_or_default();
        let name = env_name(s.metadata.name.as_deref().unwrap_or_default());
        let ports = spec.ports.unwrap_or_default();
        out.push((format!("{name}_SERVICE_HOST"), ip.clone()));
        if let Some(first) = ports.first() {
            out.push((format!("{name}_SERVICE_PORT"), first.port.to_string()));
        }
        for p in &ports {
            if let Some(port_name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.push((
                    format!("{name}_SERVICE_PORT_{}", env_name(port_name)),
                    p.port.to_string(),
                ));
            }
        }
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.clone()
        };
        for (i, p) in ports.iter().enumerate() {
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            let url = format!("{}://{host}:{}", protocol.to_lowercase(), p.port);
            let prefix = format!("{name}_PORT_{}_{}", p.port, protocol.to_uppercase());
            if i == 0 {
                out.push((format!("{name}_PORT"), url.clone()));
            }
            out.push((prefix.clone(), url));
            out.push((format!("{prefix}_PROTO"), protocol.to_lowercase()));
            out.push((format!("{prefix}_PORT"), p.port.to_string()));
            out.push((format!("{prefix}_ADDR"), ip.clone()));
        }
    }
    out
}

/// `k="v"` lines, sorted by key, as the downward API renders a whole label or annotation map.
pub fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of a downward API `fieldRef` (`metadata.name`, `metadata.labels['app']`,
/// `status.podIP`, ...).
pub fn field_value(pod: &Pod, net: &PodNetwork, path: &str) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix("['"))
            .and_then(|rest| rest.strip_suffix("']"))
    };
    if let Some(key) = subscript("metadata.labels") {
        return Ok(meta
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default());
    }
    if let Some(key) = subscript("metadata.annotations") {
        return Ok(meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .cloned()
            .unwrap_or_default());
    }
    let status = pod.status.clone().unwrap_or_default();
    let pod_ip = if net.pod_ip.is_empty() {
        status.pod_ip.clone().unwrap_or_default()
    } else {
        net.pod_ip.clone()
    };
    let host_ip = if net.host_ip.is_empty() {
        status.host_ip.clone().unwrap_or_default()
    } else {
        net.host_ip.clone()
    };
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(&meta.labels.clone().unwrap_or_default()),
        "metadata.annotations" => format_map(&meta.annotations.clone().unwrap_or_default()),
        "spec.nodeName" => spec.node_name.unwrap_or_default(),
        "spec.serviceAccountName" => spec.service_account_name.unwrap_or_default(),
        "status.hostIP" => host_ip,
        "status.hostIPs" => host_ip,
        "status.podIP" => pod_ip,
        "status.podIPs" => {
            let ips: Vec<String> = status
                .pod_ips
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.ip)
                .collect();
            if ips.is_empty() {
                pod_ip
            } else {
                ips.join(",")
            }
        }
        other => return Err(EnvError::UnsupportedFieldPath(other.to_string())),
    })
}

/// Reads a ConfigMap; None when it does not exist.
pub async fn get_config_map(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<ConfigMap>, EnvError> {
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|source| EnvError::GetConfigMap {
            namespace: namespace.into(),
            name: name.into(),
            source,
        })
}

/// Reads a Secret; None when it does not exist.
pub async fn get_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Secret>, EnvError> {
    Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|source| EnvError::GetSecret {
            namespace: namespace.into(),
            name: name.into(),
            source,
        })
}

/// A ConfigMap's entries as strings (`binaryData` decoded lossily).
fn config_map_entries(cm: &ConfigMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = cm.data.clone().unwrap_or_default();
    for (k, v) in cm.binary_data.clone().unwrap_or_default() {
        out.insert(k, String::from_utf8_lossy(&v.0).into_owned());
    }
    out
}

fn secret_entries(s: &Secret) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = s
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    out.extend(s.string_data.clone().unwrap_or_default());
    out
}

/// How long building an environment waits for the Service cache's first list.
const SERVICE_SYNC_WAIT: Duration = Duration::from_secs(10);

/// Every Service of the cluster, slimmed to what service variables need, kept by one watch
/// and shared by all the nodes of a process (upstream's kubelet `serviceLister`).
#[derive(Clone)]
pub struct ServiceCache {
    store: Store<Service>,
}

impl ServiceCache {
    /// Starts watching every Service through `client` until `stop` turns true; the task ends
    /// then.
    pub fn start(
        client: kube::Client,
        stop: watch::Receiver<bool>,
    ) -> (ServiceCache, tokio::task::JoinHandle<()>) {
        let informer = Informer::new(Api::<Service>::all(client), watcher::Config::default())
            .with_transform(slim_service);
        let store = informer.store();
        let task = informer.spawn(stop);
        (ServiceCache { store }, task)
    }

    /// Waits (at most `timeout`) for the first full list; false if it did not complete.
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, self.store.wait_until_ready()).await,
            Ok(Ok(()))
        )
    }

    /// The services whose variables `pod` gets: those of its namespace when service links
    /// are enabled, and the master service `default/kubernetes` always, sorted by name.
    async fn services_for(&self, pod: &Pod) -> Result<Vec<Service>, EnvError> {
        if !self.wait_synced(SERVICE_SYNC_WAIT).await {
            return Err(EnvError::ServicesNotSynced);
        }
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let links = pod
            .spec
            .as_ref()
            .and_then(|s| s.enable_service_links)
            .unwrap_or(true);
        let is_master = |s: &Service| {
            s.metadata.namespace.as_deref() == Some("default")
                && s.metadata.name.as_deref() == Some("kubernetes")
        };
        let mut services: Vec<Service> = Vec::new();
        if links {
            services.extend(
                self.store
                    .state()
                    .into_iter()
                    .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
                    .filter(|s| !is_master(s))
                    .map(|s| Service::clone(&s)),
            );
        }
        let master = ObjectRef::new("kubernetes").within("default");
        services.extend(self.store.get(&master).map(|s| Service::clone(&s)));
        services.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(services)
    }
}

/// The services whose variables the pod gets, read from the API server: those of its
/// namespace when service links are enabled, and `default/kubernetes` always.
async fn list_services_for(client: &kube::Client, pod: &Pod) -> Result<Vec<Service>, EnvError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let mut services = Vec::new();
    if links {
        let list = Api::<Service>::namespaced(client.clone(), &namespace)
            .list(&ListParams::default())
            .await
            .map_err(EnvError::ListServices)?;
        services.extend(list.items.into_iter().filter(|s| {
            !(namespace == "default" && s.metadata.name.as_deref() == Some("kubernetes"))
        }));
    }
    let master = Api::<Service>::namespaced(client.clone(), "default")
        .get_opt("kubernetes")
        .await
        .map_err(EnvError::ListServices)?;
    services.extend(master);
    services.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(services)
}

/// Keeps only what service variables read: name, namespace and the cluster IP and ports.
fn slim_service(s: &mut Service) {
    let spec = s.spec.take().unwrap_or_default();
    s.spec = Some(ServiceSpec {
        cluster_ip: spec.cluster_ip,
        ports: spec.ports,
        ..Default::default()
    });
    s.status = None;
    let meta = &mut s.metadata;
    meta.managed_fields = None;
    meta.annotations = None;
    meta.labels = None;
    meta.owner_references = None;
    meta.finalizers = None;
}

/// Builds `container`'s environment in `pod` (see the module docs), reading the services
/// from the API server; `allocatable` is the node's allocatable resources, the default for
/// unset limits in `resourceFieldRef`.
pub async fn resolve(
    client: &kube::Client,
    pod: &Pod,
    container: &Container,
    net: &PodNetwork,
    allocatable: &BTreeMap<String, String>,
) -> Result<ResolvedEnv, EnvError> {
    let services = list_services_for(client, pod).await?;
    build(client, &services, pod, container, net, allocatable).await
}

/// [`resolve`] with the services from the node's [`ServiceCache`]: what pod workers call, so
/// starting a container reads no Services from the API server.
pub async fn resolve_with_services(
    client: &kube::Client,
    services: &ServiceCache,
    pod: &Pod,
    container: &Container,
    net: &PodNetwork,
    allocatable: &BTreeMap<String, String>,
) -> Result<ResolvedEnv, EnvError> {
    let services = services.services_for(pod).await?;
    build(client, &services, pod, container, net, allocatable).await
}

async fn build(
    client: &kube::Client,
    services: &[Service],
    pod: &Pod,
    container: &Container,
    net: &PodNetwork,
    allocatable: &BTreeMap<String, String>,
) -> Result<ResolvedEnv, EnvError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let service_vars = service_env(services);
    let service_map: HashMap<String, String> = service_vars.iter().cloned().collect();
    let mut env = ResolvedEnv::default();

    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.clone().unwrap_or_default();
        let (entries, kind, name) = if let Some(r) = &source.config_map_ref {
            match get_config_map(client, &namespace, &r.name).await? {
                Some(cm) => (config_map_entries(&cm), "configMap", r.name.clone()),
                None if r.optional == Some(true) => continue,
                None => return Err(EnvError::ConfigMapNotFound(r.name.clone())),
            }
        } else if let Some(r) = &source.secret_ref {
            match get_secret(client, &namespace, &r.name).await? {
                Some(s) => (secret_entries(&s), "secret", r.name.clone()),
                None if r.optional == Some(true) => continue,
                None => return Err(EnvError::SecretNotFound(r.name.clone())),
            }
        } else {
            continue;
        };
        let mut invalid = Vec::new();
        for (k, v) in entries {
            let key = format!("{prefix}{k}");
            if is_env_var_name(&key) {
                env.set(key, v);
            } else {
                invalid.push(key);
            }
        }
        if !invalid.is_empty() {
            env.invalid_names.push(format!(
                "Keys [{}] from the EnvFrom {kind} {namespace}/{name} were skipped since they are considered invalid environment variable names.",
                invalid.join(", ")
            ));
        }
    }

    for var in container.env.iter().flatten() {
        let value = if let Some(from) = &var.value_from {
            if let Some(f) = &from.field_ref {
                field_value(pod, net, &f.field_path)?
            } else if let Some(r) = &from.resource_field_ref {
                let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
                    Some(n) => find_container(pod, n).unwrap_or(container),
                    None => container,
                };
                resource_field_value(
                    target,
                    &r.resource,
                    r.divisor.as_ref().map(|d| d.0.as_str()),
                    allocatable,
                )?
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional == Some(true);
                match get_config_map(client, &namespace, &r.name).await? {
                    None if optional => continue,
                    None => return Err(EnvError::ConfigMapNotFound(r.name.clone())),
                    Some(cm) => match config_map_entries(&cm).remove(&r.key) {
                        Some(v) => v,
                        None if optional => continue,
                        None => {
                            return Err(EnvError::ConfigMapKeyNotFound {
                                key: r.key.clone(),
                                namespace: namespace.clone(),
                                name: r.name.clone(),
                            });
                        }
                    },
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional == Some(true);
                match get_secret(client, &namespace, &r.name).await? {
                    None if optional => continue,
                    None => return Err(EnvError::SecretNotFound(r.name.clone())),
                    Some(s) => match secret_entries(&s).remove(&r.key) {
                        Some(v) => v,
                        None if optional => continue,
                        None => {
                            return Err(EnvError::SecretKeyNotFound {
                                key: r.key.clone(),
                                namespace: namespace.clone(),
                                name: r.name.clone(),
                            });
                        }
                    },
                }
            } else {
                String::new()
            }
        } else {
            let raw = var.value.clone().unwrap_or_default();
            let current: HashMap<&str, &str> = env
                .vars
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            expand(&raw, |name| {
                current
                    .get(name)
                    .map(|v| v.to_string())
                    .or_else(|| service_map.get(name).cloned())
            })
        };
        env.set(var.name.clone(), value);
    }

    for (k, v) in service_vars {
        if !env.vars.iter().any(|(n, _)| *n == k) {
            env.vars.push((k, v));
        }
    }
    Ok(env)
}

fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "B" => Some("beta".into()),
            _ => None,
        }
    }

    #[test]
    fn references_expand_and_dollars_escape_as_upstream() {
        assert_eq!(expand("$(A)-$(B)", lookup), "alpha-beta");
        assert_eq!(expand("$$(A)", lookup), "$(A)");
        assert_eq!(expand("$(UNKNOWN)", lookup), "$(UNKNOWN)");
        assert_eq!(expand("cost $5", lookup), "cost $5");
        assert_eq!(expand("$(A", lookup), "$(A");
        assert_eq!(expand("trailing $", lookup), "trailing $");
        assert_eq!(expand("plain", lookup), "plain");
    }

    #[test]
    fn only_valid_names_are_environment_variables() {
        assert!(is_env_var_name("PATH"));
        assert!(is_env_var_name("my.var-1"));
        assert!(!is_env_var_name("1ABC"));
        assert!(!is_env_var_name("A B"));
        assert!(!is_env_var_name(""));
    }

    #[test]
    fn services_give_docker_link_variables() {
        let svc = Service {
            metadata: ObjectMeta {
                name: Some("my-svc".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some("10.96.0.10".into()),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let env: HashMap<String, String> = service_env(&[svc]).into_iter().collect();
        assert_eq!(env["MY_SVC_SERVICE_HOST"], "10.96.0.10");
        assert_eq!(env["MY_SVC_SERVICE_PORT"], "80");
        assert_eq!(env["MY_SVC_SERVICE_PORT_HTTP"], "80");
        assert_eq!(env["MY_SVC_PORT"], "tcp://10.96.0.10:80");
        assert_eq!(env["MY_SVC_PORT_80_TCP"], "tcp://10.96.0.10:80");
        assert_eq!(env["MY_SVC_PORT_80_TCP_PROTO"], "tcp");
        assert_eq!(env["MY_SVC_PORT_80_TCP_PORT"], "80");
        assert_eq!(env["MY_SVC_PORT_80_TCP_ADDR"], "10.96.0.10");
    }

    #[test]
    fn field_refs_read_the_pod() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("prod".into()),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let net = PodNetwork {
            host_ip: "10.0.0.2".into(),
            pod_ip: "10.244.0.5".into(),
        };
        assert_eq!(field_value(&pod, &net, "metadata.name").unwrap(), "web");
        assert_eq!(
            field_value(&pod, &net, "metadata.labels['app']").unwrap(),
            "web"
        );
        assert_eq!(
            field_value(&pod, &net, "metadata.labels").unwrap(),
            "app=\"web\""
        );
        assert_eq!(
            field_value(&pod, &net, "status.podIP").unwrap(),
            "10.244.0.5"
        );
        assert!(field_value(&pod, &net, "spec.bogus").is_err());
    }
}
