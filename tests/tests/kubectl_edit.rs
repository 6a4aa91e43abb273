//! Imperative changes with kubectl: `edit` through a scripted editor, `label` and `annotate`
//! (add, overwrite, remove, and the refusals), `patch` of all three types, and `scale` through
//! the scale subresource of deployments, replica sets and stateful sets.

mod kubectl_support;

use anyhow::Result;
use ferrokube_tests::Cluster;
use kubectl_support::{
    WEB_STACK, expect_quiet, failing, jsonpath, pod, quiet, quiet_stdin, run, run_binary,
};
use serde_json::{Value, json};

const REPLICA_SET_AND_STATEFUL_SET: &str = r#"apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: cache}
spec:
  replicas: 1
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec: {containers: [{name: redis, image: redis}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: postgres, image: postgres}]}
"#;

/// Runs `kubectl edit` with `editor` as $EDITOR (kubectl runs it through `sh -c` with the file
/// name appended); kubectl's leftover files go to the cluster's scratch directory.
fn edit(c: &Cluster, args: &[&str], editor: &str) -> Result<std::process::Output> {
    let tmp = c.scratch().to_string_lossy().into_owned();
    let mut all = vec!["edit"];
    all.extend_from_slice(args);
    run_binary(
        c,
        "/usr/bin/kubectl",
        &all,
        None,
        &[
            ("EDITOR", editor),
            ("KUBE_EDITOR", editor),
            ("TMPDIR", &tmp),
        ],
    )
}

#[test]
fn edit_with_a_scripted_editor_updates_the_object() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    let generation = jsonpath(&c, "deployment/web", "{.metadata.generation}")?;
    let out = expect_quiet(
        &["edit"],
        edit(
            &c,
            &["deployment", "web"],
            "sed -i 's/replicas: 1$/replicas: 4/'",
        )?,
    )?;
    assert_eq!(out, "deployment.apps/web edited\n");
    assert_eq!(jsonpath(&c, "deployment/web", "{.spec.replicas}")?, "4");
    assert_ne!(
        jsonpath(&c, "deployment/web", "{.metadata.generation}")?,
        generation
    );

    // An editor that changes nothing cancels the edit.
    let rv = jsonpath(&c, "deployment/web", "{.metadata.resourceVersion}")?;
    let out = edit(&c, &["deployment", "web"], "true")?;
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Edit cancelled, no changes made.\n"
    );
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.metadata.resourceVersion}")?,
        rv
    );
    Ok(())
}

#[test]
fn an_edit_the_server_rejects_is_reported_and_nothing_changes() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    // The second time kubectl opens the editor (showing the error), the script changes nothing.
    let out = edit(
        &c,
        &["deployment", "web"],
        "sed -i 's/replicas: 1$/replicas: -1/'",
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: deployments.apps \"web\" is invalid\n"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("error: Edit cancelled, no valid changes were saved.\n"),
        "{stderr}"
    );
    assert_eq!(jsonpath(&c, "deployment/web", "{.spec.replicas}")?, "1");
    // The same change through patch shows the server's message.
    let (_, err) = failing(
        &c,
        &[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":-1}}"#,
        ],
    )?;
    assert_eq!(
        err,
        "The Deployment \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0\n"
    );
    Ok(())
}

#[test]
fn labels_are_added_overwritten_only_on_request_and_removed() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], &pod("app", "app: web"))?;
    assert_eq!(
        quiet(&c, &["label", "pod", "app", "env=prod"])?,
        "pod/app labeled\n"
    );
    let (code, err) = failing(&c, &["label", "pod", "app", "env=dev"])?;
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: 'env' already has a value (prod), and --overwrite is false\n"
    );
    assert_eq!(jsonpath(&c, "pod/app", "{.metadata.labels.env}")?, "prod");

    assert_eq!(
        quiet(&c, &["label", "pod", "app", "env=dev", "--overwrite"])?,
        "pod/app labeled\n"
    );
    assert_eq!(
        jsonpath(&c, "pod/app", "{.metadata.labels}")?,
        r#"{"app":"web","env":"dev"}"#
    );
    assert_eq!(
        quiet(&c, &["label", "pod", "app", "env-"])?,
        "pod/app unlabeled\n"
    );
    assert_eq!(
        jsonpath(&c, "pod/app", "{.metadata.labels}")?,
        r#"{"app":"web"}"#
    );

    // A label value the server refuses (kubectl label checks values itself, so patch it in).
    let (_, err) = failing(
        &c,
        &[
            "patch",
            "pod",
            "app",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"bad":"-x-"}}}"#,
        ],
    )?;
    assert!(
        err.starts_with("The Pod \"app\" is invalid: metadata.labels: Invalid value: \"-x-\""),
        "{err}"
    );

    // Labelling by selector, and a stale --resource-version is a conflict.
    quiet_stdin(&c, &["apply", "-f", "-"], &pod("other", "app: web"))?;
    assert_eq!(
        quiet(&c, &["label", "pods", "-l", "app=web", "team=blue"])?,
        "pod/app labeled\npod/other labeled\n"
    );
    let (_, err) = failing(
        &c,
        &["label", "pod", "app", "stale=yes", "--resource-version=1"],
    )?;
    assert_eq!(
        err,
        "Error from server (Conflict): Operation cannot be fulfilled on pods \"app\": the object has been modified; please apply your changes to the latest version and try again\n"
    );
    Ok(())
}

#[test]
fn annotations_are_added_overwritten_only_on_request_and_removed() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    assert_eq!(
        quiet(&c, &["annotate", "deployment", "web", "owner=team-a"])?,
        "deployment.apps/web annotated\n"
    );
    let (code, err) = failing(&c, &["annotate", "deployment", "web", "owner=team-b"])?;
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: --overwrite is false but found the following declared annotation(s): 'owner' already has a value (team-a)\n"
    );
    assert_eq!(
        quiet(
            &c,
            &[
                "annotate",
                "deployment",
                "web",
                "owner=team-b",
                "--overwrite"
            ]
        )?,
        "deployment.apps/web annotated\n"
    );
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.metadata.annotations.owner}")?,
        "team-b"
    );
    assert_eq!(
        quiet(&c, &["annotate", "deployment", "web", "owner-"])?,
        "deployment.apps/web annotated\n"
    );
    let annotations = jsonpath(&c, "deployment/web", "{.metadata.annotations}")?;
    assert!(!annotations.contains("owner"), "{annotations}");
    // Annotations are metadata: the generation stays.
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.metadata.generation}")?,
        "1"
    );
    Ok(())
}

#[test]
fn strategic_merge_patches_merge_lists_by_key() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    let patch = r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27","env":[{"name":"LEVEL","value":"debug"},{"name":"EXTRA","value":"1"}]}]}}}}"#;
    assert_eq!(
        quiet(
            &c,
            &[
                "patch",
                "deployment",
                "web",
                "--type=strategic",
                "-p",
                patch
            ]
        )?,
        "deployment.apps/web patched\n"
    );
    let container: Value = serde_json::from_str(&jsonpath(
        &c,
        "deployment/web",
        "{.spec.template.spec.containers[0]}",
    )?)?;
    assert_eq!(container["image"], "nginx:1.27");
    let mut env: Vec<(String, String)> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or("").into(),
                e["value"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    env.sort();
    assert_eq!(
        env,
        [
            ("EXTRA".into(), "1".into()),
            ("LEVEL".into(), "debug".into()),
            ("MODE".into(), "prod".into())
        ]
    );

    // The $patch: delete directive removes one entry by its key.
    let delete = r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"MODE","$patch":"delete"}]}]}}}}"#;
    quiet(&c, &["patch", "deployment", "web", "-p", delete])?;
    let names = jsonpath(
        &c,
        "deployment/web",
        "{.spec.template.spec.containers[0].env[*].name}",
    )?;
    let mut names: Vec<&str> = names.split(' ').collect();
    names.sort();
    assert_eq!(names, ["EXTRA", "LEVEL"]);

    // The same patch again changes nothing.
    let out = quiet(&c, &["patch", "deployment", "web", "-p", delete])?;
    assert_eq!(out, "deployment.apps/web patched (no change)\n");
    Ok(())
}

#[test]
fn merge_patches_replace_lists_and_null_deletes() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    let patch = r#"{"metadata":{"labels":{"tier":null,"release":"stable"}},"spec":{"template":{"spec":{"containers":[{"name":"proxy","image":"envoy"}]}}}}"#;
    assert_eq!(
        quiet(
            &c,
            &["patch", "deployment", "web", "--type=merge", "-p", patch]
        )?,
        "deployment.apps/web patched\n"
    );
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.metadata.labels}")?,
        r#"{"app":"web","release":"stable"}"#
    );
    let containers: Value = serde_json::from_str(&jsonpath(
        &c,
        "deployment/web",
        "{.spec.template.spec.containers}",
    )?)?;
    assert_eq!(
        containers.as_array().map(Vec::len),
        Some(1),
        "a merge patch replaces the list: {containers}"
    );
    assert_eq!(containers[0]["name"], "proxy");
    assert_eq!(
        containers[0]["imagePullPolicy"], "Always",
        "the new container is defaulted: {containers}"
    );
    Ok(())
}

#[test]
fn json_patches_apply_their_operations_in_order_and_fail_on_a_failed_test() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    let patch = r#"[
        {"op":"test","path":"/spec/replicas","value":1},
        {"op":"replace","path":"/spec/replicas","value":3},
        {"op":"add","path":"/spec/template/spec/containers/0/env/-","value":{"name":"LAST","value":"z"}},
        {"op":"remove","path":"/metadata/labels/tier"}
    ]"#;
    assert_eq!(
        quiet(
            &c,
            &["patch", "deployment", "web", "--type=json", "-p", patch]
        )?,
        "deployment.apps/web patched\n"
    );
    assert_eq!(jsonpath(&c, "deployment/web", "{.spec.replicas}")?, "3");
    assert_eq!(
        jsonpath(
            &c,
            "deployment/web",
            "{.spec.template.spec.containers[0].env[*].name}"
        )?,
        "MODE LEVEL LAST"
    );
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.metadata.labels}")?,
        r#"{"app":"web"}"#
    );

    let rv = jsonpath(&c, "deployment/web", "{.metadata.resourceVersion}")?;
    let stale = r#"[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":9}]"#;
    let (code, err) = failing(
        &c,
        &["patch", "deployment", "web", "--type=json", "-p", stale],
    )?;
    assert_eq!(code, 1);
    assert!(err.contains("testing value /spec/replicas failed"), "{err}");
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.metadata.resourceVersion}")?,
        rv,
        "a failed patch writes nothing"
    );
    assert_eq!(jsonpath(&c, "deployment/web", "{.spec.replicas}")?, "3");
    Ok(())
}

#[test]
fn scale_goes_through_the_scale_subresource_of_each_workload() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    quiet_stdin(&c, &["apply", "-f", "-"], REPLICA_SET_AND_STATEFUL_SET)?;
    for (resource, printed, replicas) in [
        ("deployment/web", "deployment.apps/web", "3"),
        ("replicaset/cache", "replicaset.apps/cache", "5"),
        ("statefulset/db", "statefulset.apps/db", "2"),
    ] {
        let out = run(
            &c,
            &["scale", resource, &format!("--replicas={replicas}"), "-v=6"],
            None,
        )?;
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{printed} scaled\n")
        );
        let (kind, name) = resource.split_once('/').unwrap_or_default();
        let url = format!("/apis/apps/v1/namespaces/default/{kind}s/{name}/scale");
        assert!(log.contains(&url), "kubectl did not use {url}:\n{log}");
        assert_eq!(jsonpath(&c, resource, "{.spec.replicas}")?, replicas);
    }

    let scale: Value = serde_json::from_str(&quiet(
        &c,
        &[
            "get",
            "deployment",
            "web",
            "--subresource=scale",
            "-o",
            "json",
        ],
    )?)?;
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"], json!({"replicas": 3}));
    assert_eq!(scale["status"]["selector"], "app=web");

    // --current-replicas is a precondition kubectl checks against the Scale it reads.
    let (code, err) = failing(
        &c,
        &[
            "scale",
            "deployment/web",
            "--current-replicas=1",
            "--replicas=7",
        ],
    )?;
    assert_eq!(code, 1);
    assert_eq!(err, "error: Expected replicas to be 1, was 3\n");
    assert_eq!(
        quiet(
            &c,
            &[
                "scale",
                "deployment/web",
                "--current-replicas=3",
                "--replicas=0"
            ]
        )?,
        "deployment.apps/web scaled\n"
    );
    assert_eq!(jsonpath(&c, "deployment/web", "{.spec.replicas}")?, "0");
    Ok(())
}
