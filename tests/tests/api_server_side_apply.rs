//! Server-side apply (`application/apply-patch+yaml`) and field ownership: `kubectl apply
//! --server-side` creating, re-applying, changing and pruning fields, conflicts with other
//! field managers (`kubectl scale`, another applier) and `--force-conflicts`, and kube-rs
//! `Patch::Apply` on Deployments and ConfigMaps, with the upstream messages and Status.

use anyhow::Result;
use ferrokube_tests::Cluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
";

const SETTINGS: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {tier: web}
data:
  a: \"1\"
  b: \"2\"
";

/// The object as JSON, managedFields included.
fn get_json(c: &Cluster, what: &str) -> Result<Value> {
    let out = c.kubectl_ok(&["get", what, "-o", "json", "--show-managed-fields"])?;
    Ok(serde_json::from_str(&out)?)
}

/// `(manager, operation, subresource)` of each managedFields entry.
fn managers(obj: &Value) -> Vec<(String, String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("manager"), s("operation"), s("subresource"))
        })
        .collect()
}

/// The fieldsV1 of `manager`'s entry with `operation`.
fn fields_of(obj: &Value, manager: &str, operation: &str) -> Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn kubectl_apply_server_side_creates_and_reapplying_the_same_config_changes_nothing() -> Result<()>
{
    let c = Cluster::start()?;
    let out = c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], WEB)?;
    assert_eq!(out, "deployment.apps/web serverside-applied\n");
    let created = get_json(&c, "deployment/web")?;
    assert_eq!(
        managers(&created),
        vec![("kubectl".into(), "Apply".into(), String::new())]
    );
    assert_eq!(
        fields_of(&created, "kubectl", "Apply"),
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {},
                            "f:containerPort": {}
                        }}
                    }}}
                }
            }
        })
    );
    assert_eq!(
        created["spec"]["strategy"]["type"], "RollingUpdate",
        "the created object is defaulted"
    );

    let again = c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], WEB)?;
    assert_eq!(again, "deployment.apps/web serverside-applied\n");
    let after = get_json(&c, "deployment/web")?;
    assert_eq!(
        after["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"],
        "an unchanged apply writes nothing"
    );
    assert_eq!(
        after["metadata"]["managedFields"],
        created["metadata"]["managedFields"]
    );
    Ok(())
}

#[test]
fn a_changed_field_is_updated_and_a_field_left_out_is_removed() -> Result<()> {
    let c = Cluster::start()?;
    c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], SETTINGS)?;
    let changed = SETTINGS.replace("a: \"1\"", "a: \"10\"");
    c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &changed)?;
    let cm = get_json(&c, "configmap/settings")?;
    assert_eq!(cm["data"], json!({"a": "10", "b": "2"}));

    let without_b_and_labels = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: \"10\"
";
    c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], without_b_and_labels)?;
    let cm = get_json(&c, "configmap/settings")?;
    assert_eq!(cm["data"], json!({"a": "10"}));
    assert!(
        cm["metadata"]["labels"]
            .as_object()
            .is_none_or(|l| l.is_empty()),
        "{}",
        cm["metadata"]
    );
    assert_eq!(
        fields_of(&cm, "kubectl", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
    Ok(())
}

#[test]
fn a_field_left_out_stays_while_another_manager_also_owns_it() -> Result<()> {
    let c = Cluster::start()?;
    c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], SETTINGS)?;
    let b_only = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  b: \"2\"
";
    c.kubectl_stdin(
        &["apply", "--server-side", "--field-manager=other", "-f", "-"],
        b_only,
    )?;
    let a_only = SETTINGS.replace("  b: \"2\"\n", "");
    c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &a_only)?;
    let cm = get_json(&c, "configmap/settings")?;
    assert_eq!(cm["data"], json!({"a": "1", "b": "2"}));
    assert_eq!(
        fields_of(&cm, "other", "Apply"),
        json!({"f:data": {"f:b": {}}})
    );
    Ok(())
}

#[test]
fn applying_over_kubectl_scale_conflicts_until_forced() -> Result<()> {
    let c = Cluster::start()?;
    c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], WEB)?;
    c.kubectl_ok(&["scale", "deployment/web", "--replicas=5"])?;
    let scaled = get_json(&c, "deployment/web")?;
    assert!(
        managers(&scaled).contains(&("kubectl".into(), "Update".into(), "scale".into())),
        "{:?}",
        managers(&scaled)
    );
    assert_eq!(
        fields_of(&scaled, "kubectl", "Update"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert_eq!(
        fields_of(&scaled, "kubectl", "Apply")["f:spec"].get("f:replicas"),
        None,
        "the scale took spec.replicas from the applier"
    );

    let three = WEB.replace("replicas: 2", "replicas: 3");
    let err = c
        .kubectl()
        .args(["apply", "--server-side", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(three.as_bytes())?;
            child.wait_with_output()
        })?;
    assert!(!err.status.success());
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        stderr.starts_with(
            "error: Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas\n"
        ),
        "{stderr}"
    );
    assert_eq!(get_json(&c, "deployment/web")?["spec"]["replicas"], 5);

    let out = c.kubectl_stdin(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        &three,
    )?;
    assert_eq!(out, "deployment.apps/web serverside-applied\n");
    let forced = get_json(&c, "deployment/web")?;
    assert_eq!(forced["spec"]["replicas"], 3);
    assert_eq!(
        managers(&forced),
        vec![("kubectl".into(), "Apply".into(), String::new())],
        "the scale entry owned nothing else and is gone"
    );
    Ok(())
}

#[test]
fn another_field_manager_shares_an_equal_value_and_conflicts_on_a_different_one() -> Result<()> {
    let c = Cluster::start()?;
    c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], WEB)?;
    c.kubectl_stdin(
        &["apply", "--server-side", "--field-manager=ci", "-f", "-"],
        WEB,
    )?;
    let shared = get_json(&c, "deployment/web")?;
    assert_eq!(
        fields_of(&shared, "ci", "Apply"),
        fields_of(&shared, "kubectl", "Apply")
    );

    let other = WEB
        .replace("replicas: 2", "replicas: 4")
        .replace("nginx:1.25", "nginx:1.27");
    let stderr = c
        .kubectl()
        .args(["apply", "--server-side", "--field-manager=ci", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(other.as_bytes())?;
            child.wait_with_output()
        })
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())?;
    assert!(
        stderr.starts_with(
            "error: Apply failed with 2 conflicts: conflicts with \"kubectl\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image\n"
        ),
        "{stderr}"
    );
    Ok(())
}

/// Sends a raw apply PATCH; returns the status code and the JSON body.
async fn raw_apply(
    client: &kube::Client,
    path_and_query: &str,
    body: &str,
) -> Result<(u16, Value)> {
    let request = http::Request::patch(path_and_query)
        .header("Content-Type", "application/apply-patch+yaml")
        .body(kube::client::Body::from(body.as_bytes().to_vec()))?;
    let response = client.send(request).await?;
    let code = response.status().as_u16();
    let bytes = response.into_body().collect_bytes().await?;
    Ok((code, serde_json::from_slice(&bytes)?))
}

#[tokio::test]
async fn an_apply_patch_needs_a_field_manager_and_conflicts_carry_their_causes() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let path = "/api/v1/namespaces/default/configmaps/raw";
    let config = r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "raw"}, "data": {"k": "v"}}"#;

    let (code, status) = raw_apply(&client, path, config).await?;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );

    let (code, created) = raw_apply(&client, &format!("{path}?fieldManager=first"), config).await?;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["data"], json!({"k": "v"}));

    let (code, same) = raw_apply(&client, &format!("{path}?fieldManager=first"), config).await?;
    assert_eq!(code, 200);
    assert_eq!(
        same["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    let different = config.replace(r#""k": "v""#, r#""k": "w""#);
    let (code, status) =
        raw_apply(&client, &format!("{path}?fieldManager=second"), &different).await?;
    assert_eq!(code, 409);
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"first\": .data.k"
    );
    assert_eq!(
        status["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"first\"", "field": ".data.k"}])
    );

    let (code, forced) = raw_apply(
        &client,
        &format!("{path}?fieldManager=second&force=true"),
        &different,
    )
    .await?;
    assert_eq!(code, 200, "{forced}");
    assert_eq!(forced["data"], json!({"k": "w"}));
    let owners: Vec<&str> = forced["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["manager"].as_str())
        .collect();
    assert_eq!(owners, vec!["second"], "first owned nothing else");

    let bad_version = config.replace(r#""apiVersion": "v1""#, r#""apiVersion": "v2""#);
    let (code, status) =
        raw_apply(&client, &format!("{path}?fieldManager=first"), &bad_version).await?;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        "Incorrect version specified in apply patch. Specified patch version: v2, expected: v1"
    );
    Ok(())
}

#[tokio::test]
async fn kube_rs_patch_apply_manages_a_deployment_and_a_configmap() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let params = PatchParams::apply("controller");
    let web: Value = serde_yaml::from_str(WEB)?;
    let created = deployments
        .patch("web", &params, &Patch::Apply(&web))
        .await?;
    assert_eq!(created.spec.as_ref().and_then(|s| s.replicas), Some(2));

    // A second applier adds a sidecar container: list items merge by name.
    let sidecar = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1.30"}]}}}
    });
    deployments
        .patch("web", &PatchParams::apply("mesh"), &Patch::Apply(&sidecar))
        .await?;
    // The first applier re-applies its own config: the sidecar is not its to remove.
    let reapplied = deployments
        .patch("web", &params, &Patch::Apply(&web))
        .await?;
    let names: Vec<String> = reapplied
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["web", "proxy"]);

    // Conflicts surface as 409 Conflict through kube-rs; force takes the field.
    let mut scaled = web.clone();
    scaled["spec"]["replicas"] = json!(7);
    let err = deployments
        .patch(
            "web",
            &PatchParams::apply("autoscaler"),
            &Patch::Apply(&scaled),
        )
        .await
        .expect_err("replicas belong to the controller");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.reason, "Conflict");
            assert!(
                status.message.starts_with(
                    "Apply failed with 1 conflict: conflict with \"controller\": .spec.replicas"
                ),
                "{}",
                status.message
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
    let forced = deployments
        .patch(
            "web",
            &PatchParams::apply("autoscaler").force(),
            &Patch::Apply(&scaled),
        )
        .await?;
    assert_eq!(forced.spec.as_ref().and_then(|s| s.replicas), Some(7));

    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let settings: Value = serde_yaml::from_str(SETTINGS)?;
    let cm = configmaps
        .patch("settings", &params, &Patch::Apply(&settings))
        .await?;
    let entry = &cm.metadata.managed_fields.as_ref().expect("managedFields")[0];
    assert_eq!(entry.manager.as_deref(), Some("controller"));
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
    assert_eq!(
        entry.fields_v1.as_ref().map(|f| f.0.clone()),
        Some(json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:tier": {}}}}))
    );
    // An Update through a merge patch takes the field it changes from the applier.
    let patched = configmaps
        .patch(
            "settings",
            &PatchParams {
                field_manager: Some("editor".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"a": "changed"}})),
        )
        .await?;
    let fields: Vec<(String, Value)> = patched
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|e| {
            (
                e.manager.clone().unwrap_or_default(),
                e.fields_v1
                    .as_ref()
                    .map(|f| f.0.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            (
                "controller".to_string(),
                json!({"f:data": {"f:b": {}}, "f:metadata": {"f:labels": {"f:tier": {}}}})
            ),
            ("editor".to_string(), json!({"f:data": {"f:a": {}}})),
        ]
    );
    Ok(())
}
