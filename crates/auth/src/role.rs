//! Roles, permissions and the one table that joins them.
//!
//! The table lives in [`allows`] as a single `match` so that a reviewer can
//! read every grant in one screen and the exhaustive test below pins it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A role carried by a token. Roles are coarse on purpose: fine-grained
/// decisions about tools and data belong to the policy engine, not to auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Reads runs, workflows, approvals and evidence.
    Viewer,
    /// Drives runs: start, cancel, retry, deliver events, answer `human.ask`.
    Operator,
    /// Decides approval requests.
    Approver,
    /// Everything, including workflows, policies, settings and secrets.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    /// The wire name, e.g. `Operator`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Operator => "Operator",
            Role::Approver => "Approver",
            Role::Admin => "Admin",
        }
    }

    /// Parses a role name from a token claim, ignoring ASCII case, because
    /// identity providers disagree on casing (`admin`, `Admin`, `ADMIN`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an API endpoint needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read runs, workflows, approvals, audit records and evidence packs.
    Read,
    /// Start a run.
    StartRun,
    /// Cancel a run.
    CancelRun,
    /// Retry a failed step or run.
    RetryRun,
    /// Deliver a correlated message or webhook event to a waiting run.
    DeliverEvent,
    /// Answer a blocking `human.ask` question from an agent.
    AnswerQuestion,
    /// Approve or reject an approval request.
    DecideApproval,
    /// Publish, update or retire workflow definitions.
    ManageWorkflows,
    /// Change gateway policies.
    ManagePolicies,
    /// Change settings and rotate secrets.
    ManageSettings,
    /// Anything else reserved for administrators.
    Admin,
}

impl Permission {
    /// Every permission, in declaration order.
    pub const ALL: [Permission; 11] = [
        Permission::Read,
        Permission::StartRun,
        Permission::CancelRun,
        Permission::RetryRun,
        Permission::DeliverEvent,
        Permission::AnswerQuestion,
        Permission::DecideApproval,
        Permission::ManageWorkflows,
        Permission::ManagePolicies,
        Permission::ManageSettings,
        Permission::Admin,
    ];

    /// The wire name, e.g. `start_run`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::StartRun => "start_run",
            Permission::CancelRun => "cancel_run",
            Permission::RetryRun => "retry_run",
            Permission::DeliverEvent => "deliver_event",
            Permission::AnswerQuestion => "answer_question",
            Permission::DecideApproval => "decide_approval",
            Permission::ManageWorkflows => "manage_workflows",
            Permission::ManagePolicies => "manage_policies",
            Permission::ManageSettings => "manage_settings",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether one role grants one permission. Written as a `match` on the
/// permission so that adding a permission fails to compile until someone
/// decides who gets it.
const fn role_allows(role: Role, p: Permission) -> bool {
    use Permission as P;
    match p {
        P::Read => true,
        P::StartRun | P::CancelRun | P::RetryRun | P::DeliverEvent | P::AnswerQuestion => {
            matches!(role, Role::Operator | Role::Admin)
        }
        P::DecideApproval => matches!(role, Role::Approver | Role::Admin),
        P::ManageWorkflows | P::ManagePolicies | P::ManageSettings | P::Admin => {
            matches!(role, Role::Admin)
        }
    }
}

/// Whether any of `roles` grants `p`. No roles means no access (fail closed).
pub fn allows(roles: &[Role], p: Permission) -> bool {
    roles.iter().any(|&role| role_allows(role, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, written out by hand a second time so that a change
    /// to [`role_allows`] has to be made twice, on purpose.
    fn expected(role: Role, p: Permission) -> bool {
        use Permission as P;
        let viewer = [P::Read];
        let operator = [
            P::Read,
            P::StartRun,
            P::CancelRun,
            P::RetryRun,
            P::DeliverEvent,
            P::AnswerQuestion,
        ];
        let approver = [P::Read, P::DecideApproval];
        match role {
            Role::Viewer => viewer.contains(&p),
            Role::Operator => operator.contains(&p),
            Role::Approver => approver.contains(&p),
            Role::Admin => true,
        }
    }

    #[test]
    fn every_role_and_permission_matches_the_table() {
        for role in Role::ALL {
            for p in Permission::ALL {
                assert_eq!(allows(&[role], p), expected(role, p), "{role} / {p}");
            }
        }
    }

    #[test]
    fn no_roles_allow_nothing() {
        for p in Permission::ALL {
            assert!(!allows(&[], p), "{p}");
        }
    }

    #[test]
    fn roles_combine_as_a_union() {
        let both = [Role::Operator, Role::Approver];
        for p in Permission::ALL {
            let union = expected(Role::Operator, p) || expected(Role::Approver, p);
            assert_eq!(allows(&both, p), union, "{p}");
        }
    }

    #[test]
    fn role_names_parse_case_insensitively_and_serialise_exactly() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(Role::parse(&role.as_str().to_uppercase()), Some(role));
            assert_eq!(Role::parse(&role.as_str().to_lowercase()), Some(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert_eq!(Role::parse("superuser"), None);
        assert_eq!(Role::parse(""), None);
    }

    #[test]
    fn permission_wire_names_match_serde() {
        for p in Permission::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
    }
}
