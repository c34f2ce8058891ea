//! The granted surface: may this task's agent call this tool at all?
//!
//! Checked before policy, and policy cannot widen it. The checks run in a
//! fixed order and the first failure is the reason:
//!
//! 1. the agent has a profile (`unknown_agent`, never escalated);
//! 2. the tool is not in `deniedTools` (`denied_tool`, never escalated: the
//!    author said no explicitly);
//! 3. the agent may use the task's sandbox profile (`sandbox_profile`,
//!    never escalated: an approver cannot change what the agent is);
//! 4. `allowedTools`, if non-empty, lists the tool (`not_allowed_tool`);
//! 5. a `secret` tool is named exactly in `allowedTools`
//!    (`secret_not_granted`); any other category is granted by the
//!    `permissionLevel` (`permission_level`);
//! 6. a `network` tool does not run under `offline` (`network_offline`).
//!
//! Failures 4–6 are escalated instead of rejected when the task says
//! `toolEscalation="escalate"`.

use crate::category::{Category, SandboxProfile};
use crate::decision::Reason;
use crate::request::{AgentProfile, TaskSurface};

/// Why a call is outside the granted surface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurfaceDenial {
    /// The stable reason.
    pub reason: Reason,
    /// The explanation.
    pub detail: String,
    /// Whether `toolEscalation="escalate"` may turn it into an escalation.
    pub escalatable: bool,
}

impl TaskSurface {
    /// The `deniedTools` entry that denies `tool`, if any.
    pub fn denies(&self, tool: &str) -> Option<&str> {
        self.denied_tools
            .iter()
            .find(|p| matches(p, tool))
            .map(String::as_str)
    }

    /// Checks that `tool` (of `category`) is inside this task's surface for
    /// `agent` (`None`: the gateway knows no such agent).
    pub fn check(
        &self,
        tool: &str,
        category: Category,
        agent: Option<&AgentProfile>,
    ) -> Result<(), SurfaceDenial> {
        let deny = |reason, escalatable, detail: String| {
            Err(SurfaceDenial {
                reason,
                detail,
                escalatable,
            })
        };
        let Some(agent) = agent else {
            return deny(
                Reason::UnknownAgent,
                false,
                "the gateway has no profile for this agent".to_owned(),
            );
        };
        if let Some(pattern) = self.denies(tool) {
            return deny(
                Reason::DeniedTool,
                false,
                format!("{tool} is denied to this task (deniedTools: {pattern})"),
            );
        }
        if !agent
            .allowed_sandbox_profiles
            .contains(&self.sandbox_profile)
        {
            return deny(
                Reason::SandboxProfile,
                false,
                format!(
                    "agent {} may not use sandbox profile {}",
                    agent.name,
                    self.sandbox_profile.as_str()
                ),
            );
        }
        if !self.allowed_tools.is_empty() && !self.allowed_tools.iter().any(|p| matches(p, tool)) {
            return deny(
                Reason::NotAllowedTool,
                true,
                format!("{tool} is not in this task's allowedTools"),
            );
        }
        if category == Category::Secret {
            if !self.allowed_tools.iter().any(|p| p == tool) {
                return deny(
                    Reason::SecretNotGranted,
                    true,
                    format!("{tool} is a secret tool and must be named exactly in allowedTools"),
                );
            }
        } else if !self.permission_level.grants(category) {
            return deny(
                Reason::PermissionLevel,
                true,
                format!(
                    "{tool} is a {category} tool; permission level {} does not grant {category}",
                    self.permission_level.as_str()
                ),
            );
        }
        if category == Category::Network && self.sandbox_profile == SandboxProfile::Offline {
            return deny(
                Reason::NetworkOffline,
                true,
                format!("{tool} needs the network, but the task's sandbox profile is offline"),
            );
        }
        Ok(())
    }
}

/// A tool list entry: the exact name, `prefix.*` or `*`.
fn matches(pattern: &str, tool: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => tool.starts_with(prefix),
        _ => pattern == tool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::PermissionLevel;

    fn agent() -> AgentProfile {
        AgentProfile::new("a", SandboxProfile::ALL)
    }

    fn task(level: PermissionLevel) -> TaskSurface {
        TaskSurface {
            purpose_type: "analysis".to_owned(),
            permission_level: level,
            sandbox_profile: SandboxProfile::RepoRead,
            ..TaskSurface::default()
        }
    }

    fn reason(task: &TaskSurface, tool: &str, category: Category) -> Option<Reason> {
        task.check(tool, category, Some(&agent()))
            .err()
            .map(|d| d.reason)
    }

    #[test]
    fn patterns() {
        assert!(matches("*", "x.y"));
        assert!(matches("artifact.*", "artifact.read"));
        assert!(!matches("artifact.*", "artifactx.read"));
        assert!(!matches("art*", "artifact.read"));
        assert!(matches("http.request", "http.request"));
    }

    #[test]
    fn first_failing_check_is_the_reason() {
        let mut t = task(PermissionLevel::ReadOnly);
        assert_eq!(
            t.check("x", Category::Read, None).unwrap_err().reason,
            Reason::UnknownAgent
        );
        t.denied_tools = vec!["x".to_owned()];
        t.allowed_tools = vec!["y".to_owned()];
        assert_eq!(reason(&t, "x", Category::Write), Some(Reason::DeniedTool));
        assert_eq!(
            reason(&t, "z", Category::Read),
            Some(Reason::NotAllowedTool)
        );
        assert_eq!(reason(&t, "y", Category::Read), None);
        assert_eq!(
            reason(&t, "y", Category::Write),
            Some(Reason::PermissionLevel)
        );
    }

    #[test]
    fn secret_needs_the_exact_name_at_any_level() {
        let mut t = task(PermissionLevel::Full);
        assert_eq!(
            reason(&t, "vault.read", Category::Secret),
            Some(Reason::SecretNotGranted)
        );
        t.allowed_tools = vec!["vault.*".to_owned()];
        assert_eq!(
            reason(&t, "vault.read", Category::Secret),
            Some(Reason::SecretNotGranted)
        );
        t.allowed_tools = vec!["vault.read".to_owned()];
        t.permission_level = PermissionLevel::ReadOnly;
        assert_eq!(reason(&t, "vault.read", Category::Secret), None);
    }

    #[test]
    fn network_is_outside_offline_and_sandbox_profiles_are_per_agent() {
        let mut t = task(PermissionLevel::Full);
        assert_eq!(reason(&t, "h", Category::Network), None);
        t.sandbox_profile = SandboxProfile::Offline;
        assert_eq!(
            reason(&t, "h", Category::Network),
            Some(Reason::NetworkOffline)
        );
        let narrow = AgentProfile::new("a", [SandboxProfile::Offline]);
        t.sandbox_profile = SandboxProfile::Deployment;
        let denial = t.check("r", Category::Read, Some(&narrow)).unwrap_err();
        assert_eq!(denial.reason, Reason::SandboxProfile);
        assert!(!denial.escalatable);
    }
}
