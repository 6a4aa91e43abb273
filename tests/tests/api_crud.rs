//! The basic verbs against the real server through kube-rs and raw requests: create, get,
//! list, update, delete and deletecollection; the metadata the server owns (uid,
//! creationTimestamp, generation, managedFields, generateName); 409 AlreadyExists and Conflict;
//! label and field selectors; `limit`/`continue` pagination; the resourceVersion rules of get
//! and list; the status and scale subresources; `dryRun=All`.

mod api_support;

use anyhow::Result;
use api_support::{
    api_error, client_without_retry, configmap, core_path, deployment, get, pod, post, put, raw,
    typed,
};
use ferrokube_tests::Cluster;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, VersionMatch};
use serde_json::{Value, json};

#[tokio::test]
async fn a_configmap_goes_through_create_get_update_and_delete() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    let created = api
        .create(
            &PostParams::default(),
            &typed(configmap("settings", &[], &[("a", "1")])),
        )
        .await?;
    let uid = created.metadata.uid.clone().expect("uid set on create");
    assert!(
        created.metadata.creation_timestamp.is_some(),
        "creationTimestamp set on create"
    );
    let rv1: i64 = created
        .metadata
        .resource_version
        .clone()
        .expect("resourceVersion")
        .parse()?;

    let got = api.get("settings").await?;
    assert_eq!(got.metadata.uid.as_deref(), Some(uid.as_str()));
    assert_eq!(
        got.data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("1")
    );

    let mut changed = got.clone();
    changed
        .data
        .get_or_insert_default()
        .insert("b".into(), "2".into());
    let updated = api
        .replace("settings", &PostParams::default(), &changed)
        .await?;
    let rv2: i64 = updated
        .metadata
        .resource_version
        .clone()
        .expect("resourceVersion")
        .parse()?;
    assert!(
        rv2 > rv1,
        "an update moves the resourceVersion forward ({rv1} -> {rv2})"
    );
    assert_eq!(
        updated.metadata.uid, created.metadata.uid,
        "uid never changes"
    );
    assert_eq!(
        updated.metadata.creation_timestamp,
        created.metadata.creation_timestamp
    );

    let deleted = api.delete("settings", &DeleteParams::default()).await?;
    assert!(
        deleted.is_right(),
        "a configmap without finalizers is gone at once"
    );
    let err = api
        .get("settings")
        .await
        .expect_err("deleted object is not found");
    let (code, reason, message) = api_error(&err).expect("api error");
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    assert_eq!(message, "configmaps \"settings\" not found");
    Ok(())
}

#[tokio::test]
async fn a_cluster_scoped_namespace_is_created_listed_and_deleted() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<Namespace> = Api::all(c.client().await?);
    api.create(
        &PostParams::default(),
        &typed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})),
    )
    .await?;
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"team-a".to_string()), "{names:?}");
    let ns = api.get("team-a").await?;
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    api.delete("team-a", &DeleteParams::default()).await?;
    let after = api.get("team-a").await?;
    assert!(
        after.metadata.deletion_timestamp.is_some(),
        "a namespace is first marked Terminating"
    );
    Ok(())
}

#[tokio::test]
async fn creating_an_existing_name_is_already_exists() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    api.create(&PostParams::default(), &typed(configmap("dup", &[], &[])))
        .await?;
    let err = api
        .create(&PostParams::default(), &typed(configmap("dup", &[], &[])))
        .await
        .expect_err("second create fails");
    let (code, reason, message) = api_error(&err).expect("api error");
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(message, "configmaps \"dup\" already exists");
    Ok(())
}

#[tokio::test]
async fn a_stale_update_is_a_conflict() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    let first = api
        .create(
            &PostParams::default(),
            &typed(configmap("shared", &[], &[("v", "0")])),
        )
        .await?;
    let mut a = first.clone();
    a.data
        .get_or_insert_default()
        .insert("v".into(), "a".into());
    api.replace("shared", &PostParams::default(), &a).await?;
    let mut b = first.clone();
    b.data
        .get_or_insert_default()
        .insert("v".into(), "b".into());
    let err = api
        .replace("shared", &PostParams::default(), &b)
        .await
        .expect_err("a write based on an old version fails");
    let (code, reason, message) = api_error(&err).expect("api error");
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert_eq!(
        message,
        "Operation cannot be fulfilled on configmaps \"shared\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(
        api.get("shared").await?.data.unwrap_or_default()["v"],
        "a",
        "the stale write changed nothing"
    );
    Ok(())
}

#[tokio::test]
async fn generate_name_gives_each_object_a_unique_name() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    let template: ConfigMap = typed(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "job-"}}),
    );
    let a = api.create(&PostParams::default(), &template).await?;
    let b = api.create(&PostParams::default(), &template).await?;
    let (a, b) = (
        a.metadata.name.expect("name"),
        b.metadata.name.expect("name"),
    );
    assert!(
        a.starts_with("job-") && a.len() == "job-".len() + 5,
        "generated name {a}"
    );
    assert_ne!(a, b);
    assert_eq!(
        api.get(&a).await?.metadata.generate_name.as_deref(),
        Some("job-")
    );
    Ok(())
}

#[tokio::test]
async fn generation_moves_on_spec_changes_only() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<Deployment> = Api::namespaced(c.client().await?, "default");
    let d = api
        .create(&PostParams::default(), &typed(deployment("web", 1)))
        .await?;
    assert_eq!(d.metadata.generation, Some(1));

    let pp = PatchParams::default();
    let labelled = api
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
        )
        .await?;
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "a metadata change keeps the generation"
    );

    let status = api
        .patch_status(
            "web",
            &pp,
            &Patch::Merge(json!({"status": {"replicas": 1, "observedGeneration": 1}})),
        )
        .await?;
    assert_eq!(
        status.metadata.generation,
        Some(1),
        "a status write keeps the generation"
    );
    assert_eq!(status.status.and_then(|s| s.replicas), Some(1));

    let scaled = api
        .patch("web", &pp, &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await?;
    assert_eq!(
        scaled.metadata.generation,
        Some(2),
        "a spec change bumps the generation"
    );
    Ok(())
}

#[tokio::test]
async fn every_write_records_its_field_manager() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    let pp = PostParams {
        field_manager: Some("creator".into()),
        ..Default::default()
    };
    let created = api
        .create(&pp, &typed(configmap("owned", &[], &[("a", "1")])))
        .await?;
    let managers = |cm: &ConfigMap| -> Vec<(String, String)> {
        cm.metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|m| {
                (
                    m.manager.clone().unwrap_or_default(),
                    m.operation.clone().unwrap_or_default(),
                )
            })
            .collect()
    };
    assert_eq!(
        managers(&created),
        vec![("creator".to_string(), "Update".to_string())]
    );
    let entry = &created
        .metadata
        .managed_fields
        .as_ref()
        .expect("managedFields")[0];
    assert_eq!(entry.api_version.as_deref(), Some("v1"));
    assert!(
        entry.time.is_some() && entry.fields_v1.is_some(),
        "{entry:?}"
    );

    let patched = api
        .patch(
            "owned",
            &PatchParams {
                field_manager: Some("editor".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"b": "2"}})),
        )
        .await?;
    let got = managers(&patched);
    assert!(
        got.contains(&("creator".into(), "Update".into()))
            && got.contains(&("editor".into(), "Update".into())),
        "{got:?}"
    );

    // Reading the object back shows the same entries.
    assert_eq!(managers(&api.get("owned").await?), got);
    Ok(())
}

#[tokio::test]
async fn label_selectors_filter_by_equality_and_by_set() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    for (name, env, tier) in [
        ("a", "prod", "web"),
        ("b", "prod", "db"),
        ("c", "dev", "web"),
        ("d", "test", ""),
    ] {
        let labels: Vec<(&str, &str)> = if tier.is_empty() {
            vec![("env", env)]
        } else {
            vec![("env", env), ("tier", tier)]
        };
        api.create(
            &PostParams::default(),
            &typed(configmap(name, &labels, &[])),
        )
        .await?;
    }
    let names = |sel: &'static str| {
        let api = api.clone();
        async move {
            let mut v: Vec<String> = api
                .list(&ListParams::default().labels(sel))
                .await?
                .items
                .into_iter()
                .filter_map(|c| c.metadata.name)
                .collect();
            v.sort();
            anyhow::Ok(v)
        }
    };
    assert_eq!(names("env=prod").await?, ["a", "b"]);
    assert_eq!(names("env==prod,tier=web").await?, ["a"]);
    // `!=` and `notin` also match objects without the label, as upstream.
    assert_eq!(names("env!=prod").await?, ["c", "d", "kube-root-ca.crt"]);
    assert_eq!(names("env in (dev,test)").await?, ["c", "d"]);
    assert_eq!(names("env notin (prod),tier").await?, ["c"]);
    assert_eq!(names("!tier").await?, ["d", "kube-root-ca.crt"]);
    assert_eq!(names("tier").await?, ["a", "b", "c"]);

    let err = api
        .list(&ListParams::default().labels("env in prod"))
        .await
        .expect_err("bad selector");
    assert_eq!(api_error(&err).map(|e| e.0), Some(400), "{err}");
    Ok(())
}

#[tokio::test]
async fn field_selectors_filter_by_name_namespace_node_and_phase() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for n in ["one", "two"] {
        cms.create(&PostParams::default(), &typed(configmap(n, &[], &[])))
            .await?;
    }
    let names = |items: Vec<ConfigMap>| {
        items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            cms.list(&ListParams::default().fields("metadata.name=two"))
                .await?
                .items
        ),
        ["two"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().fields("metadata.name!=two"))
                .await?
                .items
        ),
        ["kube-root-ca.crt", "one"]
    );
    let all: Api<ConfigMap> = Api::all(client.clone());
    let in_default = all
        .list(&ListParams::default().fields("metadata.namespace=default"))
        .await?
        .items;
    assert!(
        in_default
            .iter()
            .all(|c| c.metadata.namespace.as_deref() == Some("default"))
            && in_default.len() >= 2
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &typed(pod("bound")))
        .await?;
    pods.create(&PostParams::default(), &typed(pod("pending")))
        .await?;
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound"}, "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}});
    let r = post(
        &client,
        "/api/v1/namespaces/default/pods/bound/binding",
        &binding,
    )
    .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    pods.patch_status(
        "bound",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await?;

    let pod_names = |items: Vec<Pod>| {
        items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pod_names(
            pods.list(&ListParams::default().fields("spec.nodeName=node-1"))
                .await?
                .items
        ),
        ["bound"]
    );
    assert_eq!(
        pod_names(
            pods.list(&ListParams::default().fields("spec.nodeName="))
                .await?
                .items
        ),
        ["pending"]
    );
    assert_eq!(
        pod_names(
            pods.list(&ListParams::default().fields("status.phase=Running"))
                .await?
                .items
        ),
        ["bound"]
    );
    assert_eq!(
        pod_names(
            pods.list(
                &ListParams::default().fields("status.phase!=Running,metadata.namespace=default")
            )
            .await?
            .items
        ),
        ["pending"]
    );

    let err = cms
        .list(&ListParams::default().fields("data.x=1"))
        .await
        .expect_err("unsupported field");
    let (code, reason, message) = api_error(&err).expect("api error");
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));
    assert!(
        message.contains("field label not supported: data.x"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn limit_and_continue_page_through_a_list() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "paged-ns-free");
    let ns: Api<Namespace> = Api::all(c.client().await?);
    ns.create(
        &PostParams::default(),
        &typed(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "paged-ns-free"}}),
        ),
    )
    .await?;
    for i in 0..7 {
        api.create(
            &PostParams::default(),
            &typed(configmap(
                &format!("cm-{i}"),
                &[("odd", if i % 2 == 1 { "yes" } else { "no" })],
                &[],
            )),
        )
        .await?;
    }
    // The namespace also holds kube-root-ca.crt: 8 objects in all.
    let first = api.list(&ListParams::default().limit(3)).await?;
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.metadata.remaining_item_count, Some(5));
    let token = first.metadata.continue_.clone().expect("a continue token");
    let rv = first.metadata.resource_version.clone();

    let second = api
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await?;
    assert_eq!(second.items.len(), 3);
    assert_eq!(second.metadata.remaining_item_count, Some(2));
    assert_eq!(
        second.metadata.resource_version, rv,
        "every page reports the first page's resourceVersion"
    );
    let third = api
        .list(
            &ListParams::default()
                .limit(3)
                .continue_token(second.metadata.continue_.as_deref().expect("token")),
        )
        .await?;
    assert_eq!(third.items.len(), 2);
    assert!(
        third.metadata.continue_.as_deref().unwrap_or("").is_empty(),
        "the last page has no continue token"
    );
    assert_eq!(third.metadata.remaining_item_count, None);

    let mut seen: Vec<String> = [first.items, second.items, third.items]
        .concat()
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    let count = seen.len();
    seen.dedup();
    assert_eq!(
        (count, seen.len()),
        (8, 8),
        "pages neither repeat nor skip: {seen:?}"
    );

    // With a selector the remaining count is unknown and left out.
    let odd = api
        .list(&ListParams::default().labels("odd=yes").limit(2))
        .await?;
    assert_eq!(odd.items.len(), 2);
    assert!(odd.metadata.continue_.is_some());
    assert_eq!(odd.metadata.remaining_item_count, None);

    let bad = get(
        &c.client().await?,
        "/api/v1/namespaces/paged-ns-free/configmaps?limit=2&continue=not-a-token",
    )
    .await?;
    assert_eq!(bad.status, 400, "{}", bad.text());
    Ok(())
}

#[tokio::test]
async fn list_and_get_follow_the_resource_version_rules() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &typed(configmap("rv", &[], &[])))
        .await?;
    let current = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .expect("list resourceVersion");
    let current_n: i64 = current.parse()?;

    // "0": any version the cache has; NotOlderThan an old version: at least that new.
    let any = api.list(&ListParams::default().match_any()).await?;
    assert!(
        any.items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("rv"))
    );
    let not_older = api
        .list(
            &ListParams::default()
                .at("1")
                .matching(VersionMatch::NotOlderThan),
        )
        .await?;
    assert!(
        not_older
            .metadata
            .resource_version
            .expect("rv")
            .parse::<i64>()?
            >= current_n
    );
    // Exact at the current version is served.
    let exact = api
        .list(
            &ListParams::default()
                .at(&current)
                .matching(VersionMatch::Exact),
        )
        .await?;
    assert_eq!(
        exact.metadata.resource_version.as_deref(),
        Some(current.as_str())
    );

    // resourceVersionMatch without resourceVersion, an unknown match and Exact at "0" are invalid.
    for q in [
        "resourceVersionMatch=NotOlderThan",
        "resourceVersion=1&resourceVersionMatch=Newest",
        "resourceVersion=0&resourceVersionMatch=Exact",
    ] {
        let r = get(
            &client,
            &format!("/api/v1/namespaces/default/configmaps?{q}"),
        )
        .await?;
        assert_eq!(r.status, 422, "{q}: {}", r.text());
        assert_eq!(r.json()["reason"], "Invalid", "{q}");
    }
    let r = get(
        &client,
        "/api/v1/namespaces/default/configmaps?resourceVersion=abc",
    )
    .await?;
    assert_eq!(r.status, 400, "{}", r.text());

    // A version the server has not reached yet: 504 Timeout "Too large resource version" with
    // the ResourceVersionTooLarge cause (after the server waited for it a little).
    let no_retry = client_without_retry(c.kubeconfig()).await?;
    let future = current_n + 1000;
    let r = get(&no_retry, &format!("/api/v1/namespaces/default/configmaps?resourceVersion={future}&resourceVersionMatch=NotOlderThan")).await?;
    assert_eq!(r.status, 504, "{}", r.text());
    let status = r.json();
    assert_eq!(status["reason"], "Timeout");
    assert_eq!(
        status["message"].as_str().unwrap_or(""),
        format!("Timeout: Too large resource version: {future}, current: {current_n}")
    );
    assert_eq!(
        status["details"]["causes"][0]["reason"], "ResourceVersionTooLarge",
        "{status}"
    );
    let r = get(
        &no_retry,
        &format!("/api/v1/namespaces/default/configmaps/rv?resourceVersion={future}"),
    )
    .await?;
    assert_eq!(
        r.status,
        504,
        "a get at a future version times out the same way: {}",
        r.text()
    );

    // get: "0" and an old version are served.
    let g = get(
        &client,
        "/api/v1/namespaces/default/configmaps/rv?resourceVersion=0",
    )
    .await?;
    assert_eq!(g.status, 200);
    let g = get(
        &client,
        "/api/v1/namespaces/default/configmaps/rv?resourceVersion=1",
    )
    .await?;
    assert_eq!(g.status, 200);
    assert_eq!(g.json()["metadata"]["name"], "rv");
    Ok(())
}

#[tokio::test]
async fn deletecollection_deletes_only_what_the_selector_matches() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    for (n, l) in [("x1", "drop"), ("x2", "drop"), ("x3", "keep")] {
        api.create(
            &PostParams::default(),
            &typed(configmap(n, &[("fate", l)], &[])),
        )
        .await?;
    }
    let deleted = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("fate=drop"),
        )
        .await?;
    let names: Vec<String> = deleted
        .left()
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|c| c.metadata.name)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names.len(), 2, "{names:?}");
    let left: Vec<String> = api
        .list(&ListParams::default().labels("fate"))
        .await?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["x3"]);
    Ok(())
}

#[tokio::test]
async fn the_status_subresource_and_the_main_resource_each_write_only_their_part() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<Deployment> = Api::namespaced(c.client().await?, "default");
    api.create(&PostParams::default(), &typed(deployment("split", 2)))
        .await?;

    // replace_status with a changed spec: the spec change is ignored.
    let mut d = api.get("split").await?;
    d.spec.as_mut().expect("spec").replicas = Some(9);
    d.status = Some(typed(json!({"replicas": 2, "readyReplicas": 1})));
    let after = api
        .replace_status("split", &PostParams::default(), &d)
        .await?;
    assert_eq!(
        after.spec.as_ref().and_then(|s| s.replicas),
        Some(2),
        "spec is ignored on status writes"
    );
    assert_eq!(
        after.status.as_ref().and_then(|s| s.ready_replicas),
        Some(1)
    );
    assert_eq!(after.metadata.generation, Some(1));

    // A main-resource write with a changed status: the status change is ignored.
    let mut d = api.get("split").await?;
    d.status = Some(typed(json!({"replicas": 7, "readyReplicas": 7})));
    d.spec.as_mut().expect("spec").replicas = Some(3);
    let after = api.replace("split", &PostParams::default(), &d).await?;
    assert_eq!(after.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        after.status.as_ref().and_then(|s| s.ready_replicas),
        Some(1),
        "status is ignored on main writes"
    );

    // A status write records the subresource in managedFields.
    let sub: Vec<Option<String>> = after
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| m.subresource.clone())
        .collect();
    assert!(sub.contains(&Some("status".into())), "{sub:?}");
    Ok(())
}

#[tokio::test]
async fn the_scale_subresource_reads_and_writes_replicas_of_every_scalable_workload() -> Result<()>
{
    let c = Cluster::start()?;
    let client = c.client().await?;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deploys
        .create(&PostParams::default(), &typed(deployment("scaled", 1)))
        .await?;
    let mut rs = deployment("scaled-rs", 1);
    rs["kind"] = json!("ReplicaSet");
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    replicasets
        .create(&PostParams::default(), &typed(rs))
        .await?;
    let mut sts = deployment("scaled-sts", 1);
    sts["kind"] = json!("StatefulSet");
    sts["spec"]["serviceName"] = json!("scaled-sts");
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    statefulsets
        .create(&PostParams::default(), &typed(sts))
        .await?;

    let scale = deploys.get_scale("scaled").await?;
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(1));
    assert_eq!(
        scale.status.as_ref().map(|s| s.selector.clone()),
        Some(Some("app=scaled".into()))
    );

    let patched = deploys
        .patch_scale(
            "scaled",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await?;
    assert_eq!(patched.spec.and_then(|s| s.replicas), Some(4));
    assert_eq!(
        deploys.get("scaled").await?.spec.and_then(|s| s.replicas),
        Some(4)
    );

    let mut scale = replicasets.get_scale("scaled-rs").await?;
    scale.spec.get_or_insert_default().replicas = Some(5);
    let replaced = replicasets
        .replace_scale("scaled-rs", &PostParams::default(), &scale)
        .await?;
    assert_eq!(replaced.spec.and_then(|s| s.replicas), Some(5));
    assert_eq!(
        replicasets
            .get("scaled-rs")
            .await?
            .spec
            .and_then(|s| s.replicas),
        Some(5)
    );

    let patched = statefulsets
        .patch_scale(
            "scaled-sts",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await?;
    assert_eq!(patched.spec.and_then(|s| s.replicas), Some(2));
    assert_eq!(
        statefulsets
            .get("scaled-sts")
            .await?
            .spec
            .and_then(|s| s.replicas),
        Some(2)
    );

    // A stale resourceVersion on the Scale is a conflict; negative replicas are invalid.
    let err = replicasets
        .replace_scale("scaled-rs", &PostParams::default(), &scale)
        .await
        .expect_err("stale scale");
    assert_eq!(api_error(&err).map(|e| e.0), Some(409), "{err}");
    let err = deploys
        .patch_scale(
            "scaled",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": -1}})),
        )
        .await
        .expect_err("negative replicas");
    assert_eq!(api_error(&err).map(|e| e.0), Some(422), "{err}");
    Ok(())
}

#[tokio::test]
async fn dry_run_writes_store_nothing() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };

    let would = api
        .create(&dry, &typed(configmap("dry", &[], &[("a", "1")])))
        .await?;
    assert_eq!(would.metadata.name.as_deref(), Some("dry"));
    assert!(
        would.metadata.uid.is_some(),
        "a dry-run create answers with the object as it would be"
    );
    assert!(
        api.get_opt("dry").await?.is_none(),
        "dry-run create stored nothing"
    );

    let real = api
        .create(
            &PostParams::default(),
            &typed(configmap("dry", &[], &[("a", "1")])),
        )
        .await?;
    let mut changed = real.clone();
    changed
        .data
        .get_or_insert_default()
        .insert("a".into(), "2".into());
    let would = api.replace("dry", &dry, &changed).await?;
    assert_eq!(would.data.unwrap_or_default()["a"], "2");
    let pdry = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    api.patch("dry", &pdry, &Patch::Merge(json!({"data": {"a": "3"}})))
        .await?;
    api.delete(
        "dry",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await?;

    let stored = api.get("dry").await?;
    assert_eq!(
        stored.data.unwrap_or_default()["a"],
        "1",
        "dry-run update and patch stored nothing"
    );
    assert_eq!(
        stored.metadata.resource_version, real.metadata.resource_version,
        "no write happened at all"
    );

    let r = raw(
        &client,
        "DELETE",
        "/api/v1/namespaces/default/configmaps/dry?dryRun=Some",
        "",
        Vec::new(),
    )
    .await?;
    assert_eq!(
        r.status,
        400,
        "an unknown dryRun value is refused: {}",
        r.text()
    );
    Ok(())
}

#[tokio::test]
async fn an_update_without_a_resource_version_is_unconditional() -> Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let path = core_path("default", "configmaps");
    let r = post(&client, &path, &configmap("free", &[], &[("a", "1")])).await?;
    assert_eq!(r.status, 201);
    let r = put(
        &client,
        &format!("{path}/free"),
        &configmap("free", &[], &[("a", "2")]),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["a"], "2");
    let r = put(
        &client,
        &format!("{path}/other"),
        &configmap("free", &[], &[]),
    )
    .await?;
    assert_eq!(
        r.status,
        400,
        "a name mismatch between body and URL is a bad request: {}",
        r.text()
    );
    Ok(())
}

#[tokio::test]
async fn a_patch_for_a_missing_object_is_not_found() -> Result<()> {
    let c = Cluster::start()?;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
    let err = api
        .patch(
            "ghost",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "1"}})),
        )
        .await
        .expect_err("no such object");
    assert_eq!(
        api_error(&err).map(|e| (e.0, e.1)),
        Some((404, "NotFound".into()))
    );
    let v: Value = serde_json::to_value(api.list(&ListParams::default()).await?)?;
    assert!(
        v["items"]
            .as_array()
            .is_some_and(|i| i.iter().all(|o| o["metadata"]["name"] != "ghost"))
    );
    Ok(())
}
