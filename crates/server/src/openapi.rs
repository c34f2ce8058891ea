//! The OpenAPI document served at `/openapi.json`.
//!
//! Each route is described in one place: the `#[utoipa::path]` annotation on
//! its handler (method, path, parameters, request body, the success response
//! with its schema, and the refusals particular to it: 404, 409, 422 ...).
//! The handler is listed once in [`ApiDoc`]'s `paths(...)`. What every route
//! shares is added here by [`conventions`], so no annotation repeats it:
//!
//! - every error status answers `application/problem+json` ([`Problem`]);
//! - a route with a bearer token also answers 401, 403, 500 and 503;
//! - a route with path or query parameters also answers 400;
//! - a route with a JSON body also answers 400, 413, 415 and 422; one with an
//!   XML body 400, 413 and 415.
//!
//! A test runs Schemathesis against the served document and the real server,
//! so a response the document does not describe fails the suite.

use std::sync::LazyLock;

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::code::Code;
use crate::error::Problem;
use crate::routes::{
    approvals, events, evidence, gateway, health, questions, runs, views, workflows,
};

/// The API description, before [`conventions`] adds what every route shares.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Agentwerke API",
        description = "Governed runs of BPMN workflows: approvals, evidence, audit. \
        Every error is application/problem+json with a stable `code`; every list takes `limit` and `cursor` \
        and answers `nextCursor`."
    ),
    paths(
        health::live,
        health::ready,
        workflows::validate,
        workflows::import,
        workflows::publish,
        workflows::list,
        workflows::get,
        workflows::versions,
        workflows::version,
        runs::start,
        runs::list,
        runs::get,
        runs::cancel,
        runs::retry,
        runs::stream,
        runs::audit,
        evidence::pack,
        evidence::download,
        evidence::public_key,
        evidence::schema,
        events::deliver,
        approvals::list,
        approvals::get,
        approvals::decide,
        questions::list,
        questions::get,
        questions::answer,
        gateway::evaluate,
        gateway::halt,
        gateway::resume,
        gateway::halts,
        gateway::create_policy,
        gateway::list_policies,
        gateway::get_policy,
        gateway::policy_schema,
        gateway::simulate,
        gateway::publish_policy,
        crate::routes::audit::list,
        crate::routes::audit::export,
        crate::routes::settings::get,
        crate::routes::settings::put,
        crate::routes::settings::delete,
        crate::routes::agents::list,
    ),
    components(schemas(
        Problem,
        Code,
        runs::StartRun,
        runs::CancelRun,
        runs::RetryRun,
        events::DeliverEvent,
        approvals::DecisionBody,
        approvals::Decision,
        questions::AnswerBody,
        gateway::Evaluate,
        gateway::NewPolicy,
        gateway::Simulate,
        views::Page,
        crate::routes::audit::AuditPage,
        crate::routes::audit::AuditExportDoc,
        crate::routes::settings::SecretBody
    ))
)]
pub struct ApiDoc;

/// The whole document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi())
            .expect("the OpenAPI document is plain data and always serialises");
        conventions(&mut doc);
        doc
    });
    &DOCUMENT
}

pub(crate) async fn serve() -> Response {
    let mut response = Json(document()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Adds what every route shares (see the module doc) and the schemas that are
/// written by hand because their types live in crates without OpenAPI
/// derives.
fn conventions(doc: &mut Value) {
    let components = &mut doc["components"];
    components["securitySchemes"]["bearer"] =
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"});
    for (name, schema) in crate::routes::views::hand_written_schemas() {
        components["schemas"][name] = schema;
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            shared_responses(operation);
        }
    }
}

fn shared_responses(operation: &mut Value) {
    let secured = operation["security"]
        .as_array()
        .is_some_and(|s| !s.is_empty());
    let has_params = operation["parameters"]
        .as_array()
        .is_some_and(|p| !p.is_empty());
    let body_types: Vec<String> = operation["requestBody"]["content"]
        .as_object()
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();
    let json_body = body_types.iter().any(|t| t == "application/json");
    let mut add: Vec<(&str, &str)> = Vec::new();
    if has_params {
        add.push((
            "400",
            "A query parameter or path segment does not parse or is out of range \
             (request.invalid_query, request.invalid_path, request.invalid_cursor)",
        ));
    }
    if !body_types.is_empty() {
        add.push(("400", "The body is not valid JSON or cannot be read (request.malformed_json, request.unreadable_body)"));
        add.push((
            "413",
            "The body is larger than max-body-bytes (request.too_large)",
        ));
        add.push((
            "415",
            "The body's Content-Type is not the documented one (request.unsupported_media_type)",
        ));
    }
    if json_body {
        add.push(("422", "The body is JSON of the wrong shape; `errors` points at each field (request.invalid_body)"));
    }
    if secured {
        add.push(("401", "No token, or a token that does not verify (auth.*)"));
        add.push((
            "403",
            "No role of the caller grants this action (auth.forbidden)",
        ));
        add.push((
            "500",
            "The server failed; its log has the cause (api.internal)",
        ));
        add.push((
            "503",
            "The identity provider's keys cannot be fetched (auth.jwks_unavailable)",
        ));
    }
    let responses = operation["responses"]
        .as_object_mut()
        .expect("utoipa writes a responses object for every operation");
    for (status, description) in add {
        responses
            .entry(status)
            .or_insert_with(|| json!({"description": description}));
    }
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            response["content"] = problem_content();
        }
    }
}

fn problem_content() -> Value {
    let mut content = Map::new();
    content.insert(
        "application/problem+json".to_owned(),
        json!({"schema": {"$ref": "#/components/schemas/Problem"}}),
    );
    Value::Object(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_response_is_a_problem_and_every_secured_route_documents_auth_failures() {
        let doc = document();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("item") {
                operations += 1;
                let responses = operation["responses"].as_object().expect("responses");
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{method} {path} documents no success"
                );
                for (status, response) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            response["content"]["application/problem+json"]["schema"]["$ref"],
                            "#/components/schemas/Problem",
                            "{method} {path} {status}"
                        );
                    }
                }
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let name = parameter["name"].as_str().expect("name");
                    assert_eq!(
                        parameter["in"] == "path",
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: parameter {name} is in {}",
                        parameter["in"]
                    );
                }
                if path.starts_with("/api/") && !path.starts_with("/api/health") {
                    for status in ["401", "403"] {
                        assert!(
                            responses.contains_key(status),
                            "{method} {path} lacks {status}"
                        );
                    }
                }
            }
        }
        assert!(operations >= 37, "{operations}");
        let codes = &doc["components"]["schemas"]["ProblemCode"]["enum"];
        assert_eq!(
            codes.as_array().map(Vec::len),
            Some(Code::ALL.len()),
            "every code is documented: {codes}"
        );
    }

    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_names_a_component() {
        let doc = document();
        let mut found = Vec::new();
        refs(doc, &mut found);
        assert!(found.len() > 50, "{}", found.len());
        for target in found {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{target} is not a schema reference"));
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{target} is not in the document"
            );
        }
    }

    /// Every success answer with a body names its schema: a component, so
    /// that clients and Schemathesis check the body against what it is,
    /// never against a bare `object` that anything satisfies.
    #[test]
    fn success_answers_name_their_schema() {
        let doc = document();
        let mut unnamed = Vec::new();
        let mut named = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("item") {
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    if !status.starts_with('2') {
                        continue;
                    }
                    for (media, content) in response["content"].as_object().into_iter().flatten() {
                        let schema = &content["schema"];
                        match schema["$ref"].as_str() {
                            Some(target) if target.starts_with("#/components/schemas/") => {
                                named += 1;
                            }
                            _ => unnamed.push(format!(
                                "{} {path} {status} {media}: {schema}",
                                method.to_uppercase()
                            )),
                        }
                    }
                }
            }
        }
        assert!(unnamed.is_empty(), "unnamed success answers: {unnamed:#?}");
        assert!(named >= 35, "{named}");
    }
}
