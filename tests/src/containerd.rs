//! A private containerd for one test: [`Containerd::start`] prepares the node with
//! `scripts/prepare-node.sh` (packages and local images, idempotent), writes a configuration
//! whose root, state, socket and CNI network (its own bridge and /24) live under a temp
//! directory, starts `containerd` on it, imports the local images, and on drop kills its
//! containers and the daemon by PID and removes what it made. Tests never touch the system
//! containerd.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The images every private containerd has: busybox and the sandbox image.
pub const BUSYBOX_IMAGE: &str = "docker.io/library/busybox:latest";

/// A running private containerd.
pub struct Containerd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    bridge: String,
    /// The pods' subnet (`10.X.Y.0/24`).
    pub subnet: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/prepare-node.sh")
}

fn image_dir() -> PathBuf {
    std::env::var_os("FERROKUBE_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/ferrokube/images"))
}

/// Runs `prepare-node.sh all` once per test process.
fn prepare() -> Result<()> {
    static PREPARED: OnceLock<Result<(), String>> = OnceLock::new();
    PREPARED
        .get_or_init(|| {
            let out = Command::new("bash")
                .arg(script())
                .arg("all")
                .output()
                .map_err(|e| format!("run prepare-node.sh: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "prepare-node.sh failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(())
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

fn ctr(socket: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("ctr")
        .arg("--address")
        .arg(socket)
        .args(["--namespace", "k8s.io"])
        .args(args)
        .output()
        .context("run ctr")?;
    if !out.status.success() {
        bail!(
            "ctr {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Containerd {
    /// Starts a private containerd with the local images imported.
    pub fn start() -> Result<Self> {
        prepare()?;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let bridge = format!("fk{:x}x{n}", pid % 0xfffff);
        let subnet = format!("10.{}.{}.0/24", 200 + pid % 50, (pid / 50 + n) % 256);
        let dir = tempfile::Builder::new().prefix("ctrd").tempdir()?;
        let out = Command::new("bash")
            .arg(script())
            .arg("config")
            .arg(dir.path())
            .arg(&subnet)
            .arg(&bridge)
            .output()?;
        if !out.status.success() {
            bail!(
                "prepare-node.sh config failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let log = std::fs::File::create(dir.path().join("containerd.log"))?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start containerd")?;
        let mut c = Containerd {
            child: Some(child),
            dir,
            bridge,
            subnet,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        // The socket appears before the CRI plugin is ready; `ctr version` answering means
        // the daemon serves.
        loop {
            if c.socket().exists() && ctr(&c.socket(), &["version"]).is_ok() {
                break;
            }
            if let Some(status) = c.child.as_mut().and_then(|ch| ch.try_wait().ok().flatten()) {
                bail!("containerd exited with {status}:\n{}", c.log());
            }
            if Instant::now() > deadline {
                bail!("containerd did not serve within 30 s:\n{}", c.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for image in ["busybox.tar", "pause.tar"] {
            let path = image_dir().join(image);
            ctr(
                &c.socket(),
                &["images", "import", &path.display().to_string()],
            )?;
        }
        Ok(c)
    }

    /// The socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// The CRI endpoint (`unix:///.../containerd.sock`).
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// A directory that lives as long as this containerd (e.g. for pod logs).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// Kills every container, then the daemon, and removes the network namespaces and the
    /// bridge it made.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let socket = self.socket();
        if let Ok(tasks) = ctr(&socket, &["tasks", "ls", "-q"]) {
            for id in tasks.lines().filter(|l| !l.is_empty()) {
                let _ = ctr(
                    &socket,
                    &["tasks", "kill", "--all", "--signal", "SIGKILL", id],
                );
            }
            for id in tasks.lines().filter(|l| !l.is_empty()) {
                for _ in 0..50 {
                    if ctr(&socket, &["tasks", "delete", id]).is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let netns = self.dir.path().join("state/netns");
        if let Ok(entries) = std::fs::read_dir(&netns) {
            for e in entries.flatten() {
                let _ = Command::new("umount").arg(e.path()).output();
            }
        }
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .stderr(Stdio::null())
            .output();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
    }
}
