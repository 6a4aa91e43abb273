//! kubectl's view of what the server is and serves: `version`, `api-resources`, `api-versions`
//! and `explain`, with the 1.32 and 1.33 clients, and no warnings about the server.

mod kubectl_support;

use anyhow::Result;
use ferrokube_tests::Cluster;
use kubectl_support::{KUBECTL_1_32, KUBECTL_1_33, expect_quiet, headers, quiet, run_binary};

#[test]
fn every_kubectl_client_sees_a_1_33_ferrokube_server_without_warnings() -> Result<()> {
    let c = Cluster::start()?;
    for bin in ["/usr/bin/kubectl", KUBECTL_1_32, KUBECTL_1_33] {
        let out = expect_quiet(&["version"], run_binary(&c, bin, &["version"], None, &[])?)?;
        let server = out
            .lines()
            .find_map(|l| l.strip_prefix("Server Version: "))
            .unwrap_or_else(|| panic!("{bin} printed no server version: {out}"));
        assert!(
            server.starts_with("v1.33.") && server.ends_with("+ferrokube"),
            "{bin}: {server}"
        );
        // The ordinary read paths work with every client, too.
        let ns = expect_quiet(
            &["get"],
            run_binary(&c, bin, &["get", "namespaces", "-o", "name"], None, &[])?,
        )?;
        assert!(ns.contains("namespace/default\n"), "{bin}: {ns}");
    }
    Ok(())
}

#[test]
fn api_resources_lists_short_names_scopes_and_kinds() -> Result<()> {
    let c = Cluster::start()?;
    let table = quiet(&c, &["api-resources"])?;
    assert_eq!(
        headers(&table),
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    );
    let row = |name: &str, group_version: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .find(|cols| {
                cols.first().map(String::as_str) == Some(name)
                    && cols.iter().any(|c| c == group_version)
            })
            .unwrap_or_else(|| panic!("no {name} in {group_version} in:\n{table}"))
    };
    assert_eq!(row("pods", "v1"), ["pods", "po", "v1", "true", "Pod"]);
    assert_eq!(
        row("services", "v1"),
        ["services", "svc", "v1", "true", "Service"]
    );
    assert_eq!(
        row("namespaces", "v1"),
        ["namespaces", "ns", "v1", "false", "Namespace"]
    );
    assert_eq!(row("nodes", "v1"), ["nodes", "no", "v1", "false", "Node"]);
    assert_eq!(
        row("configmaps", "v1"),
        ["configmaps", "cm", "v1", "true", "ConfigMap"]
    );
    assert_eq!(row("secrets", "v1"), ["secrets", "v1", "true", "Secret"]);
    assert_eq!(
        row("deployments", "apps/v1"),
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    assert_eq!(
        row("statefulsets", "apps/v1"),
        ["statefulsets", "sts", "apps/v1", "true", "StatefulSet"]
    );
    assert_eq!(
        row("customresourcedefinitions", "apiextensions.k8s.io/v1")[1],
        "crd,crds"
    );

    let cluster_scoped = quiet(&c, &["api-resources", "--namespaced=false", "-o", "name"])?;
    let names: Vec<&str> = cluster_scoped.lines().collect();
    for want in [
        "namespaces",
        "nodes",
        "clusterroles.rbac.authorization.k8s.io",
    ] {
        assert!(
            names.contains(&want),
            "{want} missing from cluster-scoped {names:?}"
        );
    }
    assert!(
        !names.contains(&"pods"),
        "pods listed as cluster-scoped: {names:?}"
    );

    let apps = quiet(&c, &["api-resources", "--api-group=apps", "-o", "name"])?;
    let apps: Vec<&str> = apps.lines().collect();
    for want in [
        "deployments.apps",
        "replicasets.apps",
        "statefulsets.apps",
        "daemonsets.apps",
    ] {
        assert!(apps.contains(&want), "{want} missing from apps {apps:?}");
    }
    assert!(
        apps.iter().all(|n| n.ends_with(".apps")),
        "other groups under --api-group=apps: {apps:?}"
    );
    Ok(())
}

#[test]
fn short_names_and_kinds_work_as_resource_arguments() -> Result<()> {
    let c = Cluster::start()?;
    for arg in ["ns", "namespace", "Namespace", "namespaces"] {
        let out = quiet(&c, &["get", arg, "kube-system", "-o", "name"])?;
        assert_eq!(out, "namespace/kube-system\n", "kubectl get {arg}");
    }
    let out = quiet(&c, &["get", "svc", "-n", "default", "-o", "name"])?;
    assert_eq!(out, "service/kubernetes\n");
    Ok(())
}

#[test]
fn api_versions_lists_the_core_and_the_group_versions() -> Result<()> {
    let c = Cluster::start()?;
    let out = quiet(&c, &["api-versions"])?;
    let versions: Vec<&str> = out.lines().collect();
    for want in [
        "v1",
        "apps/v1",
        "batch/v1",
        "networking.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "apiextensions.k8s.io/v1",
    ] {
        assert!(versions.contains(&want), "{want} missing from {versions:?}");
    }
    let mut sorted = versions.clone();
    sorted.sort();
    assert_eq!(versions, sorted, "api-versions prints a sorted list");
    Ok(())
}

#[test]
fn explain_describes_a_nested_field_from_the_openapi_document() -> Result<()> {
    let c = Cluster::start()?;
    let out = quiet(&c, &["explain", "pods.spec.containers"])?;
    assert!(
        out.starts_with("KIND:       Pod\nVERSION:    v1\n"),
        "{out}"
    );
    assert!(out.contains("FIELD: containers <[]Container>"), "{out}");
    assert!(
        out.contains("DESCRIPTION:\n    List of containers belonging to the pod."),
        "{out}"
    );
    assert!(out.contains("\n  name\t<string> -required-\n"), "{out}");
    assert!(out.contains("\n  image\t<string>\n"), "{out}");
    assert!(out.contains("\n  env\t<[]EnvVar>\n"), "{out}");
    Ok(())
}

#[test]
fn explain_recursive_prints_the_whole_field_tree() -> Result<()> {
    let c = Cluster::start()?;
    let out = quiet(&c, &["explain", "deployment.spec", "--recursive"])?;
    assert!(
        out.starts_with("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n"),
        "{out}"
    );
    assert!(out.contains("FIELD: spec <DeploymentSpec>"), "{out}");
    for line in [
        "  replicas\t<integer>",
        "  selector\t<LabelSelector> -required-",
        "    matchLabels\t<map[string]string>",
        "  template\t<PodTemplateSpec> -required-",
        "    spec\t<PodSpec>",
        "      containers\t<[]Container> -required-",
        "        image\t<string>",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "no line {line:?} in:\n{out}"
        );
    }
    // --recursive prints field names only, not their descriptions.
    assert!(!out.contains("Number of desired pods"), "{out}");
    Ok(())
}
