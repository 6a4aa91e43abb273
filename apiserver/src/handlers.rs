//! The resource verbs: get, list, create, update, patch, delete, deletecollection, and the
//! subresources status, scale, binding and eviction; output as JSON, YAML or a Table.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use ferrokube_apimachinery::fields::FieldSelector;
use ferrokube_apimachinery::labels::Selector;
use http::{HeaderMap, HeaderValue, Method, Response, header};
use serde_json::{Value, json};

use crate::Apiserver;
use crate::binding::Refusal;
use crate::cache::{CachedObject, EncodedWrite, PLACEHOLDER_JSON};
use crate::decode::{self, FieldValidation};
use crate::http::{Body, json_response};
use crate::objects::{DeleteOptions, WriteOptions, meta_mut, meta_str};
use crate::registry::ResourceType;
use crate::request::ResourcePath;
use crate::status::{ApiError, success_status};

/// How the client wants objects rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// `application/json`.
    Json,
    /// `application/yaml`.
    Yaml,
    /// `application/json;as=Table;g=meta.k8s.io;v=v1` (with its includeObject policy).
    Table(ferrokube_printers::IncludeObject),
    /// `application/json;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`: metadata only, as
    /// metadata informers (the garbage collector's, client-go's metadata client) ask for.
    Metadata,
}

/// The `apiVersion` of `PartialObjectMetadata` and its list.
const META_API_VERSION: &str = "meta.k8s.io/v1";

/// An object's `PartialObjectMetadata`: its metadata alone.
pub fn partial_object_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": META_API_VERSION,
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Picks the output from the Accept header.
pub fn negotiate(headers: &HeaderMap, query: &HashMap<String, String>) -> Result<Output, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.is_empty() {
        return Ok(Output::Json);
    }
    let mut json_ok = false;
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        let params: Vec<&str> = params.collect();
        if params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io") {
            let include = match query.get("includeObject").map(String::as_str) {
                Some("None") => ferrokube_printers::IncludeObject::None,
                Some("Object") => ferrokube_printers::IncludeObject::Object,
                _ => ferrokube_printers::IncludeObject::Metadata,
            };
            return Ok(Output::Table(include));
        }
        if (params.contains(&"as=PartialObjectMetadata")
            || params.contains(&"as=PartialObjectMetadataList"))
            && params.contains(&"g=meta.k8s.io")
            && matches!(media, "application/json" | "*/*" | "application/*" | "")
        {
            return Ok(Output::Metadata);
        }
        if params.iter().any(|p| p.starts_with("as=")) {
            continue;
        }
        match media {
            "application/yaml" => return Ok(Output::Yaml),
            "application/json" | "*/*" | "application/*" | "" => json_ok = true,
            _ => {}
        }
    }
    if json_ok {
        Ok(Output::Json)
    } else {
        Err(ApiError::not_acceptable(accept))
    }
}

/// Renders one object.
pub fn render_object(
    r: &ResourceType,
    output: Output,
    code: u16,
    obj: &Value,
    warnings: &[String],
) -> Response<Body> {
    let mut resp = match output {
        Output::Json => json_response(code, serde_json::to_vec(obj).unwrap_or_default()),
        Output::Yaml => yaml_response(code, obj),
        Output::Table(include) => {
            let now = jiff::Timestamp::now();
            let table = ferrokube_printers::table(r.group, r.kind, &[obj], now, include);
            json_response(code, serde_json::to_vec(&table).unwrap_or_default())
        }
        Output::Metadata => json_response(
            code,
            serde_json::to_vec(&partial_object_metadata(obj)).unwrap_or_default(),
        ),
    };
    add_warnings(&mut resp, warnings);
    resp
}

/// Adds `Warning: 299 - "..."` headers.
pub fn add_warnings(resp: &mut Response<Body>, warnings: &[String]) {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append("warning", v);
        }
    }
}

fn yaml_response(code: u16, obj: &Value) -> Response<Body> {
    let mut resp = json_response(code, serde_yaml::to_string(obj).unwrap_or_default());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    resp
}

/// Parsed list/watch options.
pub struct ListOptions {
    /// `labelSelector`.
    pub labels: Selector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
    /// `limit`.
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
}

impl ListOptions {
    /// Parses and validates list options for `r`.
    pub fn parse(r: &ResourceType, q: &HashMap<String, String>) -> Result<Self, ApiError> {
        Self::parse_for(r, q, false)
    }

    /// Parses and validates the options of a watch: as a list's, except that
    /// `resourceVersionMatch` without a `resourceVersion` is allowed (a streaming list from a
    /// consistent read); [`Apiserver::watch`] checks the watch-only rules.
    pub fn parse_watch(r: &ResourceType, q: &HashMap<String, String>) -> Result<Self, ApiError> {
        Self::parse_for(r, q, true)
    }

    fn parse_for(
        r: &ResourceType,
        q: &HashMap<String, String>,
        watch: bool,
    ) -> Result<Self, ApiError> {
        let labels = match q.get("labelSelector") {
            Some(s) => Selector::parse(s)
                .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?,
            None => Selector::everything(),
        };
        let fields = match q.get("fieldSelector") {
            Some(s) => FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?,
            None => FieldSelector::everything(),
        };
        let mut supported = vec!["metadata.name", "metadata.namespace"];
        supported.extend_from_slice(r.strategy.field_labels());
        fields
            .check_supported(&supported)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let rv = q.get("resourceVersion").filter(|s| !s.is_empty()).cloned();
        let rvm = q
            .get("resourceVersionMatch")
            .filter(|s| !s.is_empty())
            .cloned();
        if let Some(m) = &rvm {
            if rv.is_none() && !watch {
                return Err(list_options_invalid(
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if !["Exact", "NotOlderThan"].contains(&m.as_str()) {
                return Err(list_options_invalid(
                    "resourceVersionMatch",
                    &format!(
                        "Unsupported value: {m:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""
                    ),
                ));
            }
            if m == "Exact" && rv.as_deref() == Some("0") {
                return Err(list_options_invalid(
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if let Some(rv) = &rv
            && rv.parse::<i64>().is_err()
        {
            return Err(ApiError::bad_request(format!(
                "invalid resource version: {rv}"
            )));
        }
        let limit = match q.get("limit") {
            Some(l) => match l.parse::<i64>() {
                Ok(n) if n > 0 => Some(n as usize),
                Ok(_) => None,
                Err(_) => return Err(ApiError::bad_request(format!("invalid limit {l:?}"))),
            },
            None => None,
        };
        Ok(ListOptions {
            labels,
            fields,
            resource_version: rv,
            resource_version_match: rvm,
            limit,
            continue_token: q.get("continue").filter(|s| !s.is_empty()).cloned(),
        })
    }

    /// Whether a cached object passes the selectors.
    pub fn matches(&self, obj: &CachedObject) -> bool {
        self.labels.matches(&obj.labels) && self.fields.matches(&|f| obj.field(f).map(String::from))
    }
}

/// A 422 for invalid list or watch options, as upstream words it.
pub(crate) fn list_options_invalid(field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        "meta.k8s.io",
        "ListOptions",
        "",
        vec![crate::strategy::cause(
            "FieldValueForbidden",
            field,
            message,
        )],
    )
}

/// The continue token: the revision of the first page and the last key served.
fn encode_continue(revision: i64, last_key: &str) -> String {
    use base64::Engine;
    let raw = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": format!("{last_key}\u{0}")});
    base64::engine::general_purpose::URL_SAFE.encode(raw.to_string())
}

fn decode_continue(token: &str) -> Result<(i64, String), ApiError> {
    use base64::Engine;
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rv, start.trim_end_matches('\u{0}').to_string()))
}

impl Apiserver {
    /// Dispatches a resource request.
    pub async fn resource(
        self: &Arc<Self>,
        method: &Method,
        path: ResourcePath,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
        body: Bytes,
        user_agent: &str,
    ) -> Result<Response<Body>, ApiError> {
        let r = self
            .objects
            .registry
            .lookup(&path.group, &path.version, &path.resource)
            .ok_or_else(ApiError::path_not_found)?;
        let output = negotiate(headers, query)?;
        let namespace = path.namespace.clone().unwrap_or_default();
        if r.namespaced && path.namespace.is_none() && path.name.is_some() {
            return Err(ApiError::path_not_found());
        }
        let watch =
            path.watch_prefix || query.get("watch").is_some_and(|w| w == "true" || w == "1");
        if let Some(sub) = &path.subresource
            && !r.subresources.contains(&sub.as_str())
        {
            return Err(ApiError::path_not_found());
        }
        let name = path.name.clone();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_string();
        let write_opts = WriteOptions {
            dry_run: query.get("dryRun").is_some_and(|d| d == "All"),
            field_manager: query
                .get("fieldManager")
                .cloned()
                .unwrap_or_else(|| default_manager(user_agent)),
            subresource: path.subresource.clone(),
            managed_fields: None,
        };
        if let Some(d) = query.get("dryRun")
            && d != "All"
        {
            return Err(ApiError::bad_request(format!(
                "Invalid dry run value: {d}: supported values: \"All\""
            )));
        }
        let ns_for_list = if r.namespaced {
            path.namespace.as_deref()
        } else {
            None
        };
        match (method.clone(), name, path.subresource.as_deref()) {
            (Method::GET, None, None) if watch => {
                let opts = ListOptions::parse_watch(r, query)?;
                self.watch(r, ns_for_list, opts, query, output).await
            }
            (Method::GET, Some(name), None) if watch => {
                let mut q = query.clone();
                let fs = format!("metadata.name={name}");
                q.insert("fieldSelector".into(), fs);
                let opts = ListOptions::parse_watch(r, &q)?;
                self.watch(r, ns_for_list, opts, query, output).await
            }
            (Method::GET, None, None) => {
                if !r.supports("list") {
                    return Err(ApiError::method_not_allowed(r.group_resource()));
                }
                let opts = ListOptions::parse(r, query)?;
                self.list(r, ns_for_list, &opts, output).await
            }
            (Method::GET, Some(name), None | Some("status")) => {
                let obj = self.get(r, &namespace, &name, query).await?;
                Ok(render_object(r, output, 200, &obj, &[]))
            }
            (Method::GET, Some(name), Some("scale")) => {
                let (obj, _) = self.objects.current(r, &namespace, &name).await?;
                Ok(json_response(
                    200,
                    serde_json::to_vec(&scale_of(&obj)).unwrap_or_default(),
                ))
            }
            (Method::POST, None, None) => {
                if !r.supports("create") {
                    return Err(ApiError::method_not_allowed(r.group_resource()));
                }
                let (obj, warnings) = self.decode_body(r, &content_type, &body, query)?;
                let (created, json) = self
                    .objects
                    .create_encoded(r, &namespace, obj, &write_opts)
                    .await?;
                self.after_create(r, &created, &write_opts).await;
                match json {
                    // The JSON the store and the watch cache got is the response's.
                    Some(json) if output == Output::Json => {
                        let mut resp = json_response(201, json);
                        add_warnings(&mut resp, &warnings);
                        Ok(resp)
                    }
                    _ => Ok(render_object(r, output, 201, &created, &warnings)),
                }
            }
            (Method::POST, Some(name), Some("binding")) => {
                self.bind(r, &namespace, &name, &body).await
            }
            (Method::POST, Some(name), Some("token")) if r.plural == "serviceaccounts" => {
                self.token_request(&namespace, &name, &body).await
            }
            (Method::POST, Some(name), Some("eviction")) => {
                let opts = DeleteOptions::parse(query, &[])?;
                self.objects.delete(r, &namespace, &name, &opts).await?;
                Ok(json_response(201, serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})).unwrap_or_default()))
            }
            (Method::PUT, Some(name), None | Some("status") | Some("finalize")) => {
                let (obj, warnings) = self.decode_body(r, &content_type, &body, query)?;
                // As upstream's checkName: the body must name the object of the URL (before
                // the object is even looked up).
                if meta_str(&obj, "name") != name {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        meta_str(&obj, "name")
                    )));
                }
                let (old, rv) = self.objects.current(r, &namespace, &name).await?;
                let mut opts = write_opts.clone();
                if path.subresource.as_deref() == Some("finalize") {
                    opts.subresource = None;
                    let mut merged = old.clone();
                    merged["spec"] = obj.get("spec").cloned().unwrap_or(Value::Null);
                    let updated = self
                        .update_namespace_finalizers(r, &name, merged, &old, rv, &opts)
                        .await?;
                    return Ok(render_object(r, output, 200, &updated, &warnings));
                }
                let updated = self
                    .objects
                    .update(r, &namespace, &name, obj, &old, rv, &opts)
                    .await?;
                Ok(render_object(r, output, 200, &updated, &warnings))
            }
            (Method::PUT, Some(name), Some("scale")) => {
                let scale = decode::parse(&content_type, &body)?;
                let replicas = scale
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let updated = self
                    .set_replicas(
                        r,
                        &namespace,
                        &name,
                        replicas,
                        scale
                            .pointer("/metadata/resourceVersion")
                            .and_then(Value::as_str),
                        &write_opts,
                    )
                    .await?;
                Ok(json_response(
                    200,
                    serde_json::to_vec(&scale_of(&updated)).unwrap_or_default(),
                ))
            }
            (Method::PATCH, Some(name), sub) => {
                let sub = sub.map(String::from);
                if sub.as_deref() == Some("scale") {
                    let (obj, _) = self.objects.current(r, &namespace, &name).await?;
                    let scale = scale_of(&obj);
                    let patched = crate::patching::apply(&content_type, &scale, &body, None)?;
                    let replicas = patched
                        .pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    let updated = self
                        .set_replicas(r, &namespace, &name, replicas, None, &write_opts)
                        .await?;
                    return Ok(json_response(
                        200,
                        serde_json::to_vec(&scale_of(&updated)).unwrap_or_default(),
                    ));
                }
                if crate::apply::is_apply(&content_type) {
                    let (code, applied, warnings) = self
                        .apply_patch(r, &namespace, &name, &body, query, &write_opts)
                        .await?;
                    return Ok(render_object(r, output, code, &applied, &warnings));
                }
                crate::apply::check_force_only_on_apply(query)?;
                let (updated, warnings) = self
                    .patch(
                        r,
                        &namespace,
                        &name,
                        &content_type,
                        &body,
                        query,
                        &write_opts,
                    )
                    .await?;
                Ok(render_object(r, output, 200, &updated, &warnings))
            }
            (Method::DELETE, Some(name), None) => {
                let opts = DeleteOptions::parse(query, &body)?;
                let (obj, gone) = self.objects.delete(r, &namespace, &name, &opts).await?;
                if gone {
                    let status = success_status(r.group_resource(), &name, meta_str(&obj, "uid"));
                    Ok(json_response(
                        200,
                        serde_json::to_vec(&status).unwrap_or_default(),
                    ))
                } else {
                    Ok(render_object(r, output, 200, &obj, &[]))
                }
            }
            (Method::DELETE, None, None) => {
                if !r.supports("deletecollection") {
                    return Err(ApiError::method_not_allowed(r.group_resource()));
                }
                let opts = DeleteOptions::parse(query, &body)?;
                let list_opts = ListOptions::parse(r, query)?;
                self.objects.sync_cache().await?;
                let (items, _) = self.objects.cache.list(r, ns_for_list);
                let mut deleted = Vec::new();
                for item in items.iter().filter(|o| list_opts.matches(o)) {
                    match self
                        .objects
                        .delete(r, &item.namespace, &item.name, &opts)
                        .await
                    {
                        Ok((obj, _)) => deleted.push(obj),
                        Err(e) if e.code == 404 => {}
                        Err(e) => return Err(e),
                    }
                }
                let list = json!({"kind": format!("{}List", r.kind), "apiVersion": r.api_version(), "metadata": {}, "items": deleted});
                Ok(json_response(
                    200,
                    serde_json::to_vec(&list).unwrap_or_default(),
                ))
            }
            _ => Err(ApiError::method_not_allowed(r.group_resource())),
        }
    }

    /// Waits until the cache has reached `rv` (resourceVersion "not older than"), or answers
    /// upstream's 504 "Too large resource version" after 3 s.
    async fn wait_not_older_than(&self, rv: i64) -> Result<(), ApiError> {
        if self
            .objects
            .cache
            .wait_for(rv, std::time::Duration::from_secs(3))
            .await
        {
            Ok(())
        } else {
            Err(ApiError::too_large_resource_version(
                rv,
                self.objects.cache.revision(),
            ))
        }
    }

    /// Decodes a create/update body with fieldValidation.
    fn decode_body(
        &self,
        r: &ResourceType,
        content_type: &str,
        body: &[u8],
        query: &HashMap<String, String>,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let directive = FieldValidation::parse(query.get("fieldValidation"))?;
        let (mut raw, mut duplicates) = decode::parse_with_duplicates(content_type, body)?;
        decode::check_kind(r, &mut raw)?;
        if directive == FieldValidation::Ignore {
            duplicates.clear();
        }
        let (obj, unknown) = decode::normalize(r, raw)?;
        let warnings = decode::field_validation(directive, &unknown, &duplicates)?;
        Ok((obj, warnings))
    }

    async fn get(
        &self,
        r: &ResourceType,
        namespace: &str,
        name: &str,
        query: &HashMap<String, String>,
    ) -> Result<Value, ApiError> {
        match query.get("resourceVersion").map(String::as_str) {
            Some("0") => {}
            Some(rv) if !rv.is_empty() => {
                let rv: i64 = rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {rv}"))
                })?;
                self.wait_not_older_than(rv).await?;
            }
            _ => {
                self.objects.sync_cache().await?;
            }
        }
        self.objects
            .cache
            .get(r, namespace, name)
            .map(|o| o.value())
            .ok_or_else(|| ApiError::not_found(r.group_resource(), name))
    }

    async fn list(
        &self,
        r: &ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
        output: Output,
    ) -> Result<Response<Body>, ApiError> {
        let mut start_after: Option<String> = None;
        let mut page_rv: Option<i64> = None;
        if let Some(token) = &opts.continue_token {
            let (rv, start) = decode_continue(token)?;
            page_rv = Some(rv);
            start_after = Some(start);
        } else {
            match (
                opts.resource_version.as_deref(),
                opts.resource_version_match.as_deref(),
            ) {
                (None, _) => {
                    self.objects.sync_cache().await?;
                }
                (Some("0"), _) => {}
                (Some(rv), Some("Exact")) => {
                    let rv: i64 = rv.parse().unwrap_or(0);
                    let current = self.objects.cache.revision();
                    if rv != current {
                        return Err(ApiError::expired(format!(
                            "too old resource version: {rv} ({current})"
                        )));
                    }
                }
                (Some(rv), _) => {
                    self.wait_not_older_than(rv.parse().unwrap_or(0)).await?;
                }
            }
        }
        let (items, revision) = self.objects.cache.list(r, namespace);
        let revision = page_rv.unwrap_or(revision);
        let mut selected: Vec<&Arc<CachedObject>> = Vec::new();
        let mut remaining = 0usize;
        let mut continue_token = None;
        let filtered = !opts.labels.is_empty() || !opts.fields.is_empty();
        for item in &items {
            let key = format!("{}/{}", item.namespace, item.name);
            if let Some(start) = &start_after
                && key.as_str() <= start.as_str()
            {
                continue;
            }
            if !opts.matches(item) {
                continue;
            }
            if let Some(limit) = opts.limit
                && selected.len() >= limit
            {
                remaining += 1;
                if continue_token.is_none() {
                    let last = selected
                        .last()
                        .map(|o| format!("{}/{}", o.namespace, o.name))
                        .unwrap_or_default();
                    continue_token = Some(encode_continue(revision, &last));
                }
                if filtered {
                    break;
                }
                continue;
            }
            selected.push(item);
        }
        let mut meta = json!({"resourceVersion": revision.to_string()});
        if let Some(c) = &continue_token {
            meta["continue"] = json!(c);
            if !filtered {
                meta["remainingItemCount"] = json!(remaining);
            }
        }
        match output {
            Output::Json => {
                let mut buf = BytesMut::with_capacity(
                    selected.iter().map(|o| o.json.len() + 1).sum::<usize>() + 256,
                );
                buf.put_slice(
                    format!(
                        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
                        r.kind,
                        r.api_version(),
                        meta
                    )
                    .as_bytes(),
                );
                for (i, o) in selected.iter().enumerate() {
                    if i > 0 {
                        buf.put_u8(b',');
                    }
                    buf.put_slice(&o.json);
                }
                buf.put_slice(b"]}");
                Ok(json_response(200, buf.freeze()))
            }
            Output::Yaml => {
                let items: Vec<Value> = selected.iter().map(|o| o.value()).collect();
                Ok(yaml_response(
                    200,
                    &json!({"kind": format!("{}List", r.kind), "apiVersion": r.api_version(), "metadata": meta, "items": items}),
                ))
            }
            Output::Table(include) => {
                let values: Vec<Value> = selected.iter().map(|o| o.value()).collect();
                let refs: Vec<&Value> = values.iter().collect();
                let mut table = ferrokube_printers::table(
                    r.group,
                    r.kind,
                    &refs,
                    jiff::Timestamp::now(),
                    include,
                );
                table["metadata"] = meta;
                Ok(json_response(
                    200,
                    serde_json::to_vec(&table).unwrap_or_default(),
                ))
            }
            Output::Metadata => {
                let items: Vec<Value> = selected
                    .iter()
                    .map(|o| partial_object_metadata(&o.value()))
                    .collect();
                let list = json!({"kind": "PartialObjectMetadataList", "apiVersion": META_API_VERSION, "metadata": meta, "items": items});
                Ok(json_response(
                    200,
                    serde_json::to_vec(&list).unwrap_or_default(),
                ))
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // the request's parts, each distinct
    async fn patch(
        &self,
        r: &ResourceType,
        namespace: &str,
        name: &str,
        content_type: &str,
        body: &[u8],
        query: &HashMap<String, String>,
        opts: &WriteOptions,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let directive = FieldValidation::parse(query.get("fieldValidation"))?;
        let base = content_type.split(';').next().unwrap_or("").trim();
        if !crate::patching::SUPPORTED.contains(&base) {
            return Err(ApiError::unsupported_media_type(content_type));
        }
        let duplicates =
            if directive != FieldValidation::Ignore && base != "application/apply-patch+yaml" {
                decode::duplicate_fields(body)
            } else {
                Vec::new()
            };
        let mut last_err = None;
        for _ in 0..5 {
            let (old, rv) = self.objects.current(r, namespace, name).await?;
            let patched = crate::patching::apply(
                content_type,
                &old,
                body,
                Some((&*self.schemas, r.definition)),
            )?;
            let mut patched = patched;
            decode::check_kind(r, &mut patched)?;
            let (obj, unknown) = decode::normalize(r, patched)?;
            let warnings = decode::field_validation(directive, &unknown, &duplicates)?;
            let mut obj = obj;
            // A patch that does not set resourceVersion is applied to what it was read against.
            let patch_sets_rv = meta_str(&obj, "resourceVersion") != rv.to_string()
                && !meta_str(&obj, "resourceVersion").is_empty();
            if !patch_sets_rv {
                meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
            }
            match self
                .objects
                .update(r, namespace, name, obj, &old, rv, opts)
                .await
            {
                Ok(v) => return Ok((v, warnings)),
                Err(e) if e.code == 409 && e.reason == "Conflict" && !patch_sets_rv => {
                    last_err = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| ApiError::conflict(r.group_resource(), name)))
    }

    async fn set_replicas(
        &self,
        r: &ResourceType,
        namespace: &str,
        name: &str,
        replicas: i64,
        rv_precondition: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let (old, rv) = self.objects.current(r, namespace, name).await?;
        if let Some(p) = rv_precondition.filter(|p| !p.is_empty())
            && p != rv.to_string()
        {
            return Err(ApiError::conflict(r.group_resource(), name));
        }
        if replicas < 0 {
            return Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                vec![crate::strategy::invalid(
                    "spec.replicas",
                    &json!(replicas),
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(replicas);
        let mut opts = opts.clone();
        opts.subresource = Some("scale".into());
        self.objects
            .update(r, namespace, name, new, &old, rv, &opts)
            .await
    }

    async fn bind(
        &self,
        r: &ResourceType,
        namespace: &str,
        name: &str,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        // Upstream's scheduler sends its Binding as Kubernetes protobuf.
        let binding: Value = if body.starts_with(ferrokube_apimachinery::protobuf::MAGIC) {
            ferrokube_apimachinery::protobuf::decode(body)
                .map_err(|e| ApiError::bad_request(format!("couldn't decode Binding: {e}")))?
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("couldn't decode Binding: {e}")))?
        };
        let node = binding
            .pointer("/target/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if node.is_empty() {
            return Err(ApiError::invalid(
                "",
                "Binding",
                name,
                vec![crate::strategy::required("target.name")],
            ));
        }
        // The binding's uid and resourceVersion are preconditions on the pod, and its
        // annotations are merged into the pod's (upstream's BindingREST).
        let meta = binding.get("metadata");
        let given = |field: &str| {
            meta.and_then(|m| m.get(field))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (uid, precondition_rv) = (given("uid"), given("resourceVersion"));
        let annotations = meta
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object)
            .filter(|a| !a.is_empty());
        let cached = self.objects.cached(r, namespace, name).await?;
        let rv = cached.revision;
        if let Some(want) = precondition_rv.filter(|want| *want != rv.to_string()) {
            return Err(ApiError::conflict_because(
                r.group_resource(),
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"
                ),
            ));
        }
        let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()});
        // The cached JSON spliced in place when there are no annotations to merge; the
        // decoded pod otherwise, and for shapes that splicing leaves alone.
        let spliced = match annotations {
            None => {
                crate::binding::bind_json(&cached.json, &node, &scheduled, PLACEHOLDER_JSON, uid)
            }
            Some(_) => None,
        };
        let mut pod = match spliced {
            Some(Ok(json)) => match EncodedWrite::from_placeholder_json(json) {
                Some(encoded) => {
                    self.objects
                        .bind_encoded(r, &cached, &node, encoded, rv)
                        .await?;
                    return Ok(bound_response());
                }
                // The placeholder is found unless the pod's own strings imitate it.
                None => cached.value(),
            },
            Some(Err(refused)) => return Err(binding_refused(r, name, refused)),
            None => cached.value(),
        };
        let actual_uid = pod.pointer("/metadata/uid").and_then(Value::as_str);
        if let Some(uid) = uid.filter(|uid| Some(*uid) != actual_uid) {
            let refused = Refusal::OtherUid {
                precondition: uid.to_string(),
                actual: actual_uid.unwrap_or_default().to_string(),
            };
            return Err(binding_refused(r, name, refused));
        }
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(binding_refused(r, name, Refusal::Deleting));
        }
        if let Some(existing) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return Err(binding_refused(r, name, Refusal::Assigned(existing.into())));
        }
        if pod
            .pointer("/spec/schedulingGates")
            .and_then(Value::as_array)
            .is_some_and(|gates| !gates.is_empty())
        {
            return Err(binding_refused(r, name, Refusal::Gated));
        }
        pod["spec"]["nodeName"] = json!(node);
        if let Some(annotations) = annotations {
            let meta = meta_mut(&mut pod);
            if !meta.get("annotations").is_some_and(Value::is_object) {
                meta.insert("annotations".into(), json!({}));
            }
            if let Some(Value::Object(into)) = meta.get_mut("annotations") {
                into.extend(annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        // The PodScheduled condition replaces any earlier one, in place in the pod read.
        match pod["status"]["conditions"].as_array_mut() {
            Some(conditions) => {
                conditions
                    .retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
                conditions.push(scheduled);
            }
            None => pod["status"]["conditions"] = json!([scheduled]),
        }
        // Binding writes spec.nodeName and status together, bypassing the spec-immutability rules.
        self.objects.bind(r, namespace, name, pod, rv).await?;
        Ok(bound_response())
    }

    async fn update_namespace_finalizers(
        &self,
        r: &ResourceType,
        name: &str,
        new: Value,
        old: &Value,
        rv: i64,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.objects
            .finalize_namespace(r, name, new, old, rv, opts)
            .await
    }

    /// Side effects of a create: a new namespace gets its `default` ServiceAccount and the
    /// `kube-root-ca.crt` ConfigMap, as upstream's controllers provide.
    async fn after_create(&self, r: &ResourceType, created: &Value, opts: &WriteOptions) {
        if opts.dry_run || !(r.group.is_empty() && r.plural == "namespaces") {
            return;
        }
        let ns = meta_str(created, "name").to_string();
        self.populate_namespace(&ns).await;
    }
}

/// Why a pod cannot be bound, as upstream's BindingREST words it: a failed uid precondition
/// on `pods`, the rest on `pods/binding`.
fn binding_refused(r: &ResourceType, name: &str, refused: Refusal) -> ApiError {
    let binding = crate::status::GroupResource {
        group: r.group,
        resource: "pods/binding",
    };
    match refused {
        Refusal::OtherUid {
            precondition,
            actual,
        } => ApiError::conflict_because(
            r.group_resource(),
            name,
            &format!(
                "Precondition failed: UID in precondition: {precondition}, UID in object meta: {actual}"
            ),
        ),
        Refusal::Deleting => ApiError::conflict_because(
            binding,
            name,
            &format!("pod {name} is being deleted, cannot be assigned to a host"),
        ),
        Refusal::Assigned(existing) => ApiError::conflict_because(
            binding,
            name,
            &format!("pod {name} is already assigned to node \"{existing}\""),
        ),
        Refusal::Gated => ApiError::conflict_because(
            binding,
            name,
            &format!("pod {name} has non-empty .spec.schedulingGates"),
        ),
    }
}

/// The answer to a binding, encoded once: a `Success` Status with code 201.
const BOUND_STATUS: &[u8] =
    br#"{"apiVersion":"v1","code":201,"kind":"Status","metadata":{},"status":"Success"}"#;

/// The answer to a binding.
fn bound_response() -> Response<Body> {
    json_response(201, Bytes::from_static(BOUND_STATUS))
}

/// The `autoscaling/v1` Scale of a scalable object.
fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| Selector::from_label_selector(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta_str(obj, "name"),
            "namespace": meta_str(obj, "namespace"),
            "uid": meta_str(obj, "uid"),
            "resourceVersion": meta_str(obj, "resourceVersion"),
            "creationTimestamp": obj.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// upstream's default field manager: the user agent's program name (`kubectl`, `kubectl-edit`).
fn default_manager(user_agent: &str) -> String {
    let program = user_agent.split('/').next().unwrap_or("").trim();
    if program.is_empty() {
        "unknown".into()
    } else {
        program.chars().take(128).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binding_answer_is_the_status_upstream_encodes() {
        let expected = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
        assert_eq!(BOUND_STATUS, serde_json::to_vec(&expected).unwrap());
    }
}
