//! `ferrokube agent`: joins this machine's kubelet to a running `ferrokube server` with a
//! bootstrap token, as `kubeadm join` does with token discovery — cluster-info fetched and
//! checked ([`ferrokube_apiserver::bootstraptoken::discovery`]), a kubeconfig written to
//! `<data-dir>/kubelet.kubeconfig` with the token as the node's credential — then runs the
//! kubelet exactly as `ferrokube kubelet --kubeconfig` with the same flags. (Upstream then
//! trades the token for a node client certificate through a CSR; that step is left out.)

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use ferrokube_apiserver::bootstraptoken::discovery;

use crate::KubeletFlags;

/// The `ferrokube agent` flags: how to find and trust the server, then every kubelet flag.
#[derive(Args)]
pub struct AgentFlags {
    /// The server to join: https://HOST:PORT (HOST:PORT is taken as https).
    #[arg(long)]
    server: String,
    /// The join token, <id>.<secret> (`cat <data-dir>/node-token` on the server).
    #[arg(long)]
    token: String,
    /// sha256:<hex> of the cluster CA's public key (SubjectPublicKeyInfo), as the server logs
    /// it; the CA in cluster-info must match one of them. Repeatable.
    #[arg(long)]
    discovery_token_ca_cert_hash: Vec<String>,
    /// Where the agent writes its kubeconfig (kubelet.kubeconfig).
    #[arg(long, default_value = "/var/lib/ferrokube/agent")]
    data_dir: PathBuf,
    #[command(flatten)]
    kubelet: KubeletFlags,
}

impl AgentFlags {
    /// Discovers and trusts the cluster, writes the node's kubeconfig, and returns the kubelet
    /// configuration that uses it.
    pub async fn join(mut self) -> anyhow::Result<ferrokube_kubelet::Config> {
        if self.kubelet.kubeconfig.is_some() {
            bail!("ferrokube agent writes its own kubeconfig under --data-dir; drop --kubeconfig");
        }
        let found = discovery::discover(
            &self.server,
            &self.token,
            &self.discovery_token_ca_cert_hash,
        )
        .await
        .with_context(|| format!("joining the cluster at {}", self.server))?;
        let path = self.data_dir.join("kubelet.kubeconfig");
        let server = if self.server.contains("://") {
            self.server.trim_end_matches('/').to_string()
        } else {
            format!("https://{}", self.server.trim_end_matches('/'))
        };
        discovery::write_kubeconfig(&path, &server, &found.ca_pem, self.token.trim())?;
        tracing::info!(kubeconfig = %path.display(), %server, "joined the cluster; starting the kubelet");
        if self.kubelet.runtime.is_none() {
            let endpoint = &self.kubelet.container_runtime_endpoint;
            let socket = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
            if !std::path::Path::new(socket).exists() {
                bail!(
                    "no container runtime: {socket} does not exist; start containerd (scripts/prepare-node.sh node), give --container-runtime-endpoint, or pass --runtime sim"
                );
            }
            self.kubelet.runtime = Some("cri".into());
        }
        self.kubelet.kubeconfig = Some(path);
        Ok(self.kubelet.into_config())
    }
}
