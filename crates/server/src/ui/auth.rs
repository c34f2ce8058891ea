//! Who is signed in, what every form must carry, and how the UI answers a
//! refusal: as a page, never as the API's problem+json.

use agentwerke_auth::{Permission, Principal};
use askama::Template;
use axum::Extension;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;
use crate::ui::session::{SESSION_COOKIE, Session, Sessions, cookie, same_token};

/// A request from a signed-in browser: its session id and session. A
/// request without a live session is sent to the sign-in page.
pub(crate) struct SignedIn {
    pub(crate) id: String,
    pub(crate) session: Session,
}

impl SignedIn {
    /// The session's principal as the API's extractor gives it, so every
    /// permission check is the API's own ([`Caller::require`]).
    pub(crate) fn caller(&self) -> Caller {
        Caller(self.session.principal.clone())
    }

    /// Whether the session's roles grant `permission` (the API's table).
    pub(crate) fn can(&self, permission: Permission) -> bool {
        self.session.principal.can(permission)
    }

    /// A posted form of this session: parsed, and refused unless it
    /// carries the session's CSRF token. Every form a page posts is read
    /// through here, so none can skip the check.
    pub(crate) fn form(&self, body: &[u8]) -> Result<Form, UiError> {
        let form = Form::parse(body)?;
        self.check_csrf(form.get("csrf"))?;
        Ok(form)
    }

    /// Refuses a posted `token` unless it is this session's CSRF token
    /// (a form's `csrf` field, or a multipart upload's).
    pub(crate) fn check_csrf(&self, token: Option<&str>) -> Result<(), UiError> {
        match token {
            Some(token) if same_token(token, &self.session.csrf) => Ok(()),
            _ => Err(UiError::csrf()),
        }
    }

    /// What every page shows of the session.
    pub(crate) fn chrome(&self, section: &'static str) -> Chrome {
        Chrome::of(Some(&self.session), section)
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        let Extension(sessions) = Extension::<Sessions>::from_request_parts(parts, state)
            .await
            .map_err(|_| UiError::from(ApiError::internal("the UI has no session store")))?;
        let id = cookie(&parts.headers, SESSION_COOKIE)
            .ok_or(UiError::SignIn)?
            .to_owned();
        let session = sessions
            .get(&id, state.clock.now())
            .await
            .map_err(|e| UiError::from(ApiError::from(e)))?
            .ok_or(UiError::SignIn)?;
        Ok(Self { id, session })
    }
}

/// A posted form (`application/x-www-form-urlencoded`), read as pairs so
/// the CSRF token is checked before any field is interpreted.
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// Parses a form body; one that does not parse is refused.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, UiError> {
        serde_urlencoded::from_bytes(body).map(Self).map_err(|e| {
            UiError::page(
                StatusCode::BAD_REQUEST,
                format!("the form is unreadable: {e}"),
            )
        })
    }

    /// The first value of field `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Field `name` trimmed, or `None` when it is absent or blank: what an
    /// optional text field left empty means.
    pub(crate) fn filled(&self, name: &str) -> Option<&str> {
        self.get(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
    }
}

/// What the top of every page shows: who is signed in, the sign-out
/// form's token, which section is open.
pub(crate) struct Chrome {
    /// The signed-in subject, if any.
    pub(crate) user: Option<String>,
    /// Their roles, as words.
    pub(crate) roles: String,
    /// The session's CSRF token, for the sign-out form.
    pub(crate) csrf: String,
    /// `runs`, `approvals` or `signin`.
    pub(crate) section: &'static str,
}

impl Chrome {
    /// The chrome for `session` (none: signed out).
    pub(crate) fn of(session: Option<&Session>, section: &'static str) -> Self {
        Self {
            user: session.map(|s| s.principal.subject.clone()),
            roles: session.map(|s| roles_of(&s.principal)).unwrap_or_default(),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            section,
        }
    }
}

/// `Approver, release-manager`: roles, then groups.
pub(crate) fn roles_of(principal: &Principal) -> String {
    principal
        .roles
        .iter()
        .map(|r| r.as_str().to_owned())
        .chain(principal.groups.iter().cloned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page a refusal is shown on.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    title: String,
    message: String,
}

/// Why a UI request was not served.
#[derive(Debug)]
pub(crate) enum UiError {
    /// No live session: go and sign in.
    SignIn,
    /// A refusal shown as a page with its status and sentence.
    Page {
        /// The HTTP status.
        status: StatusCode,
        /// The sentence for humans.
        message: String,
    },
}

impl UiError {
    /// A refusal page.
    pub(crate) fn page(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Page {
            status,
            message: message.into(),
        }
    }

    /// A POST without this session's CSRF token.
    pub(crate) fn csrf() -> Self {
        Self::page(
            StatusCode::FORBIDDEN,
            "This form did not carry this session's security token, so nothing was changed. \
             Reload the page and submit the form again.",
        )
    }
}

/// The API's refusal, with its status and sentence, on a page.
impl From<ApiError> for UiError {
    fn from(error: ApiError) -> Self {
        Self::page(error.status(), error.message())
    }
}

/// A refusal not yet shown: [`render_refusals`] turns it into its page
/// once the sentence is redacted.
#[derive(Debug, Clone)]
struct Refusal(String);

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::SignIn => Redirect::to("/signin").into_response(),
            UiError::Page { status, message } => {
                let mut response = status.into_response();
                response.extensions_mut().insert(Refusal(message));
                response
            }
        }
    }
}

/// Renders every refusal as its page, with its sentence passed through the
/// keeper's redactor first: a sentence may quote what the request carried
/// (a field, a filter), and what a browser sent may be a secret, as the
/// API's problem documents are redacted (`error::redact_problems`).
pub(crate) async fn render_refusals(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let Some(Refusal(message)) = response.extensions().get::<Refusal>().cloned() else {
        return response;
    };
    let status = response.status();
    let page = ErrorPage {
        chrome: Chrome::of(None, ""),
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        message: state.keeper.redactor().redact_str(&message),
    };
    let mut rendered = render(&page);
    *rendered.status_mut() = status;
    rendered
}

/// A template as an HTML answer; a template that fails to render is a 500
/// (its cause goes to the log).
pub(crate) fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render; see the server log",
            )
                .into_response()
        }
    }
}
