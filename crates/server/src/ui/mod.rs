//! The web UI: server-rendered pages for operators, approvers and auditors,
//! served by the same binary as the API.
//!
//! Pages are askama templates (`crates/server/templates`), checked when
//! the crate compiles and HTML-escaped on output. The one script, htmx
//! 2.0.11, and the stylesheet are compiled into the binary: no CDN, no
//! build step. Every answer carries a strict Content-Security-Policy (no
//! inline script or style), so an escaping mistake cannot run script.
//!
//! The pages read and write through the API's own functions
//! (`routes::runs`, `routes::approvals`): one road for every state change,
//! one permission check ([`crate::extract::Caller::require`]), the same
//! redaction. A browser is signed in by a server-side session
//! ([`session`]); every form carries the session's CSRF token.

mod approvals;
mod auth;
mod diagram;
mod gateway;
mod listing;
mod live;
mod oidc;
mod policies;
mod runs;
mod session;
mod signin;
mod workflows;

mod evidence;
mod evidence_sections;
mod settings;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::Value;

use crate::state::AppState;
use crate::ui::auth::SignedIn;
use crate::ui::session::Sessions;

/// htmx 2.0.11 (`dist/htmx.min.js` of the npm package `htmx.org`, BSD
/// Zero-Clause, `assets/htmx.LICENSE`).
const HTMX: &[u8] = include_bytes!("../../assets/htmx.min.js");
/// The htmx SSE extension 2.2.4 (`dist/sse.min.js` of the npm package
/// `htmx-ext-sse`, BSD Zero-Clause, `assets/htmx-ext-sse.LICENSE`): what
/// lets the run pages follow a run without a script of our own.
const HTMX_SSE: &[u8] = include_bytes!("../../assets/htmx-ext-sse.min.js");
/// Our stylesheet.
const CSS: &[u8] = include_bytes!("../../assets/app.css");

/// The policy every UI answer carries: everything from this origin only,
/// no inline script or style, no framing, forms post only here.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Every UI route, with its session store, refusal pages and security
/// headers. Merged into [`crate::app`]; sessions live in the store, sign-in
/// attempts at the identity provider as long as the router.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin::page).post(signin::sign_in))
        .route("/signout", post(signin::sign_out))
        .route("/runs", get(runs::list).post(runs::start))
        .route("/runs/{id}", get(runs::page))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/runs/{id}/retry", post(runs::retry))
        .route("/questions/{id}/answer", post(runs::answer))
        .route("/approvals", get(approvals::inbox))
        .route("/approvals/{id}", get(approvals::page))
        .route("/approvals/{id}/decision", post(approvals::decide))
        .route("/policies", get(policies::list).post(policies::save))
        .route("/policies/{version}", get(policies::page))
        .route("/policies/{version}/simulate", post(policies::simulate))
        .route("/policies/{version}/publish", post(policies::publish))
        .route("/gateway", get(gateway::page))
        .route("/gateway/halt", post(gateway::halt))
        .route("/gateway/resume", post(gateway::resume))
        .route("/workflows", get(workflows::list).post(workflows::upload))
        .route("/workflows/{id}", get(workflows::page))
        .route(
            "/workflows/{id}/versions/{version}/publish",
            post(workflows::publish),
        )
        .route("/assets/htmx.min.js", get(htmx))
        .route("/assets/app.css", get(css))
        .route("/runs/{id}/evidence", get(evidence::page))
        .route("/runs/{id}/evidence/download", get(evidence::download))
        .route("/settings", get(settings::page))
        .route("/settings/secrets/{name}", post(settings::rotate))
        .route("/signin/oidc", get(oidc::start))
        .route("/signin/oidc/callback", get(oidc::callback))
        .route("/runs/{id}/events", get(live::run_events))
        .route("/runs/statuses", get(live::statuses))
        .route("/assets/htmx-ext-sse.min.js", get(htmx_sse))
        .layer(Extension(Sessions::new(state.store.clone())))
        .layer(Extension(
            oidc::Attempts::<agentwerke_auth::SignInAttempt>::default(),
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::render_refusals,
        ))
        .layer(axum::middleware::from_fn(security_headers))
}

/// `/`: the run list once signed in.
async fn home(signed: Result<SignedIn, auth::UiError>) -> Redirect {
    match signed {
        Ok(_) => Redirect::to("/runs"),
        Err(_) => Redirect::to("/signin"),
    }
}

async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

async fn htmx_sse() -> Response {
    asset("text/javascript; charset=utf-8", HTMX_SSE)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Adds the security headers to every UI answer (pages, refusals,
/// redirects, assets).
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A JSON value as indented text, for `<pre>` (escaped by the template).
pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A JSON string as is, another value as JSON, null as nothing.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
