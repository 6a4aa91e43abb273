//! kubectl's typed clients (`create configmap|secret|deployment|namespace|serviceaccount|job`,
//! `run`, `expose`, `create service`) send their request bodies as Kubernetes protobuf
//! (`application/vnd.kubernetes.protobuf`); the server decodes them into the objects a JSON body
//! would make. A protobuf PATCH stays 415, as upstream.

mod api_support;

use anyhow::Result;
use ferrokube_tests::Cluster;
use serde_json::{Value, json};

/// `kubectl get <what> -o json`, parsed.
fn get(c: &Cluster, what: &[&str]) -> Result<Value> {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "json"]);
    Ok(serde_json::from_str(&c.kubectl_ok(&args)?)?)
}

#[test]
fn create_configmap_and_secret_from_literals_keep_their_data() -> Result<()> {
    let c = Cluster::start()?;
    assert_eq!(
        c.kubectl_ok(&[
            "create",
            "configmap",
            "settings",
            "--from-literal=a=b",
            "--from-literal=greeting=hello world",
        ])?,
        "configmap/settings created\n"
    );
    let cm = get(&c, &["configmap", "settings"])?;
    assert_eq!(cm["data"], json!({"a": "b", "greeting": "hello world"}));
    assert_eq!(cm["metadata"]["namespace"], "default");
    assert!(cm["metadata"]["uid"].is_string(), "{cm}");

    assert_eq!(
        c.kubectl_ok(&[
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cr3t",
            "--from-literal=user=admin",
        ])?,
        "secret/creds created\n"
    );
    let secret = get(&c, &["secret", "creds"])?;
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(
        secret["data"],
        json!({"password": "czNjcjN0", "user": "YWRtaW4="})
    );
    assert_eq!(
        c.kubectl_ok(&[
            "get",
            "secret",
            "creds",
            "-o",
            "go-template={{.data.password | base64decode}}",
        ])?,
        "s3cr3t"
    );
    Ok(())
}

#[test]
fn create_namespace_serviceaccount_deployment_and_job_make_their_objects() -> Result<()> {
    let c = Cluster::start()?;
    assert_eq!(
        c.kubectl_ok(&["create", "namespace", "team"])?,
        "namespace/team created\n"
    );
    let ns = get(&c, &["namespace", "team"])?;
    assert_eq!(ns["status"]["phase"], "Active");

    assert_eq!(
        c.kubectl_ok(&["create", "serviceaccount", "robot", "-n", "team"])?,
        "serviceaccount/robot created\n"
    );
    let sa = get(&c, &["serviceaccount", "robot", "-n", "team"])?;
    assert_eq!(sa["metadata"]["namespace"], "team");

    assert_eq!(
        c.kubectl_ok(&[
            "create",
            "deployment",
            "api",
            "--image=nginx:1.27",
            "--replicas=2",
            "-n",
            "team",
        ])?,
        "deployment.apps/api created\n"
    );
    let d = get(&c, &["deployment", "api", "-n", "team"])?;
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["selector"]["matchLabels"], json!({"app": "api"}));
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"],
        json!({"app": "api"})
    );
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "nginx");
    assert_eq!(container["image"], "nginx:1.27");

    assert_eq!(
        c.kubectl_ok(&["create", "job", "once", "--image=busybox", "-n", "team"])?,
        "job.batch/once created\n"
    );
    let job = get(&c, &["job", "once", "-n", "team"])?;
    let pod_spec = &job["spec"]["template"]["spec"];
    assert_eq!(pod_spec["containers"][0]["image"], "busybox");
    assert_eq!(pod_spec["restartPolicy"], "Never");
    Ok(())
}

#[test]
fn run_makes_a_pod_with_its_labels_env_and_port() -> Result<()> {
    let c = Cluster::start()?;
    assert_eq!(
        c.kubectl_ok(&[
            "run",
            "web",
            "--image=nginx",
            "--labels=app=web,tier=front",
            "--env=MODE=prod",
            "--env=LEVEL=3",
            "--port=8080",
        ])?,
        "pod/web created\n"
    );
    let pod = get(&c, &["pod", "web"])?;
    assert_eq!(
        pod["metadata"]["labels"],
        json!({"app": "web", "tier": "front"})
    );
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx");
    assert_eq!(
        container["env"],
        json!([{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "3"}])
    );
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    Ok(())
}

#[test]
fn expose_and_create_service_make_services_with_their_ports() -> Result<()> {
    let c = Cluster::start()?;
    c.kubectl_ok(&["create", "deployment", "api", "--image=nginx"])?;
    assert_eq!(
        c.kubectl_ok(&[
            "expose",
            "deployment",
            "api",
            "--port=80",
            "--target-port=8080"
        ])?,
        "service/api exposed\n"
    );
    let svc = get(&c, &["service", "api"])?;
    assert_eq!(svc["spec"]["selector"], json!({"app": "api"}));
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.43.")),
        "{svc}"
    );

    assert_eq!(
        c.kubectl_ok(&["create", "service", "nodeport", "web", "--tcp=80:http"])?,
        "service/web created\n"
    );
    let svc = get(&c, &["service", "web"])?;
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    let port = &svc["spec"]["ports"][0];
    assert_eq!(port["port"], 80);
    assert_eq!(port["targetPort"], "http");
    assert!(
        port["nodePort"]
            .as_i64()
            .is_some_and(|p| (30000..=32767).contains(&p)),
        "{svc}"
    );
    Ok(())
}

/// A protobuf field: `tag` with a length-delimited payload.
fn field(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![
        tag << 3 | 2,
        u8::try_from(payload.len()).expect("short payload"),
    ];
    out.extend_from_slice(payload);
    out
}

/// `raw` of `kind` in a Kubernetes protobuf envelope.
fn envelope(kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = [field(1, b"v1"), field(2, kind.as_bytes())].concat();
    let unknown = [field(1, &type_meta), field(2, raw)].concat();
    [b"k8s\0".as_slice(), &unknown].concat()
}

/// A ConfigMap `name` with `data: {k: v}` in a Kubernetes protobuf envelope.
fn configmap_body(name: &str, k: &str, v: &str) -> Vec<u8> {
    let metadata = field(1, name.as_bytes());
    let entry = [field(1, k.as_bytes()), field(2, v.as_bytes())].concat();
    envelope(
        "ConfigMap",
        &[field(1, &metadata), field(2, &entry)].concat(),
    )
}

#[tokio::test]
async fn protobuf_bodies_create_and_delete_but_a_protobuf_patch_is_unsupported() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let protobuf = "application/vnd.kubernetes.protobuf";
    let path = "/api/v1/namespaces/default/configmaps";

    let created = api_support::raw(
        &client,
        "POST",
        path,
        protobuf,
        configmap_body("raw", "k", "v"),
    )
    .await?;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["data"], json!({"k": "v"}));

    let patched = api_support::raw(
        &client,
        "PATCH",
        &format!("{path}/raw"),
        protobuf,
        configmap_body("raw", "k", "w"),
    )
    .await?;
    assert_eq!(patched.status, 415, "{}", patched.text());
    assert_eq!(patched.json()["reason"], "UnsupportedMediaType");

    // DeleteOptions{dryRun: ["All"]} as typed clients send it: the ConfigMap stays.
    let dry_run = envelope("DeleteOptions", &field(5, b"All"));
    let deleted =
        api_support::raw(&client, "DELETE", &format!("{path}/raw"), protobuf, dry_run).await?;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        api_support::get(&client, &format!("{path}/raw"))
            .await?
            .status,
        200
    );
    let delete_options = envelope("DeleteOptions", &[]);
    let deleted = api_support::raw(
        &client,
        "DELETE",
        &format!("{path}/raw"),
        protobuf,
        delete_options,
    )
    .await?;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        api_support::get(&client, &format!("{path}/raw"))
            .await?
            .status,
        404
    );

    let garbage =
        api_support::raw(&client, "POST", path, protobuf, b"k8s\0\x0a\x7f".to_vec()).await?;
    assert_eq!(garbage.status, 400, "{}", garbage.text());
    assert!(
        garbage.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("truncated protobuf message")),
        "{}",
        garbage.text()
    );
    Ok(())
}
