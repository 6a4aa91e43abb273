//! `metadata.managedFields` bookkeeping: the FieldsV1 set of the fields a write set or
//! changed, recorded per manager. Lists are tracked as whole values (atomic) here.

use serde_json::{Map, Value};

/// The FieldsV1 set of fields in `new` that differ from `old` (all set fields when `old` is
/// None). `metadata.managedFields`, `resourceVersion` and other server-owned metadata are skipped.
pub fn changed_fields(new: &Value, old: Option<&Value>) -> Value {
    let mut out = Map::new();
    if let Some(obj) = new.as_object() {
        for (k, v) in obj {
            if k == "apiVersion" || k == "kind" {
                continue;
            }
            let prev = old.and_then(|o| o.get(k));
            if k == "metadata" {
                let mut m = Map::new();
                if let Some(meta) = v.as_object() {
                    for (mk, mv) in meta {
                        if matches!(
                            mk.as_str(),
                            "managedFields"
                                | "resourceVersion"
                                | "uid"
                                | "creationTimestamp"
                                | "generation"
                                | "name"
                                | "namespace"
                                | "selfLink"
                                | "deletionTimestamp"
                                | "deletionGracePeriodSeconds"
                                | "generateName"
                        ) {
                            continue;
                        }
                        let mprev = prev.and_then(|p| p.get(mk));
                        if let Some(set) = diff(mv, mprev) {
                            m.insert(format!("f:{mk}"), set);
                        }
                    }
                }
                if !m.is_empty() {
                    out.insert("f:metadata".into(), Value::Object(m));
                }
                continue;
            }
            if let Some(set) = diff(v, prev) {
                out.insert(format!("f:{k}"), set);
            }
        }
    }
    Value::Object(out)
}

fn diff(new: &Value, old: Option<&Value>) -> Option<Value> {
    if old == Some(new) {
        return None;
    }
    match new {
        Value::Object(m) => {
            let mut out = Map::new();
            out.insert(".".into(), Value::Object(Map::new()));
            for (k, v) in m {
                if let Some(set) = diff(v, old.and_then(|o| o.get(k))) {
                    out.insert(format!("f:{k}"), set);
                }
            }
            if m.is_empty() {
                return Some(Value::Object(Map::new()));
            }
            Some(Value::Object(out))
        }
        _ => Some(Value::Object(Map::new())),
    }
}

/// The union of two FieldsV1 sets.
pub fn union(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut out = x.clone();
            for (k, v) in y {
                let merged = match out.get(k) {
                    Some(existing) => union(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, b) => b.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_create_owns_every_field_it_set() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        let set = changed_fields(&obj, None);
        assert_eq!(
            set,
            json!({"f:metadata": {"f:labels": {".": {}, "f:x": {}}}, "f:data": {".": {}, "f:k": {}}})
        );
    }

    #[test]
    fn an_update_owns_only_what_it_changed() {
        let old = json!({"metadata": {"name": "a"}, "data": {"k": "v", "j": "w"}});
        let new = json!({"metadata": {"name": "a"}, "data": {"k": "v2", "j": "w"}});
        assert_eq!(
            changed_fields(&new, Some(&old)),
            json!({"f:data": {".": {}, "f:k": {}}})
        );
    }
}
