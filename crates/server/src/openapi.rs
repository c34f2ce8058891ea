//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{approvals, events, evidence, gateway, health, questions, runs, workflows};

/// The API description served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "Agentwerke API", description = "Governed runs of BPMN workflows: approvals, evidence, audit."),
    paths(
        health::live, health::ready,
        workflows::validate, workflows::import, workflows::publish, workflows::list,
        workflows::get, workflows::versions, workflows::version,
        runs::start, runs::list, runs::get, runs::cancel, runs::retry, runs::stream, runs::audit,
        evidence::pack, evidence::download, evidence::public_key, evidence::schema,
        events::deliver,
        approvals::list, approvals::get, approvals::decide,
        questions::list, questions::get, questions::answer,
        gateway::evaluate, gateway::halt, gateway::resume, gateway::halts,
        gateway::create_policy, gateway::list_policies, gateway::get_policy,
        gateway::policy_schema, gateway::simulate, gateway::publish_policy,
        crate::routes::audit::list, crate::routes::audit::export,
    ),
    components(schemas(runs::StartRun, runs::CancelRun, runs::RetryRun, events::DeliverEvent,
        approvals::DecisionBody, approvals::Decision, questions::AnswerBody, gateway::Evaluate, gateway::HaltBody,
        gateway::NewPolicy, gateway::Simulate,
        crate::routes::audit::AuditPage, crate::routes::audit::AuditExportDoc)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
