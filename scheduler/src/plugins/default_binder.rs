//! DefaultBinder (Bind): binds the pod by creating its `pods/binding` subresource.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;

use crate::framework::{BindFuture, BindPlugin, Code, Handle, Plugin, PluginSet, Status};

/// The plugin's name.
pub const NAME: &str = "DefaultBinder";

/// The plugin.
pub struct DefaultBinder {
    client: Option<kube::Client>,
}

/// Builds the plugin.
pub fn new(handle: &Handle) -> PluginSet {
    PluginSet {
        bind: Some(Arc::new(DefaultBinder {
            client: handle.client.clone(),
        })),
        ..Default::default()
    }
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl BindPlugin for DefaultBinder {
    fn bind<'a>(&'a self, pod: &'a Pod, node: &'a str) -> BindFuture<'a> {
        Box::pin(async move {
            let Some(client) = self.client.clone() else {
                return Status::new(Code::Error, ["no API client to bind with"]);
            };
            let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
            let name = pod.metadata.name.clone().unwrap_or_default();
            let binding = Binding {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(namespace.into()),
                    uid: pod.metadata.uid.clone(),
                    ..Default::default()
                },
                target: ObjectReference {
                    kind: Some("Node".into()),
                    name: Some(node.into()),
                    ..Default::default()
                },
            };
            let api: Api<Pod> = Api::namespaced(client, namespace);
            match api
                .create_subresource::<_, serde_json::Value>(
                    "binding",
                    &name,
                    &PostParams::default(),
                    &binding,
                )
                .await
            {
                Ok(_) => Status::success(),
                Err(kube::Error::Api(s)) => Status::new(Code::Error, [s.message]),
                Err(e) => Status::new(Code::Error, [e.to_string()]),
            }
        })
    }
}
