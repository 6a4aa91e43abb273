//! Starting like a product: objects survive a restart (and a kill -9) on the embedded store,
//! the same server runs on etcd, and unauthenticated requests are refused.

use ferrokube_tests::{Cluster, Options};

const CONFIGMAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\ndata:\n  a: \"1\"\n";

#[test]
fn objects_and_the_kubeconfig_survive_a_kill_and_restart() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let opts = Options {
        data_dir: Some(data.path().join("data")),
        ..Default::default()
    };
    let mut first = Cluster::start_with(opts.clone())?;
    first.kubectl_stdin(&["create", "-f", "-"], CONFIGMAP)?;
    let uid = first.kubectl_ok(&["get", "cm", "keep", "-o", "jsonpath={.metadata.uid}"])?;
    let ca = std::fs::read(data.path().join("data/tls/ca.crt"))?;
    first.kill();
    let second = Cluster::start_with(opts)?;
    assert_eq!(
        std::fs::read(data.path().join("data/tls/ca.crt"))?,
        ca,
        "the CA is reused"
    );
    let again = second.kubectl_ok(&["get", "cm", "keep", "-o", "jsonpath={.metadata.uid}"])?;
    assert_eq!(again, uid);
    let ns = second.kubectl_ok(&["get", "ns", "-o", "name"])?;
    assert_eq!(
        ns.lines().count(),
        4,
        "no duplicate namespaces after restart: {ns}"
    );
    Ok(())
}

#[test]
fn the_api_server_serves_the_same_api_from_etcd() -> anyhow::Result<()> {
    let etcd = ferrokube_storage::testing::EtcdServer::start()?;
    let c = Cluster::start_with(Options {
        datastore: Some(etcd.datastore_url()),
        ..Default::default()
    })?;
    c.kubectl_stdin(&["create", "-f", "-"], CONFIGMAP)?;
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "keep", "-o", "jsonpath={.data.a}"])?,
        "1"
    );
    c.kubectl_ok(&["label", "cm", "keep", "tier=etcd"])?;
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "-l", "tier=etcd", "-o", "name"])?,
        "configmap/keep\n"
    );
    c.kubectl_ok(&["delete", "cm", "keep"])?;
    let err = c.kubectl_err(&["get", "cm", "keep"])?;
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    Ok(())
}

#[test]
fn anonymous_requests_and_bad_tokens_are_unauthorized() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let out = std::process::Command::new("curl")
        .args(["-sk", &format!("{}/api/v1/namespaces", c.server)])
        .output()?;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(status["code"], 401, "{status}");
    assert_eq!(status["reason"], "Unauthorized");
    let out = std::process::Command::new("/usr/bin/kubectl")
        .args([
            "get",
            "ns",
            "--server",
            &c.server,
            "--insecure-skip-tls-verify",
            "--token",
            "not-a-token",
            "--kubeconfig",
            "/dev/null",
        ])
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unauthorized") || err.contains("provide credentials"),
        "{err}"
    );
    Ok(())
}
