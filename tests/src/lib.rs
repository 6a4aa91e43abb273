//! End-to-end test harness: [`Cluster::start`] runs the real `ferrokube` binary on a private
//! data directory and a free port, and hands out its kubeconfig, a kube-rs client and a
//! `kubectl` command bound to it. Set `FERROKUBE_TEST_KUBECONFIG` to run the tests that allow
//! it against any other cluster instead.

pub mod containerd;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running API server for one test (or an external cluster).
pub struct Cluster {
    child: Option<Child>,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
}

/// The `ferrokube` binary built next to the test executable (`cargo build -p ferrokube`).
pub fn ferrokube_bin() -> PathBuf {
    if let Ok(p) = std::env::var("FERROKUBE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    dir.join("ferrokube")
}

/// Options for starting a server.
#[derive(Default, Clone)]
pub struct Options {
    /// `--datastore` (default: the embedded SQLite store).
    pub datastore: Option<String>,
    /// Extra flags.
    pub args: Vec<String>,
    /// Reuse this data directory (restart tests).
    pub data_dir: Option<PathBuf>,
}

impl Cluster {
    /// Starts a fresh API server on the embedded store.
    pub fn start() -> Result<Self> {
        Self::start_with(Options::default())
    }

    /// The external cluster named by `FERROKUBE_TEST_KUBECONFIG`, or a fresh server.
    pub fn any() -> Result<Self> {
        if let Ok(kc) = std::env::var("FERROKUBE_TEST_KUBECONFIG") {
            let dir = tempfile::tempdir()?;
            return Ok(Cluster {
                child: None,
                dir,
                kubeconfig: PathBuf::from(kc),
                server: String::new(),
            });
        }
        Self::start()
    }

    /// Starts a server with options.
    pub fn start_with(opts: Options) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let data_dir = opts
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("data"));
        let _ = std::fs::remove_file(data_dir.join("port"));
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut cmd = Command::new(ferrokube_bin());
        cmd.arg("apiserver")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--bind-address", "127.0.0.1", "--secure-port", "0"])
            .args(&opts.args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(ds) = &opts.datastore {
            cmd.arg("--datastore").arg(ds);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", ferrokube_bin().display()))?;
        let mut cluster = Cluster {
            child: Some(child),
            dir,
            kubeconfig: data_dir.join("admin.kubeconfig"),
            server: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(data_dir.join("port"))
                && let Ok(p) = p.trim().parse::<u16>()
            {
                break p;
            }
            if let Some(status) = cluster
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "ferrokube exited with {status} before serving:\n{}",
                    cluster.log()
                );
            }
            if Instant::now() > deadline {
                bail!("ferrokube did not start within 60 s:\n{}", cluster.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        cluster.server = format!("https://127.0.0.1:{port}");
        Ok(cluster)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The admin kubeconfig path.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A scratch directory that lives as long as the cluster.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// A `kubectl` command (the 1.32 binary at /usr/bin/kubectl) bound to this cluster.
    pub fn kubectl(&self) -> Command {
        self.kubectl_binary("/usr/bin/kubectl")
    }

    /// A `kubectl` command for a given binary (e.g. the 1.33 one).
    pub fn kubectl_binary(&self, bin: &str) -> Command {
        let mut cmd = Command::new(bin);
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBECTL_EXTERNAL_DIFF");
        cmd
    }

    /// Runs kubectl with `args` and returns stdout; fails with stderr when kubectl fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.kubectl().args(args).output()?;
        check(&out, args)
    }

    /// Runs kubectl with `args` and `stdin`, returns stdout; fails when kubectl fails.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Result<String> {
        use std::io::Write;
        let mut child = self
            .kubectl()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(stdin.as_bytes())?;
        let out = child.wait_with_output()?;
        check(&out, args)
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn kubectl_err(&self, args: &[&str]) -> Result<String> {
        let out = self.kubectl().args(args).output()?;
        if out.status.success() {
            bail!(
                "kubectl {} succeeded unexpectedly: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// A kube-rs client for this cluster.
    pub async fn client(&self) -> Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Stops the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
    }
}

fn check(out: &Output, args: &[&str]) -> Result<String> {
    if !out.status.success() {
        bail!(
            "kubectl {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `f` until it returns Some or `timeout` passes (`what` says what was awaited).
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
