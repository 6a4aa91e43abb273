//! kubectl against the real server: the commands a first-time user types.

use ferrokube_tests::Cluster;

#[test]
fn kubectl_reports_the_server_version_with_the_ferrokube_suffix() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let out = c.kubectl_ok(&["version", "-o", "json"])?;
    let v: serde_json::Value = serde_json::from_str(&out)?;
    let server = v["serverVersion"]["gitVersion"].as_str().unwrap_or("");
    assert!(
        server.starts_with("v1.33.") && server.ends_with("+ferrokube"),
        "server version {server}"
    );
    Ok(())
}

#[test]
fn the_default_namespaces_and_the_kubernetes_service_exist_at_start() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let ns = c.kubectl_ok(&["get", "namespaces", "-o", "name"])?;
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            ns.contains(&format!("namespace/{want}\n")),
            "missing {want} in {ns}"
        );
    }
    let ip = c.kubectl_ok(&[
        "get",
        "service",
        "kubernetes",
        "-n",
        "default",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ])?;
    assert_eq!(ip, "10.43.0.1");
    Ok(())
}

#[test]
fn kubectl_get_nodes_answers_on_a_fresh_cluster() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    c.kubectl_ok(&["get", "nodes"])?;
    Ok(())
}
