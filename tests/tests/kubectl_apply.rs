//! Declarative kubectl: `create -f` of a multi-document file, client-side `apply` (created,
//! unchanged, configured through a strategic merge patch), `diff`, `replace` with its conflict,
//! and server-side dry runs.

mod kubectl_support;

use anyhow::Result;
use ferrokube_tests::Cluster;
use kubectl_support::{WEB_STACK, failing, jsonpath, quiet, quiet_stdin, run, write_file};
use serde_json::{Value, json};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[test]
fn create_of_a_multi_document_file_creates_every_object() -> Result<()> {
    let c = Cluster::start()?;
    let out = quiet_stdin(&c, &["create", "-f", "-"], WEB_STACK)?;
    assert_eq!(
        out,
        "deployment.apps/web created\nservice/web created\nconfigmap/web-config created\nsecret/web-secret created\n"
    );
    let names = quiet(
        &c,
        &[
            "get",
            "deployments,services,configmaps,secrets",
            "-l",
            "app=web",
            "-o",
            "name",
        ],
    )?;
    assert_eq!(
        names,
        "deployment.apps/web\nservice/web\nconfigmap/web-config\nsecret/web-secret\n"
    );

    assert_eq!(
        jsonpath(&c, "configmap/web-config", "{.data.greeting}")?,
        "hello"
    );
    let ip = jsonpath(&c, "service/web", "{.spec.clusterIP}")?;
    assert!(ip.starts_with("10.43."), "allocated cluster IP {ip}");
    assert_eq!(
        jsonpath(
            &c,
            "deployment/web",
            "{.spec.template.spec.containers[0].image}"
        )?,
        "nginx:1.25"
    );
    // A `kubectl create` stores no last-applied annotation.
    let annotations = jsonpath(&c, "deployment/web", "{.metadata.annotations}")?;
    assert!(!annotations.contains(LAST_APPLIED), "{annotations}");
    Ok(())
}

#[test]
fn secret_string_data_is_stored_base64_encoded_in_data() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["create", "-f", "-"], WEB_STACK)?;
    let secret: Value =
        serde_json::from_str(&quiet(&c, &["get", "secret", "web-secret", "-o", "json"])?)?;
    assert_eq!(
        secret["data"],
        json!({"password": "aHVudGVyMg=="}),
        "{secret}"
    );
    assert!(
        secret.get("stringData").is_none(),
        "stringData is write-only: {secret}"
    );
    assert_eq!(secret["type"], "Opaque");
    let table = quiet(&c, &["get", "secret", "web-secret"])?;
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(&row[..3], ["web-secret", "Opaque", "1"], "{table}");
    Ok(())
}

#[test]
fn applying_the_same_file_twice_creates_then_leaves_it_unchanged() -> Result<()> {
    let c = Cluster::start()?;
    let first = quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    assert_eq!(
        first,
        "deployment.apps/web created\nservice/web created\nconfigmap/web-config created\nsecret/web-secret created\n"
    );
    let rv = jsonpath(&c, "deployment/web", "{.metadata.resourceVersion}")?;
    let second = quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    // A Secret applied with stringData always differs from the live object (whose stringData
    // was folded into data), so kubectl reports it configured, as against upstream.
    assert_eq!(
        second,
        "deployment.apps/web unchanged\nservice/web unchanged\nconfigmap/web-config unchanged\nsecret/web-secret configured\n"
    );
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.metadata.resourceVersion}")?,
        rv,
        "an unchanged apply writes nothing"
    );

    let applied: Value = serde_json::from_str(&jsonpath(
        &c,
        "deployment/web",
        "{.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
    )?)?;
    assert_eq!(applied["kind"], "Deployment");
    assert_eq!(
        applied["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    Ok(())
}

#[test]
fn applying_over_a_created_object_warns_about_the_missing_annotation_and_configures_it()
-> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["create", "-f", "-"], WEB_STACK)?;
    let out = run(&c, &["apply", "-f", "-"], Some(WEB_STACK))?;
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("deployment.apps/web configured\n"),
        "{stdout}"
    );
    // kubectl's own warning (client-side), once per object; nothing else.
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 4, "{stderr}");
    assert!(
        warnings.iter().all(|w| w.starts_with("Warning: resource ")
            && w.contains(
                "is missing the kubectl.kubernetes.io/last-applied-configuration annotation"
            )),
        "{stderr}"
    );
    assert!(!jsonpath(&c, "deployment/web", "{.metadata.annotations}")?.is_empty());
    Ok(())
}

#[test]
fn a_changed_manifest_is_applied_as_a_three_way_strategic_merge_patch() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    // Someone else adds an env var the manifest does not know about.
    assert_eq!(
        quiet(&c, &["set", "env", "deployment/web", "EXTRA=1"])?,
        "deployment.apps/web env updated\n"
    );
    let generation: i64 = jsonpath(&c, "deployment/web", "{.metadata.generation}")?.parse()?;

    let changed = WEB_STACK
        .replace("image: nginx:1.25", "image: nginx:1.27")
        .replace("value: info", "value: debug");
    let path = write_file(&c, "web.yaml", &changed)?;
    let out = run(&c, &["apply", "-f", &path, "-v=8"], None)?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(String::from_utf8_lossy(&out.stdout).contains("deployment.apps/web configured\n"));
    assert!(
        log.contains("Content-Type: application/strategic-merge-patch+json"),
        "kubectl sent no strategic merge patch:\n{log}"
    );

    let deployment: Value =
        serde_json::from_str(&quiet(&c, &["get", "deployment", "web", "-o", "json"])?)?;
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.27");
    // Merged by name: the changed value replaced, the foreign entry kept in place.
    assert_eq!(
        container["env"],
        json!([{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "debug"}, {"name": "EXTRA", "value": "1"}])
    );
    assert_eq!(container["name"], "nginx");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        deployment["metadata"]["generation"],
        json!(generation + 1),
        "a spec change bumps the generation"
    );
    let applied: Value = serde_json::from_str(
        deployment["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap_or("null"),
    )?;
    assert_eq!(
        applied["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        applied["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "debug"}])
    );

    // Dropping LEVEL from the manifest deletes it (it was applied before); EXTRA stays.
    let without_level = changed.replace("        - name: LEVEL\n          value: debug\n", "");
    quiet_stdin(&c, &["apply", "-f", "-"], &without_level)?;
    let env = jsonpath(
        &c,
        "deployment/web",
        "{.spec.template.spec.containers[0].env[*].name}",
    )?;
    assert_eq!(env, "MODE EXTRA");
    Ok(())
}

#[test]
fn diff_exits_one_with_the_changes_and_zero_when_there_are_none() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    // A manifest without the Secret (whose stringData always differs from the live object).
    let stack = WEB_STACK
        .split("---\n")
        .take(3)
        .collect::<Vec<_>>()
        .join("---\n");
    let same = run(&c, &["diff", "-f", "-"], Some(&stack))?;
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    assert!(
        same.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );

    let changed = stack
        .replace("replicas: 1", "replicas: 3")
        .replace("greeting: hello", "greeting: bonjour");
    let diff = run(&c, &["diff", "-f", "-"], Some(&changed))?;
    let text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(
        diff.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(text.contains("apps.v1.Deployment.default.web"), "{text}");
    assert!(
        text.contains("\n-  replicas: 1\n+  replicas: 3\n"),
        "{text}"
    );
    assert!(text.contains("v1.ConfigMap.default.web-config"), "{text}");
    assert!(
        text.contains("\n-  greeting: hello\n+  greeting: bonjour\n"),
        "{text}"
    );
    assert!(
        !text.contains("Service.default.web"),
        "the unchanged Service is not listed: {text}"
    );
    // diff is a dry run: nothing changed.
    assert_eq!(jsonpath(&c, "deployment/web", "{.spec.replicas}")?, "1");
    assert_eq!(
        jsonpath(&c, "configmap/web-config", "{.data.greeting}")?,
        "hello"
    );
    Ok(())
}

#[test]
fn create_with_a_server_dry_run_stores_nothing() -> Result<()> {
    let c = Cluster::start()?;
    let out = quiet_stdin(&c, &["create", "-f", "-", "--dry-run=server"], WEB_STACK)?;
    assert_eq!(
        out,
        "deployment.apps/web created (server dry run)\nservice/web created (server dry run)\nconfigmap/web-config created (server dry run)\nsecret/web-secret created (server dry run)\n"
    );
    // The server defaulted the object it did not store.
    let dry: Value = serde_json::from_str(&quiet_stdin(
        &c,
        &["create", "-f", "-", "--dry-run=server", "-o", "json"],
        &kubectl_support::pod("dry", "app: dry"),
    )?)?;
    assert_eq!(
        dry["spec"]["containers"][0]["imagePullPolicy"], "Always",
        "{dry}"
    );
    assert_eq!(dry["status"]["phase"], "Pending", "{dry}");

    let (_, err) = failing(&c, &["get", "deployment", "web"])?;
    assert_eq!(
        err,
        "Error from server (NotFound): deployments.apps \"web\" not found\n"
    );
    let (_, err) = failing(&c, &["get", "pod", "dry"])?;
    assert_eq!(
        err,
        "Error from server (NotFound): pods \"dry\" not found\n"
    );
    let all = run(
        &c,
        &[
            "get",
            "deployments,configmaps,secrets",
            "-l",
            "app=web",
            "-o",
            "name",
        ],
        None,
    )?;
    assert!(
        all.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&all.stdout)
    );
    Ok(())
}

#[test]
fn replace_stores_the_new_object_and_a_stale_one_is_a_conflict() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    let live = quiet(&c, &["get", "configmap", "web-config", "-o", "yaml"])?;
    assert!(live.contains("resourceVersion:"), "{live}");
    let path = write_file(
        &c,
        "web-config.yaml",
        &live.replace("greeting: hello", "greeting: bonjour"),
    )?;
    assert_eq!(
        quiet(&c, &["replace", "-f", &path])?,
        "configmap/web-config replaced\n"
    );
    assert_eq!(
        jsonpath(&c, "configmap/web-config", "{.data.greeting}")?,
        "bonjour"
    );

    // The file still carries the resourceVersion read before the first replace.
    let (code, err) = failing(&c, &["replace", "-f", &path])?;
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "Error from server (Conflict): error when replacing \"{path}\": Operation cannot be fulfilled on configmaps \"web-config\": the object has been modified; please apply your changes to the latest version and try again\n"
        )
    );

    // Without a resourceVersion, replace is unconditional.
    let fresh =
        kubectl_support::config_map("web-config", "app: web").replace("k: v", "greeting: hi");
    assert_eq!(
        quiet_stdin(&c, &["replace", "-f", "-"], &fresh)?,
        "configmap/web-config replaced\n"
    );
    assert_eq!(
        jsonpath(&c, "configmap/web-config", "{.data}")?,
        r#"{"greeting":"hi"}"#
    );
    Ok(())
}

#[test]
fn the_create_generators_make_their_objects() -> Result<()> {
    let c = Cluster::start()?;
    assert_eq!(
        quiet(&c, &["create", "namespace", "team"])?,
        "namespace/team created\n"
    );
    assert_eq!(
        quiet(
            &c,
            &["create", "configmap", "settings", "--from-literal=a=b"]
        )?,
        "configmap/settings created\n"
    );
    assert_eq!(
        quiet(
            &c,
            &["create", "secret", "generic", "token", "--from-literal=t=x"]
        )?,
        "secret/token created\n"
    );
    assert_eq!(
        quiet(&c, &["create", "deployment", "api", "--image=nginx"])?,
        "deployment.apps/api created\n"
    );
    assert_eq!(jsonpath(&c, "configmap/settings", "{.data.a}")?, "b");
    Ok(())
}

#[test]
fn server_side_apply_and_diff_work() -> Result<()> {
    let c = Cluster::start()?;
    let out = quiet_stdin(&c, &["apply", "--server-side", "-f", "-"], WEB_STACK)?;
    assert!(
        out.starts_with("deployment.apps/web serverside-applied\n"),
        "{out}"
    );
    let changed = WEB_STACK.replace("replicas: 1", "replicas: 2");
    let diff = run(&c, &["diff", "--server-side", "-f", "-"], Some(&changed))?;
    assert_eq!(
        diff.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(String::from_utf8_lossy(&diff.stdout).contains("+  replicas: 2\n"));
    Ok(())
}
