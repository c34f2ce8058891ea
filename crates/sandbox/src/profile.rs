//! The sandbox profiles and what each may reach.
//!
//! `SandboxProfile` mirrors the gateway's type of the same name (same wire
//! names). It is defined here rather than imported because the gateway is the
//! crate that will call the sandbox: importing it would close a dependency
//! circle.

use serde::{Deserialize, Serialize};

/// A task's `sandboxProfile`: where its commands may reach and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxProfile {
    /// No network; the workspace is read-only.
    Offline,
    /// Read access to the workspace (a repository checkout).
    RepoRead,
    /// Write access to the workspace.
    RepoWrite,
    /// Deployment targets; the workspace is writable.
    Deployment,
}

impl SandboxProfile {
    /// Every profile, most restrictive first.
    pub const ALL: [SandboxProfile; 4] = [
        SandboxProfile::Offline,
        SandboxProfile::RepoRead,
        SandboxProfile::RepoWrite,
        SandboxProfile::Deployment,
    ];

    /// The wire name, e.g. `repo-read`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SandboxProfile::Offline => "offline",
            SandboxProfile::RepoRead => "repo-read",
            SandboxProfile::RepoWrite => "repo-write",
            SandboxProfile::Deployment => "deployment",
        }
    }

    /// Whether the command may write to the workspace.
    pub const fn workspace_access(self) -> WorkspaceAccess {
        match self {
            SandboxProfile::Offline | SandboxProfile::RepoRead => WorkspaceAccess::ReadOnly,
            SandboxProfile::RepoWrite | SandboxProfile::Deployment => WorkspaceAccess::ReadWrite,
        }
    }

    /// The network the command gets.
    ///
    /// `offline` gets its own loopback only; the others reach out through
    /// the egress proxy alone, which allows only the hosts on their
    /// allow-list. Without a proxy (`ExecRequest::egress` unset) they get
    /// loopback only too: they fail closed.
    pub const fn network(self) -> Network {
        match self {
            SandboxProfile::Offline => Network::LoopbackOnly,
            SandboxProfile::RepoRead | SandboxProfile::RepoWrite | SandboxProfile::Deployment => {
                Network::ViaProxy
            }
        }
    }
}

/// How the workspace folder is bound into the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WorkspaceAccess {
    /// Bound read-only: writes fail with "Read-only file system".
    ReadOnly,
    /// Bound read-write.
    ReadWrite,
}

/// The network interfaces a sandboxed command sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Network {
    /// A private network namespace with only its own loopback interface: no
    /// route to the host's loopback or any other address.
    LoopbackOnly,
    /// The same private namespace, plus a forwarder on its loopback
    /// (`127.0.0.1:3128`, named by the usual proxy variables) to the egress
    /// proxy's Unix socket, bound into the sandbox: the only way out.
    ViaProxy,
}
