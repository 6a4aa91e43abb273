//! The namespace controller end to end: a real API server (`ferrokube apiserver`) with the
//! controller manager started in-process; `kubectl delete namespace` empties the namespace
//! and finishes, and the namespace's conditions say what is holding it up.

mod support;

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, NamespaceCondition};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{Env, until_within};

/// How long a namespace's deletion may take on a loaded machine: every resource type is
/// listed and emptied.
const DELETION: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_removes_its_content_and_then_the_namespace() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    env.kubectl(&["create", "namespace", "shop"])?;
    env.kubectl(&[
        "create",
        "deployment",
        "web",
        "-n",
        "shop",
        "--image=busybox",
        "--replicas=2",
    ])?;
    env.kubectl(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "shop",
        "--from-literal=a=b",
    ])?;
    env.kubectl(&["create", "configmap", "more", "-n", "shop"])?;
    env.kubectl(&[
        "create",
        "service",
        "clusterip",
        "web",
        "-n",
        "shop",
        "--tcp=80",
    ])?;
    until_within("the deployment's pods", DELETION, || async {
        let out = env.kubectl(&["get", "pods", "-n", "shop", "-o", "name"])?;
        Ok((out.lines().count() == 2).then_some(()))
    })
    .await?;

    // kubectl waits until the namespace is gone.
    env.kubectl(&["delete", "namespace", "shop", "--timeout=40s"])?;

    let err = env.cluster.kubectl_err(&["get", "namespace", "shop"])?;
    assert!(
        err.contains("NotFound") && err.contains("\"shop\" not found"),
        "kubectl get ns shop: {err}"
    );
    // The namespace can be created afresh, empty.
    env.kubectl(&["create", "namespace", "shop"])?;
    let left = env.kubectl(&[
        "get",
        "deployments,configmaps,services",
        "-n",
        "shop",
        "-o",
        "name",
    ])?;
    assert!(
        !left.contains("web") && !left.contains("settings"),
        "left: {left}"
    );
    Ok(())
}

fn condition<'a>(ns: &'a Namespace, type_: &str) -> Option<&'a NamespaceCondition> {
    ns.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_report_content_held_by_a_finalizer_until_it_is_released() -> Result<()> {
    let env = Env::start(&["*"]).await?;
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    env.kubectl(&["create", "namespace", "held"])?;
    let configmaps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "held");
    configmaps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "precious", "finalizers": ["example.com/hold"]},
            }))?,
        )
        .await?;

    namespaces.delete("held", &DeleteParams::default()).await?;

    let ns = until_within(
        "the namespace to report the held content",
        DELETION,
        || async {
            let ns = namespaces.get("held").await?;
            let held =
                condition(&ns, "NamespaceFinalizersRemaining").is_some_and(|c| c.status == "True");
            Ok(held.then_some(ns))
        },
    )
    .await?;
    let status = ns.status.clone().unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("Terminating"));
    let finalizers = condition(&ns, "NamespaceFinalizersRemaining").unwrap();
    assert_eq!(finalizers.reason.as_deref(), Some("SomeFinalizersRemain"));
    assert_eq!(
        finalizers.message.as_deref(),
        Some(
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        )
    );
    let remaining = condition(&ns, "NamespaceContentRemaining").unwrap();
    assert_eq!(
        (remaining.status.as_str(), remaining.reason.as_deref()),
        ("True", Some("SomeResourcesRemain"))
    );
    assert_eq!(
        remaining.message.as_deref(),
        Some("Some resources are remaining: configmaps. has 1 resource instances")
    );
    let discovery = condition(&ns, "NamespaceDeletionDiscoveryFailure").unwrap();
    assert_eq!(
        (discovery.status.as_str(), discovery.reason.as_deref()),
        ("False", Some("ResourcesDiscovered"))
    );
    let described = env.kubectl(&["describe", "namespace", "held"])?;
    assert!(described.contains("SomeFinalizersRemain"), "{described}");

    // Releasing the finalizer lets the namespace finish.
    configmaps
        .patch(
            "precious",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await?;
    until_within("the namespace to be gone", DELETION, || async {
        Ok(namespaces.get_opt("held").await?.is_none().then_some(()))
    })
    .await
}
