//! Client setup: `--kubeconfig` (or `$KUBECONFIG`, `~/.kube/config`), else the in-cluster
//! service account, with the component's user agent; [`connect_with_limit`] also applies a
//! client-side request rate limit (`--kube-api-qps` / `--kube-api-burst`) to every request.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::Error;
use crate::token_bucket::TokenBucket;

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

/// A client-side request rate limit, as client-go's `rest.Config` `QPS` and `Burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// `--kube-api-qps`: sustained requests per second; zero or less means no limit.
    pub qps: f32,
    /// `--kube-api-burst`: requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// Builds a client from the options whose every request (watches included, as client-go)
/// first takes a token from a `limit.qps` / `limit.burst` bucket; a non-positive qps means no
/// limit.
pub async fn connect_with_limit(
    opts: &ClientOptions,
    limit: RateLimit,
) -> Result<kube::Client, Error> {
    let config = config(opts).await?;
    if limit.qps <= 0.0 {
        return Ok(kube::Client::try_from(config)?);
    }
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(builder.with_layer(&RateLimitLayer::new(limit)).build())
}

/// A tower layer that admits requests at the rate of a shared [`TokenBucket`].
#[derive(Clone)]
struct RateLimitLayer {
    bucket: Arc<Mutex<TokenBucket>>,
}

impl RateLimitLayer {
    fn new(limit: RateLimit) -> Self {
        let bucket = TokenBucket::new(f64::from(limit.qps), limit.burst, std::time::Instant::now());
        RateLimitLayer {
            bucket: Arc::new(Mutex::new(bucket)),
        }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            bucket: self.bucket.clone(),
            wait: None,
            granted: false,
        }
    }
}

/// A service that is ready only once it holds a token, so the client's request buffer hands
/// requests on no faster than the bucket allows.
struct RateLimited<S> {
    inner: S,
    bucket: Arc<Mutex<TokenBucket>>,
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    granted: bool,
}

impl<S, R> tower::Service<R> for RateLimited<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if !self.granted {
            if self.wait.is_none() {
                let delay = self
                    .bucket
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reserve(std::time::Instant::now());
                if delay > Duration::ZERO {
                    self.wait = Some(Box::pin(tokio::time::sleep(delay)));
                }
            }
            if let Some(wait) = self.wait.as_mut() {
                if wait.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.wait = None;
            }
            self.granted = true;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> S::Future {
        self.granted = false;
        self.inner.call(req)
    }
}
