//! Phase four (a): the Swagger 2.0 document served at `/openapi/v2`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::catalog::DEFINITIONS_REF;
use crate::decorate::GVK_EXTENSION;
use crate::parameters::{Location, Parameter};
use crate::paths::{Operation, PathItem, Payload};

/// The whole Swagger 2.0 document: every path of every document and every definition.
pub(crate) fn document(
    documents: &BTreeMap<String, Vec<PathItem>>,
    definitions: Map<String, Value>,
    version: &str,
) -> Value {
    let mut paths = Map::new();
    for item in documents.values().flatten() {
        paths.insert(item.path.clone(), path_item(item));
    }
    json!({
        "definitions": definitions,
        "info": {"title": "Kubernetes", "version": version},
        "paths": paths,
        "security": [{"BearerToken": []}],
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            },
        },
        "swagger": "2.0",
    })
}

fn path_item(item: &PathItem) -> Value {
    let mut out = Map::new();
    if !item.parameters.is_empty() {
        out.insert("parameters".into(), parameters(&item.parameters));
    }
    for operation in &item.operations {
        out.insert(operation.method.as_str().into(), self::operation(operation));
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
    out.insert("type".into(), parameter.ty.as_str().into());
    out.insert("uniqueItems".into(), true.into());
    Value::Object(out)
}

fn reference(definition: &str) -> Value {
    json!({"$ref": format!("{DEFINITIONS_REF}{definition}")})
}

fn operation(operation: &Operation) -> Value {
    let mut out = Map::new();
    let consumes: &[&str] = match &operation.body {
        Some(body) => body.content_types,
        None => &["*/*"],
    };
    out.insert("consumes".into(), consumes.iter().copied().collect());
    out.insert("description".into(), operation.description.as_str().into());
    out.insert("operationId".into(), operation.operation_id.as_str().into());
    let mut parameters_out = Vec::new();
    if let Some(body) = &operation.body {
        let mut body_parameter = json!({
            "in": "body",
            "name": "body",
            "schema": reference(&body.definition),
        });
        if body.required {
            body_parameter["required"] = true.into();
        }
        parameters_out.push(body_parameter);
    }
    if let Value::Array(query) = parameters(&operation.parameters) {
        parameters_out.extend(query);
    }
    if !parameters_out.is_empty() {
        out.insert("parameters".into(), Value::Array(parameters_out));
    }
    out.insert(
        "produces".into(),
        operation.produces.iter().copied().collect(),
    );
    let schema = match &operation.response {
        Payload::Definition(definition) => reference(definition),
        Payload::Text => json!({"type": "string"}),
    };
    let mut responses = Map::new();
    for (code, description) in operation.statuses {
        let mut response = json!({"description": description});
        if *code != 401 {
            response["schema"] = schema.clone();
        }
        responses.insert(code.to_string(), response);
    }
    out.insert("responses".into(), Value::Object(responses));
    out.insert("schemes".into(), json!(["https"]));
    out.insert("tags".into(), json!([operation.tag]));
    if let Some(action) = operation.action {
        out.insert("x-kubernetes-action".into(), action.into());
    }
    if let Some(gvk) = &operation.gvk {
        out.insert(GVK_EXTENSION.into(), gvk.to_json());
    }
    Value::Object(out)
}
