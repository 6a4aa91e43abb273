//! `pods/<name>/binding` on the pod's cached JSON: sets `spec.nodeName` and the PodScheduled
//! condition by splicing the bytes the watch cache holds, rather than decoding the whole pod
//! into a value and encoding it again.
//!
//! The cached JSON is serde_json's compact encoding of the pod (keys sorted), so copying the
//! untouched parts verbatim and encoding only what changes, each key at its sorted place,
//! gives exactly the bytes encoding the changed value would. Shapes this does not expect
//! (no `spec` object, a `status` that is not an object, no `metadata.resourceVersion`, any
//! whitespace) are left to the general path.

use std::ops::Range;

use serde_json::Value;

/// Why a pod cannot be bound (upstream's BindingREST refusals).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The pod has a `metadata.deletionTimestamp`.
    Deleting,
    /// The pod is already assigned to this node.
    Assigned(String),
    /// The pod has `spec.schedulingGates`.
    Gated,
    /// The pod's `metadata.uid` is not the binding's.
    OtherUid {
        /// The binding's.
        precondition: String,
        /// The pod's.
        actual: String,
    },
}

/// One entry of a JSON object: its key (unescaped) and the span of its value.
struct Entry<'a> {
    key: std::borrow::Cow<'a, str>,
    value: Range<usize>,
}

/// Binds the pod whose cached JSON is `json` to `node` with `scheduled` as its PodScheduled
/// condition (replacing any earlier one), when its uid is `uid` (if given): the bound pod's
/// JSON with its resourceVersion's value replaced by `placeholder`, or why it cannot be
/// bound; None when its shape is not the expected one.
pub fn bind_json(
    json: &[u8],
    node: &str,
    scheduled: &Value,
    placeholder: &[u8],
    uid: Option<&str>,
) -> Option<Result<Vec<u8>, Refusal>> {
    let top = entries(json, 0..json.len())?;
    let field = |entries: &[Entry<'_>], name: &str| {
        entries
            .iter()
            .find(|e| e.key == name)
            .map(|e| e.value.clone())
    };
    let metadata = field(&top, "metadata")?;
    let meta = entries(json, metadata.clone())?;
    if let Some(uid) = uid {
        let actual: String = match field(&meta, "uid") {
            Some(span) => serde_json::from_slice(&json[span]).ok()?,
            None => String::new(),
        };
        if actual != uid {
            return Some(Err(Refusal::OtherUid {
                precondition: uid.to_string(),
                actual,
            }));
        }
    }
    if field(&meta, "deletionTimestamp").is_some() {
        return Some(Err(Refusal::Deleting));
    }
    let resource_version = field(&meta, "resourceVersion")?;
    let spec = field(&top, "spec")?;
    let spec_entries = entries(json, spec.clone())?;
    if let Some(existing) = field(&spec_entries, "nodeName") {
        let existing: Value = serde_json::from_slice(&json[existing]).ok()?;
        if let Some(existing) = existing.as_str().filter(|s| !s.is_empty()) {
            return Some(Err(Refusal::Assigned(existing.to_string())));
        }
    }
    if field(&spec_entries, "schedulingGates")
        .is_some_and(|gates| !matches!(&json[gates], b"[]" | b"null"))
    {
        return Some(Err(Refusal::Gated));
    }
    let status_entries = match field(&top, "status") {
        Some(status) => Some(entries(json, status)?),
        None => None,
    };
    let conditions = match status_entries
        .as_deref()
        .and_then(|s| field(s, "conditions"))
    {
        Some(span) => match serde_json::from_slice::<Value>(&json[span]).ok()? {
            Value::Array(mut conditions) => {
                conditions
                    .retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
                conditions.push(scheduled.clone());
                Value::Array(conditions)
            }
            _ => Value::Array(vec![scheduled.clone()]),
        },
        None => Value::Array(vec![scheduled.clone()]),
    };
    let node_json = serde_json::to_vec(&Value::String(node.to_string())).ok()?;
    let conditions_json = serde_json::to_vec(&conditions).ok()?;

    let mut out = Vec::with_capacity(json.len() + node_json.len() + 256);
    let mut pieces = ObjectWriter::new(&mut out);
    let mut wrote_status = false;
    for entry in &top {
        if !wrote_status && status_entries.is_none() && entry.key.as_ref() > "status" {
            pieces.raw_entry("status", |out| {
                write_object(out, &[], &[("conditions", &conditions_json)], json)
            });
            wrote_status = true;
        }
        match entry.key.as_ref() {
            "metadata" => pieces.raw_entry(&entry.key, |out| {
                // The resourceVersion's value becomes the placeholder.
                out.extend_from_slice(&json[metadata.start..resource_version.start]);
                out.extend_from_slice(placeholder);
                out.extend_from_slice(&json[resource_version.end..metadata.end]);
            }),
            "spec" => pieces.raw_entry(&entry.key, |out| {
                write_object(out, &spec_entries, &[("nodeName", &node_json)], json)
            }),
            "status" => pieces.raw_entry(&entry.key, |out| {
                let status = status_entries.as_deref().unwrap_or_default();
                write_object(out, status, &[("conditions", &conditions_json)], json)
            }),
            _ => pieces.raw_entry(&entry.key, |out| {
                out.extend_from_slice(&json[entry.value.clone()])
            }),
        }
    }
    if !wrote_status && status_entries.is_none() {
        pieces.raw_entry("status", |out| {
            write_object(out, &[], &[("conditions", &conditions_json)], json)
        });
    }
    pieces.finish();
    Some(Ok(out))
}

/// Writes a JSON object's entries one by one, commas and braces included.
struct ObjectWriter<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> ObjectWriter<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }

    fn raw_entry(&mut self, key: &str, value: impl FnOnce(&mut Vec<u8>)) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        // Keys are plain strings here (serde_json would encode them the same way).
        serde_json::to_writer(&mut *self.out, key).expect("writing to a vector");
        self.out.push(b':');
        value(self.out);
    }

    fn finish(self) {
        self.out.push(b'}');
    }
}

/// Writes an object: `entries` (spans into `json`) with `set` (key, encoded value) replacing
/// or joining them at their sorted place. `set` is sorted by key.
fn write_object(out: &mut Vec<u8>, entries: &[Entry<'_>], set: &[(&str, &[u8])], json: &[u8]) {
    let mut writer = ObjectWriter::new(out);
    let mut pending = set.iter().peekable();
    for entry in entries {
        while let Some((key, value)) = pending.next_if(|(key, _)| *key < entry.key.as_ref()) {
            writer.raw_entry(key, |out| out.extend_from_slice(value));
        }
        match pending.next_if(|(key, _)| *key == entry.key.as_ref()) {
            Some((key, value)) => writer.raw_entry(key, |out| out.extend_from_slice(value)),
            None => writer.raw_entry(&entry.key, |out| {
                out.extend_from_slice(&json[entry.value.clone()])
            }),
        }
    }
    for (key, value) in pending {
        writer.raw_entry(key, |out| out.extend_from_slice(value));
    }
    writer.finish();
}

/// The entries of the object spanning `span` of `json` (compact JSON, no whitespace); None if
/// it is not an object.
fn entries(json: &[u8], span: Range<usize>) -> Option<Vec<Entry<'_>>> {
    let body = json.get(span.clone())?;
    if body.first() != Some(&b'{') || body.last() != Some(&b'}') {
        return None;
    }
    let mut out = Vec::new();
    let end = span.end - 1;
    let mut at = span.start + 1;
    if at == end {
        return Some(out);
    }
    loop {
        let key_end = skip_string(json, at)?;
        let key = decode_key(&json[at..key_end])?;
        if json.get(key_end) != Some(&b':') {
            return None;
        }
        let value_start = key_end + 1;
        let value_end = skip_value(json, value_start)?;
        out.push(Entry {
            key,
            value: value_start..value_end,
        });
        match json.get(value_end) {
            Some(b',') if value_end < end => at = value_end + 1,
            _ if value_end == end => return Some(out),
            _ => return None,
        }
    }
}

/// A key without its quotes, unescaped if it has escapes.
fn decode_key(quoted: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let inner = &quoted[1..quoted.len() - 1];
    if inner.contains(&b'\\') {
        serde_json::from_slice::<String>(quoted)
            .ok()
            .map(std::borrow::Cow::Owned)
    } else {
        std::str::from_utf8(inner)
            .ok()
            .map(std::borrow::Cow::Borrowed)
    }
}

/// The end of the string starting at `at` (just past its closing quote).
fn skip_string(json: &[u8], at: usize) -> Option<usize> {
    if json.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        match json.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// The end of the value starting at `at`.
fn skip_value(json: &[u8], at: usize) -> Option<usize> {
    match json.get(at)? {
        b'"' => skip_string(json, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match json.get(i)? {
                    b'"' => {
                        i = skip_string(json, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let len = json[at..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']'))?;
            (len > 0).then_some(at + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLACEHOLDER: &[u8] = b"\"@rv@\"";

    /// What the general path does: decode, set the node and the condition, encode.
    fn by_value(pod: &Value, node: &str, scheduled: &Value) -> Vec<u8> {
        let mut pod = pod.clone();
        pod["metadata"]["resourceVersion"] = json!("@rv@");
        pod["spec"]["nodeName"] = json!(node);
        match pod["status"]["conditions"].as_array_mut() {
            Some(conditions) => {
                conditions
                    .retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
                conditions.push(scheduled.clone());
            }
            None => pod["status"]["conditions"] = json!([scheduled]),
        }
        serde_json::to_vec(&pod).unwrap()
    }

    fn scheduled() -> Value {
        json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2025-01-01T00:00:00Z"})
    }

    #[test]
    fn binding_the_cached_json_gives_the_bytes_encoding_the_bound_pod_would() {
        let pods = [
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "n", "resourceVersion": "12", "labels": {"a": "b"},
                    "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {}}}}}]},
                "spec": {"containers": [{"name": "c", "image": "i", "args": ["a,b", "}{", "\"q\\"]}], "priority": 0, "schedulerName": "s"},
                "status": {"phase": "Pending", "qosClass": "Burstable"}}),
            // No status at all; a spec sorting after nodeName only.
            json!({"kind": "Pod", "metadata": {"resourceVersion": "1"}, "spec": {"priority": -1.5, "z": [true, false, null]}}),
            // Conditions already there, one of them an earlier PodScheduled; an empty nodeName.
            json!({"metadata": {"resourceVersion": "3", "uid": "\u{e9}\u{1}"},
                "spec": {"nodeName": "", "a": {}},
                "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "False"}], "zz": 1}}),
            json!({"metadata": {"resourceVersion": "3"}, "spec": {}, "status": {"conditions": null}}),
            json!({"a\"b": 1, "metadata": {"resourceVersion": "3", "k\\ey": "v"}, "spec": {"nodeName": null}, "status": {}, "zzz": "end"}),
        ];
        for pod in pods {
            let json = serde_json::to_vec(&pod).unwrap();
            let bound = bind_json(&json, "node-1", &scheduled(), PLACEHOLDER, None);
            let expected = by_value(&pod, "node-1", &scheduled());
            match bound {
                Some(Ok(bytes)) => assert_eq!(
                    String::from_utf8(bytes).unwrap(),
                    String::from_utf8(expected).unwrap()
                ),
                other => panic!("{pod}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_deleting_or_assigned_pod_is_reported_and_odd_shapes_are_left_alone() {
        let deleting = json!({"metadata": {"resourceVersion": "1", "deletionTimestamp": "2025-01-01T00:00:00Z"}, "spec": {"nodeName": "x"}});
        let json = serde_json::to_vec(&deleting).unwrap();
        assert_eq!(
            bind_json(&json, "n", &scheduled(), PLACEHOLDER, None),
            Some(Err(Refusal::Deleting))
        );
        let assigned = json!({"metadata": {"resourceVersion": "1"}, "spec": {"nodeName": "x"}});
        let json = serde_json::to_vec(&assigned).unwrap();
        assert_eq!(
            bind_json(&json, "n", &scheduled(), PLACEHOLDER, None),
            Some(Err(Refusal::Assigned("x".into())))
        );
        let gated = json!({"metadata": {"resourceVersion": "1"}, "spec": {"schedulingGates": [{"name": "g"}]}});
        let json = serde_json::to_vec(&gated).unwrap();
        assert_eq!(
            bind_json(&json, "n", &scheduled(), PLACEHOLDER, None),
            Some(Err(Refusal::Gated))
        );
        let ungated = json!({"metadata": {"resourceVersion": "1", "uid": "u1"}, "spec": {"schedulingGates": []}});
        let json = serde_json::to_vec(&ungated).unwrap();
        assert!(matches!(
            bind_json(&json, "n", &scheduled(), PLACEHOLDER, Some("u1")),
            Some(Ok(_))
        ));
        assert_eq!(
            bind_json(&json, "n", &scheduled(), PLACEHOLDER, Some("u2")),
            Some(Err(Refusal::OtherUid {
                precondition: "u2".into(),
                actual: "u1".into()
            }))
        );
        for odd in [
            json!({"metadata": {"resourceVersion": "1"}}),
            json!({"metadata": {"resourceVersion": "1"}, "spec": []}),
            json!({"metadata": {"resourceVersion": "1"}, "spec": {}, "status": "x"}),
            json!({"metadata": {}, "spec": {}}),
            json!([1]),
        ] {
            let json = serde_json::to_vec(&odd).unwrap();
            assert_eq!(
                bind_json(&json, "n", &scheduled(), PLACEHOLDER, None),
                None,
                "{odd}"
            );
        }
        assert_eq!(
            bind_json(b"{\"metadata\": {}}", "n", &scheduled(), PLACEHOLDER, None),
            None
        );
    }
}
