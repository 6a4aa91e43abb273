//! Facts about the machine a node reports in `status.nodeInfo`: kernel, OS image,
//! architecture (in Go's naming), machine id and boot id. Simulated nodes get their own
//! machine and system UUIDs so each looks like a distinct machine.

/// What `status.nodeInfo` says about the machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// `amd64`, `arm64`, ...
    pub arch: String,
    /// `uname -r`.
    pub kernel_version: String,
    /// `/etc/os-release` `PRETTY_NAME`.
    pub os_image: String,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// `/sys/class/dmi/id/product_uuid` when readable.
    pub system_uuid: String,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Go's `GOARCH` for Rust's `target_arch`.
pub fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The `PRETTY_NAME` of an os-release file.
pub fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|l| {
        l.strip_prefix("PRETTY_NAME=")
            .map(|v| v.trim_matches('"').to_string())
    })
}

impl HostInfo {
    /// This machine's facts.
    pub fn detect() -> HostInfo {
        HostInfo {
            arch: go_arch(std::env::consts::ARCH).to_string(),
            kernel_version: read("/proc/sys/kernel/osrelease"),
            os_image: pretty_name(&read("/etc/os-release")).unwrap_or_else(|| "Linux".into()),
            machine_id: read("/etc/machine-id"),
            system_uuid: read("/sys/class/dmi/id/product_uuid"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
        }
    }

    /// These facts for a simulated machine: its own machine id and system UUID.
    pub fn simulated(&self) -> HostInfo {
        let id = uuid_like();
        HostInfo {
            machine_id: id.replace('-', ""),
            system_uuid: id,
            ..self.clone()
        }
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::rng().random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The host name a node is named after when `--hostname-override` is not given.
pub fn hostname() -> String {
    let name = read("/proc/sys/kernel/hostname");
    if name.is_empty() {
        "localhost".into()
    } else {
        name.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_use_go_names() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
    }

    #[test]
    fn the_os_image_is_the_pretty_name() {
        let release = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            pretty_name(release).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }
}
