//! Why a command was refused, with one stable code per condition.

use agentwerke_store::gateway::HaltScope;
use agentwerke_types::ErrorCode;

/// Everything a command can be refused with. Every check a planner makes
/// has its variant here; the API answers with [`Error::code`] (mapped to a
/// status once, at the server's edge).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The approval or question the command names does not exist.
    #[error("{what} '{id}' does not exist")]
    NotFound {
        /// `approval` or `question`.
        what: &'static str,
        /// The id as given.
        id: String,
    },
    /// The approval was decided, cancelled or otherwise closed first.
    #[error("approval '{id}' is already {status}")]
    AlreadyDecided {
        /// The approval.
        id: String,
        /// Its status now.
        status: String,
    },
    /// The approval's time ran out before the decision: nobody may decide
    /// it any more, whether or not the expiry was processed yet.
    #[error("approval '{id}' has expired; it can no longer be decided")]
    Expired {
        /// The approval.
        id: String,
    },
    /// The approval is not due to expire yet.
    #[error("approval '{id}' is not due to expire")]
    NotDue {
        /// The approval.
        id: String,
    },
    /// The approval names a role or group the caller does not hold.
    #[error(
        "this approval is for the '{role}' role, which your token does not carry \
         (nor Admin); ask someone who holds it"
    )]
    WrongRole {
        /// The approver role the approval names.
        role: String,
    },
    /// The run's requester tried to decide its approval.
    #[error("you requested this run, so you cannot decide its approvals; ask another approver")]
    SelfApproval,
    /// The decision comment is too long.
    #[error("a decision comment is at most {max} characters")]
    CommentTooLong {
        /// The limit.
        max: usize,
    },
    /// The question was answered or closed first.
    #[error("question '{id}' is already {status}")]
    QuestionClosed {
        /// The question.
        id: String,
        /// Its status now.
        status: String,
    },
    /// The answer is blank.
    #[error("an answer must not be empty")]
    EmptyAnswer,
    /// The answer is too long.
    #[error("an answer is at most {max} characters")]
    AnswerTooLong {
        /// The limit.
        max: usize,
    },
    /// The run already ended.
    #[error("run '{id}' already ended as {status}")]
    RunFinished {
        /// The run.
        id: String,
        /// Its terminal status.
        status: String,
    },
    /// Only a failed run can be retried.
    #[error("run '{id}' is {status}; only failed runs can be retried")]
    RunNotFailed {
        /// The run.
        id: String,
        /// Its status.
        status: String,
    },
    /// The run has no failed step (or not the one asked for).
    #[error("the run has no such failed step")]
    NoFailedStep,
    /// The timer is not a scheduled one due by the command's time (it
    /// fired, was cancelled, or is not due yet).
    #[error("timer '{id}' is not a scheduled timer due now")]
    TimerNotDue {
        /// `<run>/<timer>`.
        id: String,
    },
    /// A stored row no longer reads as the engine's types (a work id that
    /// is not one the engine handed out).
    #[error("stored data is unreadable: {what}")]
    Corrupt {
        /// What did not read.
        what: String,
    },
    /// The event could not be serialized.
    #[error("the event cannot be written: {0}")]
    Encode(#[source] serde_json::Error),
    /// The store failed.
    #[error(transparent)]
    Store(agentwerke_store::Error),
    /// A run's inputs are not a JSON object.
    #[error("'inputs' must be a JSON object")]
    InvalidInputs,
    /// The workflow has no published version (or not the one named).
    #[error(
        "workflow '{workflow_id}' has no published version{}",
        version.map(|v| format!(" {v}")).unwrap_or_default()
    )]
    NotPublished {
        /// The workflow.
        workflow_id: String,
        /// The version asked for, if one was.
        version: Option<i64>,
    },
    /// A message names no message a workflow could wait for.
    #[error("'messageName' must name the message a workflow waits for")]
    MissingMessageName,
    /// An agent or workflow halt (or resume) names no target.
    #[error("a {} halt names its target", .scope.as_str())]
    MissingTarget {
        /// The scope asked for.
        scope: HaltScope,
    },
    /// A halt says no reason.
    #[error("say why the gateway is halted; operators and auditors see it")]
    MissingReason,
    /// No such halt is in force to be lifted.
    #[error("there is no {} halt{}", .scope.as_str(), for_target(.target))]
    NotHalted {
        /// The scope asked for.
        scope: HaltScope,
        /// The target asked for; empty for the global halt.
        target: String,
    },
    /// The policy set is published already; a set is published once.
    #[error("policy set {version} is already published")]
    PolicyPublished {
        /// The set's version.
        version: i64,
    },
    /// No stored secret has the name (one from deployment configuration
    /// is not stored).
    #[error("secret '{name}' does not exist")]
    SecretNotFound {
        /// The name asked for.
        name: String,
    },
    /// A BPMN document holds a secret or credential that redaction cannot
    /// take out without changing what the document means (in an id, a tool
    /// name, an expression or a number), or writes one with XML escapes
    /// that redaction of the text cannot see.
    #[error(
        "the BPMN document holds a secret or credential where it cannot be redacted \
         (in an id, a tool name, an expression or a number, or written with XML escapes); \
         take it out of the document: workflows never hold secrets"
    )]
    SecretInDocument,
}

/// ` for '<target>'`, or nothing for the global halt.
fn for_target(target: &str) -> String {
    if target.is_empty() {
        String::new()
    } else {
        format!(" for '{target}'")
    }
}

impl Error {
    /// Every code this enum can produce besides the store's own, in one
    /// list (pinned by a test): published, never renamed.
    pub const CODES: [&'static str; 26] = [
        "command.not_found",
        "approval.already_decided",
        "approval.past_expiry",
        "approval.not_due",
        "approval.wrong_role",
        "approval.self_approval",
        "approval.comment_too_long",
        "question.closed",
        "question.empty_answer",
        "question.answer_too_long",
        "run.finished",
        "run.not_failed",
        "run.no_failed_step",
        "timer.not_due",
        "command.corrupt",
        "command.encode",
        "command.store",
        "gateway.missing_target",
        "gateway.missing_reason",
        "gateway.not_halted",
        "policy.already_published",
        "run.invalid_inputs",
        "workflow.not_published",
        "event.missing_message_name",
        "secret.not_found",
        "workflow.secret_unredactable",
    ];

    /// A store refusal as the command's own condition, so one condition
    /// has one code however it was found (by the planner or by the store's
    /// compare-and-set when a concurrent write won).
    pub(crate) fn from_store(error: agentwerke_store::Error) -> Self {
        use agentwerke_store::Error as S;
        match error {
            S::NotFound { what: "secret", id } => Error::SecretNotFound { name: id },
            S::NotFound { what, id } => Error::NotFound { what, id },
            S::AlreadyDecided { id, status } => Error::AlreadyDecided { id, status },
            S::Expired { id } => Error::Expired { id },
            S::AlreadyAnswered { id, status } => Error::QuestionClosed { id, status },
            other => Error::Store(other),
        }
    }
}

impl From<agentwerke_store::Error> for Error {
    fn from(error: agentwerke_store::Error) -> Self {
        Error::from_store(error)
    }
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "command.not_found",
            Error::AlreadyDecided { .. } => "approval.already_decided",
            Error::Expired { .. } => "approval.past_expiry",
            Error::NotDue { .. } => "approval.not_due",
            Error::WrongRole { .. } => "approval.wrong_role",
            Error::SelfApproval => "approval.self_approval",
            Error::CommentTooLong { .. } => "approval.comment_too_long",
            Error::QuestionClosed { .. } => "question.closed",
            Error::EmptyAnswer => "question.empty_answer",
            Error::AnswerTooLong { .. } => "question.answer_too_long",
            Error::RunFinished { .. } => "run.finished",
            Error::RunNotFailed { .. } => "run.not_failed",
            Error::NoFailedStep => "run.no_failed_step",
            Error::TimerNotDue { .. } => "timer.not_due",
            Error::Corrupt { .. } => "command.corrupt",
            Error::Encode(_) => "command.encode",
            Error::Store(_) => "command.store",
            Error::MissingTarget { .. } => "gateway.missing_target",
            Error::MissingReason => "gateway.missing_reason",
            Error::NotHalted { .. } => "gateway.not_halted",
            Error::PolicyPublished { .. } => "policy.already_published",
            Error::InvalidInputs => "run.invalid_inputs",
            Error::NotPublished { .. } => "workflow.not_published",
            Error::MissingMessageName => "event.missing_message_name",
            Error::SecretNotFound { .. } => "secret.not_found",
            Error::SecretInDocument => "workflow.secret_unredactable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are a published contract: this list changes only on purpose.
    #[test]
    fn every_variant_has_its_stable_code() {
        let encode = serde_json::from_str::<u8>("x").expect_err("not a number");
        let all = [
            Error::NotFound {
                what: "approval",
                id: "a".to_owned(),
            },
            Error::AlreadyDecided {
                id: "a".to_owned(),
                status: "approved".to_owned(),
            },
            Error::Expired { id: "a".to_owned() },
            Error::NotDue { id: "a".to_owned() },
            Error::WrongRole {
                role: "release-manager".to_owned(),
            },
            Error::SelfApproval,
            Error::CommentTooLong { max: 1 },
            Error::QuestionClosed {
                id: "q".to_owned(),
                status: "answered".to_owned(),
            },
            Error::EmptyAnswer,
            Error::AnswerTooLong { max: 1 },
            Error::RunFinished {
                id: "r".to_owned(),
                status: "completed".to_owned(),
            },
            Error::RunNotFailed {
                id: "r".to_owned(),
                status: "running".to_owned(),
            },
            Error::NoFailedStep,
            Error::TimerNotDue {
                id: "r/t1".to_owned(),
            },
            Error::Corrupt {
                what: "w".to_owned(),
            },
            Error::Encode(encode),
            Error::Store(agentwerke_store::Error::InvalidCursor),
            Error::MissingTarget {
                scope: HaltScope::Agent,
            },
            Error::MissingReason,
            Error::NotHalted {
                scope: HaltScope::Global,
                target: String::new(),
            },
            Error::PolicyPublished { version: 1 },
            Error::InvalidInputs,
            Error::NotPublished {
                workflow_id: "wf".to_owned(),
                version: None,
            },
            Error::MissingMessageName,
            Error::SecretNotFound {
                name: "api_key".to_owned(),
            },
            Error::SecretInDocument,
        ];
        let codes: Vec<_> = all.iter().map(ErrorCode::code).collect();
        assert_eq!(codes, Error::CODES);
        assert_eq!(
            Error::CODES,
            [
                "command.not_found",
                "approval.already_decided",
                "approval.past_expiry",
                "approval.not_due",
                "approval.wrong_role",
                "approval.self_approval",
                "approval.comment_too_long",
                "question.closed",
                "question.empty_answer",
                "question.answer_too_long",
                "run.finished",
                "run.not_failed",
                "run.no_failed_step",
                "timer.not_due",
                "command.corrupt",
                "command.encode",
                "command.store",
                "gateway.missing_target",
                "gateway.missing_reason",
                "gateway.not_halted",
                "policy.already_published",
                "run.invalid_inputs",
                "workflow.not_published",
                "event.missing_message_name",
                "secret.not_found",
                "workflow.secret_unredactable",
            ]
        );
    }

    /// A race the store decided answers with the same code as the check
    /// the planner makes.
    #[test]
    fn store_refusals_keep_their_condition() {
        use agentwerke_store::Error as S;
        let cases = [
            (
                S::AlreadyDecided {
                    id: "a".to_owned(),
                    status: "approved".to_owned(),
                },
                "approval.already_decided",
            ),
            (S::Expired { id: "a".to_owned() }, "approval.past_expiry"),
            (
                S::AlreadyAnswered {
                    id: "q".to_owned(),
                    status: "answered".to_owned(),
                },
                "question.closed",
            ),
            (
                S::NotFound {
                    what: "approval",
                    id: "a".to_owned(),
                },
                "command.not_found",
            ),
            (
                S::NotFound {
                    what: "secret",
                    id: "api_key".to_owned(),
                },
                "secret.not_found",
            ),
            (S::InvalidCursor, "command.store"),
        ];
        for (store, code) in cases {
            assert_eq!(Error::from(store).code(), code);
        }
    }
}
