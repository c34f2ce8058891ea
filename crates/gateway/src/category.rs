//! Tool categories and the permission levels that grant them.
//!
//! A tool declares one category; a task grants categories through its
//! `permissionLevel`. Keeping the mapping in one `match` makes the
//! permission table in the README the literal truth: there is no other
//! place where a category is granted.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of effect a tool has. Drives which permission level grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Reads data; no side effects.
    Read,
    /// Writes run-local state (artifacts, files in the workspace).
    Write,
    /// Executes commands or code.
    Exec,
    /// Talks to arbitrary hosts on the network.
    Network,
    /// Acts on a configured external system through a connector.
    Integration,
    /// Reads or uses secret material.
    Secret,
}

impl Category {
    /// Every category, in the order the docs list them.
    pub const ALL: [Category; 6] = [
        Category::Read,
        Category::Write,
        Category::Exec,
        Category::Network,
        Category::Integration,
        Category::Secret,
    ];

    /// The wire name, e.g. `network`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Read => "read",
            Category::Write => "write",
            Category::Exec => "exec",
            Category::Network => "network",
            Category::Integration => "integration",
            Category::Secret => "secret",
        }
    }

    /// The Cedar action group every tool of this category belongs to, so a
    /// policy can say `action in Action::"category:write"`.
    pub const fn action_group(self) -> &'static str {
        match self {
            Category::Read => "category:read",
            Category::Write => "category:write",
            Category::Exec => "category:exec",
            Category::Network => "category:network",
            Category::Integration => "category:integration",
            Category::Secret => "category:secret",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task's `permissionLevel`: the categories it grants without listing
/// tools one by one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionLevel {
    /// Grants `read`. The BPMN default.
    #[default]
    ReadOnly,
    /// Adds `write` and `integration`.
    ReadWrite,
    /// Adds `exec` and `network`.
    Full,
}

impl PermissionLevel {
    /// Every level, weakest first.
    pub const ALL: [PermissionLevel; 3] = [
        PermissionLevel::ReadOnly,
        PermissionLevel::ReadWrite,
        PermissionLevel::Full,
    ];

    /// Whether this level grants `category` implicitly. `secret` is never
    /// granted by a level: it needs the tool's exact name in `allowedTools`,
    /// because a level is too coarse a statement for handing out secrets.
    pub const fn grants(self, category: Category) -> bool {
        match category {
            Category::Read => true,
            Category::Write | Category::Integration => {
                matches!(self, PermissionLevel::ReadWrite | PermissionLevel::Full)
            }
            Category::Exec | Category::Network => matches!(self, PermissionLevel::Full),
            Category::Secret => false,
        }
    }

    /// The wire name, e.g. `read-write`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PermissionLevel::ReadOnly => "read-only",
            PermissionLevel::ReadWrite => "read-write",
            PermissionLevel::Full => "full",
        }
    }
}

/// A task's `sandboxProfile`: where its tools may reach.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxProfile {
    /// No network. The BPMN default.
    #[default]
    Offline,
    /// Read access to a repository.
    RepoRead,
    /// Write access to a repository.
    RepoWrite,
    /// Deployment targets.
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
}

/// A task's `toolEscalation`: what happens to a call outside its surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ToolEscalation {
    /// Refuse it. The BPMN default.
    #[default]
    Reject,
    /// Ask a human (policy may still refuse it).
    Escalate,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The permission table of the README, cell by cell.
    #[test]
    fn permission_levels_grant_exactly_the_documented_categories() {
        use Category::*;
        let table = [
            (PermissionLevel::ReadOnly, vec![Read]),
            (PermissionLevel::ReadWrite, vec![Read, Write, Integration]),
            (
                PermissionLevel::Full,
                vec![Read, Write, Exec, Network, Integration],
            ),
        ];
        for (level, granted) in table {
            for category in Category::ALL {
                assert_eq!(
                    level.grants(category),
                    granted.contains(&category),
                    "{level:?} / {category}"
                );
            }
        }
    }

    #[test]
    fn wire_names_match_serde() {
        for category in Category::ALL {
            let json = serde_json::to_value(category).unwrap();
            assert_eq!(json, category.as_str());
        }
        for level in PermissionLevel::ALL {
            assert_eq!(serde_json::to_value(level).unwrap(), level.as_str());
        }
        for profile in SandboxProfile::ALL {
            assert_eq!(serde_json::to_value(profile).unwrap(), profile.as_str());
        }
    }
}
