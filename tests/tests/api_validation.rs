//! What the server refuses, and what it fills in, on writes: invalid names, missing required
//! fields and immutable fields (422 with causes); `fieldValidation` Strict / Warn / Ignore for
//! unknown and duplicate fields; bad input (an oversized body, malformed JSON, an unknown
//! resource, a wrong kind or apiVersion) that leaves nothing written; Service cluster IP and
//! node port allocation; the ServiceAccount admission defaults of namespaces and pods.

mod api_support;

use anyhow::Result;
use api_support::{Raw, configmap, core_path, deployment, get, pod, post, put, raw, typed};
use ferrokube_tests::Cluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn causes(r: &Raw) -> Vec<(String, String)> {
    r.json()["details"]["causes"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["field"].as_str().unwrap_or("").to_string(),
                        c["reason"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn service(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

fn cluster_ip_service(name: &str) -> Value {
    service(
        name,
        json!({"selector": {"app": name}, "ports": [{"port": 80}]}),
    )
}

async fn configmap_count(c: &Cluster) -> Result<usize> {
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    Ok(api.list(&ListParams::default()).await?.items.len())
}

#[tokio::test]
async fn an_invalid_name_is_unprocessable_with_a_metadata_name_cause() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let r = post(
        &client,
        &core_path("default", "configmaps"),
        &configmap("Not_Valid", &[], &[]),
    )
    .await?;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["reason"], "Invalid");
    assert_eq!(
        causes(&r),
        [("metadata.name".to_string(), "FieldValueInvalid".to_string())]
    );
    let message = r.json()["message"].as_str().unwrap_or("").to_string();
    assert!(message.starts_with("ConfigMap \"Not_Valid\" is invalid: metadata.name: Invalid value: \"Not_Valid\": a lowercase RFC 1123 subdomain"), "{message}");

    // Services need an RFC 1035 label: no leading digit, no dots.
    let r = post(
        &client,
        &core_path("default", "services"),
        &cluster_ip_service("1st.svc"),
    )
    .await?;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        causes(&r).first().map(|c| c.0.as_str()),
        Some("metadata.name")
    );

    // No name and no generateName.
    let r = post(
        &client,
        &core_path("default", "configmaps"),
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
    )
    .await?;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        causes(&r),
        [(
            "metadata.name".to_string(),
            "FieldValueRequired".to_string()
        )]
    );
    assert_eq!(
        configmap_count(&c).await?,
        1,
        "only kube-root-ca.crt: nothing was written"
    );
    Ok(())
}

#[tokio::test]
async fn missing_required_fields_are_unprocessable() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let mut no_containers = pod("empty");
    no_containers["spec"]["containers"] = json!([]);
    let r = post(&client, &core_path("default", "pods"), &no_containers).await?;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        causes(&r),
        [(
            "spec.containers".to_string(),
            "FieldValueRequired".to_string()
        )]
    );

    let mut no_image = pod("noimage");
    no_image["spec"]["containers"][0]
        .as_object_mut()
        .expect("container")
        .remove("image");
    let r = post(&client, &core_path("default", "pods"), &no_image).await?;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        causes(&r),
        [(
            "spec.containers[0].image".to_string(),
            "FieldValueRequired".to_string()
        )]
    );

    let mut no_selector = deployment("nosel", 1);
    no_selector["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("selector");
    let r = post(
        &client,
        "/apis/apps/v1/namespaces/default/deployments",
        &no_selector,
    )
    .await?;
    assert_eq!(r.status, 422, "{}", r.text());
    // Upstream says "Required value"; the typed decode here turns a missing selector into an
    // empty one ("empty selector is invalid"). Either way the cause is on spec.selector.
    assert!(
        causes(&r).iter().any(|c| c.0 == "spec.selector"),
        "{}",
        r.text()
    );

    let pods: Api<Pod> = Api::namespaced(client, "default");
    assert!(
        pods.list(&ListParams::default()).await?.items.is_empty(),
        "no invalid pod was stored"
    );
    Ok(())
}

#[tokio::test]
async fn immutable_fields_cannot_change() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .create(&PostParams::default(), &typed(cluster_ip_service("fixed")))
        .await?;
    let err = services
        .patch(
            "fixed",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"clusterIP": "10.43.200.200", "clusterIPs": ["10.43.200.200"]}}),
            ),
        )
        .await
        .expect_err("clusterIP is immutable");
    let kube::Error::Api(s) = &err else {
        panic!("{err}")
    };
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
    assert!(s.message.contains("spec.clusterIPs[0]: Invalid value: []string{\"10.43.200.200\"}: may not change once set") || s.message.contains("field is immutable"), "{}", s.message);

    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deploys
        .create(&PostParams::default(), &typed(deployment("stable", 1)))
        .await?;
    let err = deploys
        .patch(
            "stable",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"selector": {"matchLabels": {"app": "other"}}, "template": {"metadata": {"labels": {"app": "other"}}}}})),
        )
        .await
        .expect_err("selector is immutable");
    let kube::Error::Api(s) = &err else {
        panic!("{err}")
    };
    assert_eq!(s.code, 422, "{s:?}");
    assert!(
        s.message.contains("spec.selector") && s.message.contains("field is immutable"),
        "{}",
        s.message
    );
    assert_eq!(
        deploys
            .get("stable")
            .await?
            .spec
            .and_then(|s| s.selector.match_labels)
            .unwrap_or_default()["app"],
        "stable",
        "the refused update changed nothing"
    );
    Ok(())
}

#[tokio::test]
async fn field_validation_strict_warn_and_ignore_treat_unknown_and_duplicate_fields() -> Result<()>
{
    let c = Cluster::start()?;
    let client = c.client().await?;
    let path = core_path("default", "configmaps");
    let body = |name: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","labels":{{"a":"1"}}}},"data":{{"k":"v"}},"bogus":1,"metadata":{{"name":"{name}"}}}}"#
        )
    };

    let r = raw(
        &client,
        "POST",
        &format!("{path}?fieldValidation=Strict"),
        "application/json",
        body("strict"),
    )
    .await?;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["reason"], "BadRequest");
    let message = r.json()["message"].as_str().unwrap_or("").to_string();
    assert!(message.starts_with("strict decoding error: "), "{message}");
    assert!(
        message.contains("unknown field \"bogus\"")
            && message.contains("duplicate field \"metadata\""),
        "{message}"
    );

    let r = raw(
        &client,
        "POST",
        &format!("{path}?fieldValidation=Warn"),
        "application/json",
        body("warn"),
    )
    .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let warnings = r.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("299 - ") && w.contains(r#"unknown field \"bogus\""#)),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(r#"duplicate field \"metadata\""#)),
        "{warnings:?}"
    );
    assert!(
        r.json().get("bogus").is_none(),
        "the unknown field is dropped"
    );

    // Warn is the default.
    let r = raw(&client, "POST", &path, "application/json", body("default")).await?;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(!r.warnings().is_empty());

    let r = raw(
        &client,
        "POST",
        &format!("{path}?fieldValidation=Ignore"),
        "application/json",
        body("ignore"),
    )
    .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.warnings().is_empty(), "{:?}", r.warnings());

    // The same rules hold for updates and patches.
    let put_body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warn"},"data":{"k":"v2"},"spec":{}}"#;
    let r = raw(
        &client,
        "PUT",
        &format!("{path}/warn?fieldValidation=Strict"),
        "application/json",
        put_body,
    )
    .await?;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = raw(
        &client,
        "PATCH",
        &format!("{path}/warn?fieldValidation=Strict"),
        "application/merge-patch+json",
        r#"{"data":{"k":"v3"},"extra":true}"#,
    )
    .await?;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = raw(
        &client,
        "PATCH",
        &format!("{path}/warn"),
        "application/merge-patch+json",
        r#"{"data":{"k":"v3"},"extra":true}"#,
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.warnings()
            .iter()
            .any(|w| w.contains(r#"unknown field \"extra\""#)),
        "{:?}",
        r.warnings()
    );

    let r = raw(
        &client,
        "POST",
        &format!("{path}?fieldValidation=Loose"),
        "application/json",
        body("loose"),
    )
    .await?;
    assert_eq!(
        r.status,
        400,
        "an unknown directive is refused: {}",
        r.text()
    );

    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    assert!(
        api.get_opt("strict").await?.is_none(),
        "Strict stored nothing"
    );
    Ok(())
}

#[tokio::test]
async fn bad_requests_are_refused_and_leave_nothing_written() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let path = core_path("default", "configmaps");
    let before = configmap_count(&c).await?;

    // Over 3 MiB: 413.
    let big = configmap("big", &[], &[("blob", &"x".repeat(3 * 1024 * 1024 + 10))]);
    let r = post(&client, &path, &big).await?;
    assert_eq!(
        r.status,
        413,
        "{}",
        String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
    );
    assert_eq!(r.json()["reason"], "RequestEntityTooLarge");

    // Malformed JSON: 400.
    let r = raw(
        &client,
        "POST",
        &path,
        "application/json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"#,
    )
    .await?;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["kind"], "Status");

    // A wrong kind or apiVersion for the resource: 400.
    let mut wrong_kind = configmap("wrongkind", &[], &[]);
    wrong_kind["kind"] = json!("Secret");
    let r = post(&client, &path, &wrong_kind).await?;
    assert_eq!(r.status, 400, "{}", r.text());
    let mut wrong_version = configmap("wrongversion", &[], &[]);
    wrong_version["apiVersion"] = json!("apps/v1");
    let r = post(&client, &path, &wrong_version).await?;
    assert_eq!(r.status, 400, "{}", r.text());

    // Unknown resources and groups: 404.
    for p in [
        "/api/v1/namespaces/default/widgets",
        "/apis/example.com/v1/widgets",
        "/api/v2/pods",
    ] {
        let r = post(&client, p, &configmap("nowhere", &[], &[])).await?;
        assert_eq!(r.status, 404, "{p}: {}", r.text());
        assert_eq!(r.json()["reason"], "NotFound", "{p}");
    }

    // A namespace that does not exist: 404 for the namespace.
    let r = post(
        &client,
        &core_path("nope", "configmaps"),
        &configmap("orphan", &[], &[]),
    )
    .await?;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["message"], "namespaces \"nope\" not found");

    // A namespace in the body different from the URL's: 400.
    let mut elsewhere = configmap("elsewhere", &[], &[]);
    elsewhere["metadata"]["namespace"] = json!("kube-system");
    let r = post(&client, &path, &elsewhere).await?;
    assert_eq!(r.status, 400, "{}", r.text());

    assert_eq!(
        configmap_count(&c).await?,
        before,
        "none of them wrote anything"
    );
    Ok(())
}

#[tokio::test]
async fn services_get_unique_cluster_ips_from_the_service_range_released_on_delete() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let mut ips = vec!["10.43.0.1".to_string()];
    for i in 0..5 {
        let s = services
            .create(
                &PostParams::default(),
                &typed(cluster_ip_service(&format!("svc-{i}"))),
            )
            .await?;
        let spec = s.spec.expect("spec");
        let ip = spec.cluster_ip.clone().expect("a cluster IP");
        assert!(ip.starts_with("10.43."), "{ip} is in 10.43.0.0/16");
        assert_eq!(spec.cluster_ips, Some(vec![ip.clone()]));
        assert!(!ips.contains(&ip), "{ip} was handed out twice");
        ips.push(ip);
    }

    // A requested IP: taken while its Service exists, free again once it is deleted.
    let wanted = "10.43.77.77";
    let pinned = service(
        "pinned",
        json!({"clusterIP": wanted, "ports": [{"port": 80}]}),
    );
    services
        .create(&PostParams::default(), &typed(pinned.clone()))
        .await?;
    let r = post(
        &client,
        &core_path("default", "services"),
        &service(
            "again",
            json!({"clusterIP": wanted, "ports": [{"port": 80}]}),
        ),
    )
    .await?;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("provided IP is already allocated"),
        "{}",
        r.text()
    );
    let r = post(
        &client,
        &core_path("default", "services"),
        &service(
            "outside",
            json!({"clusterIP": "192.168.1.1", "ports": [{"port": 80}]}),
        ),
    )
    .await?;
    assert_eq!(
        r.status,
        422,
        "an IP outside the range is refused: {}",
        r.text()
    );

    services.delete("pinned", &DeleteParams::default()).await?;
    let again = services
        .create(
            &PostParams::default(),
            &typed(service(
                "again",
                json!({"clusterIP": wanted, "ports": [{"port": 80}]}),
            )),
        )
        .await?;
    assert_eq!(
        again.spec.and_then(|s| s.cluster_ip).as_deref(),
        Some(wanted),
        "the released IP is reusable"
    );

    // Headless services get no IP.
    let headless = services
        .create(
            &PostParams::default(),
            &typed(service(
                "headless",
                json!({"clusterIP": "None", "ports": [{"port": 80}]}),
            )),
        )
        .await?;
    assert_eq!(
        headless.spec.and_then(|s| s.cluster_ip).as_deref(),
        Some("None")
    );
    Ok(())
}

#[tokio::test]
async fn node_ports_are_allocated_in_range_and_a_taken_port_is_refused() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let np = services
        .create(&PostParams::default(), &typed(service("np", json!({"type": "NodePort", "selector": {"app": "x"}, "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]}))))
        .await?;
    let ports: Vec<i32> = np
        .spec
        .and_then(|s| s.ports)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.node_port)
        .collect();
    assert_eq!(ports.len(), 2, "{ports:?}");
    assert!(
        ports.iter().all(|p| (30000..=32767).contains(p)),
        "{ports:?}"
    );
    assert_ne!(ports[0], ports[1]);

    let taken = ports[0];
    let r = post(
        &client,
        &core_path("default", "services"),
        &service(
            "clash",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": taken}]}),
        ),
    )
    .await?;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        causes(&r).first().map(|c| c.0.as_str()),
        Some("spec.ports[0].nodePort"),
        "{}",
        r.text()
    );
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("provided port is already allocated"),
        "{}",
        r.text()
    );
    let r = post(
        &client,
        &core_path("default", "services"),
        &service(
            "low",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}),
        ),
    )
    .await?;
    assert_eq!(
        r.status,
        422,
        "a port outside the range is refused: {}",
        r.text()
    );

    services.delete("np", &DeleteParams::default()).await?;
    let reuse = services
        .create(
            &PostParams::default(),
            &typed(service(
                "reuse",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": taken}]}),
            )),
        )
        .await?;
    assert_eq!(
        reuse.spec.and_then(|s| s.ports).unwrap_or_default()[0].node_port,
        Some(taken),
        "released on delete"
    );
    Ok(())
}

#[tokio::test]
async fn a_new_namespace_gets_a_default_service_account_and_pods_get_admission_defaults()
-> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &typed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}})),
        )
        .await?;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "fresh");
    assert!(
        sas.get_opt("default").await?.is_some(),
        "the default ServiceAccount exists right after the namespace"
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), "fresh");
    let p = pods
        .create(&PostParams::default(), &typed(pod("admitted")))
        .await?;
    let spec = p.spec.expect("spec");
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    let tolerations: Vec<(String, String, Option<i64>)> = spec
        .tolerations
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            (
                t.key.unwrap_or_default(),
                t.effect.unwrap_or_default(),
                t.toleration_seconds,
            )
        })
        .collect();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        assert!(
            tolerations.contains(&(key.to_string(), "NoExecute".to_string(), Some(300))),
            "{key} in {tolerations:?}"
        );
    }
    let mounts: Vec<String> = spec.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.clone())
        .collect();
    assert!(
        mounts.contains(&"/var/run/secrets/kubernetes.io/serviceaccount".to_string()),
        "{mounts:?}"
    );
    assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    Ok(())
}

#[tokio::test]
async fn an_update_to_a_missing_object_or_with_a_mismatched_name_is_refused() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let path = core_path("default", "configmaps");
    let r = put(
        &client,
        &format!("{path}/ghost"),
        &configmap("ghost", &[], &[]),
    )
    .await?;
    assert_eq!(
        r.status,
        404,
        "configmaps are not created by PUT: {}",
        r.text()
    );
    let r = get(&client, &format!("{path}/ghost")).await?;
    assert_eq!(r.status, 404);
    Ok(())
}
