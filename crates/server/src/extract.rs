//! Extractors that turn every malformed request into our problem+json: a
//! body of the wrong content type, JSON that does not parse or has the wrong
//! shape (naming the field), a query or path segment that does not parse.

use agentwerke_auth::{Permission, Principal, allows, bearer_token};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::code::Code;
use crate::error::ApiError;
use crate::state::AppState;

/// JSON body whose rejections are ours: a content type that is not JSON,
/// malformed JSON, JSON of the wrong shape (with the path of each wrong
/// field) and oversized bodies each get a stable code.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::UnsupportedMediaType,
                "send the body as JSON with 'Content-Type: application/json'",
            ));
        }
        let bytes = <Bytes as FromRequest<AppState>>::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        parse_json(&bytes).map(Self)
    }
}

/// An optional JSON body: an empty body is `None`, anything else must parse.
impl<T: DeserializeOwned> OptionalFromRequest<AppState> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        let bytes = <Bytes as FromRequest<AppState>>::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        parse_json(&bytes).map(|v| Some(Self(v)))
    }
}

/// A BPMN document: `application/xml`, `text/xml` or any `+xml` type. Take
/// it as `Result<XmlBody, ApiError>` so the permission check comes first.
pub struct XmlBody(pub Bytes);

impl FromRequest<AppState> for XmlBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let xml = media_type(req.headers()).is_some_and(|essence| {
            essence == "application/xml" || essence == "text/xml" || essence.ends_with("+xml")
        });
        if !xml {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::UnsupportedMediaType,
                "send BPMN with 'Content-Type: application/xml'",
            ));
        }
        <Bytes as FromRequest<AppState>>::from_request(req, state)
            .await
            .map(Self)
            .map_err(bytes_rejection)
    }
}

/// The lower-case media type of the body, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

/// `application/json` or any `application/*+json` type.
fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|essence| {
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    })
}

/// Parses a JSON body. Text that is not JSON is 400 `request.malformed_json`;
/// JSON of the wrong shape is 422 `request.invalid_body` whose `errors` name
/// the field (a JSON Pointer) and what is wrong with it.
///
/// The body is read as a JSON value first and only then into `T`: serde_json
/// reading straight into `T` reports a number where an enum belongs as a
/// syntax error, which would call valid JSON "not JSON".
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
    serde_path_to_error::deserialize(value).map_err(|error| {
        let pointer = pointer(error.path());
        let inner = error.into_inner();
        let field = if pointer.is_empty() {
            "the body".to_owned()
        } else {
            format!("'{pointer}'")
        };
        ApiError::unprocessable(
            Code::InvalidBody,
            format!("{field} does not have the expected shape: {inner}"),
        )
        .with_detail(json!([{"pointer": pointer, "detail": inner.to_string()}]))
    })
}

fn malformed(error: &serde_json::Error) -> ApiError {
    ApiError::bad_request(
        Code::MalformedJson,
        format!("the body is not valid JSON: {error}"),
    )
}

/// The JSON Pointer (RFC 6901) of a serde path: `/decision`, `/task/permissionLevel`.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        let token = match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.clone(),
            Segment::Enum { variant } => variant.clone(),
            Segment::Unknown => continue,
        };
        out.push('/');
        out.push_str(&token.replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// Maps a failed body read; an oversized body is 413 with a stable code.
pub(crate) fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::TooLarge,
            "the request body is larger than the server accepts (see the README for the limit)",
        )
    } else {
        ApiError::bad_request(Code::UnreadableBody, rejection.body_text())
    }
}

/// Query parameters; one that does not parse is 400 `request.invalid_query`
/// naming the parameter.
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    let text = rejection.body_text();
    let reason = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    ApiError::bad_request(
        Code::InvalidQuery,
        format!("a query parameter is wrong: {reason}"),
    )
}

/// Path segments; one that does not parse (a version that is not a number)
/// is 400 `request.invalid_path`.
pub struct AppPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    match rejection {
        PathRejection::FailedToDeserializePathParams(e) => ApiError::bad_request(
            Code::InvalidPath,
            format!("a path segment is wrong: {}", e.body_text()),
        ),
        other => ApiError::internal(other.body_text()),
    }
}

/// The authenticated caller. Every route but health takes one, so no route can
/// be reached without a valid token.
pub struct Caller(pub Principal);

impl Caller {
    /// Fails with 403 unless the caller's roles grant `permission`.
    pub fn require(&self, permission: Permission) -> Result<&Principal, ApiError> {
        if allows(&self.0.roles, permission) {
            Ok(&self.0)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                Code::AuthForbidden,
                format!(
                    "this action needs the {} permission, which none of your roles grants",
                    permission.as_str()
                ),
            ))
        }
    }

    /// The caller's subject, as recorded in audit trails.
    pub fn subject(&self) -> &str {
        &self.0.subject
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = bearer_token(header)?;
        let principal = state.verifier.verify(token, state.clock.now()).await?;
        Ok(Self(principal))
    }
}
