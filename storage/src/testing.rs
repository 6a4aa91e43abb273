//! Test support (feature `testing`): a private etcd server for tests and benchmarks.
//!
//! [`EtcdServer::start`] runs `/usr/bin/etcd` (or `$FERROKUBE_ETCD`) on 127.0.0.1 with free
//! ports and a temporary data directory, and waits until it reports healthy. The server is
//! stopped and its data removed when the handle is dropped, and also when the process that
//! started it dies in any way (even `kill -9`): etcd runs under a small `sh` guard that kills it
//! as soon as the pipe to this process closes. So a handle kept in a `static` is fine.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// The etcd binary used when `$FERROKUBE_ETCD` is not set (Debian's `etcd-server`).
pub const DEFAULT_ETCD: &str = "/usr/bin/etcd";

/// How long a started etcd may take to become healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a start is retried when the chosen ports were taken meanwhile.
const START_ATTEMPTS: usize = 3;

/// Runs etcd (`$2...`) and, when its stdin (the pipe from the process that started it) closes,
/// kills etcd and removes the data directory (`$1`). If etcd exits by itself the guard exits
/// too and leaves the directory (with `etcd.log`) for the caller to read and remove.
const GUARD: &str = r#"
data="$1"; shift
exec 3<&0
"$@" </dev/null &
etcd=$!
(
    read -r _ <&3
    touch "$data/.stopping"
    kill "$etcd" 2>/dev/null
    while kill -0 "$etcd" 2>/dev/null; do sleep 0.05; done
    rm -rf "$data"
) &
reader=$!
wait "$etcd"
status=$?
if [ -e "$data/.stopping" ]; then wait "$reader"; else kill "$reader" 2>/dev/null; fi
exit "$status"
"#;

/// Why a private etcd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    /// The etcd binary does not exist.
    #[error(
        "etcd binary not found at {path}: install Debian's etcd-server (apt-get install etcd-server) or set FERROKUBE_ETCD"
    )]
    EtcdMissing {
        /// Where it was looked for.
        path: String,
    },
    /// Preparing the ports, the data directory or the process failed.
    #[error("cannot start etcd: {0}")]
    Spawn(#[from] std::io::Error),
    /// etcd exited, or did not become healthy in time.
    #[error("etcd did not become ready: {reason}")]
    NotReady {
        /// What was seen (its exit status or the last health answer), and its log's tail.
        reason: String,
    },
}

/// A running private etcd; dropping it stops etcd and deletes its data.
pub struct EtcdServer {
    guard: Child,
    stdin: Option<ChildStdin>,
    client_url: String,
    data_dir: PathBuf,
}

impl EtcdServer {
    /// Starts etcd on free 127.0.0.1 ports with a fresh data directory and waits until its
    /// `/health` endpoint answers healthy.
    pub fn start() -> Result<Self, TestingError> {
        let binary = std::env::var("FERROKUBE_ETCD").unwrap_or_else(|_| DEFAULT_ETCD.to_string());
        if !Path::new(&binary).is_file() {
            return Err(TestingError::EtcdMissing { path: binary });
        }
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(&binary) {
                Ok(server) => return Ok(server),
                Err(error @ TestingError::NotReady { .. }) => last = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last.unwrap_or(TestingError::NotReady {
            reason: "no attempt made".to_string(),
        }))
    }

    fn start_once(binary: &str) -> Result<Self, TestingError> {
        let client_port = free_port()?;
        let peer_port = free_port()?;
        let data_dir = tempfile::Builder::new()
            .prefix("ferrokube-etcd-")
            .tempdir()?
            .keep();
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let log = std::fs::File::create(data_dir.join("etcd.log"))?;
        let mut guard = Command::new("/bin/sh")
            .arg("-c")
            .arg(GUARD)
            .arg("etcd-guard")
            .arg(&data_dir)
            .arg(binary)
            .arg("--name=ferrokube-test")
            .arg(format!("--data-dir={}", data_dir.join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=ferrokube-test={peer_url}"))
            .arg("--initial-cluster-state=new")
            .arg("--log-level=warn")
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let stdin = guard.stdin.take();
        let mut server = Self {
            guard,
            stdin,
            client_url,
            data_dir,
        };
        match server.wait_ready(client_port) {
            Ok(()) => Ok(server),
            Err(error) => {
                drop(server);
                Err(error)
            }
        }
    }

    fn wait_ready(&mut self, port: u16) -> Result<(), TestingError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            if let Some(status) = self.guard.try_wait()? {
                return Err(TestingError::NotReady {
                    reason: format!("etcd exited ({status}); log:\n{}", self.log_tail()),
                });
            }
            match health(port) {
                Ok(body) if body.contains("\"health\":\"true\"") => return Ok(()),
                Ok(body) => last = body,
                Err(error) => last = error.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(TestingError::NotReady {
            reason: format!(
                "not healthy after {READY_TIMEOUT:?} (last: {last}); log:\n{}",
                self.log_tail()
            ),
        })
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.data_dir.join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The client URL, e.g. `http://127.0.0.1:40123` (what [`crate::EtcdBackend::connect`] takes).
    pub fn endpoint(&self) -> &str {
        &self.client_url
    }

    /// The `--datastore` URL for [`crate::open`], e.g. `etcd://127.0.0.1:40123`.
    pub fn datastore_url(&self) -> String {
        format!("etcd://{}", self.client_url.trim_start_matches("http://"))
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        // Closing the pipe makes the guard kill etcd, wait for it and delete the data.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.guard.wait();
        // If etcd had exited by itself the guard left the directory behind.
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A port that was free a moment ago.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Asks etcd's `/health` endpoint and returns the response.
fn health(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}
