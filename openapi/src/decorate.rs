//! Phase two: the Kubernetes extensions on the generated definitions.
//!
//! k8s-openapi's schemas carry descriptions and types but not the vendor extensions kubectl
//! reads: `x-kubernetes-group-version-kind` on top-level kinds (how `kubectl explain`, `kubectl
//! apply` and the `fieldValidation` check find a kind's schema), and the patch / list / map
//! extensions on properties (client-side strategic merge and apply). This module adds them, and
//! the list kinds (`PodList`) that k8s-openapi models as a generic `List<T>`.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::catalog::{CatalogKind, DEFINITIONS_REF, Gvk};
use ferrokube_apimachinery::extensions;

/// The vendor extension that ties a definition (a list of GVKs) or an operation (one GVK) to
/// its kind.
pub(crate) const GVK_EXTENSION: &str = "x-kubernetes-group-version-kind";

pub(crate) const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
pub(crate) const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// Adds `gvk` to the `x-kubernetes-group-version-kind` list of `definition`, keeping the list
/// sorted by group, version and kind (as upstream does) and free of duplicates.
pub(crate) fn add_gvk(definition: &mut Value, gvk: &Gvk) {
    let Some(object) = definition.as_object_mut() else {
        return;
    };
    let list = object
        .entry(GVK_EXTENSION)
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(entries) = list.as_array_mut() else {
        return;
    };
    let mut gvks: BTreeSet<Gvk> = entries.iter().filter_map(gvk_from_json).collect();
    gvks.insert(gvk.clone());
    *entries = gvks.iter().map(Gvk::to_json).collect();
}

fn gvk_from_json(value: &Value) -> Option<Gvk> {
    Some(Gvk::new(
        value.get("group")?.as_str()?,
        value.get("version")?.as_str()?,
        value.get("kind")?.as_str()?,
    ))
}

/// Decorates the built-in definitions: GVKs on kinds, list kinds, the meta kinds shared by
/// every group-version, Quantity / IntOrString in their upstream shape, and the property
/// extensions from the apimachinery table.
pub(crate) fn builtin(
    definitions: &mut Map<String, Value>,
    kinds: &[CatalogKind],
    group_versions: &BTreeSet<(String, String)>,
) {
    for kind in kinds {
        if let Some(definition) = definitions.get_mut(&kind.definition) {
            add_gvk(definition, &kind.gvk);
            unrequire_metadata(definition);
        }
        if let Some(list_kind) = kind.list_kind {
            add_list_kind(definitions, &kind.definition, &kind.gvk, list_kind);
        }
    }
    for (group, version) in group_versions {
        for (name, kind) in [
            (DELETE_OPTIONS, "DeleteOptions"),
            (WATCH_EVENT, "WatchEvent"),
        ] {
            if let Some(definition) = definitions.get_mut(name) {
                add_gvk(definition, &Gvk::new(group, version, kind));
            }
        }
    }
    // Upstream's Swagger 2.0 shapes: a string that may hold a number.
    if let Some(quantity) = definitions.get_mut(QUANTITY).and_then(Value::as_object_mut) {
        quantity.remove("x-kubernetes-int-or-string");
        quantity.insert("type".into(), "string".into());
    }
    if let Some(int_or_string) = definitions
        .get_mut(INT_OR_STRING)
        .and_then(Value::as_object_mut)
    {
        int_or_string.remove("x-kubernetes-int-or-string");
        int_or_string.insert("type".into(), "string".into());
        int_or_string.insert("format".into(), "int-or-string".into());
    }
    for (name, definition) in definitions.iter_mut() {
        add_property_extensions(name, definition);
    }
}

/// k8s-openapi marks `metadata` required because its structs hold it by value; upstream's
/// schemas do not require it (the server fills `name` from `generateName`, for one).
fn unrequire_metadata(definition: &mut Value) {
    let Some(object) = definition.as_object_mut() else {
        return;
    };
    let Some(required) = object.get_mut("required").and_then(Value::as_array_mut) else {
        return;
    };
    required.retain(|name| name != "metadata");
    if required.is_empty() {
        object.remove("required");
    }
}

/// Adds the `<Kind>List` definition next to `item_definition`, in the shape upstream's list
/// kinds have (`apiVersion`, `items`, `kind`, `metadata`; `items` required), unless it exists.
pub(crate) fn add_list_kind(
    definitions: &mut Map<String, Value>,
    item_definition: &str,
    item_gvk: &Gvk,
    list_kind: &str,
) {
    let list_definition = list_definition_name(item_definition, list_kind);
    if definitions.contains_key(&list_definition) {
        if let Some(existing) = definitions.get_mut(&list_definition) {
            add_gvk(
                existing,
                &Gvk::new(&item_gvk.group, &item_gvk.version, list_kind),
            );
        }
        return;
    }
    let item_property = |name: &str| {
        definitions
            .get(item_definition)
            .and_then(|item| item.pointer(&format!("/properties/{name}")))
            .filter(|property| property.get("$ref").is_none())
            .cloned()
            .unwrap_or_else(|| json!({"type": "string"}))
    };
    let mut list = json!({
        "description": format!("{list_kind} is a list of {} objects.", item_gvk.kind),
        "type": "object",
        "properties": {
            "apiVersion": item_property("apiVersion"),
            "items": {
                "description": format!("List of {} objects.", item_gvk.kind),
                "type": "array",
                "items": {"$ref": format!("{DEFINITIONS_REF}{item_definition}")},
            },
            "kind": item_property("kind"),
            "metadata": {
                "$ref": format!("{DEFINITIONS_REF}{LIST_META}"),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            },
        },
        "required": ["items"],
    });
    add_gvk(
        &mut list,
        &Gvk::new(&item_gvk.group, &item_gvk.version, list_kind),
    );
    definitions.insert(list_definition, list);
}

/// `io.k8s.api.core.v1.Pod` + `PodList` -> `io.k8s.api.core.v1.PodList`.
pub(crate) fn list_definition_name(item_definition: &str, list_kind: &str) -> String {
    match item_definition.rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.{list_kind}"),
        None => list_kind.to_owned(),
    }
}

/// Copies the patch, list and map extensions of every property of `definition` from the table.
fn add_property_extensions(name: &str, definition: &mut Value) {
    let Some(object) = definition.as_object_mut() else {
        return;
    };
    if let Some(struct_type) = extensions::definition_struct_type(name) {
        object.insert("x-kubernetes-map-type".into(), struct_type.into());
    }
    let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (property, schema) in properties.iter_mut() {
        let Some(found) = extensions::property(name, property) else {
            continue;
        };
        let Some(schema) = schema.as_object_mut() else {
            continue;
        };
        if let Some(strategy) = found.patch_strategy {
            schema.insert("x-kubernetes-patch-strategy".into(), strategy.into());
        }
        if let Some(key) = found.patch_merge_key {
            schema.insert("x-kubernetes-patch-merge-key".into(), key.into());
        }
        if let Some(list_type) = found.list_type {
            schema.insert("x-kubernetes-list-type".into(), list_type.into());
        }
        if !found.list_map_keys.is_empty() {
            schema.insert(
                "x-kubernetes-list-map-keys".into(),
                found.list_map_keys.iter().copied().collect(),
            );
        }
        if let Some(map_type) = found.map_type {
            schema.insert("x-kubernetes-map-type".into(), map_type.into());
        }
    }
}
