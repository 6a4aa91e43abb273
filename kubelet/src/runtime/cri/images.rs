//! Images and the runtime's identity: Version, ImageStatus (is an image present?), PullImage
//! and ListImages (the Node's `status.images`).

use k8s_cri::v1 as cri;
use tracing::info;

use super::call_error;
use super::connection::Clients;
use crate::runtime::{NodeImage, RuntimeError, RuntimeVersion, image};

/// The CRI API version asked for.
const CRI_VERSION: &str = "v1";

/// The runtime's name and version.
pub async fn version(clients: &Clients) -> Result<RuntimeVersion, RuntimeError> {
    let v = clients
        .runtime
        .clone()
        .version(cri::VersionRequest {
            version: CRI_VERSION.into(),
        })
        .await
        .map_err(call_error("Version"))?
        .into_inner();
    Ok(RuntimeVersion {
        name: v.runtime_name,
        version: v.runtime_version,
    })
}

fn spec(image: &str) -> cri::ImageSpec {
    cri::ImageSpec {
        image: image::normalize(image),
        user_specified_image: image.to_string(),
        ..Default::default()
    }
}

/// The image's reference (its id) when it is present on the node.
pub async fn status(clients: &Clients, image: &str) -> Result<Option<String>, RuntimeError> {
    let response = clients
        .images
        .clone()
        .image_status(cri::ImageStatusRequest {
            image: Some(spec(image)),
            verbose: false,
        })
        .await
        .map_err(call_error("ImageStatus"))?
        .into_inner();
    Ok(response.image.map(|i| i.id))
}

/// Pulls an image; the error carries the runtime's message (the `ErrImagePull` message).
pub async fn pull(clients: &Clients, image: &str) -> Result<String, RuntimeError> {
    info!(image, "pulling image");
    let response = clients
        .images
        .clone()
        .pull_image(cri::PullImageRequest {
            image: Some(spec(image)),
            auth: None,
            sandbox_config: None,
        })
        .await
        .map_err(|s| {
            RuntimeError::ImagePull(format!(
                "rpc error: code = {:?} desc = {}",
                s.code(),
                s.message()
            ))
        })?;
    Ok(response.into_inner().image_ref)
}

/// The images on the node.
pub async fn list(clients: &Clients) -> Result<Vec<NodeImage>, RuntimeError> {
    let response = clients
        .images
        .clone()
        .list_images(cri::ListImagesRequest { filter: None })
        .await
        .map_err(call_error("ListImages"))?
        .into_inner();
    Ok(response
        .images
        .into_iter()
        .map(|i| NodeImage {
            names: i.repo_digests.into_iter().chain(i.repo_tags).collect(),
            size_bytes: i64::try_from(i.size).unwrap_or(i64::MAX),
        })
        .collect())
}
