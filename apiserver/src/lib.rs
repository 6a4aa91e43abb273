//! The Ferrokube Kubernetes API server.
//!
//! The entry point is [`run`], which takes a [`Config`] and serves the Kubernetes v1.33 API
//! over HTTPS from a revisioned store ([`ferrokube_storage`]: embedded SQLite or etcd) through
//! a watch cache, until the shutdown future resolves. On first start it creates its data
//! directory, its PKI and an admin kubeconfig, and the namespaces and `kubernetes` Service every
//! cluster has.

pub mod allocator;
pub mod apply;
pub mod binding;
pub mod bootstraptoken;
pub mod cache;
pub mod decode;
pub mod discovery;
pub mod handlers;
pub mod http;
pub mod managedfields;
pub mod metrics;
pub mod node_proxy;
pub mod objects;
pub mod patching;
pub mod pki;
pub mod registry;
pub mod request;
pub mod reviews;
pub mod serviceaccount;
pub mod status;
pub mod storage_metrics;
pub mod strategy;
pub mod watch;

mod bootstrap;
mod router;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use ferrokube_apimachinery::patch::OpenApiSchemas;
use tracing::info;

use crate::allocator::Allocator;
use crate::cache::WatchCache;
use crate::objects::Objects;
use crate::registry::Registry;

/// The Kubernetes version served, as `/version` reports it.
pub const KUBERNETES_VERSION: &str = "v1.33.0";

/// How the API server is started (the `ferrokube apiserver` / `server` flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the PKI, the kubeconfig and the SQLite database live (`--data-dir`).
    pub data_dir: PathBuf,
    /// `--datastore`: `sqlite://PATH` or `etcd://HOST:PORT[,...]`; None means
    /// `sqlite://<data-dir>/state.db`.
    pub datastore: Option<String>,
    /// `--bind-address`.
    pub bind_address: IpAddr,
    /// `--secure-port` (0 picks a free port; the chosen one is logged and written to
    /// `<data-dir>/port`).
    pub secure_port: u16,
    /// The address clients use to reach this server (goes into the kubeconfig and discovery).
    pub advertise_address: IpAddr,
    /// `--service-cluster-ip-range`.
    pub service_cluster_ip_range: String,
    /// `--service-node-port-range`.
    pub service_node_port_range: (u16, u16),
    /// Where to write the admin kubeconfig; None means `<data-dir>/admin.kubeconfig`.
    pub kubeconfig_path: Option<PathBuf>,
    /// Events kept per resource in the watch cache for watches that resume.
    pub watch_cache_window: usize,
    /// Extra names and IPs for the serving certificate.
    pub tls_sans: Vec<String>,
    /// `--service-account-issuer`: the `iss` of the tokens issued here.
    pub service_account_issuer: String,
    /// `--service-account-signing-key-file`: a PEM ECDSA P-256 key; None means
    /// `<data-dir>/tls/sa.key`, made on first start.
    pub service_account_signing_key_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("/var/lib/ferrokube"),
            datastore: None,
            bind_address: IpAddr::from([0, 0, 0, 0]),
            secure_port: 6443,
            advertise_address: IpAddr::from([127, 0, 0, 1]),
            service_cluster_ip_range: "10.43.0.0/16".into(),
            service_node_port_range: (30000, 32767),
            kubeconfig_path: None,
            watch_cache_window: 1000,
            tls_sans: Vec::new(),
            service_account_issuer: serviceaccount::DEFAULT_ISSUER.into(),
            service_account_signing_key_file: None,
        }
    }
}

/// Why the API server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data directory could not be created or read.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Making or loading certificates failed.
    #[error("pki: {0}")]
    Pki(String),
    /// The store could not be opened or read.
    #[error("storage: {0}")]
    Storage(#[from] ferrokube_storage::StorageError),
    /// The listener could not be bound.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The OpenAPI documents could not be built.
    #[error("openapi: {0}")]
    OpenApi(#[from] ferrokube_openapi::OpenApiError),
}

/// A running API server's shared state.
pub struct Apiserver {
    /// The objects: registry, store, cache, allocators.
    pub objects: Objects,
    /// The OpenAPI documents.
    pub openapi: ferrokube_openapi::OpenApi,
    /// The OpenAPI definitions as the strategic merge patch reads them (shared with
    /// [`Objects::schemas`]).
    pub schemas: Arc<OpenApiSchemas>,
    /// The bearer token that authenticates as the admin.
    pub admin_token: String,
    /// The address clients reach us at (`host:port`).
    pub server_address: String,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// The CA certificate (PEM) published in every namespace's `kube-root-ca.crt`.
    pub ca_cert: String,
    /// The client kubelets are called with (`pods/log`, `pods/exec`, `nodes/proxy`).
    pub kubelet: node_proxy::KubeletClient,
    /// The service account token signing key and settings.
    pub tokens: serviceaccount::Tokens,
}

/// What `run` reports once it is serving.
#[derive(Clone, Debug)]
pub struct Started {
    /// The address the server listens on.
    pub addr: SocketAddr,
    /// The admin kubeconfig path.
    pub kubeconfig: PathBuf,
}

/// Starts the API server and serves until `shutdown` resolves. `on_started` is told the
/// address and kubeconfig once the server accepts connections.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
    on_started: impl FnOnce(Started),
) -> Result<(), Error> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let datastore = config
        .datastore
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", config.data_dir.join("state.db").display()));
    let mut sans = config.tls_sans.clone();
    sans.push(config.advertise_address.to_string());
    if !config.bind_address.is_unspecified() {
        sans.push(config.bind_address.to_string());
    }
    let pki = pki::Pki::load_or_create(&config.data_dir, &sans)?;
    let tokens = serviceaccount::Tokens {
        key: serviceaccount::SigningKey::load_or_create(
            &config
                .service_account_signing_key_file
                .clone()
                .unwrap_or_else(|| config.data_dir.join("tls").join("sa.key")),
        )?,
        settings: serviceaccount::TokenSettings {
            issuer: config.service_account_issuer.clone(),
            audiences: vec![config.service_account_issuer.clone()],
        },
    };
    let metrics = Arc::new(metrics::Metrics::new());
    let backend = storage_metrics::Instrumented::wrap(
        ferrokube_storage::open(&datastore).await?,
        metrics.clone(),
    );
    let registry = Arc::new(Registry::new());
    let cache =
        WatchCache::start(registry.clone(), backend.clone(), config.watch_cache_window).await?;
    let allocator = Allocator::new(
        &config.service_cluster_ip_range,
        config.service_node_port_range,
    )
    .map_err(Error::Config)?;
    let resources: Vec<ferrokube_openapi::ResourceInfo> = registry
        .all()
        .iter()
        .map(|r| ferrokube_openapi::ResourceInfo {
            group: r.group.into(),
            version: r.version.into(),
            kind: r.kind.into(),
            plural: r.plural.into(),
            namespaced: r.namespaced,
            verbs: r.verbs.iter().map(|v| v.to_string()).collect(),
            subresources: r.subresources.iter().map(|v| v.to_string()).collect(),
            definition: r.definition.into(),
        })
        .collect();
    let openapi = ferrokube_openapi::OpenApi::new(&resources, Default::default())?;
    let definitions = serde_json::from_slice::<serde_json::Value>(openapi.v2())
        .ok()
        .and_then(|v| v.get("definitions").and_then(|d| d.as_object()).cloned())
        .unwrap_or_default();
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::new(config.bind_address, config.secure_port))
            .await
            .map_err(|source| Error::Listen {
                addr: SocketAddr::new(config.bind_address, config.secure_port),
                source,
            })?;
    let addr = listener.local_addr().map_err(|source| Error::Listen {
        addr: SocketAddr::new(config.bind_address, config.secure_port),
        source,
    })?;
    let server_address = SocketAddr::new(config.advertise_address, addr.port()).to_string();
    let schemas = Arc::new(OpenApiSchemas::new(definitions));
    let state = Arc::new(Apiserver {
        objects: Objects {
            registry,
            backend,
            cache,
            allocator,
            schemas: schemas.clone(),
        },
        openapi,
        schemas,
        admin_token: pki.admin_token.clone(),
        server_address: server_address.clone(),
        metrics,
        ca_cert: pki.ca_cert.clone(),
        kubelet: node_proxy::KubeletClient::new(&pki.kubelet_client_cert, &pki.kubelet_client_key)?,
        tokens,
    });
    bootstrap::ensure_defaults(&state).await?;
    bootstraptoken::start(&state, &config.data_dir).await?;
    let kubeconfig_path = config
        .kubeconfig_path
        .clone()
        .unwrap_or_else(|| config.data_dir.join("admin.kubeconfig"));
    let kubeconfig =
        pki.write_kubeconfig(&kubeconfig_path, &format!("https://{server_address}"))?;
    let _ = std::fs::write(config.data_dir.join("port"), addr.port().to_string());
    let tls = http::tls_config(&pki)?;
    info!(%addr, kubeconfig = %kubeconfig.display(), datastore = %datastore, "API server serving");
    on_started(Started { addr, kubeconfig });
    let handler_state = state.clone();
    http::serve(
        listener,
        tls,
        move |req, user, peer| {
            let state = handler_state.clone();
            async move { router::handle(state, req, user, peer).await }
        },
        shutdown,
    )
    .await
}
