//! The Python `kubernetes` client (PyPI) against the real server: paginated lists, watches
//! that resume from a resourceVersion, and the 410 for a compacted one.

use std::process::Command;

use ferrokube_tests::{Cluster, Options};

fn run_check(cluster: &Cluster, check: &str) -> anyhow::Result<()> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/client_checks.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(cluster.kubeconfig())
        .arg(check)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "python check {check} failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        cluster.log()
    );
    Ok(())
}

#[test]
fn the_python_client_pages_through_a_list_with_limit_and_continue() -> anyhow::Result<()> {
    run_check(&Cluster::start()?, "list_with_limit_and_continue")
}

#[test]
fn the_python_client_watches_from_a_resource_version() -> anyhow::Result<()> {
    run_check(&Cluster::start()?, "watch_from_resource_version")
}

#[test]
fn the_python_client_gets_410_for_a_compacted_resource_version() -> anyhow::Result<()> {
    let cluster = Cluster::start_with(Options {
        args: vec!["--watch-cache-window".into(), "10".into()],
        ..Default::default()
    })?;
    run_check(&cluster, "watch_from_a_compacted_version_is_gone")
}
