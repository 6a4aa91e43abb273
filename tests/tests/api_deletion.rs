//! Deletion against the real server: finalizers keep an object (with its deletionTimestamp)
//! until the last one is removed; a pod bound to a node is deleted gracefully (only marked)
//! until it is deleted with grace 0, while an unscheduled pod goes at once;
//! `propagationPolicy=Orphan|Foreground` add the `orphan` / `foregroundDeletion` finalizers;
//! preconditions; pods/binding and pods/eviction.

mod api_support;

use anyhow::Result;
use api_support::{api_error, configmap, core_path, deployment, pod, post, typed};
use ferrokube_tests::Cluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, EvictParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;

async fn bind(client: &kube::Client, pod: &str, node: &str) -> Result<api_support::Raw> {
    bind_with(client, pod, node, json!({})).await
}

/// A binding whose metadata also carries `extra` (uid, resourceVersion, annotations).
async fn bind_with(
    client: &kube::Client,
    pod: &str,
    node: &str,
    extra: serde_json::Value,
) -> Result<api_support::Raw> {
    let mut binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            binding["metadata"][k] = v.clone();
        }
    }
    post(
        client,
        &format!("{}/{pod}/binding", core_path("default", "pods")),
        &binding,
    )
    .await
}

#[tokio::test]
async fn a_finalizer_keeps_a_deleted_object_until_it_is_removed() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    let mut cm = configmap("held", &[], &[]);
    cm["metadata"]["finalizers"] = json!(["example.com/hold"]);
    api.create(&PostParams::default(), &typed(cm)).await?;

    let answer = api.delete("held", &DeleteParams::default()).await?;
    let marked = answer
        .left()
        .expect("a finalized object is returned, not a Status");
    assert!(marked.metadata.deletion_timestamp.is_some());
    let still = api.get("held").await?;
    assert!(
        still.metadata.deletion_timestamp.is_some(),
        "the object stays, marked for deletion"
    );
    assert_eq!(
        still.metadata.finalizers.as_deref(),
        Some(&["example.com/hold".to_string()][..])
    );

    // No new finalizers on an object being deleted.
    let err = api
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}),
            ),
        )
        .await
        .expect_err("new finalizer on a deleting object");
    assert_eq!(api_error(&err).map(|e| e.0), Some(422), "{err}");

    // Other updates still work while it waits; removing the last finalizer deletes it.
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"note": "cleaning up"}})),
    )
    .await?;
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    assert!(
        api.get_opt("held").await?.is_none(),
        "gone once the last finalizer is removed"
    );
    Ok(())
}

#[tokio::test]
async fn a_pod_bound_to_a_node_is_deleted_gracefully_and_an_unscheduled_one_at_once() -> Result<()>
{
    let c = Cluster::start()?;
    let client = c.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &typed(pod("pending")))
        .await?;
    let answer = pods.delete("pending", &DeleteParams::default()).await?;
    assert!(
        answer.is_right(),
        "an unscheduled pod is deleted immediately"
    );
    assert!(pods.get_opt("pending").await?.is_none());

    pods.create(&PostParams::default(), &typed(pod("running")))
        .await?;
    let r = bind(&client, "running", "node-1").await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let answer = pods.delete("running", &DeleteParams::default()).await?;
    let marked = answer.left().expect("a bound pod is only marked");
    assert_eq!(
        marked.metadata.deletion_grace_period_seconds,
        Some(30),
        "the pod's terminationGracePeriodSeconds"
    );
    let still = pods.get("running").await?;
    assert!(
        still.metadata.deletion_timestamp.is_some(),
        "the kubelet has yet to stop it"
    );

    // A shorter grace period shortens it; grace 0 removes the pod.
    let shorter = pods
        .delete("running", &DeleteParams::default().grace_period(5))
        .await?;
    assert_eq!(
        shorter
            .left()
            .and_then(|p| p.metadata.deletion_grace_period_seconds),
        Some(5)
    );
    let gone = pods
        .delete("running", &DeleteParams::default().grace_period(0))
        .await?;
    assert!(gone.is_right(), "grace 0 deletes at once");
    assert!(pods.get_opt("running").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn propagation_policies_add_the_orphan_and_foreground_finalizers() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<Deployment> = Api::namespaced(c.client().await?, "default");
    for (name, params, finalizer) in [
        ("orphaned", DeleteParams::orphan(), "orphan"),
        (
            "foreground",
            DeleteParams::foreground(),
            "foregroundDeletion",
        ),
    ] {
        api.create(&PostParams::default(), &typed(deployment(name, 1)))
            .await?;
        let marked = api
            .delete(name, &params)
            .await?
            .left()
            .expect("marked, not gone");
        assert!(marked.metadata.deletion_timestamp.is_some(), "{name}");
        let got = api.get(name).await?;
        assert_eq!(
            got.metadata.finalizers.unwrap_or_default(),
            [finalizer.to_string()],
            "{name}"
        );
    }
    api.create(&PostParams::default(), &typed(deployment("background", 1)))
        .await?;
    assert!(
        api.delete("background", &DeleteParams::background())
            .await?
            .is_right(),
        "background deletes at once"
    );

    let client = c.client().await?;
    let r = api_support::raw(
        &client,
        "DELETE",
        "/apis/apps/v1/namespaces/default/deployments/orphaned?propagationPolicy=Sideways",
        "",
        Vec::new(),
    )
    .await?;
    assert_eq!(r.status, 400, "{}", r.text());
    Ok(())
}

#[tokio::test]
async fn delete_preconditions_must_match() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    let cm = api
        .create(&PostParams::default(), &typed(configmap("pre", &[], &[])))
        .await?;
    let wrong = DeleteParams::default().preconditions(Preconditions {
        uid: Some("not-the-uid".into()),
        resource_version: None,
    });
    let err = api
        .delete("pre", &wrong)
        .await
        .expect_err("uid precondition fails");
    let (code, reason, message) = api_error(&err).expect("api error");
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(
        message.contains("Precondition failed: UID in precondition: not-the-uid"),
        "{message}"
    );
    let stale = DeleteParams::default().preconditions(Preconditions {
        uid: None,
        resource_version: Some("1".into()),
    });
    assert_eq!(
        api_error(
            &api.delete("pre", &stale)
                .await
                .expect_err("rv precondition fails")
        )
        .map(|e| e.0),
        Some(409)
    );

    let right = DeleteParams::default().preconditions(Preconditions {
        uid: cm.metadata.uid.clone(),
        resource_version: cm.metadata.resource_version.clone(),
    });
    assert!(api.delete("pre", &right).await?.is_right());
    let err = api
        .delete("pre", &DeleteParams::default())
        .await
        .expect_err("already gone");
    assert_eq!(api_error(&err).map(|e| e.0), Some(404));
    Ok(())
}

#[tokio::test]
async fn binding_sets_the_node_once_and_a_second_binding_conflicts() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = pods
        .create(&PostParams::default(), &typed(pod("bindme")))
        .await?;
    let r = bind(&client, "bindme", "node-a").await?;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["status"], "Success");

    let p = pods.get("bindme").await?;
    // As upstream, a binding writes the pod without recording a field manager.
    assert_eq!(
        p.metadata.managed_fields, created.metadata.managed_fields,
        "a binding leaves managedFields as they were"
    );
    assert_eq!(
        p.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("node-a")
    );
    let scheduled = p
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .expect("PodScheduled condition");
    assert_eq!(scheduled.status, "True");

    let r = bind(&client, "bindme", "node-b").await?;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["reason"], "Conflict");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("is already assigned to node \"node-a\""),
        "{}",
        r.text()
    );
    assert_eq!(
        pods.get("bindme")
            .await?
            .spec
            .and_then(|s| s.node_name)
            .as_deref(),
        Some("node-a")
    );

    let r = bind(&client, "missing", "node-a").await?;
    assert_eq!(r.status, 404, "{}", r.text());
    Ok(())
}

#[tokio::test]
async fn a_binding_checks_its_preconditions_refuses_a_gated_pod_and_merges_its_annotations()
-> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut gated = pod("gated");
    gated["spec"]["schedulingGates"] = json!([{"name": "example.com/wait"}]);
    pods.create(&PostParams::default(), &typed(gated)).await?;
    let r = bind(&client, "gated", "node-a").await?;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "Operation cannot be fulfilled on pods/binding \"gated\": pod gated has non-empty .spec.schedulingGates"
    );

    let created = pods
        .create(&PostParams::default(), &typed(pod("annotated")))
        .await?;
    let uid = created.metadata.uid.clone().unwrap_or_default();
    let r = bind_with(
        &client,
        "annotated",
        "node-a",
        json!({"uid": "not-the-pod"}),
    )
    .await?;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        format!(
            "Operation cannot be fulfilled on pods \"annotated\": Precondition failed: UID in precondition: not-the-pod, UID in object meta: {uid}"
        )
    );
    let r = bind_with(
        &client,
        "annotated",
        "node-a",
        json!({"resourceVersion": "1"}),
    )
    .await?;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("Precondition failed: ResourceVersion in precondition: 1"),
        "{}",
        r.text()
    );

    let extra = json!({"uid": uid, "resourceVersion": created.metadata.resource_version,
        "annotations": {"example.com/placed-by": "test"}});
    let r = bind_with(&client, "annotated", "node-a", extra).await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let bound = pods.get("annotated").await?;
    assert_eq!(
        bound.spec.and_then(|s| s.node_name).as_deref(),
        Some("node-a")
    );
    assert_eq!(
        bound
            .metadata
            .annotations
            .unwrap_or_default()
            .get("example.com/placed-by")
            .map(String::as_str),
        Some("test")
    );
    Ok(())
}

#[tokio::test]
async fn eviction_deletes_the_pod() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &typed(pod("evicted")))
        .await?;
    let status = pods.evict("evicted", &EvictParams::default()).await?;
    assert_eq!(status.code, 201, "{status:?}");
    assert!(
        pods.get_opt("evicted").await?.is_none(),
        "an unscheduled pod is gone after eviction"
    );

    pods.create(&PostParams::default(), &typed(pod("bound")))
        .await?;
    assert_eq!(bind(&client, "bound", "node-1").await?.status, 201);
    pods.evict("bound", &EvictParams::default()).await?;
    let p = pods.get("bound").await?;
    assert!(
        p.metadata.deletion_timestamp.is_some(),
        "a bound pod is evicted gracefully"
    );

    let err = pods
        .evict("nobody", &EvictParams::default())
        .await
        .expect_err("no such pod");
    assert_eq!(api_error(&err).map(|e| e.0), Some(404));
    Ok(())
}
