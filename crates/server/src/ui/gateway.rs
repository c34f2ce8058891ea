//! The Tool Gateway's kill switch: the halts in force, a halt form that
//! needs a reason, and a resume button per halt.
//!
//! Halting and resuming are the API's own functions
//! (`routes::gateway::halt_gateway`, `resume_gateway`): the same commands,
//! audit records and permission check as `POST /api/gateway/halt`.

use agentwerke_auth::Permission;
use agentwerke_store::gateway::HaltScope;
use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use crate::routes::gateway::{HaltBody, halt_gateway, list_halts, resume_gateway};
use crate::routes::{MAX_PAGE_SIZE, PageParams};
use crate::state::AppState;
use crate::ui::auth::{Chrome, Form, SignedIn, UiError, render};

/// One halt in force.
struct HaltLine {
    scope: String,
    target: String,
    reason: String,
    halted_by: String,
    halted_at: String,
}

#[derive(Template)]
#[template(path = "gateway.html")]
struct GatewayPage {
    chrome: Chrome,
    halts: Vec<HaltLine>,
    /// Whether more halts are in force than the page lists.
    more: bool,
    /// Whether the halt form and resume buttons are shown.
    can_manage: bool,
    scopes: Vec<&'static str>,
}

/// `GET /gateway`: the halts in force and, for those allowed, the forms.
pub(crate) async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Response, UiError> {
    let halts = list_halts(
        &state,
        &signed.caller(),
        PageParams {
            limit: Some(MAX_PAGE_SIZE),
            cursor: None,
        },
    )
    .await?;
    let page = GatewayPage {
        chrome: signed.chrome("gateway"),
        halts: halts
            .items
            .into_iter()
            .map(|h| HaltLine {
                scope: h.scope.as_str().to_owned(),
                target: h.target,
                reason: h.reason,
                halted_by: h.halted_by,
                halted_at: h.halted_at,
            })
            .collect(),
        more: halts.next_cursor.is_some(),
        can_manage: signed.can(Permission::ManagePolicies),
        scopes: [HaltScope::Global, HaltScope::Agent, HaltScope::Workflow]
            .iter()
            .map(|s| s.as_str())
            .collect(),
    };
    Ok(render(&page))
}

/// The scope, target and reason of a halt or resume form; an empty target
/// or reason is absent, so the command's own checks explain what is
/// missing.
fn body_of(form: &Form) -> HaltBody {
    let field = |name: &str| form.filled(name).map(str::to_owned);
    HaltBody {
        scope: field("scope").unwrap_or_default(),
        target: field("target"),
        reason: field("reason"),
    }
}

/// `POST /gateway/halt`: halts with the given scope and reason.
pub(crate) async fn halt(
    State(state): State<AppState>,
    signed: SignedIn,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = signed.form(&body)?;
    halt_gateway(&state, &signed.caller(), body_of(&form)).await?;
    Ok(Redirect::to("/gateway").into_response())
}

/// `POST /gateway/resume`: lifts one halt.
pub(crate) async fn resume(
    State(state): State<AppState>,
    signed: SignedIn,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = signed.form(&body)?;
    let mut body = body_of(&form);
    body.reason = None;
    resume_gateway(&state, &signed.caller(), body).await?;
    Ok(Redirect::to("/gateway").into_response())
}
