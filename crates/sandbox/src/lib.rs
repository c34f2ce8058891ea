//! Sandboxed execution: one command per fresh set of namespaces, walled in
//! again by Landlock and a seccomp filter, bounded by rlimits, a wall clock
//! and output caps, and recorded; or several commands one after another in
//! one sandbox, a [`SandboxSession`], each confined and recorded the same way.
//!
//! [`Sandbox`] is the seam: [`LocalSandbox`] isolates on this host with
//! bubblewrap; a cluster backend (pods under gVisor or Kata) can implement
//! the same trait.

use std::path::Path;

mod capture;
mod confine;
mod egress;
mod error;
mod forward;
mod invocation;
mod limits;
mod local;
mod profile;
mod record;
mod request;
mod seccomp;
mod secret;
mod serve;
mod session;
mod spec;
mod user;
mod wire;

pub use confine::helper_main;
pub use egress::{EgressConnection, EgressDecision};
pub use error::SandboxError;
pub use limits::Limits;
pub use local::{LocalConfig, LocalSandbox};
pub use profile::{Network, SandboxProfile, WorkspaceAccess};
pub use record::{Execution, Isolation, Output, Termination};
pub use request::ExecRequest;
pub use secret::SecretFile;
pub use session::{SandboxSession, SessionId, SessionSpec};
pub use user::SandboxUser;

/// Runs one command in isolation and records how it went.
///
/// Blocking: callers on an async runtime run it on a blocking thread.
pub trait Sandbox: Send + Sync {
    /// Runs `request` in a fresh sandbox. An `Err` means the command did not
    /// run; a command that ran and failed is an `Ok` with its exit code.
    fn run(&self, request: &ExecRequest) -> Result<Execution, SandboxError>;

    /// The isolation every execution of this sandbox gets.
    fn isolation(&self) -> Isolation;

    /// Starts one sandbox for the spec's workspace and profile, with the
    /// egress proxy's socket bound in when it names one, that stays up for
    /// several commands, until the session is closed or dropped (the
    /// `agent_sandboxed` execution mode; `run` is `tool_sandboxed`). Its
    /// network is fixed here: each command must ask for the same egress.
    fn open(&self, spec: &SessionSpec) -> Result<Box<dyn SandboxSession>, SandboxError>;

    /// Makes a freshly created workspace usable by the sandbox's commands
    /// (for the host sandbox run by root: gives the tree to its unprivileged
    /// user). Callers run it once after creating a run's workspace, before
    /// the first execution in it.
    fn prepare_workspace(&self, path: &Path) -> Result<(), SandboxError> {
        let _ = path;
        Ok(())
    }
}
