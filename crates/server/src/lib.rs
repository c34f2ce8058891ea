//! The Agentwerke HTTP API.
//!
//! [`app`] builds the whole router from an [`AppState`], so tests drive it
//! in-process or over a real socket with the same code. Handlers write
//! commands (a run's first event, a decision, a message) to the store and wake
//! the runtime; they never call the engine themselves.

mod code;
mod error;
mod extract;
mod openapi;
pub mod routes;
mod secrets;
mod state;
mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post, put};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use code::Code;
pub use error::{ApiError, Problem};
pub use openapi::{ApiDoc, document as openapi_document};
pub use secrets::{ConfiguredSecret, KeeperError, SecretKeeper, StoreSecrets};
pub use state::{ApiLimits, AppState, CheckSlots};

/// The whole API.
pub fn app(state: AppState) -> Router {
    use routes::{approvals, events, evidence, gateway, health, questions, runs, workflows};
    let limit = state.limits.max_body_bytes;
    Router::new()
        .route("/api/health/live", get(health::live))
        .route("/api/health/ready", get(health::ready))
        .route("/openapi.json", get(openapi::serve))
        .route(
            "/api/workflows",
            get(workflows::list).post(workflows::import),
        )
        .route("/api/workflows/validate", post(workflows::validate))
        .route("/api/workflows/{id}", get(workflows::get))
        .route("/api/workflows/{id}/versions", get(workflows::versions))
        .route(
            "/api/workflows/{id}/versions/{version}",
            get(workflows::version),
        )
        .route(
            "/api/workflows/{id}/versions/{version}/publish",
            post(workflows::publish),
        )
        .route("/api/runs", get(runs::list).post(runs::start))
        .route("/api/runs/{id}", get(runs::get))
        .route("/api/runs/{id}/cancel", post(runs::cancel))
        .route("/api/runs/{id}/retry", post(runs::retry))
        .route("/api/runs/{id}/stream", get(runs::stream))
        .route("/api/runs/{id}/audit", get(runs::audit))
        .route("/api/runs/{id}/evidence-pack", get(evidence::pack))
        .route(
            "/api/runs/{id}/evidence-pack/download",
            get(evidence::download),
        )
        .route("/api/evidence/public-key", get(evidence::public_key))
        .route("/api/audit", get(routes::audit::list))
        .route("/api/audit/export", get(routes::audit::export))
        .route("/api/evidence/schema", get(evidence::schema))
        .route("/api/events", post(events::deliver))
        .route("/api/gateway/evaluate", post(gateway::evaluate))
        .route("/api/gateway/halt", post(gateway::halt))
        .route("/api/gateway/resume", post(gateway::resume))
        .route("/api/gateway/halts", get(gateway::halts))
        .route(
            "/api/policies",
            get(gateway::list_policies).post(gateway::create_policy),
        )
        .route("/api/policies/schema", get(gateway::policy_schema))
        .route("/api/policies/{version}", get(gateway::get_policy))
        .route("/api/policies/{version}/simulate", post(gateway::simulate))
        .route(
            "/api/policies/{version}/publish",
            post(gateway::publish_policy),
        )
        .route("/api/approvals", get(approvals::list))
        .route("/api/approvals/{id}", get(approvals::get))
        .route("/api/approvals/{id}/decision", post(approvals::decide))
        .route("/api/questions", get(questions::list))
        .route("/api/questions/{id}", get(questions::get))
        .route("/api/questions/{id}/answer", post(questions::answer))
        .route("/api/settings", get(routes::settings::get))
        .route("/api/agents", get(routes::agents::list))
        .route(
            "/api/settings/secrets/{name}",
            put(routes::settings::put).delete(routes::settings::delete),
        )
        // The web UI's pages, outside `/api` (see `ui`).
        .merge(ui::router(&state))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::redact_problems,
        ))
        .layer(request_log())
        .with_state(state)
}

/// One info line per request (method, path, status, latency) under the
/// `tower_http` target; headers, and with them tokens, are never logged.
fn request_log() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>> {
    TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}

async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::NoRoute,
        "no API route has this path; see /openapi.json",
    )
}

/// The path exists but not with this method; axum adds the `Allow` header.
async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::MethodNotAllowed,
        format!("this path does not take {method}; the Allow header lists what it takes"),
    )
}
