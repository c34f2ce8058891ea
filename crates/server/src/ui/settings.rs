//! The Settings page: every secret with its status, source and
//! fingerprint, and a write-only rotation form for each stored one.
//!
//! The listing and the rotation are the API's (`routes::settings`): the
//! same `ManageSettings` check, the same sealing, the same `SetSecret`
//! command. A value travels only in a POST body with the session's CSRF
//! token; it is never rendered, never put in a URL or a redirect, and a
//! refusal is explained without it (the API's sentences never quote a
//! value, and refusal pages pass the redactor, which knows every value set).

use agentwerke_secrets::SecretSource;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::routes::settings::{SecretEntry, set_secret, settings_for};
use crate::state::AppState;
use crate::ui::auth::{Chrome, SignedIn, UiError, render};

/// One secret as the page lists it.
struct SecretLine {
    name: String,
    source: &'static str,
    status: &'static str,
    fingerprint: String,
    updated: String,
    /// A stored secret, rotated through this page; a configured one is
    /// changed where deployment configuration keeps it.
    rotatable: bool,
}

impl From<SecretEntry> for SecretLine {
    fn from(entry: SecretEntry) -> Self {
        let updated = match (&entry.updated_at, &entry.updated_by) {
            (Some(at), Some(by)) => format!("{at} by {by}"),
            (Some(at), None) => at.clone(),
            _ => String::new(),
        };
        Self {
            rotatable: entry.source == SecretSource::Store,
            source: entry.source.as_str(),
            status: entry.status.as_str(),
            fingerprint: entry.fingerprint.unwrap_or_default(),
            updated,
            name: entry.name,
        }
    }
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    secrets: Vec<SecretLine>,
    /// The secret just rotated, with its new fingerprint ("" for none).
    rotated: String,
    fingerprint: String,
}

/// `?rotated=NAME`: the secret the page was sent back to after rotating
/// (a name, never a value).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SettingsQuery {
    #[serde(default)]
    rotated: String,
}

/// `GET /settings`: what `GET /api/settings` answers, for those it
/// answers.
pub(crate) async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(query): Query<SettingsQuery>,
) -> Result<Response, UiError> {
    let settings = settings_for(&state, &signed.caller()).await?;
    let secrets: Vec<SecretLine> = settings.secrets.into_iter().map(Into::into).collect();
    let fingerprint = secrets
        .iter()
        .find(|s| s.name == query.rotated)
        .map(|s| s.fingerprint.clone())
        .unwrap_or_default();
    let page = SettingsPage {
        chrome: signed.chrome("settings"),
        rotated: if fingerprint.is_empty() {
            String::new()
        } else {
            query.rotated
        },
        fingerprint,
        secrets,
    };
    Ok(render(&page))
}

/// `POST /settings/secrets/{name}`: rotates a stored secret to the value
/// in the body, then back to the page, which shows the new fingerprint.
pub(crate) async fn rotate(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = signed.form(&body)?;
    let caller = signed.caller();
    // The role is checked before anything about the name is told.
    let settings = settings_for(&state, &caller).await?;
    if !settings.secrets.iter().any(|s| s.name == name) {
        return Err(UiError::page(
            StatusCode::NOT_FOUND,
            format!(
                "There is no secret named '{name}' to rotate; nothing was changed. Rotation \
                 replaces the value of a secret listed on the Settings page."
            ),
        ));
    }
    // The API's own refusals: a secret deployment configuration keeps, an
    // empty or oversized value.
    let value = form.get("value").unwrap_or_default().to_owned();
    set_secret(&state, &caller, &name, value)
        .await
        .map_err(|e| {
            UiError::page(
                e.status(),
                format!(
                    "Secret '{name}' was not rotated ({}); nothing was changed.",
                    e.message()
                ),
            )
        })?;
    // The name passed `SecretName::parse` in `set_secret`: it needs no
    // escaping in a query.
    Ok(Redirect::to(&format!("/settings?rotated={name}")).into_response())
}
