//! The processes a benchmark runs against: `ferrokube apiserver` on a temporary data directory
//! (SQLite, or a private etcd), stopped by its own process id when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::client::{Connector, Protocol};

/// How long a started API server may take to write its port file and answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `ferrokube apiserver` child process.
pub struct ApiServer {
    child: Child,
    /// Its data directory (removed on drop).
    _dir: tempfile::TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The admin bearer token.
    pub token: String,
    /// The cluster CA (PEM).
    pub ca: Vec<u8>,
}

impl ApiServer {
    /// Starts `binary apiserver` on a fresh data directory and a free port; `datastore` is a
    /// `--datastore` URL (None: SQLite in the data directory).
    pub fn start(binary: &Path, datastore: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("ferrokube-bench-")
            .tempdir()?;
        let log = std::fs::File::create(dir.path().join("apiserver.log"))?;
        let mut command = Command::new(binary);
        command
            .arg("apiserver")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--secure-port", "0", "--bind-address", "127.0.0.1"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(url) = datastore {
            command.arg("--datastore").arg(url);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let port_file = dir.path().join("port");
        let deadline = Instant::now() + START_TIMEOUT;
        let port: u16 = loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the API server exited ({status}); log:\n{}",
                    read_log(dir.path())
                );
            }
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
            {
                break port;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the API server wrote no port file in {START_TIMEOUT:?}; log:\n{}",
                    read_log(dir.path())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let token = std::fs::read_to_string(dir.path().join("tls/admin.token"))?
            .trim()
            .to_string();
        let ca = std::fs::read(dir.path().join("tls/ca.crt"))?;
        Ok(ApiServer {
            child,
            _dir: dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            token,
            ca,
        })
    }

    /// A connector for this server.
    pub fn connector(&self, protocol: Protocol) -> anyhow::Result<Connector> {
        Connector::new(self.addr, &self.ca, &self.token, protocol)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident set size in bytes (`VmRSS` from `/proc/<pid>/status`).
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_bytes(self.pid())
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("apiserver.log")).unwrap_or_default()
}

/// `VmRSS` of a process, in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS line")?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

/// The `ferrokube` binary next to this one (the same target directory), unless given.
pub fn ferrokube_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("ferrokube"),
    };
    if !path.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p ferrokube` or pass --ferrokube",
            path.display()
        );
    }
    Ok(path)
}

/// A private etcd from `ferrokube_storage::testing`, started off the async runtime.
pub async fn start_etcd() -> anyhow::Result<ferrokube_storage::testing::EtcdServer> {
    tokio::task::spawn_blocking(ferrokube_storage::testing::EtcdServer::start)
        .await?
        .context("starting etcd")
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
pub fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
