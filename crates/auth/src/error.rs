//! The two error types: [`Error`] for a request that fails authentication or
//! authorisation, [`SetupError`] for configuration and key files at start-up.
//!
//! Messages are written for the caller and never include the token or any
//! value read from it: tokens end up in logs through error messages more
//! often than through any other path.

use std::path::PathBuf;

use agentwerke_types::ErrorCode;

use crate::role::Permission;

/// Why a request was not authenticated or not authorised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No bearer token was sent.
    #[error("no bearer token was provided")]
    MissingToken,
    /// The token is not a well-formed JWT or lacks a required claim.
    #[error("the bearer token is malformed: {reason}")]
    MalformedToken {
        /// What is wrong, in words that never quote the token.
        reason: &'static str,
    },
    /// The signature does not match the key.
    #[error("the token signature is invalid")]
    BadSignature,
    /// `exp` is in the past (beyond the allowed clock leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the allowed clock leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// No configured token source trusts the token's issuer.
    #[error("the token issuer is not trusted")]
    WrongIssuer,
    /// The token was not issued for this API.
    #[error("the token audience does not include this API")]
    WrongAudience,
    /// The header names an algorithm the matching source does not accept,
    /// including `none` and HMAC algorithms.
    #[error("the token signing algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// No key with the token's `kid` (and algorithm) is known, even after a
    /// permitted JWKS refresh.
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    /// The token carries no role this API knows.
    #[error("the token carries no recognised role")]
    NoRoles,
    /// The identity provider's keys could not be fetched; requests fail
    /// closed until they can.
    #[error("the identity provider's signing keys are unavailable: {reason}")]
    JwksUnavailable {
        /// Transport or parse failure, never token content.
        reason: String,
    },
    /// A development token was presented but development auth is disabled.
    #[error("development tokens are not accepted by this server")]
    DevTokensDisabled,
    /// Authenticated, but no role grants the permission.
    #[error("the caller's roles do not grant `{permission}`")]
    Forbidden {
        /// What the endpoint needed.
        permission: Permission,
    },
}

impl Error {
    /// Every code [`Error`] can return, for documentation and API clients.
    pub const CODES: [&'static str; 13] = [
        "auth.missing_token",
        "auth.malformed_token",
        "auth.bad_signature",
        "auth.expired",
        "auth.not_yet_valid",
        "auth.wrong_issuer",
        "auth.wrong_audience",
        "auth.algorithm_not_allowed",
        "auth.unknown_key",
        "auth.no_roles",
        "auth.jwks_unavailable",
        "auth.dev_tokens_disabled",
        "auth.forbidden",
    ];

    /// Whether the failure is the server's (identity provider unreachable),
    /// so the HTTP layer can answer 503 instead of 401.
    pub const fn is_unavailable(&self) -> bool {
        matches!(self, Error::JwksUnavailable { .. })
    }

    /// Whether the caller was authenticated but lacks a role (HTTP 403).
    pub const fn is_forbidden(&self) -> bool {
        matches!(self, Error::Forbidden { .. })
    }
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::MissingToken => "auth.missing_token",
            Error::MalformedToken { .. } => "auth.malformed_token",
            Error::BadSignature => "auth.bad_signature",
            Error::Expired => "auth.expired",
            Error::NotYetValid => "auth.not_yet_valid",
            Error::WrongIssuer => "auth.wrong_issuer",
            Error::WrongAudience => "auth.wrong_audience",
            Error::AlgorithmNotAllowed => "auth.algorithm_not_allowed",
            Error::UnknownKey => "auth.unknown_key",
            Error::NoRoles => "auth.no_roles",
            Error::JwksUnavailable { .. } => "auth.jwks_unavailable",
            Error::DevTokensDisabled => "auth.dev_tokens_disabled",
            Error::Forbidden { .. } => "auth.forbidden",
        }
    }
}

/// Why auth could not be set up: bad configuration or an unusable key file.
/// These stop the server at start-up; they never reach an API caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The configuration is inconsistent or unsafe.
    #[error("invalid auth configuration: {0}")]
    Config(String),
    /// The development key file is readable or writable by group or others.
    #[error(
        "development key file {path} has mode {mode:03o}; it must be readable by its owner only (chmod 600)"
    )]
    KeyFileInsecure {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The development key file exists but is not an Ed25519 PKCS#8 PEM key.
    #[error(
        "development key file {path} is not an Ed25519 private key: {reason}; delete it to generate a new one"
    )]
    KeyFileInvalid {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// Reading or creating the development key file failed.
    #[error("cannot use development key file {path}: {source}")]
    KeyFileIo {
        /// The key file.
        path: PathBuf,
        /// The IO failure.
        source: std::io::Error,
    },
}

impl SetupError {
    /// Every code [`SetupError`] can return.
    pub const CODES: [&'static str; 4] = [
        "auth.config_invalid",
        "auth.key_file_insecure",
        "auth.key_file_invalid",
        "auth.key_file_io",
    ];
}

impl ErrorCode for SetupError {
    fn code(&self) -> &'static str {
        match self {
            SetupError::Config(_) => "auth.config_invalid",
            SetupError::KeyFileInsecure { .. } => "auth.key_file_insecure",
            SetupError::KeyFileInvalid { .. } => "auth.key_file_invalid",
            SetupError::KeyFileIo { .. } => "auth.key_file_io",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are a public contract: this list changes only on purpose.
    #[test]
    fn error_codes_are_stable() {
        let all = [
            Error::MissingToken,
            Error::MalformedToken { reason: "x" },
            Error::BadSignature,
            Error::Expired,
            Error::NotYetValid,
            Error::WrongIssuer,
            Error::WrongAudience,
            Error::AlgorithmNotAllowed,
            Error::UnknownKey,
            Error::NoRoles,
            Error::JwksUnavailable { reason: "x".into() },
            Error::DevTokensDisabled,
            Error::Forbidden {
                permission: Permission::Admin,
            },
        ];
        let codes: Vec<_> = all.iter().map(ErrorCode::code).collect();
        assert_eq!(codes, Error::CODES);
    }

    #[test]
    fn setup_codes_are_stable() {
        let path = PathBuf::from("k");
        let all = [
            SetupError::Config("x".into()),
            SetupError::KeyFileInsecure {
                path: path.clone(),
                mode: 0o644,
            },
            SetupError::KeyFileInvalid {
                path: path.clone(),
                reason: "x",
            },
            SetupError::KeyFileIo {
                path,
                source: std::io::Error::other("x"),
            },
        ];
        let codes: Vec<_> = all.iter().map(ErrorCode::code).collect();
        assert_eq!(codes, SetupError::CODES);
    }
}
