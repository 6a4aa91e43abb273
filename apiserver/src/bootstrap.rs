//! What every cluster has from its first start: the `default`, `kube-system`, `kube-public` and
//! `kube-node-lease` namespaces, each namespace's `default` ServiceAccount and
//! `kube-root-ca.crt` ConfigMap, and the `kubernetes` Service with its Endpoints.

use std::sync::Arc;

use serde_json::{Value, json};
use tracing::warn;

use crate::objects::WriteOptions;
use crate::{Apiserver, Error};

const NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    }
}

impl Apiserver {
    /// Creates an object unless it exists; other errors are logged.
    async fn ensure(&self, plural: &str, namespace: &str, obj: Value) {
        let Some(r) = self.objects.registry.lookup("", "v1", plural) else {
            return;
        };
        match self.objects.create(r, namespace, obj, &opts()).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => warn!(error = %e, plural, namespace, "bootstrap object not created"),
        }
    }

    /// Gives a namespace its `default` ServiceAccount and `kube-root-ca.crt` ConfigMap.
    pub async fn populate_namespace(&self, ns: &str) {
        self.ensure(
            "serviceaccounts",
            ns,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
        )
        .await;
        self.ensure(
            "configmaps",
            ns,
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": self.ca_cert},
            }),
        )
        .await;
    }
}

/// Creates the default namespaces and the `kubernetes` Service (idempotent).
pub async fn ensure_defaults(state: &Arc<Apiserver>) -> Result<(), Error> {
    if let Some(svc) = state.objects.registry.lookup("", "v1", "services") {
        let (items, _) = state.objects.cache.list(svc, None);
        for s in items {
            state.objects.allocator.observe(&s.value());
        }
    }
    for ns in NAMESPACES {
        state
            .ensure(
                "namespaces",
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await;
    }
    if let Some(nsr) = state.objects.registry.lookup("", "v1", "namespaces") {
        let (items, _) = state.objects.cache.list(nsr, None);
        for ns in items {
            state.populate_namespace(&ns.name).await;
        }
    }
    for ns in NAMESPACES {
        state.populate_namespace(ns).await;
    }
    let (host, port) = state
        .server_address
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.parse::<u16>().unwrap_or(6443)))
        .unwrap_or(("127.0.0.1".into(), 6443));
    let ip = state.objects.allocator.first_ip().to_string();
    state
        .ensure(
            "services",
            "default",
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}], "sessionAffinity": "None"},
            }),
        )
        .await;
    state
        .ensure(
            "endpoints",
            "default",
            json!({
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": [{"addresses": [{"ip": host}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
            }),
        )
        .await;
    Ok(())
}
