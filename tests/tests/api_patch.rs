//! PATCH against the real server: strategic merge patches on built-in types (merge keys and
//! the `$patch: delete` / `$patch: replace`, `$retainKeys`, `$setElementOrder` and
//! `$deleteFromPrimitiveList` directives), JSON merge patches (null deletes, lists replaced),
//! JSON patches (a failing `test` is 422), and an unsupported patch type (415).

mod api_support;

use anyhow::Result;
use api_support::{configmap, deployment, patch, typed};
use ferrokube_tests::Cluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// A Deployment with two containers (`app`, `sidecar`) and labels.
fn two_container_deployment() -> Value {
    let mut d = deployment("web", 1);
    d["metadata"]["labels"] = json!({"team": "a", "tier": "front"});
    d["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "app", "image": "nginx:1.27", "env": [{"name": "MODE", "value": "prod"}]},
        {"name": "sidecar", "image": "busybox:1.36"},
    ]);
    d
}

fn container_names(d: &Deployment) -> Vec<String> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

fn smp(v: Value) -> Patch<Value> {
    Patch::Strategic(v)
}

#[tokio::test]
async fn strategic_merge_patches_merge_lists_by_their_merge_key() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<Deployment> = Api::namespaced(c.client().await?, "default");
    api.create(&PostParams::default(), &typed(two_container_deployment()))
        .await?;
    let pp = PatchParams::default();
    let d = api
        .patch(
            "web",
            &pp,
            &smp(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "env": [{"name": "DEBUG", "value": "1"}]},
                {"name": "extra", "image": "redis:7"},
            ]}}}})),
        )
        .await?;
    assert_eq!(
        container_names(&d),
        ["app", "extra", "sidecar"],
        "containers merge by name; as upstream orders a merged list, an item only the live list has goes after the patch items it does not precede in the live list"
    );
    let app = &d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
        .containers[0];
    assert_eq!(
        app.image.as_deref(),
        Some("nginx:1.27"),
        "fields the patch does not name are kept"
    );
    let env: Vec<&str> = app.env.iter().flatten().map(|e| e.name.as_str()).collect();
    assert_eq!(env, ["DEBUG", "MODE"], "env merges by name too");
    Ok(())
}

#[tokio::test]
async fn patch_delete_removes_one_element_of_a_merged_list() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<Deployment> = Api::namespaced(c.client().await?, "default");
    api.create(&PostParams::default(), &typed(two_container_deployment()))
        .await?;
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &smp(json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}})),
        )
        .await?;
    assert_eq!(container_names(&d), ["app"]);
    Ok(())
}

#[tokio::test]
async fn patch_replace_swaps_a_whole_map() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<Deployment> = Api::namespaced(c.client().await?, "default");
    api.create(&PostParams::default(), &typed(two_container_deployment()))
        .await?;
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &smp(json!({"metadata": {"labels": {"$patch": "replace", "owner": "ops"}}})),
        )
        .await?;
    let labels: Vec<(String, String)> = d.metadata.labels.unwrap_or_default().into_iter().collect();
    assert_eq!(labels, [("owner".to_string(), "ops".to_string())]);

    // On a merged list, `$patch: replace` replaces the list as a whole.
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &smp(json!({"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "redis:7"}, {"$patch": "replace"}]}}}})),
        )
        .await?;
    assert_eq!(container_names(&d), ["only"]);
    Ok(())
}

#[tokio::test]
async fn retain_keys_drops_the_keys_it_does_not_list() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<Deployment> = Api::namespaced(c.client().await?, "default");
    let created = api
        .create(&PostParams::default(), &typed(two_container_deployment()))
        .await?;
    let strategy = created
        .spec
        .as_ref()
        .and_then(|s| s.strategy.clone())
        .expect("defaulted strategy");
    assert!(
        strategy.rolling_update.is_some(),
        "RollingUpdate is defaulted with its parameters"
    );
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &smp(json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})),
        )
        .await?;
    let strategy = d.spec.and_then(|s| s.strategy).expect("strategy");
    assert_eq!(strategy.type_.as_deref(), Some("Recreate"));
    assert!(
        strategy.rolling_update.is_none(),
        "rollingUpdate was not retained: {strategy:?}"
    );
    Ok(())
}

#[tokio::test]
async fn set_element_order_reorders_a_merged_list() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<Deployment> = Api::namespaced(c.client().await?, "default");
    api.create(&PostParams::default(), &typed(two_container_deployment()))
        .await?;
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &smp(json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                "containers": [{"name": "app", "image": "nginx:1.28"}],
            }}}})),
        )
        .await?;
    assert_eq!(container_names(&d), ["sidecar", "app"]);
    let pod = d.spec.and_then(|s| s.template.spec).expect("pod spec");
    assert_eq!(pod.containers[1].image.as_deref(), Some("nginx:1.28"));
    Ok(())
}

#[tokio::test]
async fn finalizers_merge_and_delete_from_primitive_list_removes_one() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    let mut cm = configmap("guarded", &[], &[]);
    cm["metadata"]["finalizers"] = json!(["example.com/a"]);
    api.create(&PostParams::default(), &typed(cm)).await?;
    let pp = PatchParams::default();
    let merged = api
        .patch(
            "guarded",
            &pp,
            &smp(json!({"metadata": {"finalizers": ["example.com/b"]}})),
        )
        .await?;
    assert_eq!(
        merged.metadata.finalizers.unwrap_or_default(),
        ["example.com/b", "example.com/a"],
        "finalizers merge (the patch's items first, as upstream orders them)"
    );
    let removed = api
        .patch(
            "guarded",
            &pp,
            &smp(json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}})),
        )
        .await?;
    assert_eq!(
        removed.metadata.finalizers.unwrap_or_default(),
        ["example.com/b"]
    );
    api.patch(
        "guarded",
        &pp,
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn merge_patch_null_deletes_and_lists_are_replaced() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &typed(configmap(
            "m",
            &[("keep", "1"), ("drop", "1")],
            &[("a", "1"), ("b", "2")],
        )),
    )
    .await?;
    let cm = api
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"data": {"a": null, "c": "3"}, "metadata": {"labels": {"drop": null}}}),
            ),
        )
        .await?;
    let data: Vec<String> = cm.data.unwrap_or_default().into_keys().collect();
    assert_eq!(data, ["b", "c"]);
    let labels: Vec<String> = cm.metadata.labels.unwrap_or_default().into_keys().collect();
    assert_eq!(labels, ["keep"]);

    // A merge patch replaces lists whole (no merge keys).
    let deploys: Api<Deployment> = Api::namespaced(client, "default");
    deploys
        .create(&PostParams::default(), &typed(two_container_deployment()))
        .await?;
    let d = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "solo", "image": "redis:7"}]}}}})),
        )
        .await?;
    assert_eq!(container_names(&d), ["solo"]);
    Ok(())
}

#[tokio::test]
async fn json_patch_applies_operations_and_a_failed_test_is_unprocessable() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &typed(configmap("j", &[], &[("a", "1")])),
    )
    .await?;
    let path = "/api/v1/namespaces/default/configmaps/j";
    let ct = "application/json-patch+json";
    let ok = json!([
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "replace", "path": "/data/a", "value": "2"},
        {"op": "add", "path": "/data/b", "value": "3"},
    ]);
    let r = patch(&client, path, ct, &ok).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"], json!({"a": "2", "b": "3"}));

    let failing = json!([
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "remove", "path": "/data/a"},
    ]);
    let r = patch(&client, path, ct, &failing).await?;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["reason"], "Invalid");
    assert_eq!(
        api.get("j").await?.data.unwrap_or_default()["a"],
        "2",
        "a failed JSON patch changes nothing"
    );

    let r = patch(
        &client,
        "/api/v1/namespaces/default/configmaps/j",
        "application/json-patch+json",
        &json!({"op": "add"}),
    )
    .await?;
    assert_eq!(r.status, 400, "a JSON patch must be an array: {}", r.text());
    Ok(())
}

#[tokio::test]
async fn an_unsupported_patch_type_is_415_and_changes_nothing() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let before = api
        .create(
            &PostParams::default(),
            &typed(configmap("p", &[], &[("a", "1")])),
        )
        .await?;
    for ct in ["application/json", "text/plain", "application/xml"] {
        let r = patch(
            &client,
            "/api/v1/namespaces/default/configmaps/p",
            ct,
            &json!({"data": {"a": "2"}}),
        )
        .await?;
        assert_eq!(r.status, 415, "{ct}: {}", r.text());
        assert_eq!(r.json()["reason"], "UnsupportedMediaType", "{ct}");
    }
    assert_eq!(
        api.get("p").await?.metadata.resource_version,
        before.metadata.resource_version
    );
    Ok(())
}
