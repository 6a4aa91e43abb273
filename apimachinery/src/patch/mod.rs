//! Patches applied to JSON documents as the Kubernetes API server applies them: JSON patch
//! (RFC 6902, [`json_patch`]), JSON merge patch (RFC 7386, [`merge_patch`]) and strategic merge
//! patch ([`strategic_merge_patch`]), the last one guided by a [`PatchSchema`] such as
//! [`OpenApiSchemas`].
//!
//! Strategic merge patch follows upstream's `k8s.io/apimachinery/pkg/util/strategicpatch`
//! (maps merged recursively, `null` deletes, lists merged by their `x-kubernetes-patch-merge-key`
//! when their `x-kubernetes-patch-strategy` includes `merge`, the `$patch`, `$retainKeys`,
//! `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>` directives) and reports
//! errors with upstream's messages.

mod go_format;
mod index;
mod json;
mod list;
mod merge;
mod schema;
mod strategic;

pub use json::{MAX_JSON_PATCH_OPERATIONS, json_patch};
pub use merge::merge_patch;
pub use schema::{OpenApiSchemas, PatchSchema, PropertyPatchMeta, ValueSchema};
pub use strategic::strategic_merge_patch;

/// Why a patch could not be applied; the messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The JSON patch body is not a JSON array of operations (upstream answers 400).
    #[error("{0}")]
    DecodeJsonPatch(String),
    /// The JSON patch has more operations than the API server accepts (upstream answers 413).
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    CountJsonPatchOperations {
        /// The limit, [`MAX_JSON_PATCH_OPERATIONS`].
        max: usize,
        /// The number of operations in the patch.
        got: usize,
    },
    /// An operation of the JSON patch failed, a `test` included (upstream answers 422).
    #[error("{0}")]
    ApplyJsonPatch(String),
    /// The document or the strategic merge patch is not a JSON object (upstream answers 400).
    #[error("invalid JSON document")]
    DecodeDocument,
    /// An item of a merged list lacks the list's merge key.
    #[error("map: {map} does not contain declared merge key: {merge_key}")]
    FindMergeKey {
        /// The item, printed as Go prints a map.
        map: String,
        /// The merge key it should carry.
        merge_key: String,
    },
    /// A value is not of the JSON type the patch needs there.
    #[error("expected a {expected}, but received a {actual}")]
    CheckValueType {
        /// The Go type upstream expects, e.g. `map[string]interface {}`.
        expected: &'static str,
        /// The Go type it got.
        actual: String,
    },
    /// A `$patch` directive names no known directive (in a map, only `replace` and `delete`).
    #[error("unknown patch type: {directive} in map: {map}")]
    ReadDirective {
        /// The directive's value.
        directive: String,
        /// The map that carries it.
        map: String,
    },
    /// `$patch: merge` in an item of a list.
    #[error("merging lists cannot yet be specified in the patch")]
    ReadListDirective,
    /// A list whose items are lists.
    #[error("lists of lists are not supported")]
    MergeListOfLists,
    /// The items of the lists to merge are not all of one JSON type.
    #[error("list element types are not identical: {0}")]
    MergeMixedList(String),
    /// The lists to merge are both empty where an item type is needed.
    #[error("no elements in any of the given slices")]
    MergeEmptyLists,
    /// A list of objects has the `merge` strategy but no merge key.
    #[error("cannot merge lists without merge key for {0}")]
    MergeListWithoutMergeKey(String),
    /// An item of a list expected to hold objects is not an object.
    #[error("value for key {0} is not a map")]
    FindListItem(usize),
    /// A `$deleteFromPrimitiveList/<field>` key is malformed.
    #[error("invalid patch format of primitive list")]
    ReadDeleteFromPrimitiveList,
    /// `$retainKeys` is not a list, or the patch sets a field it does not retain.
    #[error("invalid patch format of retainKeys")]
    ReadRetainKeys,
    /// A `$setElementOrder/<field>` key or value is malformed.
    #[error("invalid patch format of setElementOrder list")]
    ReadSetElementOrder,
    /// The items of the patch list are not in the order `$setElementOrder` gives.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    CheckSetElementOrder {
        /// The patch list, printed as Go prints it.
        patch: String,
        /// The `$setElementOrder` list, printed as Go prints it.
        order: String,
    },
    /// The schema gives a patch strategy this patch does not understand.
    #[error("unexpected patch strategy: {0}")]
    ReadPatchStrategy(String),
}
