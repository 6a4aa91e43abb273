//! Phase four (b): the OpenAPI 3.0 documents served at `/openapi/v3/<group-version>`, one per
//! group-version, each holding its own paths and every schema those reach.
//!
//! Schemas are converted from the Swagger 2.0 form once and serialized once; each document
//! is then stitched together from the serialized schemas it needs.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use crate::catalog::DEFINITIONS_REF;
use crate::decorate::{GVK_EXTENSION, INT_OR_STRING, QUANTITY};
use crate::parameters::{Location, Parameter};
use crate::paths::{Operation, PathItem, Payload};

const SCHEMAS_REF: &str = "#/components/schemas/";

/// The definitions a schema names through `$ref` (Swagger 2.0 form).
pub(crate) fn references(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(object) => {
            for (key, value) in object {
                if let ("$ref", Some(reference)) = (key.as_str(), value.as_str()) {
                    if let Some(name) = reference.strip_prefix(DEFINITIONS_REF) {
                        out.push(name.to_owned());
                    }
                } else {
                    references(value, out);
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|value| references(value, out)),
        _ => {}
    }
}

/// The OpenAPI 3 form of a Swagger 2.0 schema: refs under `#/components/schemas/`, a `$ref`
/// with siblings (a description, patch extensions) wrapped in `allOf` as upstream does (so
/// `kubectl explain` shows the field's own description), and Quantity / IntOrString as
/// `oneOf` their two types.
pub(crate) fn schema(name: &str, v2: &Value) -> Value {
    let mut out = v2.clone();
    convert(&mut out);
    if let Some(object) = out.as_object_mut() {
        if name == QUANTITY {
            object.remove("type");
            object.insert(
                "oneOf".into(),
                json!([{"type": "string"}, {"type": "number"}]),
            );
        } else if name == INT_OR_STRING {
            object.remove("type");
            object.insert(
                "oneOf".into(),
                json!([{"type": "integer"}, {"type": "string"}]),
            );
        }
    }
    out
}

fn convert(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref") {
                if let Some(name) = reference.strip_prefix(DEFINITIONS_REF) {
                    *reference = format!("{SCHEMAS_REF}{name}");
                }
                if object.len() > 1
                    && let Some(reference) = object.remove("$ref")
                {
                    object.insert("allOf".into(), json!([{"$ref": reference}]));
                }
            }
            for (key, child) in object.iter_mut() {
                match key.as_str() {
                    // Maps from names to schemas: the names may be anything (`default`, `$ref`).
                    "properties" | "patternProperties" | "definitions" => {
                        if let Value::Object(named) = child {
                            named.values_mut().for_each(convert);
                        }
                    }
                    // Values that are data, not schemas.
                    "enum" | "default" | "example" | "required" => {}
                    key if key.starts_with("x-") => {}
                    _ => convert(child),
                }
            }
        }
        Value::Array(values) => values.iter_mut().for_each(convert),
        _ => {}
    }
}

/// The `paths` object of one document.
pub(crate) fn paths(items: &[PathItem]) -> Value {
    let mut out = Map::new();
    for item in items {
        let mut path = Map::new();
        if !item.parameters.is_empty() {
            path.insert("parameters".into(), parameters(&item.parameters));
        }
        for operation in &item.operations {
            path.insert(operation.method.as_str().into(), self::operation(operation));
        }
        out.insert(item.path.clone(), Value::Object(path));
    }
    Value::Object(out)
}

fn parameters(parameters: &[Parameter]) -> Value {
    let mut sorted: Vec<&Parameter> = parameters.iter().collect();
    sorted.sort_by_key(|parameter| parameter.name);
    Value::Array(sorted.into_iter().map(parameter).collect())
}

fn parameter(parameter: &Parameter) -> Value {
    let mut out = Map::new();
    out.insert("description".into(), parameter.description.as_ref().into());
    out.insert(
        "in".into(),
        match parameter.location {
            Location::Path => "path",
            Location::Query => "query",
        }
        .into(),
    );
    out.insert("name".into(), parameter.name.into());
    if parameter.required() {
        out.insert("required".into(), true.into());
    }
    out.insert(
        "schema".into(),
        json!({"type": parameter.ty.as_str(), "uniqueItems": true}),
    );
    Value::Object(out)
}

fn reference(definition: &str) -> Value {
    json!({"$ref": format!("{SCHEMAS_REF}{definition}")})
}

fn operation(operation: &Operation) -> Value {
    let mut out = Map::new();
    out.insert("description".into(), operation.description.as_str().into());
    out.insert("operationId".into(), operation.operation_id.as_str().into());
    if !operation.parameters.is_empty() {
        out.insert("parameters".into(), parameters(&operation.parameters));
    }
    if let Some(body) = &operation.body {
        let content: Map<String, Value> = body
            .content_types
            .iter()
            .map(|content_type| {
                (
                    (*content_type).to_owned(),
                    json!({"schema": reference(&body.definition)}),
                )
            })
            .collect();
        let mut request_body = json!({"content": content});
        if body.required {
            request_body["required"] = true.into();
        }
        out.insert("requestBody".into(), request_body);
    }
    let schema = match &operation.response {
        Payload::Definition(definition) => reference(definition),
        Payload::Text => json!({"type": "string"}),
    };
    let content: Map<String, Value> = operation
        .produces
        .iter()
        .map(|content_type| ((*content_type).to_owned(), json!({"schema": schema})))
        .collect();
    let mut responses = Map::new();
    for (code, description) in operation.statuses {
        let mut response = json!({"description": description});
        if *code != 401 {
            response["content"] = Value::Object(content.clone());
        }
        responses.insert(code.to_string(), response);
    }
    out.insert("responses".into(), Value::Object(responses));
    out.insert("tags".into(), json!([operation.tag]));
    if let Some(action) = operation.action {
        out.insert("x-kubernetes-action".into(), action.into());
    }
    if let Some(gvk) = &operation.gvk {
        out.insert(GVK_EXTENSION.into(), gvk.to_json());
    }
    Value::Object(out)
}

/// Every definition reachable from `roots` through `direct` references, sorted.
pub(crate) fn closure(
    roots: Vec<String>,
    direct: &HashMap<String, Vec<String>>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pending = roots;
    while let Some(name) = pending.pop() {
        if !direct.contains_key(&name) || !seen.insert(name.clone()) {
            continue;
        }
        pending.extend(direct[&name].iter().cloned());
    }
    seen
}

/// Stitches one document together from its pre-serialized schemas and its paths.
pub(crate) fn assemble<'a>(
    schemas: impl Iterator<Item = (&'a str, &'a [u8])>,
    paths: &[u8],
    version: &str,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(paths.len() * 4);
    out.extend_from_slice(b"{\"components\":{\"schemas\":{");
    for (index, (name, schema)) in schemas.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, name)?;
        out.push(b':');
        out.extend_from_slice(schema);
    }
    out.extend_from_slice(b"},\"securitySchemes\":");
    serde_json::to_writer(
        &mut out,
        &json!({"BearerToken": {
            "description": "Bearer Token authentication",
            "in": "header",
            "name": "authorization",
            "type": "apiKey",
        }}),
    )?;
    out.extend_from_slice(b"},\"info\":");
    serde_json::to_writer(
        &mut out,
        &json!({"title": "Kubernetes", "version": version}),
    )?;
    out.extend_from_slice(b",\"openapi\":\"3.0.0\",\"paths\":");
    out.extend_from_slice(paths);
    out.extend_from_slice(b",\"security\":[{\"BearerToken\":[]}]}");
    Ok(out)
}
