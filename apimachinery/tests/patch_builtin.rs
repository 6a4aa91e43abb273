//! Strategic merge patches of built-in types, with the schema generated from k8s-openapi's
//! schemars definitions (undecorated: the patch metadata comes from the extensions table).

use ferrokube_apimachinery::extensions;
use ferrokube_apimachinery::patch::{
    OpenApiSchemas, PatchSchema, ValueSchema, strategic_merge_patch,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::{Value, json};

/// OpenAPI v3 definitions of Pod, Deployment and Service (and everything they reference).
fn builtin_schemas() -> OpenApiSchemas {
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<Pod>();
    generator.subschema_for::<Deployment>();
    generator.subschema_for::<Service>();
    OpenApiSchemas::new(generator.take_definitions(true))
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"]},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
                        {"name": "sidecar", "image": "busybox:1.36"}
                    ]
                }
            }
        }
    })
}

#[test]
fn the_generated_schema_knows_where_a_deployments_containers_are() {
    let schemas = builtin_schemas();
    let template = schemas
        .property("io.k8s.api.apps.v1.DeploymentSpec", "template")
        .unwrap();
    assert_eq!(
        template.value,
        ValueSchema::Definition("io.k8s.api.core.v1.PodTemplateSpec")
    );
    let containers = schemas
        .property("io.k8s.api.core.v1.PodSpec", "containers")
        .unwrap();
    assert_eq!(containers.patch_merge_key, Some("name"));
    assert_eq!(
        containers.value,
        ValueSchema::List(Some("io.k8s.api.core.v1.Container"))
    );
}

#[test]
fn a_kubectl_style_image_patch_merges_the_container_by_name() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.27"}
    ]}}}});
    let result = strategic_merge_patch(
        deployment(),
        patch,
        &builtin_schemas(),
        "io.k8s.api.apps.v1.Deployment",
    )
    .unwrap();
    let containers = &result["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers,
        &json!([
            {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "busybox:1.36"}
        ])
    );
    assert_eq!(result["spec"]["replicas"], json!(1));
}

#[test]
fn a_deployment_strategy_patch_with_retain_keys_drops_rolling_update() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let result = strategic_merge_patch(
        deployment(),
        patch,
        &builtin_schemas(),
        "io.k8s.api.apps.v1.Deployment",
    )
    .unwrap();
    assert_eq!(result["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn finalizers_merge_as_a_set_of_strings() {
    let patch = json!({"metadata": {"finalizers": ["b", "a"]}});
    let result = strategic_merge_patch(
        deployment(),
        patch,
        &builtin_schemas(),
        "io.k8s.api.apps.v1.Deployment",
    )
    .unwrap();
    assert_eq!(result["metadata"]["finalizers"], json!(["b", "a"]));
}

#[test]
fn a_pods_env_list_merges_by_name() {
    let pod = json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{
            "name": "app",
            "image": "busybox",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
        }]}
    });
    let patch = json!({"spec": {"containers": [{
        "name": "app",
        "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}, {"name": "A", "$patch": "delete"}]
    }]}});
    let result =
        strategic_merge_patch(pod, patch, &builtin_schemas(), "io.k8s.api.core.v1.Pod").unwrap();
    assert_eq!(
        result["spec"]["containers"][0]["env"],
        json!([{"name": "B", "value": "two"}, {"name": "C", "value": "3"}])
    );
    assert_eq!(result["spec"]["containers"][0]["image"], json!("busybox"));
}

#[test]
fn a_services_ports_merge_by_port() {
    let service = json!({
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 8443}
            ]
        }
    });
    let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 8081, "name": "admin"}]}});
    let result = strategic_merge_patch(
        service,
        patch,
        &builtin_schemas(),
        "io.k8s.api.core.v1.Service",
    )
    .unwrap();
    // As upstream: the patch's items keep the patch's order, and a live-only item goes before
    // the next patch item only when the live order says so (8081 is not live, so it leads).
    assert_eq!(
        result["spec"]["ports"],
        json!([
            {"name": "http", "port": 80, "targetPort": 9090},
            {"name": "admin", "port": 8081},
            {"name": "https", "port": 443, "targetPort": 8443}
        ])
    );
}

#[test]
fn labels_merge_key_by_key_and_null_removes_one() {
    let patch = json!({"metadata": {"labels": {"tier": "frontend", "app": null}}});
    let result = strategic_merge_patch(
        deployment(),
        patch,
        &builtin_schemas(),
        "io.k8s.api.apps.v1.Deployment",
    )
    .unwrap();
    assert_eq!(result["metadata"]["labels"], json!({"tier": "frontend"}));
}

#[test]
fn the_extensions_table_holds_upstreams_facts() {
    let volumes = extensions::property("io.k8s.api.core.v1.PodSpec", "volumes").unwrap();
    assert_eq!(volumes.patch_strategy, Some("merge,retainKeys"));
    assert_eq!(volumes.patch_merge_key, Some("name"));
    assert_eq!(volumes.list_type, Some("map"));
    assert_eq!(volumes.list_map_keys, &["name"]);

    let ports = extensions::property("io.k8s.api.core.v1.ServiceSpec", "ports").unwrap();
    assert_eq!(ports.patch_merge_key, Some("port"));
    assert_eq!(ports.list_map_keys, &["port", "protocol"]);

    let owners = extensions::property(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
    )
    .unwrap();
    assert_eq!(owners.patch_merge_key, Some("uid"));

    let selector = extensions::property("io.k8s.api.core.v1.PodSpec", "nodeSelector").unwrap();
    assert_eq!(selector.map_type, Some("atomic"));

    assert_eq!(
        extensions::definition_struct_type("io.k8s.api.core.v1.LocalObjectReference"),
        Some("atomic")
    );
    assert_eq!(
        extensions::definition_struct_type("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"),
        Some("atomic")
    );
    assert_eq!(
        extensions::property("io.k8s.api.core.v1.PodSpec", "hostname"),
        None
    );
    assert_eq!(
        extensions::property("io.k8s.api.core.v1.Nope", "volumes"),
        None
    );
}

#[test]
fn the_extensions_table_covers_the_stable_groups() {
    let expected = [
        (
            "io.k8s.api.apps.v1.DeploymentSpec",
            "strategy",
            Some("retainKeys"),
        ),
        ("io.k8s.api.batch.v1.JobStatus", "conditions", None),
        ("io.k8s.api.networking.v1.IngressSpec", "rules", None),
        ("io.k8s.api.discovery.v1.EndpointSlice", "endpoints", None),
        ("io.k8s.api.rbac.v1.ClusterRole", "rules", None),
        (
            "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
            "selector",
            Some("replace"),
        ),
        (
            "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec",
            "metrics",
            None,
        ),
        ("io.k8s.api.storage.v1.StorageClass", "mountOptions", None),
        ("io.k8s.api.events.v1.Event", "related", None),
        (
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec",
            "versions",
            None,
        ),
    ];
    for (definition, property, strategy) in expected {
        let found = extensions::property(definition, property);
        assert!(
            found.is_some() || strategy.is_none(),
            "{definition}.{property} missing"
        );
        if let Some(strategy) = strategy {
            assert_eq!(
                found.unwrap().patch_strategy,
                Some(strategy),
                "{definition}.{property}"
            );
        }
    }
    let definitions = extensions::definitions();
    assert!(
        definitions
            .windows(2)
            .all(|pair| pair[0].name < pair[1].name)
    );
    assert!(definitions.iter().all(|definition| {
        definition
            .properties
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0)
    }));
}
