//! Connecting to the CRI endpoint: a tonic channel over a unix socket
//! (`unix:///run/containerd/containerd.sock`), shared by the runtime and image clients.

use std::path::PathBuf;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::CriError;

/// The clients of one CRI endpoint (cheap to clone: they share one HTTP/2 connection).
#[derive(Clone, Debug)]
pub struct Clients {
    /// CRI `RuntimeService`.
    pub runtime: RuntimeServiceClient<Channel>,
    /// CRI `ImageService`.
    pub images: ImageServiceClient<Channel>,
}

/// The socket path of a `--container-runtime-endpoint` (`unix:///path` or a bare path).
pub fn socket_path(endpoint: &str) -> Result<PathBuf, CriError> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if path.is_empty() || !path.starts_with('/') {
        return Err(CriError::Endpoint(endpoint.to_string()));
    }
    Ok(PathBuf::from(path))
}

/// Connects to the CRI endpoint (the connection is made at once, so a missing socket fails
/// here rather than on the first call).
pub async fn connect(endpoint: &str) -> Result<Clients, CriError> {
    let path = socket_path(endpoint)?;
    // The URI is required by tonic but unused: every connection dials the socket.
    let channel = Endpoint::from_static("http://cri.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .map_err(|e| CriError::Connect(endpoint.to_string(), e.to_string()))?;
    Ok(Clients {
        runtime: RuntimeServiceClient::new(channel.clone())
            .max_decoding_message_size(16 * 1024 * 1024),
        images: ImageServiceClient::new(channel).max_decoding_message_size(16 * 1024 * 1024),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_unix_socket_paths() {
        assert_eq!(
            socket_path("unix:///run/containerd/containerd.sock").unwrap(),
            PathBuf::from("/run/containerd/containerd.sock")
        );
        assert_eq!(
            socket_path("/tmp/c.sock").unwrap(),
            PathBuf::from("/tmp/c.sock")
        );
        assert!(socket_path("tcp://127.0.0.1:1").is_err());
    }
}
