//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`: issues a token for a service
//! account, optionally bound to a Pod, Secret or Node, as upstream's TokenREST
//! (`pkg/registry/core/serviceaccount/storage/token.go`). `kubectl create token` and the
//! kubelet's projected `serviceAccountToken` volumes use it.

use http::Response;
use serde_json::{Value, json};

use super::claims::{self, Grant, ObjectRef};
use crate::Apiserver;
use crate::http::{Body, json_response};
use crate::objects::meta_str;
use crate::status::{ApiError, GroupResource, StatusCause};

/// The shortest token lifetime a client may ask for (10 minutes).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The lifetime when the request names none (1 hour).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

fn invalid_expiration(name: &str, value: i64, why: &str) -> ApiError {
    ApiError::invalid(
        "authentication.k8s.io",
        "TokenRequest",
        name,
        vec![StatusCause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value}: {why}"),
            field: "spec.expirationSeconds".into(),
        }],
    )
}

impl Apiserver {
    async fn object(&self, resource: &str, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let r = self
            .objects
            .registry
            .lookup("", "v1", resource)
            .ok_or_else(|| ApiError::internal(format!("{resource} are not served")))?;
        Ok(self.objects.current(r, namespace, name).await?.0)
    }

    /// Issues a token for service account `name` in `namespace` (the TokenRequest in `body`).
    pub async fn token_request(
        &self,
        namespace: &str,
        name: &str,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let req = super::decode_body(body, "TokenRequest")?;
        let spec = req.get("spec").cloned().unwrap_or_else(|| json!({}));
        let expiration = spec
            .get("expirationSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
        if expiration < MIN_EXPIRATION_SECONDS {
            return Err(invalid_expiration(
                name,
                expiration,
                "may not specify a duration less than 10 minutes",
            ));
        }
        if expiration > 1 << 32 {
            return Err(invalid_expiration(
                name,
                expiration,
                "may not specify a duration larger than 2^32 seconds",
            ));
        }
        let sa = self.object("serviceaccounts", namespace, name).await?;
        let mut audiences: Vec<String> = spec
            .get("audiences")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        if audiences.is_empty() {
            audiences = self.tokens.settings.audiences.clone();
        }
        let mut grant = Grant {
            namespace: namespace.into(),
            service_account: ObjectRef {
                name: name.into(),
                uid: meta_str(&sa, "uid").into(),
            },
            audiences: audiences.clone(),
            expiration_seconds: expiration,
            ..Default::default()
        };
        let bound = spec.get("boundObjectRef").filter(|b| !b.is_null());
        if let Some(b) = bound {
            self.bind_token(&mut grant, b).await?;
        }
        let now = super::unix_now();
        let claims = claims::issue(
            &self.tokens.settings,
            &grant,
            now,
            &uuid::Uuid::new_v4().to_string(),
        );
        let token = self.tokens.key.sign(&claims).map_err(ApiError::internal)?;
        let expires = jiff::Timestamp::from_second(now + expiration)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let mut out_spec = json!({"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": null});
        if let Some(b) = bound {
            out_spec["boundObjectRef"] = b.clone();
        } else if let Some(o) = out_spec.as_object_mut() {
            o.remove("boundObjectRef");
        }
        let out = json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "creationTimestamp": jiff::Timestamp::from_second(now).map(|t| t.to_string()).unwrap_or_default(),
            },
            "spec": out_spec,
            "status": {"token": token, "expirationTimestamp": expires},
        });
        Ok(json_response(
            201,
            serde_json::to_vec(&out).unwrap_or_default(),
        ))
    }

    /// Checks the bound object of a TokenRequest and records it (and a pod's node) in `grant`.
    async fn bind_token(&self, grant: &mut Grant, bound: &Value) -> Result<(), ApiError> {
        let kind = bound.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = bound
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("v1");
        let ref_name = bound.get("name").and_then(Value::as_str).unwrap_or("");
        let ref_uid = bound.get("uid").and_then(Value::as_str).unwrap_or("");
        let resource = match (api_version, kind) {
            ("v1", "Pod") => "pods",
            ("v1", "Secret") => "secrets",
            ("v1", "Node") => "nodes",
            _ => {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {}",
                    if api_version.contains('/') {
                        format!("{api_version}, Kind={kind}")
                    } else {
                        format!("/{api_version}, Kind={kind}")
                    }
                )));
            }
        };
        let namespace = if resource == "nodes" {
            ""
        } else {
            grant.namespace.as_str()
        };
        let obj = self.object(resource, namespace, ref_name).await?;
        let uid = meta_str(&obj, "uid").to_string();
        if !ref_uid.is_empty() && ref_uid != uid {
            return Err(ApiError::conflict_because(
                GroupResource {
                    group: "",
                    resource: kind,
                },
                ref_name,
                &format!(
                    "the UID in the bound object reference ({ref_uid}) does not match the UID in record ({uid}). The object might have been deleted and then recreated"
                ),
            ));
        }
        let this = ObjectRef {
            name: ref_name.into(),
            uid,
        };
        match resource {
            "pods" => {
                let sa_name = obj
                    .pointer("/spec/serviceAccountName")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                if sa_name != grant.service_account.name {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token for serviceaccount {:?} to pod running with different serviceaccount name.",
                        grant.service_account.name
                    )));
                }
                if let Some(node) = obj
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                {
                    let node_uid = self
                        .object("nodes", "", node)
                        .await
                        .map(|n| meta_str(&n, "uid").to_string())
                        .unwrap_or_default();
                    grant.node = Some(ObjectRef {
                        name: node.into(),
                        uid: node_uid,
                    });
                }
                grant.pod = Some(this);
            }
            "secrets" => grant.secret = Some(this),
            _ => grant.node = Some(this),
        }
        Ok(())
    }
}
