//! The write path shared by every verb: create, update (PUT and the end of PATCH), delete,
//! with upstream's metadata rules (uid, creationTimestamp, generation, managedFields,
//! finalizers, graceful deletion), admission, validation and storage preconditions.

use std::sync::Arc;

use bytes::Bytes;
use ferrokube_apimachinery::patch::OpenApiSchemas;
use ferrokube_storage::{Backend, StorageError};
use serde_json::{Map, Value, json};
use tracing::debug;

use crate::allocator::Allocator;
use crate::cache::{CachedObject, EncodedWrite, WatchCache};
use crate::registry::{Registry, ResourceType};
use crate::status::{ApiError, StatusCause};
use crate::strategy::{self, pod};

/// Options common to writes.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: run everything but the store write.
    pub dry_run: bool,
    /// `fieldManager` (or the user agent's program name).
    pub field_manager: String,
    /// The subresource written (`status`, ...), if any.
    pub subresource: Option<String>,
    /// `metadata.managedFields` already computed by server-side apply, stored as given
    /// instead of recording an Update.
    pub managed_fields: Option<Value>,
}

/// The objects of the API: the store, its cache and the registry, plus admission state.
pub struct Objects {
    /// The resource table.
    pub registry: Arc<Registry>,
    /// The revisioned store.
    pub backend: Arc<dyn Backend>,
    /// The watch cache.
    pub cache: Arc<WatchCache>,
    /// Cluster IP and node port allocation.
    pub allocator: Allocator,
    /// The OpenAPI definitions: the types `managedFields` are tracked along.
    pub schemas: Arc<OpenApiSchemas>,
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or(jiff::Timestamp::now())
        .to_string()
}

fn storage_error(r: &ResourceType, name: &str, e: StorageError) -> ApiError {
    match e {
        StorageError::AlreadyExists { .. } => ApiError::already_exists(r.group_resource(), name),
        StorageError::NotFound { .. } => ApiError::not_found(r.group_resource(), name),
        StorageError::Conflict { .. } => ApiError::conflict(r.group_resource(), name),
        other => ApiError::internal(other),
    }
}

/// The metadata object of `obj`, created if missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"].as_object_mut().expect("metadata object")
}

/// `metadata.<field>` as a string.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Serializes an object once for the store (without resourceVersion: the store's revision
/// is it), the watch cache and the response.
fn encode_write(obj: &mut Value) -> Result<EncodedWrite, ApiError> {
    EncodedWrite::encode(obj).map_err(ApiError::internal)
}

impl Objects {
    /// Writes `obj` over the key's revision `rv`, the cache told beforehand (see
    /// [`WatchCache::expect_write`]).
    async fn store_update(
        &self,
        r: &ResourceType,
        key: &str,
        name: &str,
        obj: &mut Value,
        rv: i64,
    ) -> Result<(), ApiError> {
        let encoded = encode_write(obj)?;
        self.cache.expect_write(r, key, &encoded, obj);
        let revision = self.update_encoded(r, key, name, &encoded, rv).await?;
        set_rv(obj, revision);
        Ok(())
    }

    /// Writes `encoded` over the key's revision `rv`, the cache already told to expect it;
    /// the new revision. A refused write is taken back from the cache.
    async fn update_encoded(
        &self,
        r: &ResourceType,
        key: &str,
        name: &str,
        encoded: &EncodedWrite,
        rv: i64,
    ) -> Result<i64, ApiError> {
        match self.backend.update(key, encoded.stored.clone(), rv).await {
            Ok(kv) => Ok(kv.mod_revision),
            Err(e) => {
                self.cache.forget_write(key, &encoded.stored);
                Err(storage_error(r, name, e))
            }
        }
    }
}

fn set_rv(obj: &mut Value, rv: i64) {
    meta_mut(obj).insert("resourceVersion".into(), json!(rv.to_string()));
}

/// Everything but metadata and status: what a generation bump compares.
fn spec_part(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(m) = copy.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    copy
}

fn validate(r: &ResourceType, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut causes: Vec<StatusCause> = strategy::validate_object_meta(r, obj, old);
    causes.extend(match old {
        None => r.strategy.validate(obj),
        Some(old) => r.strategy.validate_update(obj, old),
    });
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            r.group,
            r.kind,
            meta_str(obj, "name"),
            causes,
        ))
    }
}

/// Records this write in `managedFields`: an Update by `opts.field_manager`, or the entries
/// server-side apply computed (`opts.managed_fields`).
fn record_managed_fields(
    schemas: &OpenApiSchemas,
    r: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    opts: &WriteOptions,
) {
    if let Some(managed) = &opts.managed_fields {
        let meta = meta_mut(obj);
        match managed {
            Value::Array(entries) if !entries.is_empty() => {
                meta.insert("managedFields".into(), managed.clone());
            }
            _ => {
                meta.remove("managedFields");
            }
        }
        return;
    }
    let manager = if opts.field_manager.is_empty() {
        "unknown"
    } else {
        &opts.field_manager
    };
    crate::managedfields::record_update(
        schemas,
        r,
        obj,
        old,
        manager,
        opts.subresource.as_deref(),
        &now_rfc3339(),
    );
}

impl Objects {
    /// Creates an object (already decoded and normalized) in `namespace`.
    pub async fn create(
        &self,
        r: &ResourceType,
        namespace: &str,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        Ok(self.create_encoded(r, namespace, obj, opts).await?.0)
    }

    /// Creates an object as [`Objects::create`] does; also returns the created object's JSON
    /// as stored (None for a dry run), encoded once for the store, the cache and the response.
    pub async fn create_encoded(
        &self,
        r: &ResourceType,
        namespace: &str,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<(Value, Option<Bytes>), ApiError> {
        {
            let meta = meta_mut(&mut obj);
            if r.namespaced {
                match meta.get("namespace").and_then(Value::as_str) {
                    Some(ns) if !ns.is_empty() && ns != namespace => {
                        return Err(ApiError::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ));
                    }
                    _ => {
                        meta.insert("namespace".into(), json!(namespace));
                    }
                }
            } else {
                meta.remove("namespace");
            }
            let name = meta
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let generate = meta
                .get("generateName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if name.is_empty() && !generate.is_empty() {
                let base: String = generate.chars().take(58).collect();
                meta.insert("name".into(), json!(format!("{base}{}", random_suffix(5))));
            }
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
            meta.remove("resourceVersion");
            meta.remove("deletionTimestamp");
            meta.remove("deletionGracePeriodSeconds");
            meta.remove("selfLink");
            meta.remove("managedFields");
            if r.tracks_generation {
                meta.insert("generation".into(), json!(1));
            } else {
                meta.remove("generation");
            }
        }
        let name = meta_str(&obj, "name").to_string();
        if name.is_empty() {
            return Err(ApiError::invalid(
                r.group,
                r.kind,
                "",
                vec![strategy::cause(
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )],
            ));
        }
        if r.namespaced {
            self.require_namespace(namespace).await?;
        }
        r.strategy.default(&mut obj);
        r.strategy.prepare_for_create(&mut obj);
        if r.plural == "pods" && r.group.is_empty() {
            pod::admit(&mut obj, &random_suffix(5));
        }
        validate(r, &obj, None)?;
        record_managed_fields(&self.schemas, r, &mut obj, None, opts);
        if r.plural == "services" && r.group.is_empty() {
            self.allocator.allocate(&mut obj, None, opts.dry_run)?;
        }
        if opts.dry_run {
            return Ok((obj, None));
        }
        let key = r.key(namespace, &name);
        let encoded = encode_write(&mut obj)?;
        self.cache.expect_write(r, &key, &encoded, &obj);
        match self.backend.create(&key, encoded.stored.clone()).await {
            Ok(kv) => {
                set_rv(&mut obj, kv.mod_revision);
                debug!(%key, revision = kv.mod_revision, "created");
                let json = encoded.json_at(kv.mod_revision).map(Bytes::from);
                Ok((obj, json))
            }
            Err(e) => {
                self.cache.forget_write(&key, &encoded.stored);
                if r.plural == "services" && r.group.is_empty() {
                    self.allocator.release(&obj);
                }
                Err(storage_error(r, &name, e))
            }
        }
    }

    async fn require_namespace(&self, namespace: &str) -> Result<(), ApiError> {
        let Some(ns_type) = self.registry.lookup("", "v1", "namespaces") else {
            return Ok(());
        };
        let mut found = self.cache.get(ns_type, "", namespace);
        if found.is_none() {
            // A namespace created a moment ago may not be in the cache yet: look again once
            // the cache has caught up with the store (upstream's live lookup).
            self.sync_cache().await?;
            found = self.cache.get(ns_type, "", namespace);
        }
        match found {
            None => Err(ApiError::not_found(ns_type.group_resource(), namespace)),
            Some(ns) => {
                if ns.deleting {
                    Err(ApiError::forbidden(format!(
                        "unable to create new content in namespace {namespace} because it is being terminated"
                    )))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Reads the current object from the cache (after it has caught up with the store).
    pub async fn current(
        &self,
        r: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<(Value, i64), ApiError> {
        self.sync_cache().await?;
        match self.cache.get(r, namespace, name) {
            Some(obj) => Ok((obj.value(), obj.revision)),
            None => Err(ApiError::not_found(r.group_resource(), name)),
        }
    }

    /// The current object as the cache holds it (after it has caught up with the store).
    pub async fn cached(
        &self,
        r: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<CachedObject>, ApiError> {
        self.sync_cache().await?;
        self.cache
            .get(r, namespace, name)
            .ok_or_else(|| ApiError::not_found(r.group_resource(), name))
    }

    /// Waits until the cache reflects every acknowledged write.
    pub async fn sync_cache(&self) -> Result<i64, ApiError> {
        let rev = self
            .backend
            .current_revision()
            .await
            .map_err(ApiError::internal)?;
        if !self
            .cache
            .wait_for(rev, std::time::Duration::from_secs(10))
            .await
        {
            return Err(ApiError::timeout("Timeout: Too large resource version"));
        }
        Ok(rev)
    }

    /// Updates an object: `new` replaces `old` (read at `old_rv`) subject to the object's own
    /// resourceVersion precondition. Returns the stored object (unchanged `old` for a no-op).
    #[allow(clippy::too_many_arguments)] // the request's parts, each distinct
    pub async fn update(
        &self,
        r: &ResourceType,
        namespace: &str,
        name: &str,
        mut new: Value,
        old: &Value,
        old_rv: i64,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let body_rv = meta_str(&new, "resourceVersion").to_string();
        if !body_rv.is_empty() && body_rv != old_rv.to_string() {
            return Err(ApiError::conflict(r.group_resource(), name));
        }
        // An update without a resourceVersion is unconditional: it applies to the stored
        // version, as upstream's AllowUnconditionalUpdate strategies (all built-in types but
        // CustomResourceDefinitions) allow.
        if body_rv.is_empty() && r.group != "apiextensions.k8s.io" {
            set_rv(&mut new, old_rv);
        }
        if meta_str(&new, "name") != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&new, "name")
            )));
        }
        let body_uid = meta_str(&new, "uid").to_string();
        if !body_uid.is_empty() && body_uid != meta_str(old, "uid") {
            return Err(ApiError::conflict_because(
                r.group_resource(),
                name,
                &format!(
                    "Precondition failed: UID in precondition: {body_uid}, UID in object meta: {}",
                    meta_str(old, "uid")
                ),
            ));
        }
        // Fields the client may not change.
        {
            let old_meta = old.get("metadata").cloned().unwrap_or(json!({}));
            let meta = meta_mut(&mut new);
            for keep in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "selfLink",
            ] {
                match old_meta.get(keep) {
                    Some(v) => {
                        meta.insert(keep.into(), v.clone());
                    }
                    None => {
                        meta.remove(keep);
                    }
                }
            }
            if r.namespaced {
                meta.insert("namespace".into(), json!(namespace));
            }
            if !meta.contains_key("managedFields")
                && let Some(mf) = old_meta.get("managedFields")
            {
                meta.insert("managedFields".into(), mf.clone());
            }
        }
        match opts.subresource.as_deref() {
            Some("status") => {
                // Only status changes through the status subresource, and (as upstream's
                // status strategies, which reset only the spec) annotations: the deployment
                // controller records its revision annotation with a status update.
                let mut merged = old.clone();
                merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
                if let Some(a) = new.pointer("/metadata/annotations") {
                    meta_mut(&mut merged).insert("annotations".into(), a.clone());
                }
                if let Some(mf) = new.pointer("/metadata/managedFields") {
                    meta_mut(&mut merged).insert("managedFields".into(), mf.clone());
                }
                new = merged;
            }
            _ => {
                r.strategy.default(&mut new);
                r.strategy.prepare_for_update(&mut new, old);
                if r.tracks_generation && spec_part(&new) != spec_part(old) {
                    let g = old
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    meta_mut(&mut new).insert("generation".into(), json!(g + 1));
                }
            }
        }
        if r.plural == "services" && r.group.is_empty() {
            self.allocator.allocate(&mut new, Some(old), opts.dry_run)?;
        }
        validate(r, &new, Some(old))?;
        record_managed_fields(&self.schemas, r, &mut new, Some(old), opts);
        let mut cmp_old = old.clone();
        let mut cmp_new = new.clone();
        for v in [&mut cmp_old, &mut cmp_new] {
            if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
                // An apply that only changes ownership still writes.
                if opts.managed_fields.is_none() {
                    m.remove("managedFields");
                }
            }
        }
        if cmp_old == cmp_new {
            let mut same = old.clone();
            set_rv(&mut same, old_rv);
            return Ok(same);
        }
        // An object being deleted whose last finalizer is removed is deleted now.
        let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
        let no_finalizers = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
        let key = r.key(namespace, name);
        // A namespace also waits for its `spec.finalizers` (upstream's
        // ShouldDeleteNamespaceDuringUpdate), so a status write never deletes it early.
        let namespace_finalizers = r.group.is_empty()
            && r.plural == "namespaces"
            && new
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
        if deleting && no_finalizers && !namespace_finalizers && Self::grace_period_over(&new) {
            if opts.dry_run {
                return Ok(new);
            }
            let kv = self
                .backend
                .delete(&key, Some(old_rv))
                .await
                .map_err(|e| storage_error(r, name, e))?;
            set_rv(&mut new, kv.mod_revision);
            self.after_delete(r, &new);
            return Ok(new);
        }
        if opts.dry_run {
            return Ok(new);
        }
        self.store_update(r, &key, name, &mut new, old_rv).await?;
        Ok(new)
    }

    /// Whether an update that leaves a deleting object without finalizers deletes it:
    /// upstream's `ShouldDeleteDuringUpdate`, only once its grace period is 0. A pod being
    /// deleted gracefully stays until its kubelet deletes it with grace 0.
    fn grace_period_over(obj: &Value) -> bool {
        obj.pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
    }

    fn after_delete(&self, r: &ResourceType, obj: &Value) {
        if r.plural == "services" && r.group.is_empty() {
            self.allocator.release(obj);
        }
    }

    /// Deletes an object as upstream does: finalizers and graceful pod deletion only mark it;
    /// `propagation` adds the `orphan` / `foregroundDeletion` finalizers. Returns the object
    /// and whether it is gone (true) or only marked for deletion (false).
    pub async fn delete(
        &self,
        r: &ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<(Value, bool), ApiError> {
        for _attempt in 0..5 {
            let (mut obj, rv) = self.current(r, namespace, name).await?;
            if let Some(uid) = &options.precondition_uid
                && uid != meta_str(&obj, "uid")
            {
                return Err(ApiError::conflict_because(
                    r.group_resource(),
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta_str(&obj, "uid")
                    ),
                ));
            }
            if let Some(prv) = &options.precondition_rv
                && *prv != rv.to_string()
            {
                return Err(ApiError::conflict_because(
                    r.group_resource(),
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {prv}, ResourceVersion in object meta: {rv}"
                    ),
                ));
            }
            let mut finalizers: Vec<Value> = obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let add = |fs: &mut Vec<Value>, f: &str| {
                if !fs.iter().any(|x| x == f) {
                    fs.push(json!(f));
                }
            };
            match options.propagation.as_deref() {
                Some("Orphan") => add(&mut finalizers, "orphan"),
                Some("Foreground") => add(&mut finalizers, "foregroundDeletion"),
                _ => {}
            }
            let already_deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
            let is_pod = r.group.is_empty() && r.plural == "pods";
            let bound = is_pod
                && !obj
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty();
            let terminal = matches!(
                obj.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded" | "Failed")
            );
            let grace = if is_pod {
                let spec_grace = obj
                    .pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30);
                let g = options.grace_period.unwrap_or(spec_grace);
                if !bound || terminal { 0 } else { g.max(0) }
            } else {
                0
            };
            let graceful = is_pod && grace > 0;
            // A namespace waits for its `spec.finalizers` (the namespace controller's work).
            let is_namespace = r.group.is_empty() && r.plural == "namespaces";
            let namespace_finalizers = is_namespace
                && obj
                    .pointer("/spec/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| !f.is_empty());
            if finalizers.is_empty() && !graceful && !namespace_finalizers {
                if options.dry_run {
                    return Ok((obj, true));
                }
                let key = r.key(namespace, name);
                match self.backend.delete(&key, Some(rv)).await {
                    Ok(kv) => {
                        set_rv(&mut obj, kv.mod_revision);
                        self.after_delete(r, &obj);
                        return Ok((obj, true));
                    }
                    Err(StorageError::Conflict { .. }) => continue,
                    Err(e) => return Err(storage_error(r, name, e)),
                }
            }
            // Mark for deletion.
            {
                let meta = meta_mut(&mut obj);
                if !already_deleting {
                    let when = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(grace);
                    let when = when.round(jiff::Unit::Second).unwrap_or(when);
                    meta.insert("deletionTimestamp".into(), json!(when.to_string()));
                    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                } else if let Some(cur) = meta
                    .get("deletionGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    && grace < cur
                {
                    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                }
                if !finalizers.is_empty() {
                    meta.insert("finalizers".into(), Value::Array(finalizers.clone()));
                }
            }
            if is_namespace {
                obj["status"]["phase"] = json!("Terminating");
            }
            if options.dry_run {
                return Ok((obj, false));
            }
            let key = r.key(namespace, name);
            match self.store_update(r, &key, name, &mut obj, rv).await {
                Ok(()) => return Ok((obj, false)),
                Err(e) if e.code == 409 && e.reason == "Conflict" => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::conflict(r.group_resource(), name))
    }
}

/// The parts of `DeleteOptions` the server acts on.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace_period: Option<i64>,
    /// `propagationPolicy` (`Orphan`, `Background`, `Foreground`).
    pub propagation: Option<String>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_rv: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Reads options from the query and an optional `DeleteOptions` body.
    pub fn parse(
        query: &std::collections::HashMap<String, String>,
        body: &[u8],
    ) -> Result<Self, ApiError> {
        let mut o = DeleteOptions::default();
        if !body.iter().all(u8::is_ascii_whitespace) {
            // Typed clients send DeleteOptions as Kubernetes protobuf.
            let v: Value = if body.starts_with(ferrokube_apimachinery::protobuf::MAGIC) {
                ferrokube_apimachinery::protobuf::decode(body).map_err(|e| {
                    ApiError::bad_request(format!("error decoding DeleteOptions: {e}"))
                })?
            } else {
                serde_json::from_slice(body).map_err(|e| {
                    ApiError::bad_request(format!("error decoding DeleteOptions: {e}"))
                })?
            };
            o.grace_period = v.get("gracePeriodSeconds").and_then(Value::as_i64);
            o.propagation = v
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(String::from);
            if v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
                o.propagation = Some("Orphan".into());
            }
            o.precondition_uid = v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(String::from);
            o.precondition_rv = v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from);
            o.dry_run = v
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x == "All"));
        }
        if let Some(g) = query.get("gracePeriodSeconds") {
            o.grace_period =
                Some(g.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid gracePeriodSeconds {g:?}"))
                })?);
        }
        if let Some(p) = query.get("propagationPolicy") {
            if !["Orphan", "Background", "Foreground"].contains(&p.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                )));
            }
            o.propagation = Some(p.clone());
        }
        if query.get("orphanDependents").map(String::as_str) == Some("true") {
            o.propagation = Some("Orphan".into());
        }
        if query.get("dryRun").map(String::as_str) == Some("All") {
            o.dry_run = true;
        }
        Ok(o)
    }
}

impl Objects {
    /// Stores a binding: `new` (with `spec.nodeName` and the PodScheduled condition set) replaces
    /// the pod read at `rv`, without the pod-spec immutability checks.
    ///
    /// As upstream's `BindingREST`, which writes the pod through the storage directly, a
    /// binding records no `managedFields` entry: the pod's entries stay as they were.
    pub async fn bind(
        &self,
        r: &ResourceType,
        namespace: &str,
        name: &str,
        mut new: Value,
        rv: i64,
    ) -> Result<Value, ApiError> {
        let key = r.key(namespace, name);
        self.store_update(r, &key, name, &mut new, rv).await?;
        Ok(new)
    }

    /// Stores a binding as [`Objects::bind`] does, from the bound pod's JSON as
    /// [`crate::binding::bind_json`] spliced it out of `previous` (the cached pod read at
    /// `rv`), encoded for the write: of its selectable fields only `spec.nodeName` changed, to
    /// `node`.
    pub async fn bind_encoded(
        &self,
        r: &ResourceType,
        previous: &CachedObject,
        node: &str,
        encoded: EncodedWrite,
        rv: i64,
    ) -> Result<(), ApiError> {
        let name = &previous.name;
        let key = r.key(&previous.namespace, name);
        let node_name = r
            .strategy
            .field_value(&json!({"spec": {"nodeName": node}}), "spec.nodeName")
            .unwrap_or_default();
        self.cache.expect_write_of(
            &key,
            &encoded,
            previous.facts_with("spec.nodeName", &node_name),
        );
        self.update_encoded(r, &key, name, &encoded, rv).await?;
        Ok(())
    }

    /// `namespaces/<name>/finalize`: only `spec.finalizers` changes; a terminating namespace
    /// with no finalizers left (and none in metadata) is deleted.
    pub async fn finalize_namespace(
        &self,
        r: &ResourceType,
        name: &str,
        new: Value,
        _old: &Value,
        rv: i64,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut new = new;
        let key = r.key("", name);
        let spec_empty = new
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
        let meta_empty = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
        let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
        if opts.dry_run {
            return Ok(new);
        }
        if deleting && spec_empty && meta_empty {
            let kv = self
                .backend
                .delete(&key, Some(rv))
                .await
                .map_err(|e| storage_error(r, name, e))?;
            set_rv(&mut new, kv.mod_revision);
            return Ok(new);
        }
        self.store_update(r, &key, name, &mut new, rv).await?;
        Ok(new)
    }
}
