//! Server-side `Table` printing: the columns and cells `kubectl get` shows, computed by the API
//! server as upstream's `pkg/printers/internalversion` computes them. The entry point is
//! [`table`] (or [`table_with_options`]), which looks up the [`Printer`] for a group and kind with
//! [`printer_for`] and builds the whole `meta.k8s.io/v1` `Table` for a list of objects held as
//! `serde_json::Value`. Kinds without a dedicated printer get the default `NAME`, `CREATED AT`
//! table. Cells are produced as if `-o wide` were asked for, as the upstream server does; kubectl
//! hides the priority-1 columns itself.

mod cluster;
mod core;
mod descriptions;
mod format;
mod pod;
mod registry;
mod table;
mod workloads;

use jiff::Timestamp;
use serde_json::{Value, json};

pub use format::{canonical_quantity, human_duration};
pub use registry::printer_for;
pub use table::{
    IncludeObject, TableOptions, partial_object_metadata, row, table, table_with_options,
};

/// Errors from reading table request options.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrintError {
    /// The `includeObject` query parameter was not `None`, `Metadata` or `Object`.
    #[error("invalid includeObject {0:?}: must be None, Metadata or Object")]
    ParseIncludeObject(String),
}

/// One column of a table: upstream's `metav1.TableColumnDefinition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Human-readable column name, e.g. `Name` or `Nominated Node` (kubectl upper-cases it).
    pub name: &'static str,
    /// OpenAPI type of the cells: `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: &'static str,
    /// OpenAPI format hint: `name` for the column holding the object name, `""` otherwise.
    pub format: &'static str,
    /// What the column shows (the API field documentation upstream uses).
    pub description: &'static str,
    /// 0 for columns always shown; 1 for columns kubectl shows only with `-o wide`.
    pub priority: i32,
}

impl Column {
    /// The `TableColumnDefinition` JSON for this column.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// Prints objects of one kind as table rows.
pub trait Printer: Sync {
    /// The column definitions, in cell order.
    fn columns(&self) -> &'static [Column];
    /// The cells of the row for `obj`, one per column, with ages measured at `now`.
    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value>;
    /// The row conditions (`TableRowCondition` JSON); pods report `Completed` when they finished.
    fn conditions(&self, _obj: &Value) -> Vec<Value> {
        Vec::new()
    }
}

/// A printer made of a static column list and a cell function: every built-in printer.
pub(crate) struct TablePrinter {
    pub(crate) columns: &'static [Column],
    pub(crate) cells: fn(&Value, Timestamp) -> Vec<Value>,
    pub(crate) conditions: fn(&Value) -> Vec<Value>,
}

impl TablePrinter {
    /// A printer without row conditions.
    pub(crate) const fn new(
        columns: &'static [Column],
        cells: fn(&Value, Timestamp) -> Vec<Value>,
    ) -> Self {
        Self {
            columns,
            cells,
            conditions: no_conditions,
        }
    }
}

fn no_conditions(_obj: &Value) -> Vec<Value> {
    Vec::new()
}

impl Printer for TablePrinter {
    fn columns(&self) -> &'static [Column] {
        self.columns
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        (self.cells)(obj, now)
    }

    fn conditions(&self, obj: &Value) -> Vec<Value> {
        (self.conditions)(obj)
    }
}

/// Builds a [`Column`] in a `const` context: `col(name, type, description)`.
pub(crate) const fn col(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

/// A priority-1 (`-o wide` only) column.
pub(crate) const fn wide(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

/// The `Name` column every printer starts with.
pub(crate) const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: descriptions::META_NAME,
    priority: 0,
};

/// The `Age` column.
pub(crate) const AGE: Column = col("Age", "string", descriptions::META_CREATION_TIMESTAMP);

/// Wide `Containers` column of workload printers.
pub(crate) const CONTAINERS: Column = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);

/// Wide `Images` column of workload printers.
pub(crate) const IMAGES: Column = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);
