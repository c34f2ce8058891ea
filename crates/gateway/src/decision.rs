//! The gateway's answer to one call, exactly as it goes into evidence.
//!
//! A decision is self-contained: it names the policy set (version and hash)
//! it was made under, the policies that determined it, the risk, and the
//! arguments (redacted, plus the hash of the originals), so an auditor can
//! reproduce it from the evidence pack alone.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::category::Category;
use crate::risk::{RiskAssessment, RiskLevel};

/// What the gateway decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// The call may run.
    Allow,
    /// A human must approve the call first.
    Escalate,
    /// The call is blocked.
    Reject,
}

impl DecisionKind {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Allow => "allow",
            DecisionKind::Escalate => "escalate",
            DecisionKind::Reject => "reject",
        }
    }
}

impl fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pipeline stage that determined the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The kill switch.
    Halted,
    /// A credential in the arguments (since the secret store).
    Secrets,
    /// The tool is not registered.
    UnknownTool,
    /// The arguments fail the tool's input schema.
    Schema,
    /// The task's granted surface.
    Surface,
    /// The Cedar policy set.
    Policy,
    /// The approval binding of an escalated call did not match the call.
    Approval,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 7] = [
        Stage::Halted,
        Stage::Secrets,
        Stage::UnknownTool,
        Stage::Schema,
        Stage::Surface,
        Stage::Policy,
        Stage::Approval,
    ];

    /// The wire name, e.g. `unknown_tool`; recorded with every brokered
    /// call, so never renamed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Halted => "halted",
            Stage::Secrets => "secrets",
            Stage::UnknownTool => "unknown_tool",
            Stage::Schema => "schema",
            Stage::Surface => "surface",
            Stage::Policy => "policy",
            Stage::Approval => "approval",
        }
    }
}

/// Why, as a closed, stable code. The human text is in
/// [`Decision::rationale`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The kill switch is on for this call.
    Halted,
    /// No tool of that name is registered.
    UnknownTool,
    /// The arguments fail the tool's input schema.
    SchemaInvalid,
    /// The gateway has no profile for the agent.
    UnknownAgent,
    /// The tool matches the task's `deniedTools`.
    DeniedTool,
    /// `allowedTools` is non-empty and does not list the tool.
    NotAllowedTool,
    /// The tool's category is above the task's `permissionLevel`.
    PermissionLevel,
    /// A `secret` tool that `allowedTools` does not name exactly.
    SecretNotGranted,
    /// The task's sandbox profile is not allowed for the agent.
    SandboxProfile,
    /// A `network` tool under the `offline` sandbox profile.
    NetworkOffline,
    /// A `forbid` policy matched.
    Forbidden,
    /// No `permit` policy matched.
    NoPermit,
    /// Evaluating the policies failed (fail closed).
    PolicyError,
    /// The policy set did not parse or validate (fail closed).
    PolicySetUnusable,
    /// A `permit` policy matched.
    Permitted,
    /// A `permit` policy annotated `@decision("escalate")` matched.
    Escalated,
    /// The approval was granted for another tool or other arguments.
    ApprovalMismatch,
    /// The arguments carry a PEM private key or a known secret value;
    /// refused whatever the policies say (since the secret store).
    SecretInArguments,
    /// The call references a secret (`secret:NAME`) its agent's profile
    /// does not list; refused before anything is resolved.
    SecretReferenceNotGranted,
    /// A `secret:NAME` reference in the arguments is malformed.
    SecretReferenceInvalid,
}

impl Reason {
    /// The wire name, e.g. `not_allowed_tool`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Halted => "halted",
            Reason::UnknownTool => "unknown_tool",
            Reason::SchemaInvalid => "schema_invalid",
            Reason::UnknownAgent => "unknown_agent",
            Reason::DeniedTool => "denied_tool",
            Reason::NotAllowedTool => "not_allowed_tool",
            Reason::PermissionLevel => "permission_level",
            Reason::SecretNotGranted => "secret_not_granted",
            Reason::SandboxProfile => "sandbox_profile",
            Reason::NetworkOffline => "network_offline",
            Reason::Forbidden => "forbidden",
            Reason::NoPermit => "no_permit",
            Reason::PolicyError => "policy_error",
            Reason::PolicySetUnusable => "policy_set_unusable",
            Reason::Permitted => "permitted",
            Reason::Escalated => "escalated",
            Reason::ApprovalMismatch => "approval_mismatch",
            Reason::SecretInArguments => "secret_in_arguments",
            Reason::SecretReferenceNotGranted => "secret_reference_not_granted",
            Reason::SecretReferenceInvalid => "secret_reference_invalid",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The gateway's decision on one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Allow, escalate or reject.
    pub kind: DecisionKind,
    /// Which stage decided.
    pub stage: Stage,
    /// Why, as a stable code.
    pub reason: Reason,
    /// Why, for humans: the determining policies' `@rationale`, or the
    /// stage's own explanation. Redacted.
    pub rationale: String,
    /// The tool asked for.
    pub tool: String,
    /// Its category; `None` for an unknown tool.
    pub category: Option<Category>,
    /// Ids (`@id`) of the policies that determined the outcome, sorted.
    pub determining_policies: Vec<String>,
    /// The policy set's version.
    pub policy_set_version: String,
    /// SHA-256 (hex) of the policy set's text.
    pub policy_set_hash: String,
    /// The computed risk.
    pub risk: RiskAssessment,
    /// The risk level: the higher of the score's level and the determining
    /// policies' `@risk`.
    pub risk_level: RiskLevel,
    /// Who must approve an escalation (`@approver_role`); `None` means any
    /// approver.
    pub approver_role: Option<String>,
    /// SHA-256 (hex) of the canonical JSON of the arguments as given.
    pub args_hash: String,
    /// The arguments with secrets redacted.
    pub redacted_args: Value,
    /// Systems the call would touch (`host:…`, `path:…`, `repo:…`,
    /// `environment:…`).
    pub affected_systems: Vec<String>,
}

impl Decision {
    /// Whether the call may run without a human.
    pub fn is_allow(&self) -> bool {
        self.kind == DecisionKind::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stages and reasons are persisted in call records and evidence: the
    /// names never change.
    #[test]
    fn wire_names_are_pinned() {
        let stages = [
            (Stage::Halted, "halted"),
            (Stage::Secrets, "secrets"),
            (Stage::UnknownTool, "unknown_tool"),
            (Stage::Schema, "schema"),
            (Stage::Surface, "surface"),
            (Stage::Policy, "policy"),
            (Stage::Approval, "approval"),
        ];
        for (stage, name) in stages {
            assert_eq!(serde_json::to_value(stage).unwrap(), name);
            assert_eq!(stage.as_str(), name);
        }
        assert_eq!(
            Stage::ALL.to_vec(),
            stages.iter().map(|(stage, _)| *stage).collect::<Vec<_>>(),
            "every stage, in pipeline order"
        );
        let reasons = [
            (Reason::Halted, "halted"),
            (Reason::UnknownTool, "unknown_tool"),
            (Reason::SchemaInvalid, "schema_invalid"),
            (Reason::UnknownAgent, "unknown_agent"),
            (Reason::DeniedTool, "denied_tool"),
            (Reason::NotAllowedTool, "not_allowed_tool"),
            (Reason::PermissionLevel, "permission_level"),
            (Reason::SecretNotGranted, "secret_not_granted"),
            (Reason::SandboxProfile, "sandbox_profile"),
            (Reason::NetworkOffline, "network_offline"),
            (Reason::Forbidden, "forbidden"),
            (Reason::NoPermit, "no_permit"),
            (Reason::PolicyError, "policy_error"),
            (Reason::PolicySetUnusable, "policy_set_unusable"),
            (Reason::Permitted, "permitted"),
            (Reason::Escalated, "escalated"),
            (Reason::ApprovalMismatch, "approval_mismatch"),
            (Reason::SecretInArguments, "secret_in_arguments"),
            (
                Reason::SecretReferenceNotGranted,
                "secret_reference_not_granted",
            ),
            (Reason::SecretReferenceInvalid, "secret_reference_invalid"),
        ];
        for (reason, name) in reasons {
            assert_eq!(reason.as_str(), name);
            assert_eq!(serde_json::to_value(reason).unwrap(), name);
        }
    }
}
