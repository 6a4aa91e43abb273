//! `metadata.managedFields` bookkeeping for Update operations (create, update, non-apply
//! patch, subresource writes), through [`ferrokube_apimachinery::apply::FieldManager`]: the
//! writer takes ownership of the fields it added or changed, and they leave every other
//! manager. Server-side apply itself is in [`crate::apply`].

use ferrokube_apimachinery::apply::FieldManager;
use ferrokube_apimachinery::patch::OpenApiSchemas;
use serde_json::Value;
use tracing::warn;

use crate::registry::ResourceType;

/// The field manager of `r`, written through `subresource` (None: the main resource).
pub fn field_manager<'a>(
    schemas: &'a OpenApiSchemas,
    r: &'a ResourceType,
    subresource: Option<&str>,
) -> FieldManager<'a> {
    FieldManager::new(
        schemas,
        r.definition,
        &r.api_version(),
        subresource,
        r.subresources.contains(&"status"),
    )
}

/// Records an Update by `manager` at `now` in `new`'s `managedFields`; `old` is None for a
/// create. Managed fields that cannot be decoded are logged and left as they were.
pub fn record_update(
    schemas: &OpenApiSchemas,
    r: &ResourceType,
    new: &mut Value,
    old: Option<&Value>,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let fm = field_manager(schemas, r, subresource);
    if let Err(e) = fm.update(old, new, manager, now) {
        warn!(kind = r.kind, error = %e, "managedFields not updated");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> OpenApiSchemas {
        let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
        generator.subschema_for::<k8s_openapi::api::core::v1::ConfigMap>();
        OpenApiSchemas::new(generator.take_definitions(true))
    }

    fn configmaps() -> ResourceType {
        crate::registry::builtin()
            .into_iter()
            .find(|r| r.plural == "configmaps")
            .expect("configmaps")
    }

    #[test]
    fn a_create_owns_every_field_it_set() {
        let schemas = schemas();
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        record_update(
            &schemas,
            &configmaps(),
            &mut obj,
            None,
            "creator",
            None,
            "2025-01-01T00:00:00Z",
        );
        assert_eq!(
            obj["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:metadata": {"f:labels": {".": {}, "f:x": {}}}, "f:data": {".": {}, "f:k": {}}})
        );
    }

    #[test]
    fn an_update_owns_only_what_it_changed_and_takes_it_from_others() {
        let schemas = schemas();
        let mut old = json!({"metadata": {"name": "a"}, "data": {"k": "v", "j": "w"}});
        record_update(
            &schemas,
            &configmaps(),
            &mut old,
            None,
            "creator",
            None,
            "2025-01-01T00:00:00Z",
        );
        let mut new = old.clone();
        new["data"]["k"] = json!("v2");
        record_update(
            &schemas,
            &configmaps(),
            &mut new,
            Some(&old),
            "editor",
            None,
            "2025-01-01T00:00:01Z",
        );
        let entries = new["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0]["fieldsV1"],
            json!({"f:data": {".": {}, "f:j": {}}})
        );
        assert_eq!(entries[1]["manager"], "editor");
        assert_eq!(entries[1]["fieldsV1"], json!({"f:data": {"f:k": {}}}));
    }
}
