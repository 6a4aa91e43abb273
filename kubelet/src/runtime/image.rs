//! Image references as containerd reports them: a pod spec's `busybox` is
//! `docker.io/library/busybox:latest`, and its digest reference
//! `docker.io/library/busybox@sha256:<digest>`.

/// The fully qualified reference of `image` (default registry `docker.io`, `library/` for
/// official images, tag `latest`).
pub fn normalize(image: &str) -> String {
    let (name, suffix) = match image.find('@') {
        Some(at) => (&image[..at], image[at..].to_string()),
        None => {
            let last_slash = image.rfind('/').map_or(0, |i| i + 1);
            match image[last_slash..].find(':') {
                Some(colon) => (
                    &image[..last_slash + colon],
                    image[last_slash + colon..].to_string(),
                ),
                None => (image, ":latest".to_string()),
            }
        }
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let qualified = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{qualified}{suffix}")
}

/// The repository part of a normalized reference (no tag, no digest).
pub fn repository(normalized: &str) -> &str {
    if let Some(at) = normalized.find('@') {
        return &normalized[..at];
    }
    let last_slash = normalized.rfind('/').map_or(0, |i| i + 1);
    match normalized[last_slash..].find(':') {
        Some(colon) => &normalized[..last_slash + colon],
        None => normalized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_images_live_under_library_on_docker_hub() {
        assert_eq!(normalize("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(normalize("nginx:1.27"), "docker.io/library/nginx:1.27");
    }

    #[test]
    fn user_images_and_registries_keep_their_path() {
        assert_eq!(normalize("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(
            normalize("registry.k8s.io/pause:3.10"),
            "registry.k8s.io/pause:3.10"
        );
        assert_eq!(normalize("localhost:5000/app"), "localhost:5000/app:latest");
    }

    #[test]
    fn digests_are_kept_and_the_repository_drops_tag_and_digest() {
        assert_eq!(
            normalize("busybox@sha256:ab"),
            "docker.io/library/busybox@sha256:ab"
        );
        assert_eq!(
            repository("docker.io/library/busybox:latest"),
            "docker.io/library/busybox"
        );
        assert_eq!(
            repository("localhost:5000/app@sha256:1"),
            "localhost:5000/app"
        );
    }
}
