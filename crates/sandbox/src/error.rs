//! Why an execution could not be run at all.

use agentwerke_types::ErrorCode;
use thiserror::Error;

/// A sandbox refusal or failure. A command that runs and fails is not an
/// error: its exit code is in the [`crate::Execution`].
#[derive(Debug, Error)]
pub enum SandboxError {
    /// Namespaces (bubblewrap with user namespaces) cannot be used here, and
    /// the degraded Landlock-only mode was not allowed.
    #[error("namespace isolation is unavailable ({reason}) and degraded mode is not allowed")]
    IsolationUnavailable {
        /// What the probe saw.
        reason: String,
    },
    /// Landlock, which the degraded mode relies on, is not enforced by this kernel.
    #[error("degraded mode needs Landlock, which this kernel does not enforce")]
    LandlockUnavailable,
    /// The request is not one the sandbox will run.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A host path to hide lies under a path the degraded mode must expose.
    #[error("cannot hide {0} in degraded mode: it lies under a system path the command reads")]
    CannotHide(String),
    /// The sandbox could not be set up around the command (the command did not run).
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// The sandbox process could not be started or watched.
    #[error("sandbox process: {0}")]
    Io(#[from] std::io::Error),
    /// The session's sandbox is gone (its server ended or stopped answering):
    /// the command did not finish and no further command runs in it.
    #[error("sandbox session ended: {0}")]
    SessionEnded(String),
    /// An egress proxy was given, but this sandbox cannot confine a command
    /// to it: the degraded mode has no private network namespace, and a
    /// session's network is fixed, without the proxy, when it opens.
    #[error(
        "this sandbox cannot route a command through the egress proxy (the degraded mode has no private network namespace; a session opens without the proxy)"
    )]
    EgressUnavailable,
}

impl ErrorCode for SandboxError {
    /// The stable code callers and the evidence use.
    fn code(&self) -> &'static str {
        match self {
            SandboxError::IsolationUnavailable { .. } => "sandbox.isolation_unavailable",
            SandboxError::LandlockUnavailable => "sandbox.landlock_unavailable",
            SandboxError::InvalidRequest(_) => "sandbox.invalid_request",
            SandboxError::CannotHide(_) => "sandbox.cannot_hide",
            SandboxError::Setup(_) => "sandbox.setup_failed",
            SandboxError::Io(_) => "sandbox.io",
            SandboxError::SessionEnded(_) => "sandbox.session_ended",
            SandboxError::EgressUnavailable => "sandbox.egress_unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let errors = [
            SandboxError::IsolationUnavailable {
                reason: String::new(),
            },
            SandboxError::LandlockUnavailable,
            SandboxError::InvalidRequest(String::new()),
            SandboxError::CannotHide(String::new()),
            SandboxError::Setup(String::new()),
            SandboxError::Io(std::io::Error::other("x")),
            SandboxError::SessionEnded(String::new()),
            SandboxError::EgressUnavailable,
        ];
        let codes: Vec<_> = errors.iter().map(ErrorCode::code).collect();
        assert_eq!(
            codes,
            [
                "sandbox.isolation_unavailable",
                "sandbox.landlock_unavailable",
                "sandbox.invalid_request",
                "sandbox.cannot_hide",
                "sandbox.setup_failed",
                "sandbox.io",
                "sandbox.session_ended",
                "sandbox.egress_unavailable",
            ]
        );
    }
}
