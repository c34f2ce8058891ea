//! Signing in and out.
//!
//! Local sign-in exists only where development tokens are accepted
//! (`auth.dev.enabled`), which `agentwerke serve` allows on a loopback
//! address only: it opens a session for the role (and groups) chosen, as a
//! development token for them would be verified. Where the web UI's client
//! at the identity provider is configured (`oidc.client-id`), the page also
//! offers signing in there (authorization code with PKCE, [`super::oidc`]).

use agentwerke_auth::{DEV_ISSUER, Principal, Role};
use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::state::AppState;
use crate::ui::auth::{Chrome, Form, SignedIn, UiError, render};
use crate::ui::session::{
    SESSION_COOKIE, SESSION_SECS, SIGNIN_COOKIE, SIGNIN_SECS, Sessions, cookie, over_tls,
    random_token, same_token, set_cookie,
};

/// The longest user name, and of each group name.
const MAX_NAME: usize = 64;

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    chrome: Chrome,
    /// Whether local sign-in is available.
    local: bool,
    /// The identity provider's issuer, when signing in there is offered.
    provider: Option<String>,
    /// The form's token, also in the sign-in cookie.
    nonce: String,
    roles: Vec<&'static str>,
}

/// `GET /signin`.
pub(crate) async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let local = state.verifier.dev_enabled();
    let nonce = random_token();
    let page = SignInPage {
        chrome: Chrome::of(None, "signin"),
        local,
        provider: state.verifier.sign_in_issuer().map(str::to_owned),
        nonce: nonce.clone(),
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
    };
    let mut response = render(&page);
    if local {
        let value = set_cookie(
            SIGNIN_COOKIE,
            &nonce,
            "/signin",
            SIGNIN_SECS,
            over_tls(&headers),
        );
        if let Ok(value) = value.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `POST /signin`: opens a session for the chosen name, role and groups.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    Extension(sessions): Extension<Sessions>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = Form::parse(&body)?;
    // The form's token must be the one this browser was given with the
    // form: a page elsewhere can post the form but cannot read the cookie.
    let paired = match (cookie(&headers, SIGNIN_COOKIE), form.get("csrf")) {
        (Some(kept), Some(sent)) => same_token(kept, sent),
        _ => false,
    };
    if !paired {
        return Err(UiError::csrf());
    }
    if !state.verifier.dev_enabled() {
        return Err(UiError::page(
            StatusCode::FORBIDDEN,
            "Local sign-in is off: development tokens are disabled (auth.dev.enabled = false).",
        ));
    }
    let principal =
        principal_from(&form).map_err(|m| UiError::page(StatusCode::UNPROCESSABLE_ENTITY, m))?;
    let (id, _) = sessions
        .open(principal, state.clock.now())
        .await
        .map_err(ApiError::from)?;
    let tls = over_tls(&headers);
    let mut response = Redirect::to("/").into_response();
    for value in [
        set_cookie(SESSION_COOKIE, &id, "/", SESSION_SECS, tls),
        set_cookie(SIGNIN_COOKIE, "", "/signin", 0, tls),
    ] {
        if let Ok(value) = value.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// `POST /signout`: ends the session.
pub(crate) async fn sign_out(
    Extension(sessions): Extension<Sessions>,
    signed: SignedIn,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, UiError> {
    signed.form(&body)?;
    sessions.close(&signed.id).await.map_err(ApiError::from)?;
    let mut response = Redirect::to("/signin").into_response();
    let value = set_cookie(SESSION_COOKIE, "", "/", 0, over_tls(&headers));
    if let Ok(value) = value.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// The principal a development token for the form's `name`, `role` and
/// `groups` would verify as; a sentence for the user when a field is wrong.
fn principal_from(form: &Form) -> Result<Principal, String> {
    let name = form.get("name").unwrap_or_default().trim();
    if !plain(name) {
        return Err(format!(
            "A user name is 1 to {MAX_NAME} letters, digits, '.', '_', '-' or '@'."
        ));
    }
    let role_name = form.get("role").unwrap_or_default();
    let role = Role::parse(role_name).ok_or_else(|| {
        format!("'{role_name}' is not a role; choose Viewer, Operator, Approver or Admin.")
    })?;
    let mut groups = Vec::new();
    for group in form
        .get("groups")
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|g| !g.is_empty())
    {
        if !plain(group) || Role::parse(group).is_some() {
            return Err(format!(
                "'{group}' is not a group name: 1 to {MAX_NAME} letters, digits, '.', '_', \
                 '-' or '@', and not a role."
            ));
        }
        groups.push(group.to_owned());
    }
    groups.sort();
    groups.dedup();
    Ok(Principal {
        subject: name.to_owned(),
        name: None,
        roles: vec![role],
        groups,
        issuer: DEV_ISSUER.to_owned(),
        token_id: None,
    })
}

fn plain(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Form {
        Form::parse(body.as_bytes()).expect("a form")
    }

    #[test]
    fn the_form_names_a_user_a_role_and_groups() {
        let p = principal_from(&form(
            "name=rita&role=approver&groups=release-manager%2C+qa",
        ))
        .expect("valid");
        assert_eq!(p.subject, "rita");
        assert_eq!(p.roles, [Role::Approver]);
        assert_eq!(p.groups, ["qa", "release-manager"]);
        assert_eq!(p.issuer, DEV_ISSUER);
        assert!(p.may_decide_as(Some("release-manager")));
    }

    #[test]
    fn a_wrong_field_is_explained() {
        for (body, says) in [
            ("name=&role=Viewer", "user name"),
            ("name=a%20b&role=Viewer", "user name"),
            ("name=ada&role=Root", "not a role"),
            ("name=ada&role=Viewer&groups=Admin", "not a group name"),
            ("name=ada&role=Viewer&groups=%3Cb%3E", "not a group name"),
        ] {
            let error = principal_from(&form(body)).expect_err(body);
            assert!(error.contains(says), "{body}: {error}");
        }
    }
}
