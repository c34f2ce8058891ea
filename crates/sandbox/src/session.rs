//! Sessions: one sandbox kept for several commands, for an
//! `executionMode="agent_sandboxed"` step, whose tools share one sandbox for
//! the step's lifetime (files in its `/tmp` and workspace, background
//! processes), while each command stays confined and bounded on its own.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{ExecRequest, Execution, SandboxError, SandboxProfile};

/// What a session is opened with: what every one of its commands shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// The workspace folder, bound read-only or read-write per the profile.
    pub workspace: PathBuf,
    /// The profile.
    pub profile: SandboxProfile,
    /// The host path of the egress proxy's Unix socket, for a profile whose
    /// network is [`crate::Network::ViaProxy`]: bound into the sandbox once,
    /// with one forwarder for all the session's commands. The proxy must
    /// stay up as long as the session. Unset, such a profile has no way out.
    pub egress: Option<PathBuf>,
}

impl SessionSpec {
    /// A session for `workspace` under `profile`, with no egress proxy.
    pub fn new(workspace: impl Into<PathBuf>, profile: SandboxProfile) -> Self {
        SessionSpec {
            workspace: workspace.into(),
            profile,
            egress: None,
        }
    }

    /// A request to run in this session: its workspace, profile and egress,
    /// the default limits and no secret files.
    pub fn request(
        &self,
        program: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> ExecRequest {
        let mut request = ExecRequest::new(program, args, &self.workspace, self.profile);
        request.egress = self.egress.clone();
        request
    }
}

/// One sandbox that runs several commands one after another.
///
/// Every command gets the confinement and bounds of a one-off execution
/// (rlimits, Landlock, seccomp, its own wall clock killing its own process
/// group, its own output caps, its own [`Execution`], which names the
/// session). What the sandbox holds (the private `/tmp`, the workspace, the
/// processes a command left running) is seen by the next command and by no
/// other session. Closing or dropping the session kills every process in it.
///
/// Blocking, like [`crate::Sandbox::run`].
pub trait SandboxSession: Send {
    /// The session's id, which each of its executions records.
    fn id(&self) -> &SessionId;

    /// Runs `request` in the session's sandbox. Its workspace, profile and
    /// egress socket must be the session's (`sandbox.invalid_request`
    /// otherwise; [`SessionSpec::request`] makes such a request). Its secret
    /// files are there for it only: written before it starts, deleted when
    /// it ends, before the next command runs. An `Err`
    /// means the command did not run; `sandbox.session_ended` means the
    /// session is gone and no further command will run in it.
    fn run(&mut self, request: &ExecRequest) -> Result<Execution, SandboxError>;

    /// Kills every process in the session and tears the sandbox down (as
    /// dropping it does), waiting until they are gone.
    fn close(self: Box<Self>) -> Result<(), SandboxError>;
}

/// A session's id: UUIDv7 text, minted when the session opens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub(crate) String);

impl SessionId {
    /// A new id.
    pub(crate) fn mint() -> Self {
        SessionId(uuid::Uuid::now_v7().to_string())
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
