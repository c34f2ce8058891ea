//! What the sandbox helper applies inside the namespaces before it executes
//! the command. Passed to the helper as one JSON argument.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Limits;

/// The helper's instructions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ConfineSpec {
    /// Folders and files the command may read and execute.
    pub(crate) read: Vec<PathBuf>,
    /// Folders whose entries the command may list (but not read), and every
    /// folder beneath them.
    #[serde(default)]
    pub(crate) list: Vec<PathBuf>,
    /// Folders the command may read and write.
    pub(crate) write: Vec<PathBuf>,
    /// Files the command may read and write but not create under (`/dev/null`).
    pub(crate) devices: Vec<PathBuf>,
    /// Deny every TCP bind and connect through Landlock (the degraded mode,
    /// which has no private network namespace).
    pub(crate) deny_tcp: bool,
    /// The rlimits to set.
    pub(crate) limits: Limits,
    /// The program, looked up on `PATH` when it has no slash.
    pub(crate) program: String,
    /// Its arguments.
    pub(crate) args: Vec<String>,
    /// How the command reaches the egress proxy, if at all.
    #[serde(default)]
    pub(crate) egress: Egress,
    /// The folder to write the secret files into; their values follow on
    /// standard input, in the order of `secret_files`.
    #[serde(default)]
    pub(crate) secrets_dir: Option<PathBuf>,
    /// The names of the secret files.
    #[serde(default)]
    pub(crate) secret_files: Vec<String>,
}

/// The command's way out through the egress proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub(crate) enum Egress {
    /// None: no forwarder, no proxy variables.
    #[default]
    None,
    /// A one-off execution: the helper binds [`PROXY_ADDRESS`], starts the
    /// forwarder to the proxy's `socket` inside the sandbox, and names it in
    /// the command's proxy variables.
    Forward {
        /// The proxy's socket inside the sandbox.
        socket: PathBuf,
    },
    /// A session's command: the session's server already runs the one
    /// forwarder of the sandbox, so the command gets the proxy variables only
    /// (binding [`PROXY_ADDRESS`] again would fail).
    Running,
}

/// Where the forwarder listens inside the sandbox's network namespace (its
/// loopback is private to the sandbox).
pub(crate) const PROXY_ADDRESS: &str = "127.0.0.1:3128";

/// Where the egress proxy's socket is bound inside the sandbox.
pub(crate) const EGRESS_SOCKET: &str = "/run/agentwerke/egress.sock";

/// The helper's first argument when it runs as the forwarder.
pub(crate) const FORWARDER_ARG: &str = "--egress-forwarder";

/// The exit code of the helper when it could not confine the command; the
/// command did not run.
pub(crate) const SETUP_FAILED_EXIT: i32 = 126;

/// The prefix of the helper's one stderr line when setup failed.
pub(crate) const SETUP_FAILED_PREFIX: &str = "agentwerke-sandbox-init: setup failed: ";
