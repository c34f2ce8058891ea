//! Every error code the API can answer with, in one closed list.
//!
//! An [`ApiError`](crate::ApiError) carries a [`Code`], never a free string,
//! so the server cannot emit a code that is not listed here, and the test at
//! the bottom pins the list: renaming or dropping a code fails it. Codes are a
//! published contract (clients branch on them); add new ones, never rename.
//!
//! Error codes and audit record kinds are different namespaces: a code names
//! why a request was refused, a kind names a fact in the audit chain. No code
//! may equal a persisted audit kind (see the test).

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $text:literal, )*) => {
        /// A stable API error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as it appears in a problem document's `code`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    // The request itself.
    /// No route has this path.
    NoRoute = "api.no_route",
    /// The path exists, the method does not.
    MethodNotAllowed = "api.method_not_allowed",
    /// The named resource (run, approval, question, workflow, policy set ...) does not exist.
    NotFound = "api.not_found",
    /// The request contradicts a concurrent write; try again.
    Conflict = "api.conflict",
    /// The server failed; the log has the cause.
    Internal = "api.internal",
    /// The body is larger than `max-body-bytes`.
    TooLarge = "request.too_large",
    /// The body is not JSON at all.
    MalformedJson = "request.malformed_json",
    /// The body is JSON of the wrong shape; `errors` names each field.
    InvalidBody = "request.invalid_body",
    /// The body's `Content-Type` is not one the route reads.
    UnsupportedMediaType = "request.unsupported_media_type",
    /// The body could not be read.
    UnreadableBody = "request.unreadable_body",
    /// A query parameter does not parse, or is out of range.
    InvalidQuery = "request.invalid_query",
    /// A path segment does not parse (e.g. a version that is not a number).
    InvalidPath = "request.invalid_path",
    /// A `cursor` this server did not issue.
    InvalidCursor = "request.invalid_cursor",
    // Authentication and authorisation (the `auth` crate's codes).
    /// No bearer token.
    AuthMissingToken = "auth.missing_token",
    /// The token is not a JWT.
    AuthMalformedToken = "auth.malformed_token",
    /// The token's signature does not verify.
    AuthBadSignature = "auth.bad_signature",
    /// The token has expired.
    AuthExpired = "auth.expired",
    /// The token is not valid yet.
    AuthNotYetValid = "auth.not_yet_valid",
    /// The token's issuer is not the configured one.
    AuthWrongIssuer = "auth.wrong_issuer",
    /// The token's audience is not the configured one.
    AuthWrongAudience = "auth.wrong_audience",
    /// The token is signed with an algorithm the server refuses.
    AuthAlgorithmNotAllowed = "auth.algorithm_not_allowed",
    /// The token names a key the identity provider does not publish.
    AuthUnknownKey = "auth.unknown_key",
    /// The token carries no role.
    AuthNoRoles = "auth.no_roles",
    /// The identity provider's keys cannot be fetched.
    AuthJwksUnavailable = "auth.jwks_unavailable",
    /// A development token, and development tokens are off.
    AuthDevTokensDisabled = "auth.dev_tokens_disabled",
    /// No role of the caller grants the action.
    AuthForbidden = "auth.forbidden",
    // Health.
    /// The database does not answer.
    DatabaseUnavailable = "health.database_unavailable",
    // Workflows.
    /// The BPMN is not an executable workflow; `errors` lists every diagnostic.
    WorkflowInvalid = "workflow.invalid",
    /// The BPMN is not UTF-8.
    WorkflowNotUtf8 = "workflow.not_utf8",
    /// The workflow id is not plain.
    WorkflowInvalidId = "workflow.invalid_id",
    /// The workflow (or the version asked for) has no published version.
    WorkflowNotPublished = "workflow.not_published",
    /// A published version cannot change.
    WorkflowImmutableVersion = "workflow.immutable_version",
    /// The BPMN document was not checked within the time limit.
    WorkflowTooComplex = "workflow.too_complex",
    /// Checking the BPMN document failed inside the server.
    WorkflowCheckFailed = "workflow.check_failed",
    /// Every slot for checking BPMN documents stayed taken; try again.
    WorkflowChecksBusy = "workflow.checks_busy",
    /// The BPMN holds a secret or credential where redaction would break it
    /// (an id, a tool name, an expression, a number) or cannot see it (XML
    /// escapes); nothing is stored.
    WorkflowSecretUnredactable = "workflow.secret_unredactable",
    // Runs.
    /// A `status` filter that is not a run status.
    RunUnknownStatus = "run.unknown_status",
    /// `inputs` is not a JSON object.
    RunInvalidInputs = "run.invalid_inputs",
    /// The run already ended.
    RunFinished = "run.finished",
    /// Only failed runs can be retried.
    RunNotFailed = "run.not_failed",
    /// The run has no such failed step.
    RunNoFailedStep = "run.no_failed_step",
    // Approvals.
    /// A `status` filter that is not an approval status.
    ApprovalUnknownStatus = "approval.unknown_status",
    /// The approval is no longer pending: decided, cancelled or expired.
    ApprovalAlreadyDecided = "approval.already_decided",
    /// The approval is for a role or group the caller does not hold.
    ApprovalWrongRole = "approval.wrong_role",
    /// The run's requester cannot decide its approvals.
    ApprovalSelfApproval = "approval.self_approval",
    /// The comment is longer than 16 KiB.
    ApprovalCommentTooLong = "approval.comment_too_long",
    /// The approval's expiry (its gate's `expiresAfter`) passed before the
    /// decision arrived; it can no longer be decided.
    ApprovalPastExpiry = "approval.past_expiry",
    // Questions.
    /// A `status` filter that is not a question status.
    QuestionUnknownStatus = "question.unknown_status",
    /// The question is no longer open: answered or cancelled.
    QuestionClosed = "question.closed",
    /// The answer is empty.
    QuestionEmptyAnswer = "question.empty_answer",
    /// The answer is longer than 16 KiB.
    QuestionAnswerTooLong = "question.answer_too_long",
    // Events.
    /// `messageName` is empty.
    EventMissingMessageName = "event.missing_message_name",
    // The Tool Gateway.
    /// A halt scope that is not `global`, `agent` or `workflow`.
    GatewayInvalidScope = "gateway.invalid_scope",
    /// An agent or workflow halt without its target.
    GatewayMissingTarget = "gateway.missing_target",
    /// A halt without a reason.
    GatewayMissingReason = "gateway.missing_reason",
    /// There is no such halt to lift.
    GatewayNotHalted = "gateway.not_halted",
    /// The Cedar policy set does not validate; `errors` lists every problem.
    GatewayInvalidPolicySet = "gateway.invalid_policy_set",
    // Secrets and settings.
    /// No stored secret has this name.
    SecretNotFound = "secret.not_found",
    /// A secret name that is not `[A-Za-z][A-Za-z0-9_.-]{0,127}`.
    SecretInvalidName = "secret.invalid_name",
    /// An empty secret value.
    SecretValueEmpty = "secret.value_empty",
    /// A secret value over 64 KiB.
    SecretValueTooLarge = "secret.value_too_large",
    /// Deployment configuration keeps this secret; it is not changed
    /// through the API.
    SecretConfigured = "secret.configured",
}

impl Code {
    /// The code with this text, if the server has one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == text)
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Documented as a string enum of every code, so the OpenAPI document lists
/// them all and a client generator gets a closed type.
impl utoipa::PartialSchema for Code {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Code::ALL.iter().map(|c| c.as_str())))
            .description(Some(
                "A stable error code (see the README's HTTP API section).",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Code {
    fn name() -> std::borrow::Cow<'static, str> {
        "ProblemCode".into()
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused command answers with its own code: each one a refusal can
    /// reach the API with is in the list. The others are answered as
    /// `api.not_found`, the store's mapping, or `api.internal`.
    #[test]
    fn every_command_refusal_is_an_api_code() {
        let answered_otherwise = [
            "command.not_found",
            "command.store",
            "command.corrupt",
            "command.encode",
            "approval.not_due",
            "timer.not_due",
            "policy.already_published",
        ];
        for code in agentwerke_runtime::command::Error::CODES {
            if !answered_otherwise.contains(&code) {
                assert!(Code::parse(code).is_some(), "{code} is not an API code");
            }
        }
    }

    /// The published list. Changing this test is changing the API.
    #[test]
    fn the_code_list_is_pinned() {
        let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            codes,
            [
                "api.no_route",
                "api.method_not_allowed",
                "api.not_found",
                "api.conflict",
                "api.internal",
                "request.too_large",
                "request.malformed_json",
                "request.invalid_body",
                "request.unsupported_media_type",
                "request.unreadable_body",
                "request.invalid_query",
                "request.invalid_path",
                "request.invalid_cursor",
                "auth.missing_token",
                "auth.malformed_token",
                "auth.bad_signature",
                "auth.expired",
                "auth.not_yet_valid",
                "auth.wrong_issuer",
                "auth.wrong_audience",
                "auth.algorithm_not_allowed",
                "auth.unknown_key",
                "auth.no_roles",
                "auth.jwks_unavailable",
                "auth.dev_tokens_disabled",
                "auth.forbidden",
                "health.database_unavailable",
                "workflow.invalid",
                "workflow.not_utf8",
                "workflow.invalid_id",
                "workflow.not_published",
                "workflow.immutable_version",
                "workflow.too_complex",
                "workflow.check_failed",
                "workflow.checks_busy",
                "workflow.secret_unredactable",
                "run.unknown_status",
                "run.invalid_inputs",
                "run.finished",
                "run.not_failed",
                "run.no_failed_step",
                "approval.unknown_status",
                "approval.already_decided",
                "approval.wrong_role",
                "approval.self_approval",
                "approval.comment_too_long",
                "approval.past_expiry",
                "question.unknown_status",
                "question.closed",
                "question.empty_answer",
                "question.answer_too_long",
                "event.missing_message_name",
                "gateway.invalid_scope",
                "gateway.missing_target",
                "gateway.missing_reason",
                "gateway.not_halted",
                "gateway.invalid_policy_set",
                "secret.not_found",
                "secret.invalid_name",
                "secret.value_empty",
                "secret.value_too_large",
                "secret.configured",
            ]
        );
    }

    #[test]
    fn every_auth_code_has_its_api_code() {
        for code in agentwerke_auth::Error::CODES {
            assert!(Code::parse(code).is_some(), "{code} is not an API code");
        }
    }

    /// An error code must never read like a persisted audit kind.
    #[test]
    fn no_code_is_an_audit_kind() {
        for code in Code::ALL {
            assert!(
                agentwerke_types::AuditKind::parse(code.as_str()).is_err(),
                "{code} is an audit kind"
            );
        }
    }
}
