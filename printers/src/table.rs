//! Assembling the `meta.k8s.io/v1` `Table`: column definitions, one row per object, and the
//! embedded object each row carries (`PartialObjectMetadata` by default).

use std::str::FromStr;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::{PrintError, Printer, printer_for};

/// What each row's `object` holds: the `includeObject` table option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No `object` field.
    None,
    /// A `meta.k8s.io/v1` `PartialObjectMetadata` with the object's metadata (the default).
    #[default]
    Metadata,
    /// The full object, as given.
    Object,
}

impl FromStr for IncludeObject {
    type Err = PrintError;

    /// Parses the `includeObject` query parameter; empty means the default, `Metadata`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "None" => Ok(Self::None),
            "" | "Metadata" => Ok(Self::Metadata),
            "Object" => Ok(Self::Object),
            other => Err(PrintError::ParseIncludeObject(other.to_string())),
        }
    }
}

/// Everything about a table besides its objects: the table options and the list metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// What each row's `object` holds.
    pub include_object: IncludeObject,
    /// Leave out `columnDefinitions` (the `noHeaders` table option, used for watch events after
    /// the first).
    pub no_headers: bool,
    /// `metadata.resourceVersion` of the table (the list's, or the single object's).
    pub resource_version: Option<String>,
    /// `metadata.continue` of the table, for paginated lists.
    pub continue_token: Option<String>,
    /// `metadata.remainingItemCount` of the table, for paginated lists.
    pub remaining_item_count: Option<i64>,
}

/// A `PartialObjectMetadata` (`meta.k8s.io/v1`) carrying `obj`'s metadata.
pub fn partial_object_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// One `TableRow` for `obj`: its cells, any row conditions, and the object as asked.
pub fn row(
    printer: &dyn Printer,
    obj: &Value,
    now: Timestamp,
    include_object: IncludeObject,
) -> Value {
    let mut row = Map::new();
    row.insert("cells".to_string(), Value::Array(printer.cells(obj, now)));
    let conditions = printer.conditions(obj);
    if !conditions.is_empty() {
        row.insert("conditions".to_string(), Value::Array(conditions));
    }
    match include_object {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row.insert("object".to_string(), partial_object_metadata(obj));
        }
        IncludeObject::Object => {
            row.insert("object".to_string(), obj.clone());
        }
    }
    Value::Object(row)
}

/// The `Table` for `objects` of `kind` in `group`, with empty list metadata.
pub fn table(
    group: &str,
    kind: &str,
    objects: &[&Value],
    now: Timestamp,
    include_object: IncludeObject,
) -> Value {
    table_with_options(
        group,
        kind,
        objects,
        now,
        &TableOptions {
            include_object,
            ..TableOptions::default()
        },
    )
}

/// The `Table` for `objects` of `kind` in `group`, with the given options and list metadata.
pub fn table_with_options(
    group: &str,
    kind: &str,
    objects: &[&Value],
    now: Timestamp,
    options: &TableOptions,
) -> Value {
    let printer = printer_for(group, kind);
    let mut metadata = Map::new();
    if let Some(rv) = options
        .resource_version
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        metadata.insert("resourceVersion".to_string(), Value::from(rv));
    }
    if let Some(token) = options.continue_token.as_deref().filter(|s| !s.is_empty()) {
        metadata.insert("continue".to_string(), Value::from(token));
    }
    if let Some(count) = options.remaining_item_count {
        metadata.insert("remainingItemCount".to_string(), Value::from(count));
    }
    let columns: Vec<Value> = if options.no_headers {
        Vec::new()
    } else {
        printer.columns().iter().map(|c| c.to_json()).collect()
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| row(printer, obj, now, options.include_object))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}
