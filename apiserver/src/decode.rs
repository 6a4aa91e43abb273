//! Request body decoding as upstream's serializer does it: JSON or YAML, the body-size cap,
//! kind/apiVersion checks, typed decoding that prunes unknown fields, and `fieldValidation`
//! (Strict / Warn / Ignore) reporting unknown and duplicate fields.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::registry::ResourceType;
use crate::status::ApiError;

/// The request body cap (upstream's 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// How unknown or duplicate fields are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Fail the request with 400.
    Strict,
    /// Accept, dropping the fields, and answer with `Warning` headers (the default).
    Warn,
    /// Accept silently.
    Ignore,
}

impl FieldValidation {
    /// Parses the query parameter; empty means Warn as upstream.
    pub fn parse(v: Option<&String>) -> Result<Self, ApiError> {
        match v.map(String::as_str) {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\" (got {other:?})"
            ))),
        }
    }
}

/// Whether a content type is YAML.
pub fn is_yaml(content_type: &str) -> bool {
    let base = content_type.split(';').next().unwrap_or("").trim();
    base == "application/yaml" || base == "application/apply-patch+yaml" || base == "text/yaml"
}

/// Parses a request body (JSON, YAML for YAML content types, or Kubernetes protobuf as
/// kubectl's typed clients send it) into a JSON value.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let base = content_type.split(';').next().unwrap_or("").trim();
    if base == ferrokube_apimachinery::protobuf::CONTENT_TYPE {
        return ferrokube_apimachinery::protobuf::decode(body)
            .map_err(|e| ApiError::bad_request(e.to_string()));
    }
    if base == "application/cbor" {
        return Err(ApiError::unsupported_body_media_type(content_type));
    }
    if is_yaml(content_type) {
        let v: Value = serde_yaml::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("error converting YAML to JSON: yaml: {e}"))
        })?;
        Ok(v)
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })
    }
}

/// Checks `kind` and `apiVersion` of a body meant for `r`, filling them in from the request
/// path when absent (as upstream's decoder defaults them).
pub fn check_kind(r: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if kind.is_empty() {
        map.insert("kind".into(), Value::String(r.kind.to_string()));
    } else if kind != r.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({}) for {}",
            r.kind, r.plural
        )));
    }
    if api_version.is_empty() {
        map.insert("apiVersion".into(), Value::String(r.api_version()));
    } else if api_version != r.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            r.api_version()
        )));
    }
    Ok(())
}

/// Numbers where upstream expects a quantity string (`cpu: 1`) become strings, as upstream's
/// Quantity decoder accepts both.
fn quantities_to_strings(v: &mut Value, in_quantity_map: bool) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                let q = matches!(
                    k.as_str(),
                    "requests"
                        | "limits"
                        | "capacity"
                        | "allocatable"
                        | "hard"
                        | "used"
                        | "overhead"
                        | "max"
                        | "min"
                        | "default"
                        | "defaultRequest"
                        | "maxLimitRequestRatio"
                ) && child.is_object();
                if (k == "sizeLimit" || k == "storage" && in_quantity_map)
                    && let Value::Number(n) = child
                {
                    *child = Value::String(n.to_string());
                    continue;
                }
                if in_quantity_map && let Value::Number(n) = child {
                    *child = Value::String(n.to_string());
                    continue;
                }
                quantities_to_strings(child, q);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| quantities_to_strings(c, false)),
        _ => {}
    }
}

/// Decodes `obj` through the resource's typed struct. Returns the pruned object and the
/// unknown fields that were dropped (as upstream names them: `spec.foo`).
pub fn normalize(r: &ResourceType, mut obj: Value) -> Result<(Value, Vec<String>), ApiError> {
    quantities_to_strings(&mut obj, false);
    let typed = (r.normalize)(&obj).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            r.kind, r.version, r.kind
        ))
    })?;
    let mut unknown = Vec::new();
    unknown_fields(&obj, &typed, &mut String::new(), &mut unknown);
    Ok((typed, unknown))
}

fn unknown_fields(input: &Value, typed: &Value, path: &mut String, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match b.get(k) {
                    None if !v.is_null() => out.push(path.clone()),
                    Some(tv) => unknown_fields(v, tv, path, out),
                    None => {}
                }
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                unknown_fields(x, y, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Reports the JSON paths of keys that appear twice in one object of `body`.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    parse_json_with_duplicates(body)
        .map(|(_, d)| d)
        .unwrap_or_default()
}

/// Parses a body as [`parse`] does and, for JSON, also reports duplicated keys, in one pass.
pub fn parse_with_duplicates(
    content_type: &str,
    body: &[u8],
) -> Result<(Value, Vec<String>), ApiError> {
    if is_yaml(content_type) || content_type.starts_with("application/vnd.kubernetes.protobuf") {
        return Ok((parse(content_type, body)?, Vec::new()));
    }
    if !content_type.is_empty()
        && !content_type.starts_with("application/json")
        && !content_type.starts_with("*/*")
    {
        return Ok((parse(content_type, body)?, Vec::new()));
    }
    parse_json_with_duplicates(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

/// One segment of the path to the value being parsed.
enum Segment {
    Key(String),
    Index(usize),
}

struct DupContext {
    path: Vec<Segment>,
    duplicates: Vec<String>,
}

impl DupContext {
    fn path_string(&self, last: &str) -> String {
        let mut out = String::new();
        for seg in &self.path {
            match seg {
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(last);
        out
    }
}

fn parse_json_with_duplicates(body: &[u8]) -> Result<(Value, Vec<String>), serde_json::Error> {
    let mut ctx = DupContext {
        path: Vec::new(),
        duplicates: Vec::new(),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = DupCheck(&mut ctx).deserialize(&mut de)?;
    de.end()?;
    Ok((value, ctx.duplicates))
}

/// Builds a JSON value while noting duplicated keys (serde_json keeps the last one silently).
struct DupCheck<'a>(&'a mut DupContext);

impl<'de> DeserializeSeed<'de> for DupCheck<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DupCheck<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let path = self.0.path_string(&key);
                self.0.duplicates.push(path);
            }
            self.0.path.push(Segment::Key(key));
            let value = map.next_value_seed(DupCheck(self.0))?;
            let Some(Segment::Key(key)) = self.0.path.pop() else {
                unreachable!("pushed a key")
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            self.0.path.push(Segment::Index(out.len()));
            let next = seq.next_element_seed(DupCheck(self.0))?;
            self.0.path.pop();
            match next {
                Some(v) => out.push(v),
                None => break,
            }
        }
        Ok(Value::Array(out))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Applies the `fieldValidation` directive to the unknown and duplicate fields found: an
/// error for Strict, warnings for Warn, nothing for Ignore.
pub fn field_validation(
    directive: FieldValidation,
    unknown: &[String],
    duplicates: &[String],
) -> Result<Vec<String>, ApiError> {
    let mut problems: Vec<String> = duplicates
        .iter()
        .map(|d| format!("duplicate field \"{d}\""))
        .collect();
    problems.extend(unknown.iter().map(|u| format!("unknown field \"{u}\"")));
    match directive {
        FieldValidation::Ignore => Ok(Vec::new()),
        _ if problems.is_empty() => Ok(Vec::new()),
        FieldValidation::Warn => Ok(problems),
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            problems.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_reported_with_their_path() {
        let dups = duplicate_fields(
            br#"{"metadata":{"name":"a","name":"b"},"spec":{"x":[{"y":1,"y":2}]}}"#,
        );
        assert_eq!(
            dups,
            vec!["metadata.name".to_string(), "spec.x[0].y".to_string()]
        );
    }
}
