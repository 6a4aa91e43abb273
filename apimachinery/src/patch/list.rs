//! Strategic merge of lists: lists of objects merged by their merge key, lists of primitives
//! merged as sets (or pruned by `$deleteFromPrimitiveList`), `$patch` directives in list items,
//! and the order of the result (patch items in the patch's order, interleaved with the items
//! only the live object has, in the live object's order).

use serde_json::Value;

use super::PatchError;
use super::go_format::{go_list, go_type, go_value};
use super::strategic::{
    DELETE_DIRECTIVE, DIRECTIVE_MARKER, GO_MAP, MERGE_DIRECTIVE, Merger, Node, REPLACE_DIRECTIVE,
};

/// The JSON type shared by the items of the lists being merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Null,
    Bool,
    Number,
    String,
    Object,
}

impl Kind {
    fn of(value: &Value) -> Option<Kind> {
        match value {
            Value::Null => Some(Kind::Null),
            Value::Bool(_) => Some(Kind::Bool),
            Value::Number(_) => Some(Kind::Number),
            Value::String(_) => Some(Kind::String),
            Value::Object(_) => Some(Kind::Object),
            Value::Array(_) => None,
        }
    }
}

/// The one item type of `lists`; lists of lists, mixed items and no items at all are errors.
pub(super) fn element_kind(lists: &[&[Value]]) -> Result<Kind, PatchError> {
    let mut found: Option<Kind> = None;
    for item in lists.iter().flat_map(|list| list.iter()) {
        let kind = Kind::of(item).ok_or(PatchError::MergeListOfLists)?;
        match found {
            None => found = Some(kind),
            Some(first) if first != kind => {
                let printed: Vec<String> = lists.iter().map(|list| go_list(list)).collect();
                return Err(PatchError::MergeMixedList(format!(
                    "[{}]",
                    printed.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    found.ok_or(PatchError::MergeEmptyLists)
}

/// Go's `==` on decoded JSON values (every number is a float64).
fn go_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => left.as_f64() == right.as_f64(),
        _ => left == right,
    }
}

/// Merges two lists whose field has the `merge` strategy (or a `$deleteFromPrimitiveList`).
///
/// With `live_view` (the live list's order keys), a merge of objects also rewrites it to what
/// upstream's `$setElementOrder` step then sees as the live order: upstream deletes items and
/// appends new ones in the live list's own storage, so its first slots become the remaining
/// items followed by the first appended ones.
pub(super) fn merge_list<'a>(
    merger: &Merger<'a>,
    original: Vec<Value>,
    patch: Vec<Value>,
    items: Node<'a>,
    merge_key: &str,
    is_delete_list: bool,
    live_view: Option<&mut Vec<Value>>,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = element_kind(&[&original, &patch])?;
    if kind != Kind::Object {
        if is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|item| !patch.iter().any(|deleted| go_equal(item, deleted)))
                .collect());
        }
        let server_order = original.clone();
        let patch_order = patch.clone();
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for item in original.into_iter().chain(patch) {
            if !merged.iter().any(|kept| go_equal(kept, &item)) {
                merged.push(item);
            }
        }
        let (patch_items, server_only): (Vec<Value>, Vec<Value>) = merged
            .into_iter()
            .partition(|item| patch_order.iter().any(|wanted| go_equal(wanted, item)));
        return normalize_element_order(
            patch_items,
            server_only,
            &patch_order,
            &server_order,
            "",
            kind,
        );
    }

    if merge_key.is_empty() {
        return Err(PatchError::MergeListWithoutMergeKey("struct".to_owned()));
    }
    let live_length = original.len();
    let (original, patch, replaced) = apply_list_directives(original, patch, merge_key)?;
    let server_order = order_keys(&original, merge_key, kind)?;
    let patch_order = order_keys(&patch, merge_key, kind)?;
    let mut merged = original;
    for item in patch {
        let Value::Object(patch_map) = item else {
            return Err(type_error(&item));
        };
        let value = patch_map
            .get(merge_key)
            .ok_or_else(|| no_merge_key(&patch_map, merge_key))?;
        match find_by_merge_key(&merged, merge_key, value)? {
            Some(index) => {
                let Value::Object(current) = std::mem::take(&mut merged[index]) else {
                    unreachable!("find_by_merge_key only finds objects");
                };
                merged[index] = Value::Object(merger.merge_map(current, patch_map, items)?);
            }
            None => merged.push(Value::Object(patch_map)),
        }
    }
    if let Some(view) = live_view
        && !replaced
    {
        let appended = merged[server_order.len()..]
            .iter()
            .map(|item| item_key(item, merge_key, kind).clone());
        let mut seen: Vec<Value> = server_order.clone();
        seen.extend(appended);
        seen.truncate(live_length);
        *view = seen;
    }
    let mut patch_items = Vec::new();
    let mut server_only = Vec::new();
    for item in merged {
        let key = require_merge_key(&item, merge_key)?;
        if patch_order.iter().any(|wanted| go_equal(wanted, key)) {
            patch_items.push(item);
        } else {
            server_only.push(item);
        }
    }
    normalize_element_order(
        patch_items,
        server_only,
        &patch_order,
        &server_order,
        merge_key,
        kind,
    )
}

/// Applies the `$patch` items of a patch list of objects: `delete` removes the live items with
/// that merge key, `replace` makes the rest of the patch list the whole list. Returns the live
/// list, the patch list left to merge and whether the list was replaced.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>, bool), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE_MARKER) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let Some(value) = item.get(merge_key) else {
                    return Err(no_merge_key_in(&item, merge_key));
                };
                while let Some(index) = find_by_merge_key(&original, merge_key, value)? {
                    original.remove(index);
                }
            }
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => return Err(PatchError::ReadListDirective),
            _ => {
                return Err(PatchError::ReadDirective {
                    directive: super::go_format::go_string(directive),
                    map: go_value(&item),
                });
            }
        }
    }
    if replace {
        Ok((plain, Vec::new(), true))
    } else {
        Ok((original, plain, false))
    }
}

/// The index of the first object of `list` whose merge key equals `value`.
fn find_by_merge_key(
    list: &[Value],
    merge_key: &str,
    value: &Value,
) -> Result<Option<usize>, PatchError> {
    for (index, item) in list.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(PatchError::FindListItem(index));
        };
        if map
            .get(merge_key)
            .is_some_and(|found| go_equal(found, value))
        {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

/// The values items are ordered by: their merge key for objects, themselves otherwise. Every
/// object must carry the merge key.
fn order_keys(list: &[Value], merge_key: &str, kind: Kind) -> Result<Vec<Value>, PatchError> {
    if kind != Kind::Object {
        return Ok(list.to_vec());
    }
    list.iter()
        .map(|item| require_merge_key(item, merge_key).cloned())
        .collect()
}

/// The merge key of an item that must be an object carrying it.
fn require_merge_key<'v>(item: &'v Value, merge_key: &str) -> Result<&'v Value, PatchError> {
    let Value::Object(map) = item else {
        return Err(type_error(item));
    };
    map.get(merge_key)
        .ok_or_else(|| no_merge_key(map, merge_key))
}

/// What an item is ordered by; `null` for an object without the merge key (Go's nil).
fn item_key<'v>(item: &'v Value, merge_key: &str, kind: Kind) -> &'v Value {
    const NULL: &Value = &Value::Null;
    if kind == Kind::Object {
        item.get(merge_key).unwrap_or(NULL)
    } else {
        item
    }
}

fn position(keys: &[Value], key: &Value) -> Option<usize> {
    keys.iter().position(|candidate| go_equal(candidate, key))
}

/// Checks that the items of a patch list (less its `delete` items) appear in the order the
/// `$setElementOrder` list gives.
pub(super) fn check_order_of_patch_list(
    patch: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), PatchError> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> = if merge_key.is_empty() {
        patch.iter().collect()
    } else {
        let mut kept = Vec::with_capacity(patch.len());
        for item in patch {
            if !item.is_object() {
                return Err(type_error(item));
            }
            if item.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE_DIRECTIVE) {
                kept.push(item);
            }
        }
        kept
    };
    let (mut patch_index, mut order_index) = (0, 0);
    while patch_index < kept.len() && order_index < order.len() {
        let item = kept[patch_index];
        if item.get(DIRECTIVE_MARKER).is_some() {
            patch_index += 1;
            continue;
        }
        if merge_key_equal(item, &order[order_index], merge_key)? {
            patch_index += 1;
        }
        order_index += 1;
    }
    if patch_index < kept.len() && order_index >= order.len() {
        return Err(PatchError::CheckSetElementOrder {
            patch: go_list(patch),
            order: go_list(order),
        });
    }
    Ok(())
}

fn merge_key_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, PatchError> {
    if merge_key.is_empty() {
        return Ok(go_equal(left, right));
    }
    let left = require_merge_key(left, merge_key)?;
    let right = require_merge_key(right, merge_key)?;
    Ok(go_equal(left, right))
}

/// Orders a merged list by a `$setElementOrder` list: the items it names in its order,
/// interleaved with the others in the live object's order (`server_keys`, from
/// [`live_order_keys`]).
pub(super) fn order_by_element_order(
    merged: Vec<Value>,
    order: &[Value],
    server_keys: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>, PatchError> {
    let mut patch_items = Vec::new();
    let mut server_only = Vec::new();
    if merge_key.is_empty() {
        for item in merged {
            if order.iter().any(|wanted| go_equal(wanted, &item)) {
                patch_items.push(item);
            } else {
                server_only.push(item);
            }
        }
    } else {
        for item in merged {
            let key = require_merge_key(&item, merge_key)?;
            if find_by_merge_key(order, merge_key, key)?.is_some() {
                patch_items.push(item);
            } else {
                server_only.push(item);
            }
        }
    }
    let order_keys = order_keys(order, merge_key, kind)?;
    normalize_element_order(
        patch_items,
        server_only,
        &order_keys,
        server_keys,
        merge_key,
        kind,
    )
}

/// The keys the live list orders by, taken before the merge consumes it; its objects must
/// carry the merge key when there is one.
pub(super) fn live_order_keys(
    list: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>, PatchError> {
    if kind == Kind::Object && merge_key.is_empty() {
        return Ok(list.to_vec());
    }
    order_keys(list, merge_key, kind)
}

/// Sorts the patch items by the patch's order and the live-only items by the live order, then
/// interleaves them, keeping both relative orders.
fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = sort_by_order(patch_items, patch_order, merge_key, kind)?;
    let server_only = sort_by_order(server_only, server_order, merge_key, kind)?;
    Ok(interleave(
        server_only,
        patch_items,
        server_order,
        merge_key,
        kind,
    ))
}

/// Stable-sorts `items` by where their key sits in `order` (upstream's comparison: an item
/// whose key is not in `order` sorts before its neighbour). Objects with `$patch: delete` go last.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>, PatchError> {
    let (mut items, deleted): (Vec<Value>, Vec<Value>) = if kind == Kind::Object {
        for item in &items {
            require_merge_key(item, merge_key)?;
        }
        items.into_iter().partition(|item| {
            item.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE_DIRECTIVE)
        })
    } else {
        (items, Vec::new())
    };
    let positions: Vec<Option<usize>> = items
        .iter()
        .map(|item| position(order, item_key(item, merge_key, kind)))
        .collect();
    if positions.iter().all(Option::is_some) {
        let mut keyed: Vec<(usize, Value)> = positions
            .into_iter()
            .map(|found| found.unwrap_or_default())
            .zip(items)
            .collect();
        keyed.sort_by_key(|(found, _)| *found);
        items = keyed.into_iter().map(|(_, item)| item).collect();
    } else {
        // Upstream's insertion sort with its partial comparison, step for step.
        let mut keyed: Vec<(Option<usize>, Value)> = positions.into_iter().zip(items).collect();
        for unsorted in 1..keyed.len() {
            let mut index = unsorted;
            while index > 0 {
                let less = match (keyed[index].0, keyed[index - 1].0) {
                    (Some(right), Some(left)) => right < left,
                    _ => true,
                };
                if !less {
                    break;
                }
                keyed.swap(index, index - 1);
                index -= 1;
            }
        }
        items = keyed.into_iter().map(|(_, item)| item).collect();
    }
    items.extend(deleted);
    Ok(items)
}

/// Interleaves two sorted lists: an item of `left` goes before the next item of `right` when
/// the live order puts it first; otherwise `right` leads.
fn interleave(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Vec<Value> {
    let left_positions: Vec<Option<usize>> = left
        .iter()
        .map(|item| position(server_order, item_key(item, merge_key, kind)))
        .collect();
    let right_positions: Vec<Option<usize>> = right
        .iter()
        .map(|item| position(server_order, item_key(item, merge_key, kind)))
        .collect();
    let mut result = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    let (mut left_index, mut right_index) = (0, 0);
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(_), Some(_)) => matches!(
                (left_positions[left_index], right_positions[right_index]),
                (Some(l), Some(r)) if l < r
            ),
        };
        if take_left {
            result.extend(left.next());
            left_index += 1;
        } else {
            result.extend(right.next());
            right_index += 1;
        }
    }
    result
}

fn type_error(item: &Value) -> PatchError {
    PatchError::CheckValueType {
        expected: GO_MAP,
        actual: go_type(item).to_owned(),
    }
}

fn no_merge_key(map: &serde_json::Map<String, Value>, merge_key: &str) -> PatchError {
    PatchError::FindMergeKey {
        map: go_value(&Value::Object(map.clone())),
        merge_key: merge_key.to_owned(),
    }
}

fn no_merge_key_in(item: &Value, merge_key: &str) -> PatchError {
    PatchError::FindMergeKey {
        map: go_value(item),
        merge_key: merge_key.to_owned(),
    }
}
