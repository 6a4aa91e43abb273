//! The non-resource endpoints against the real server: legacy discovery (`/api`, `/apis`,
//! `/apis/apps/v1`), aggregated discovery v2, `/openapi/v2`, `/openapi/v3` and a group
//! document, the health endpoints, `/metrics`, and refusing anonymous requests with 401.

mod api_support;

use anyhow::Result;
use api_support::{anonymous_client, get, raw};
use ferrokube_tests::Cluster;
use http::Request;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use kube::discovery::{Discovery, Scope};
use serde_json::Value;

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

#[tokio::test]
async fn legacy_discovery_lists_the_core_version_the_groups_and_their_resources() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let api = get(&client, "/api").await?.json();
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], serde_json::json!(["v1"]));

    let apis = get(&client, "/apis").await?.json();
    assert_eq!(apis["kind"], "APIGroupList");
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    for want in [
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "coordination.k8s.io",
    ] {
        assert!(groups.contains(&want), "{want} in {groups:?}");
    }

    let apps = get(&client, "/apis/apps/v1").await?.json();
    assert_eq!(apps["kind"], "APIResourceList");
    assert_eq!(apps["groupVersion"], "apps/v1");
    let resources = apps["resources"].as_array().expect("resources");
    let find = |name: &str| {
        resources
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let deployments = find("deployments");
    assert_eq!(deployments["kind"], "Deployment");
    assert_eq!(deployments["namespaced"], true);
    assert!(
        deployments["verbs"]
            .as_array()
            .is_some_and(|v| v.iter().any(|x| x == "watch"))
    );
    assert_eq!(find("deployments/scale")["kind"], "Scale");
    assert_eq!(find("deployments/scale")["group"], "autoscaling");
    assert_eq!(find("deployments/status")["kind"], "Deployment");

    let core = get(&client, "/api/v1").await?.json();
    let names: Vec<&str> = core["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for want in [
        "pods",
        "pods/binding",
        "pods/eviction",
        "pods/status",
        "services",
        "namespaces",
        "configmaps",
    ] {
        assert!(names.contains(&want), "{want} in /api/v1");
    }

    for missing in ["/apis/example.com", "/apis/apps/v9", "/nonsense"] {
        assert_eq!(get(&client, missing).await?.status, 404, "{missing}");
    }
    Ok(())
}

#[tokio::test]
async fn aggregated_discovery_answers_the_v2_accept_header() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    for path in ["/api", "/apis"] {
        let req = Request::get(path)
            .header("accept", AGGREGATED)
            .body(Vec::new())?;
        let r = api_support::send(&client, req).await?;
        assert_eq!(r.status, 200, "{path}");
        let ct = r
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(ct, AGGREGATED, "{path}");
        let doc = r.json();
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        assert!(
            doc["items"].as_array().is_some_and(|i| !i.is_empty()),
            "{path}"
        );
    }
    let req = Request::get("/apis")
        .header("accept", AGGREGATED)
        .body(Vec::new())?;
    let doc = api_support::send(&client, req).await?.json();
    let apps = doc["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .expect("apps group")
        .clone();
    let resources = apps["versions"][0]["resources"]
        .as_array()
        .expect("resources")
        .clone();
    let deployments = resources
        .iter()
        .find(|r| r["resource"] == "deployments")
        .expect("deployments");
    assert_eq!(deployments["scope"], "Namespaced");
    assert_eq!(deployments["responseKind"]["kind"], "Deployment");
    let subs: Vec<&str> = deployments["subresources"]
        .as_array()
        .expect("subresources")
        .iter()
        .filter_map(|s| s["subresource"].as_str())
        .collect();
    assert!(
        subs.contains(&"scale") && subs.contains(&"status"),
        "{subs:?}"
    );

    // kube-rs's discovery (aggregated where the server has it) finds the same resources.
    let discovery = Discovery::new(client.clone()).run_aggregated().await?;
    let (deploy, caps) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "apps",
            "v1",
            "Deployment",
        ))
        .expect("Deployment discovered");
    assert_eq!(deploy.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(discovery.has_group("batch"));
    Ok(())
}

#[tokio::test]
async fn openapi_v2_v3_and_a_group_document_are_served() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let v2 = get(&client, "/openapi/v2").await?;
    assert_eq!(v2.status, 200);
    let v2 = v2.json();
    assert_eq!(v2["swagger"], "2.0");
    assert!(v2["definitions"]["io.k8s.api.apps.v1.Deployment"].is_object());
    let gvk =
        &v2["definitions"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0];
    assert_eq!(
        (gvk["group"].as_str(), gvk["kind"].as_str()),
        (Some("apps"), Some("Deployment"))
    );

    let index = get(&client, "/openapi/v3").await?.json();
    let paths = index["paths"].as_object().expect("paths");
    let apps = paths.get("apis/apps/v1").expect("apps/v1 in the v3 index");
    let url = apps["serverRelativeURL"]
        .as_str()
        .expect("serverRelativeURL");
    assert!(url.starts_with("/openapi/v3/apis/apps/v1"), "{url}");
    assert!(paths.contains_key("api/v1"));

    let doc = get(&client, url).await?;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    assert!(
        doc["paths"]
            .as_object()
            .is_some_and(|p| p.keys().any(|k| k.contains("/deployments")))
    );

    assert_eq!(
        get(&client, "/openapi/v3/apis/example.com/v1")
            .await?
            .status,
        404
    );
    Ok(())
}

#[tokio::test]
async fn health_endpoints_answer_ok_and_metrics_count_requests() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    for path in ["/healthz", "/livez", "/readyz", "/readyz?verbose"] {
        let r = get(&client, path).await?;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.text().contains("ok"), "{path}: {}", r.text());
    }
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.list(&ListParams::default()).await?;
    let metrics = get(&client, "/metrics").await?;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains("# TYPE apiserver_request_total counter"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("apiserver_request_total{")
                && l.contains("resource=\"configmaps\"")
                && l.contains("verb=\"LIST\"")
        })
        .unwrap_or_else(|| panic!("no configmaps LIST counter in\n{text}"));
    let count: f64 = line.rsplit(' ').next().unwrap_or("0").parse()?;
    assert!(count >= 1.0, "{line}");
    Ok(())
}

#[tokio::test]
async fn anonymous_requests_are_unauthorized() -> Result<()> {
    let c = Cluster::start()?;
    let anon = anonymous_client(c.kubeconfig()).await?;
    for path in [
        "/api/v1/namespaces/default/configmaps",
        "/apis",
        "/version",
        "/healthz",
        "/metrics",
    ] {
        let r = get(&anon, path).await?;
        assert_eq!(r.status, 401, "{path}: {}", r.text());
        let status = r.json();
        assert_eq!(status["kind"], "Status", "{path}");
        assert_eq!(status["reason"], "Unauthorized", "{path}");
    }
    let r = raw(
        &anon,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"sneaky"}}"#.to_vec(),
    )
    .await?;
    assert_eq!(r.status, 401);
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    assert!(
        api.get_opt("sneaky").await?.is_none(),
        "an anonymous write stores nothing"
    );

    let token = Request::get("/api/v1/namespaces")
        .header("authorization", "Bearer not-a-real-token")
        .body(Vec::new())?;
    assert_eq!(
        api_support::send(&anon, token).await?.status,
        401,
        "an unknown bearer token is refused too"
    );
    Ok(())
}
