//! The Settings API: secrets by name, status, source and fingerprint,
//! never their values. Values are write-only: `PUT` takes one, and no
//! answer, record or log line carries it back.

use agentwerke_auth::Permission;
use agentwerke_runtime::command::{Command, DeleteSecret, SetSecret};
use agentwerke_secrets::{SecretName, SecretSource, SecretStatus, SecretValue};
use agentwerke_store::Written;
use agentwerke_store::secrets::SecretRow;
use agentwerke_types::ErrorCode;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ts;
use crate::code::Code;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, Caller};
use crate::secrets::ConfiguredSecret;
use crate::state::AppState;

/// One secret as the Settings API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretEntry {
    /// The secret's name; configuration points at it as `secret:NAME`.
    pub name: String,
    /// `store` (set through this API), `env` or `file` (deployment
    /// configuration).
    #[schema(value_type = String, example = "store")]
    pub source: SecretSource,
    /// `set`, `missing` or `unreadable`.
    #[schema(value_type = String, example = "set")]
    pub status: SecretStatus,
    /// `hmac-sha256:` and 16 hex digits under the server's fingerprint key;
    /// absent unless the value is set.
    pub fingerprint: Option<String>,
    /// When it was last set through this API (RFC 3339); absent for a
    /// configured secret.
    pub updated_at: Option<String>,
    /// Who last set it through this API; absent for a configured secret.
    pub updated_by: Option<String>,
}

impl From<&SecretRow> for SecretEntry {
    fn from(row: &SecretRow) -> Self {
        Self {
            name: row.name.clone(),
            source: SecretSource::Store,
            status: SecretStatus::Set,
            fingerprint: Some(row.fingerprint.clone()),
            updated_at: Some(ts(row.updated_at)),
            updated_by: Some(row.updated_by.clone()),
        }
    }
}

impl From<ConfiguredSecret> for SecretEntry {
    fn from(secret: ConfiguredSecret) -> Self {
        Self {
            name: secret.name.as_str().to_owned(),
            source: secret.source,
            status: secret.status,
            fingerprint: secret.fingerprint.map(|f| f.as_str().to_owned()),
            updated_at: None,
            updated_by: None,
        }
    }
}

/// The settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Every secret, stored or configured, by name.
    pub secrets: Vec<SecretEntry>,
}

/// `PUT /api/settings/secrets/{name}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretBody {
    /// The value: 1 byte to 64 KiB of UTF-8. Never shown again.
    #[schema(min_length = 1)]
    pub value: String,
}

/// Every secret the server knows: those set through this API (`store`)
/// and those deployment configuration names (`env`, `file`, resolved now),
/// with status and fingerprint, never a value.
#[utoipa::path(get, path = "/api/settings", tag = "settings",
    responses((status = 200, description = "The settings: every secret's name, source, status and fingerprint", body = Settings)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Settings>, ApiError> {
    settings_for(&state, &caller).await.map(Json)
}

/// The settings as `caller`, who must be allowed to manage them, sees them:
/// the one check and listing of the API and the UI's Settings page.
pub(crate) async fn settings_for(state: &AppState, caller: &Caller) -> Result<Settings, ApiError> {
    caller.require(Permission::ManageSettings)?;
    let stored = state.store.secrets().await?;
    let configured = state.keeper.configured_secrets();
    Ok(Settings {
        secrets: merged(
            stored.iter().map(SecretEntry::from).collect(),
            configured.into_iter().map(SecretEntry::from).collect(),
        ),
    })
}

/// One entry per name, sorted. Configuration wins: a name stored through
/// this API before the deployment configuration took it over is listed
/// once, as configured, because that is the value a `secret:NAME`
/// reference resolves to.
fn merged(stored: Vec<SecretEntry>, configured: Vec<SecretEntry>) -> Vec<SecretEntry> {
    let mut secrets: Vec<SecretEntry> = stored
        .into_iter()
        .filter(|entry| !configured.iter().any(|c| c.name == entry.name))
        .collect();
    secrets.extend(configured);
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, source: SecretSource) -> SecretEntry {
        SecretEntry {
            name: name.to_owned(),
            source,
            status: SecretStatus::Set,
            fingerprint: None,
            updated_at: None,
            updated_by: None,
        }
    }

    #[test]
    fn a_name_both_stored_and_configured_is_listed_once_as_configured() {
        let listed = merged(
            vec![
                entry("github_token", SecretSource::Store),
                entry("only_stored", SecretSource::Store),
            ],
            vec![
                entry("github_token", SecretSource::Env),
                entry("another", SecretSource::File),
            ],
        );
        let shown: Vec<(&str, SecretSource)> =
            listed.iter().map(|e| (e.name.as_str(), e.source)).collect();
        assert_eq!(
            shown,
            [
                ("another", SecretSource::File),
                ("github_token", SecretSource::Env),
                ("only_stored", SecretSource::Store),
            ]
        );
    }
}

/// Creates (201) or rotates (200) a stored secret. The value is sealed
/// (XChaCha20-Poly1305) before it goes anywhere, known to redaction at
/// once, and answered only by its fingerprint; the global audit stream
/// records `secret.set` or `secret.rotated` with the fingerprints.
#[utoipa::path(put, path = "/api/settings/secrets/{name}", tag = "settings",
    params(("name" = String, Path, pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,127}$",
        description = "The secret's name")),
    request_body = SecretBody,
    responses((status = 200, description = "Rotated: the secret with its new fingerprint", body = SecretEntry),
              (status = 201, description = "Created: the secret with its fingerprint", body = SecretEntry),
              (status = 409, description = "Deployment configuration keeps this secret (secret.configured), or a concurrent change won"),
              (status = 422, description = "An invalid name (secret.invalid_name), an empty value (secret.value_empty) \
                or one over 64 KiB (secret.value_too_large)")),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(name): AppPath<String>,
    AppJson(body): AppJson<SecretBody>,
) -> Result<(StatusCode, Json<SecretEntry>), ApiError> {
    let (status, entry) = set_secret(&state, &caller, &name, body.value).await?;
    Ok((status, Json(entry)))
}

/// Sets secret `name` to `value` as `caller`, who must be allowed to
/// manage settings: 201 when it is new, 200 when it was rotated. The one
/// road of the API's `PUT` and the UI's rotation form; the value goes into
/// the sealed envelope and nowhere else.
pub(crate) async fn set_secret(
    state: &AppState,
    caller: &Caller,
    name: &str,
    value: String,
) -> Result<(StatusCode, SecretEntry), ApiError> {
    caller.require(Permission::ManageSettings)?;
    let name = writable(state, name)?;
    let value = SecretValue::new(value).map_err(secret_error)?;
    let (sealed, fingerprint) = state.keeper.seal(&name, &value).map_err(secret_error)?;
    drop(value);
    let command = Command::SetSecret(SetSecret {
        name,
        sealed: sealed.as_str().to_owned(),
        fingerprint,
        by: caller.subject().to_owned(),
    });
    let submitted = state.runtime.submit(command).await?;
    match submitted.committed.rows.first() {
        Some(Written::SecretPut { secret, previous }) => {
            let status = if previous.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok((status, SecretEntry::from(secret)))
        }
        _ => Err(ApiError::internal("a secret put wrote no secret")),
    }
}

/// Deletes a stored secret; `secret.deleted` with its fingerprint goes to
/// the global audit stream. Its value stays known to redaction.
#[utoipa::path(delete, path = "/api/settings/secrets/{name}", tag = "settings",
    params(("name" = String, Path, pattern = "^[A-Za-z][A-Za-z0-9_.-]{0,127}$",
        description = "The secret's name")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No stored secret has this name (secret.not_found)"),
              (status = 409, description = "Deployment configuration keeps this secret (secret.configured), or a concurrent change won"),
              (status = 422, description = "An invalid name (secret.invalid_name)")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(name): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageSettings)?;
    let name = writable(&state, &name)?;
    let command = Command::DeleteSecret(DeleteSecret {
        name,
        by: caller.subject().to_owned(),
    });
    state.runtime.submit(command).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `name` parsed, when it is not one deployment configuration keeps: such
/// a secret changes where it is kept, never through this API.
fn writable(state: &AppState, name: &str) -> Result<SecretName, ApiError> {
    let name = SecretName::parse(name).map_err(secret_error)?;
    match state.keeper.configured(&name) {
        Some(location) => Err(ApiError::conflict(
            Code::SecretConfigured,
            format!(
                "secret '{name}' is kept by deployment configuration ({}); change it there",
                location.source().as_str()
            ),
        )),
        None => Ok(name),
    }
}

/// A refusal of the secrets crate as an answer; its messages never carry
/// a value.
fn secret_error(error: agentwerke_secrets::Error) -> ApiError {
    match Code::parse(error.code()) {
        Some(code) => ApiError::unprocessable(code, error.to_string()),
        None => {
            tracing::error!(code = error.code(), %error, "a secret could not be sealed");
            ApiError::internal("the secret could not be sealed; see the server log")
        }
    }
}
