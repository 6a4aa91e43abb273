//! Removing things with kubectl: `delete` by name, by label selector and `--all`, finalizers
//! holding a deletion, and `kubectl wait` for a deletion, a jsonpath value and a condition.

mod kubectl_support;

use std::time::Duration;

use anyhow::Result;
use ferrokube_tests::Cluster;
use kubectl_support::{
    WEB_STACK, Watcher, config_map, failing, jsonpath, pod, quiet, quiet_stdin, run,
};

/// The ConfigMaps of the default namespace, by name.
fn config_maps(c: &Cluster) -> Result<String> {
    quiet(c, &["get", "configmaps", "-o", "name"])
}

#[test]
fn delete_by_name_removes_just_that_object() -> Result<()> {
    let c = Cluster::start()?;
    for name in ["a", "b"] {
        quiet_stdin(&c, &["apply", "-f", "-"], &config_map(name, "app: x"))?;
    }
    assert_eq!(
        quiet(&c, &["delete", "configmap", "a"])?,
        "configmap \"a\" deleted\n"
    );
    let (_, err) = failing(&c, &["get", "configmap", "a"])?;
    assert_eq!(
        err,
        "Error from server (NotFound): configmaps \"a\" not found\n"
    );
    assert_eq!(jsonpath(&c, "configmap/b", "{.metadata.name}")?, "b");

    let (code, err) = failing(&c, &["delete", "configmap", "a"])?;
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Error from server (NotFound): configmaps \"a\" not found\n"
    );
    assert_eq!(
        quiet(&c, &["delete", "configmap", "a", "--ignore-not-found"])?,
        ""
    );

    // Several names, and the type/name form.
    quiet_stdin(&c, &["apply", "-f", "-"], &config_map("c", "app: x"))?;
    assert_eq!(
        quiet(&c, &["delete", "configmap/b", "configmap/c"])?,
        "configmap \"b\" deleted\nconfigmap \"c\" deleted\n"
    );
    Ok(())
}

#[test]
fn delete_of_a_file_removes_every_object_in_it() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    let out = quiet_stdin(&c, &["delete", "-f", "-"], WEB_STACK)?;
    assert_eq!(
        out,
        "deployment.apps \"web\" deleted\nservice \"web\" deleted\nconfigmap \"web-config\" deleted\nsecret \"web-secret\" deleted\n"
    );
    let left = run(
        &c,
        &[
            "get",
            "deployments,services,configmaps,secrets",
            "-l",
            "app=web",
            "-o",
            "name",
        ],
        None,
    )?;
    assert!(
        left.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&left.stdout)
    );
    Ok(())
}

#[test]
fn delete_by_label_selector_removes_only_the_matching_objects() -> Result<()> {
    let c = Cluster::start()?;
    for (name, labels) in [
        ("red-1", "color: red"),
        ("red-2", "color: red"),
        ("blue", "color: blue"),
        ("plain", "shape: round"),
    ] {
        quiet_stdin(&c, &["apply", "-f", "-"], &config_map(name, labels))?;
    }
    assert_eq!(
        quiet(&c, &["delete", "configmaps", "-l", "color=red"])?,
        "configmap \"red-1\" deleted\nconfigmap \"red-2\" deleted\n"
    );
    assert_eq!(
        config_maps(&c)?,
        "configmap/blue\nconfigmap/kube-root-ca.crt\nconfigmap/plain\n"
    );
    assert_eq!(
        quiet(&c, &["delete", "configmaps", "-l", "color in (red,blue)"])?,
        "configmap \"blue\" deleted\n"
    );
    let none = run(&c, &["delete", "configmaps", "-l", "color=green"], None)?;
    assert!(none.status.success());
    assert_eq!(
        String::from_utf8_lossy(&none.stdout),
        "No resources found\n"
    );
    assert_eq!(
        config_maps(&c)?,
        "configmap/kube-root-ca.crt\nconfigmap/plain\n"
    );
    Ok(())
}

#[test]
fn delete_all_empties_one_namespace_of_one_type() -> Result<()> {
    let c = Cluster::start()?;
    for name in ["one", "two"] {
        quiet_stdin(&c, &["apply", "-f", "-"], &pod(name, "app: x"))?;
    }
    quiet_stdin(
        &c,
        &["apply", "-n", "kube-public", "-f", "-"],
        &pod("elsewhere", "app: x"),
    )?;
    quiet_stdin(&c, &["apply", "-f", "-"], &config_map("kept", "app: x"))?;
    // Pods that never reached a node go at once, without a grace period.
    assert_eq!(
        quiet(&c, &["delete", "pods", "--all"])?,
        "pod \"one\" deleted\npod \"two\" deleted\n"
    );
    let left = run(&c, &["get", "pods"], None)?;
    assert_eq!(
        String::from_utf8_lossy(&left.stderr),
        "No resources found in default namespace.\n"
    );
    assert_eq!(
        quiet(&c, &["get", "pods", "-n", "kube-public", "-o", "name"])?,
        "pod/elsewhere\n"
    );
    assert_eq!(jsonpath(&c, "configmap/kept", "{.metadata.name}")?, "kept");
    Ok(())
}

#[test]
fn a_finalizer_holds_a_deletion_until_it_is_removed_and_wait_sees_the_end() -> Result<()> {
    let c = Cluster::start()?;
    let held = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n";
    quiet_stdin(&c, &["create", "-f", "-"], held)?;
    assert_eq!(
        quiet(&c, &["delete", "configmap", "held", "--wait=false"])?,
        "configmap \"held\" deleted\n"
    );
    assert!(
        !jsonpath(&c, "configmap/held", "{.metadata.deletionTimestamp}")?.is_empty(),
        "marked for deletion"
    );

    let mut wait = Watcher::start(
        &c,
        &["wait", "--for=delete", "configmap/held", "--timeout=60s"],
    )?;
    // Still held: kubectl wait cannot have finished.
    assert!(jsonpath(&c, "configmap/held", "{.metadata.finalizers}")?.contains("example.com/hold"));
    quiet(
        &c,
        &[
            "patch",
            "configmap",
            "held",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ],
    )?;
    let line = wait.next_line("kubectl wait to see the deletion", Duration::from_secs(30))?;
    assert_eq!(line, "configmap/held condition met");
    assert_eq!(
        wait.exit_code("kubectl wait to exit", Duration::from_secs(10))?,
        0
    );
    let (_, err) = failing(&c, &["get", "configmap", "held"])?;
    assert_eq!(
        err,
        "Error from server (NotFound): configmaps \"held\" not found\n"
    );
    Ok(())
}

#[test]
fn wait_for_delete_of_an_absent_object_returns_at_once() -> Result<()> {
    let c = Cluster::start()?;
    let out = run(
        &c,
        &["wait", "--for=delete", "configmap/never", "--timeout=30s"],
        None,
    )?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn wait_for_a_jsonpath_value_returns_when_the_object_reaches_it() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    let mut wait = Watcher::start(
        &c,
        &[
            "wait",
            "--for=jsonpath={.spec.replicas}=3",
            "deployment/web",
            "--timeout=60s",
        ],
    )?;
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.spec.replicas}")?,
        "1",
        "the condition is false until scaled"
    );
    quiet(&c, &["scale", "deployment/web", "--replicas=3"])?;
    let line = wait.next_line("kubectl wait to see 3 replicas", Duration::from_secs(30))?;
    assert_eq!(line, "deployment.apps/web condition met");
    assert_eq!(
        wait.exit_code("kubectl wait to exit", Duration::from_secs(10))?,
        0
    );

    // A value never reached times out with kubectl's message.
    let out = run(
        &c,
        &[
            "wait",
            "--for=jsonpath={.spec.replicas}=9",
            "deployment/web",
            "--timeout=1s",
        ],
        None,
    )?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: timed out waiting for the condition on deployments/web\n"
    );
    Ok(())
}

#[test]
fn wait_for_a_condition_returns_when_status_reports_it() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    let mut wait = Watcher::start(
        &c,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=60s",
        ],
    )?;
    let status = r#"{"status":{"conditions":[{"type":"Available","status":"True","reason":"MinimumReplicasAvailable","message":"ok"}]}}"#;
    quiet(
        &c,
        &[
            "patch",
            "deployment",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ],
    )?;
    let line = wait.next_line("kubectl wait to see Available", Duration::from_secs(30))?;
    assert_eq!(line, "deployment.apps/web condition met");
    assert_eq!(
        wait.exit_code("kubectl wait to exit", Duration::from_secs(10))?,
        0
    );
    Ok(())
}
