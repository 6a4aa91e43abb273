//! `kubectl get`: the table columns of each type as upstream prints them, `-o wide`, the
//! yaml/json/jsonpath/name/custom-columns outputs, labels and label selectors, field
//! selectors, and `get -w` following changes as they happen.

mod kubectl_support;

use std::time::Duration;

use anyhow::Result;
use ferrokube_tests::Cluster;
use kubectl_support::{WEB_STACK, Watcher, failing, headers, pod, quiet, quiet_stdin, rows, run};
use serde_json::Value;

const NODE: &str = r#"apiVersion: v1
kind: Node
metadata:
  name: worker-1
  labels: {node-role.kubernetes.io/worker: ""}
status:
  nodeInfo: {kubeletVersion: v1.33.0}
"#;

/// A cluster with the web stack, two pods and a node.
fn populated() -> Result<Cluster> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    quiet_stdin(
        &c,
        &["apply", "-f", "-"],
        &pod("frontend", "app: web, env: prod, tier: front"),
    )?;
    quiet_stdin(
        &c,
        &["apply", "-f", "-"],
        &pod("backend", "app: api, env: dev"),
    )?;
    quiet_stdin(&c, &["create", "-f", "-"], NODE)?;
    Ok(c)
}

/// The row of `table` whose first column is `name`, without its AGE column.
fn row_without_age(table: &str, name: &str) -> Vec<String> {
    let age = headers(table).iter().position(|h| h == "AGE");
    let mut row = rows(table)
        .into_iter()
        .find(|r| r.first().map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{table}"));
    if let Some(i) = age {
        row.remove(i);
    }
    row
}

#[test]
fn each_type_prints_the_upstream_table_columns() -> Result<()> {
    let c = populated()?;
    let pods = quiet(&c, &["get", "pods"])?;
    assert_eq!(
        headers(&pods),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert_eq!(
        row_without_age(&pods, "frontend"),
        ["frontend", "0/1", "Pending", "0"]
    );
    assert_eq!(rows(&pods).len(), 2, "{pods}");

    let deployments = quiet(&c, &["get", "deployments"])?;
    assert_eq!(
        headers(&deployments),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(
        row_without_age(&deployments, "web"),
        ["web", "0/1", "0", "0"]
    );

    let services = quiet(&c, &["get", "services"])?;
    assert_eq!(
        headers(&services),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(
        row_without_age(&services, "kubernetes"),
        ["kubernetes", "ClusterIP", "10.43.0.1", "<none>", "443/TCP"]
    );
    let web = row_without_age(&services, "web");
    assert_eq!(
        [&web[0], &web[1], &web[3], &web[4]],
        ["web", "ClusterIP", "<none>", "80/TCP"],
        "{services}"
    );

    let nodes = quiet(&c, &["get", "nodes"])?;
    assert_eq!(
        headers(&nodes),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    );
    // No Ready condition yet: upstream prints Unknown.
    assert_eq!(
        row_without_age(&nodes, "worker-1"),
        ["worker-1", "Unknown", "worker", "v1.33.0"]
    );

    let config_maps = quiet(&c, &["get", "configmaps"])?;
    assert_eq!(headers(&config_maps), ["NAME", "DATA", "AGE"]);
    assert_eq!(
        row_without_age(&config_maps, "web-config"),
        ["web-config", "1"]
    );

    let namespaces = quiet(&c, &["get", "namespaces"])?;
    assert_eq!(headers(&namespaces), ["NAME", "STATUS", "AGE"]);
    assert_eq!(
        row_without_age(&namespaces, "kube-system"),
        ["kube-system", "Active"]
    );
    Ok(())
}

#[test]
fn several_types_at_once_print_one_table_each_with_kind_prefixed_names() -> Result<()> {
    let c = populated()?;
    let out = quiet(&c, &["get", "deployments,configmaps", "-l", "app=web"])?;
    let tables: Vec<&str> = out.split("\n\n").collect();
    assert_eq!(tables.len(), 2, "{out}");
    assert_eq!(
        headers(tables[0]),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(rows(tables[0])[0][0], "deployment.apps/web");
    assert_eq!(headers(tables[1]), ["NAME", "DATA", "AGE"]);
    assert_eq!(rows(tables[1])[0][0], "configmap/web-config");
    Ok(())
}

#[test]
fn wide_output_adds_the_extra_columns() -> Result<()> {
    let c = populated()?;
    let pods = quiet(&c, &["get", "pods", "-o", "wide"])?;
    assert_eq!(
        headers(&pods),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
    assert_eq!(
        row_without_age(&pods, "frontend"),
        [
            "frontend", "0/1", "Pending", "0", "<none>", "<none>", "<none>", "<none>"
        ]
    );

    let deployments = quiet(&c, &["get", "deployments", "-o", "wide"])?;
    assert_eq!(
        headers(&deployments),
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(
        row_without_age(&deployments, "web"),
        ["web", "0/1", "0", "0", "nginx", "nginx:1.25", "app=web"]
    );

    let services = quiet(&c, &["get", "services", "-o", "wide"])?;
    assert_eq!(
        headers(&services),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ]
    );
    assert_eq!(
        row_without_age(&services, "web").last().map(String::as_str),
        Some("app=web")
    );
    assert_eq!(
        row_without_age(&services, "kubernetes")
            .last()
            .map(String::as_str),
        Some("<none>")
    );

    let nodes = quiet(&c, &["get", "nodes", "-o", "wide"])?;
    assert_eq!(
        headers(&nodes),
        [
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    Ok(())
}

#[test]
fn yaml_json_jsonpath_name_and_custom_columns_outputs() -> Result<()> {
    let c = populated()?;
    let yaml = quiet(&c, &["get", "deployment", "web", "-o", "yaml"])?;
    let from_yaml: Value = serde_yaml::from_str(&yaml)?;
    let json = quiet(&c, &["get", "deployment", "web", "-o", "json"])?;
    let from_json: Value = serde_json::from_str(&json)?;
    assert_eq!(from_yaml, from_json);
    assert_eq!(from_json["apiVersion"], "apps/v1");
    assert_eq!(from_json["kind"], "Deployment");
    assert_eq!(from_json["metadata"]["name"], "web");
    assert_eq!(
        from_json["spec"]["strategy"]["type"], "RollingUpdate",
        "defaults are filled in: {json}"
    );
    assert!(
        from_json["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36),
        "{json}"
    );
    assert!(
        from_json["metadata"].get("managedFields").is_none(),
        "kubectl hides managedFields by default"
    );

    let list: Value = serde_json::from_str(&quiet(&c, &["get", "pods", "-o", "json"])?)?;
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["items"][0]["kind"], "Pod");

    let names = quiet(
        &c,
        &[
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.phase}{\"\\n\"}{end}",
        ],
    )?;
    assert_eq!(names, "backend=Pending\nfrontend=Pending\n");
    let image = quiet(
        &c,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[?(@.name==\"nginx\")].image}",
        ],
    )?;
    assert_eq!(image, "nginx:1.25");

    assert_eq!(
        quiet(&c, &["get", "pods", "-o", "name"])?,
        "pod/backend\npod/frontend\n"
    );
    assert_eq!(
        quiet(&c, &["get", "deployment", "web", "-o", "name"])?,
        "deployment.apps/web\n"
    );

    let columns = quiet(
        &c,
        &[
            "get",
            "pods",
            "-o",
            "custom-columns=POD:.metadata.name,IMAGE:.spec.containers[0].image,ENV:.metadata.labels.env",
        ],
    )?;
    assert_eq!(
        columns
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        [
            vec!["POD", "IMAGE", "ENV"],
            vec!["backend", "busybox", "dev"],
            vec!["frontend", "busybox", "prod"],
        ]
    );
    Ok(())
}

#[test]
fn show_labels_and_label_selectors() -> Result<()> {
    let c = populated()?;
    let table = quiet(&c, &["get", "pods", "--show-labels"])?;
    assert_eq!(headers(&table).last().map(String::as_str), Some("LABELS"));
    assert_eq!(
        row_without_age(&table, "frontend")
            .last()
            .map(String::as_str),
        Some("app=web,env=prod,tier=front")
    );
    assert_eq!(
        row_without_age(&table, "backend")
            .last()
            .map(String::as_str),
        Some("app=api,env=dev")
    );

    let names = |selector: &str| -> Result<String> {
        quiet(&c, &["get", "pods", "-l", selector, "-o", "name"])
    };
    assert_eq!(names("env=prod")?, "pod/frontend\n");
    assert_eq!(names("env==dev")?, "pod/backend\n");
    assert_eq!(names("env!=prod")?, "pod/backend\n");
    assert_eq!(names("app=web,env=prod")?, "pod/frontend\n");
    assert_eq!(names("env in (prod,dev)")?, "pod/backend\npod/frontend\n");
    assert_eq!(names("env notin (prod)")?, "pod/backend\n");
    assert_eq!(names("tier")?, "pod/frontend\n");
    assert_eq!(names("!tier")?, "pod/backend\n");
    assert_eq!(names("app in (web),!tier")?, "");
    // `-L` adds a column per label key.
    let with_env = quiet(&c, &["get", "pods", "-L", "env"])?;
    assert_eq!(headers(&with_env).last().map(String::as_str), Some("ENV"));
    assert_eq!(
        row_without_age(&with_env, "backend")
            .last()
            .map(String::as_str),
        Some("dev")
    );

    let out = run(&c, &["get", "pods", "-l", "env=staging"], None)?;
    assert!(out.status.success() && out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "No resources found in default namespace.\n"
    );
    Ok(())
}

#[test]
fn field_selectors_on_name_and_pod_phase() -> Result<()> {
    let c = populated()?;
    let by_name = quiet(
        &c,
        &[
            "get",
            "pods",
            "--field-selector",
            "metadata.name=backend",
            "-o",
            "name",
        ],
    )?;
    assert_eq!(by_name, "pod/backend\n");
    let not_name = quiet(
        &c,
        &[
            "get",
            "pods",
            "--field-selector",
            "metadata.name!=backend",
            "-o",
            "name",
        ],
    )?;
    assert_eq!(not_name, "pod/frontend\n");
    let all_namespaces = quiet(
        &c,
        &[
            "get",
            "configmaps",
            "-A",
            "--field-selector",
            "metadata.namespace=kube-system",
            "-o",
            "name",
        ],
    )?;
    assert_eq!(all_namespaces, "configmap/kube-root-ca.crt\n");

    // Only status writes change the phase; nothing runs the pods here.
    quiet(
        &c,
        &[
            "patch",
            "pod",
            "frontend",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Running"}}"#,
        ],
    )?;
    let running = quiet(
        &c,
        &[
            "get",
            "pods",
            "--field-selector",
            "status.phase=Running",
            "-o",
            "name",
        ],
    )?;
    assert_eq!(running, "pod/frontend\n");
    let pending = quiet(
        &c,
        &[
            "get",
            "pods",
            "--field-selector",
            "status.phase=Pending,metadata.name=backend",
            "-o",
            "name",
        ],
    )?;
    assert_eq!(pending, "pod/backend\n");
    let table = quiet(
        &c,
        &["get", "pods", "--field-selector", "status.phase!=Pending"],
    )?;
    assert_eq!(
        row_without_age(&table, "frontend"),
        ["frontend", "0/1", "Running", "0"]
    );

    let (code, err) = failing(&c, &["get", "pods", "--field-selector", "spec.color=blue"])?;
    assert_eq!(code, 1);
    assert!(err.starts_with("Error from server (BadRequest):"), "{err}");
    assert!(
        err.contains("field label not supported: spec.color"),
        "{err}"
    );
    Ok(())
}

#[test]
fn get_watch_prints_a_line_for_each_change() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], &pod("first", "app: w"))?;
    let watch = Watcher::start(&c, &["get", "pods", "--watch", "--output-watch-events"])?;
    let limit = Duration::from_secs(20);
    let header = watch.next_line("the table header", limit)?;
    assert_eq!(
        headers(&header),
        ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    let existing = watch.next_line("the existing pod", limit)?;
    assert_eq!(
        existing.split_whitespace().take(4).collect::<Vec<_>>(),
        ["ADDED", "first", "0/1", "Pending"]
    );

    quiet_stdin(&c, &["apply", "-f", "-"], &pod("second", "app: w"))?;
    let (added, _) = watch.until("second ADDED", limit, |l| l.contains("second"))?;
    assert!(added.starts_with("ADDED "), "{added}");
    quiet(&c, &["label", "pod", "second", "seen=yes"])?;
    let (modified, _) = watch.until("second MODIFIED", limit, |l| l.contains("second"))?;
    assert!(modified.starts_with("MODIFIED "), "{modified}");
    assert_eq!(
        quiet(&c, &["delete", "pod", "second"])?,
        "pod \"second\" deleted\n"
    );
    let (deleted, skipped) = watch.until("second DELETED", limit, |l| l.starts_with("DELETED "))?;
    assert!(deleted.contains("second"), "{deleted}");
    assert!(
        skipped.iter().all(|l| l.contains("second")),
        "only the second pod changed: {skipped:?}"
    );
    Ok(())
}

#[test]
fn get_watch_only_with_name_output_prints_just_the_changes() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(
        &c,
        &["apply", "-f", "-"],
        &kubectl_support::config_map("before", "app: w"),
    )?;
    let watch = Watcher::start(
        &c,
        &[
            "get",
            "configmaps",
            "-l",
            "app=w",
            "--watch-only",
            "-o",
            "name",
        ],
    )?;
    let limit = Duration::from_secs(20);
    // --watch-only prints nothing for what exists, so keep touching `before` until the watch
    // (which starts after kubectl's initial list) reports it.
    let mut n = 0;
    let line = loop {
        n += 1;
        quiet(
            &c,
            &[
                "label",
                "configmap",
                "before",
                &format!("touch={n}"),
                "--overwrite",
            ],
        )?;
        match watch.next_line("a change to before", Duration::from_secs(2)) {
            Ok(line) => break line,
            Err(_) if n < 10 => continue,
            Err(e) => return Err(e),
        }
    };
    assert_eq!(line, "configmap/before");
    quiet_stdin(
        &c,
        &["apply", "-f", "-"],
        &kubectl_support::config_map("after", "app: w"),
    )?;
    let (line, _) = watch.until("after", limit, |l| l.contains("after"))?;
    assert_eq!(line, "configmap/after");
    // Objects outside the selector are not reported.
    quiet_stdin(
        &c,
        &["apply", "-f", "-"],
        &kubectl_support::config_map("other", "app: x"),
    )?;
    quiet(&c, &["delete", "configmap", "after"])?;
    let (line, skipped) = watch.until("the deletion of after", limit, |l| l.contains("after"))?;
    assert_eq!(line, "configmap/after");
    assert!(
        skipped.iter().all(|l| l == "configmap/before"),
        "{skipped:?}"
    );
    Ok(())
}
