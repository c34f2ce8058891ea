//! What the caller asks the sandbox to run.

use std::path::PathBuf;

use crate::{Limits, SandboxProfile, SecretFile};

/// One command to run: a program and its arguments (no shell), in a
/// workspace folder, under a profile and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// The program, looked up on the sandbox's `PATH` when it has no slash.
    pub program: String,
    /// Its arguments, passed as they are.
    pub args: Vec<String>,
    /// The workspace folder: the working directory, bound read-only or
    /// read-write per the profile.
    pub workspace: PathBuf,
    /// The profile.
    pub profile: SandboxProfile,
    /// The bounds.
    pub limits: Limits,
    /// The host path of the egress proxy's Unix socket, for a profile whose
    /// network is [`crate::Network::ViaProxy`]. Unset, such a profile has no
    /// way out (loopback only). In a session it must be the session's
    /// ([`crate::SessionSpec::egress`]).
    pub egress: Option<PathBuf>,
    /// Secrets granted to this execution only, each the read-only file
    /// `$SECRETS_DIR/<name>`.
    pub secret_files: Vec<SecretFile>,
}

impl ExecRequest {
    /// A request with the default limits and no egress proxy.
    pub fn new(
        program: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
        workspace: impl Into<PathBuf>,
        profile: SandboxProfile,
    ) -> Self {
        ExecRequest {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            workspace: workspace.into(),
            profile,
            limits: Limits::default(),
            egress: None,
            secret_files: Vec::new(),
        }
    }
}
