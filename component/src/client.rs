//! Client setup: `--kubeconfig` (or `$KUBECONFIG`, `~/.kube/config`), else the in-cluster
//! service account, with the component's user agent.

use std::path::Path;

use crate::Error;

/// Client options shared by every component's flags.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// `--kubeconfig`; None tries `$KUBECONFIG`, `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The user agent, e.g. `ferrokube-controller-manager`.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            kubeconfig: None,
            user_agent: "ferrokube".into(),
        }
    }
}

/// Loads the client configuration the options name.
pub async fn config(opts: &ClientOptions) -> Result<kube::Config, Error> {
    let mut config = match &opts.kubeconfig {
        Some(path) => from_file(path).await?,
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::LoadConfig(e.to_string()))?,
    };
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&opts.user_agent)
            .map_err(|e| Error::LoadConfig(e.to_string()))?,
    ));
    Ok(config)
}

async fn from_file(path: &Path) -> Result<kube::Config, Error> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| Error::LoadConfig(format!("{}: {e}", path.display())))?;
    kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| Error::LoadConfig(format!("{}: {e}", path.display())))
}

/// Builds a client from the options.
pub async fn connect(opts: &ClientOptions) -> Result<kube::Client, Error> {
    let config = config(opts).await?;
    Ok(kube::Client::try_from(config)?)
}
