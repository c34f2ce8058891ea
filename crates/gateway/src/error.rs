//! The gateway's errors and their stable codes.
//!
//! Two types, because they reach different people: [`Error`] is for the
//! operator setting the gateway up (a tool that cannot register, a policy
//! set that does not validate); [`ToolError`] is a tool failing at run time,
//! which goes back to the model and into the call record. Decisions are not
//! errors: a rejected call is a normal [`crate::Decision`].

use serde::Serialize;

use agentwerke_types::ErrorCode;

/// Setting up the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool name is empty or uses characters outside `a-z 0-9 . _ -`.
    #[error("invalid tool name '{name}': use lowercase letters, digits, '.', '_' and '-'")]
    InvalidToolName {
        /// The name.
        name: String,
    },
    /// Two tools share a name.
    #[error("tool '{name}' is already registered")]
    DuplicateTool {
        /// The name.
        name: String,
    },
    /// A tool's input schema is not a valid JSON Schema.
    #[error("tool '{name}' has an invalid input schema: {reason}")]
    InvalidToolSchema {
        /// The tool.
        name: String,
        /// What the schema compiler said.
        reason: String,
    },
    /// The policy set does not parse or validate; every problem is listed.
    #[error("the policy set is invalid ({} problem(s)); first: {}", .0.len(), .0.first().map_or("", |i| i.message.as_str()))]
    InvalidPolicySet(Vec<PolicyIssue>),
    /// The Cedar schema could not be built (a bug or an impossible tool
    /// name, never user input).
    #[error("the policy schema is invalid: {0}")]
    PolicySchema(String),
    /// The policy set was validated against a schema that does not declare
    /// every registered tool with its category.
    #[error("the policy set's schema does not match the tool registry: {0}")]
    SchemaMismatch(String),
    /// The HTTP client for `http.request` could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

impl Error {
    /// Every code this enum can produce.
    pub const CODES: [&'static str; 7] = [
        "gateway.registry.invalid_tool_name",
        "gateway.registry.duplicate_tool",
        "gateway.registry.invalid_tool_schema",
        "gateway.policy.invalid",
        "gateway.policy.schema",
        "gateway.policy.schema_mismatch",
        "gateway.http.client",
    ];
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::InvalidToolName { .. } => "gateway.registry.invalid_tool_name",
            Error::DuplicateTool { .. } => "gateway.registry.duplicate_tool",
            Error::InvalidToolSchema { .. } => "gateway.registry.invalid_tool_schema",
            Error::InvalidPolicySet(_) => "gateway.policy.invalid",
            Error::PolicySchema(_) => "gateway.policy.schema",
            Error::SchemaMismatch(_) => "gateway.policy.schema_mismatch",
            Error::HttpClient(_) => "gateway.http.client",
        }
    }
}

/// One problem in a policy set, with a stable code and, where Cedar knows
/// it, the policy and the position in the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyIssue {
    /// One of [`PolicyIssue::CODES`].
    pub code: &'static str,
    /// The policy's `@id`, when the problem is inside one policy.
    pub policy_id: Option<String>,
    /// What is wrong.
    pub message: String,
    /// 1-based line in the policy text, when known.
    pub line: Option<u32>,
    /// 1-based column in the policy text, when known.
    pub column: Option<u32>,
}

impl PolicyIssue {
    /// Syntax error.
    pub const PARSE: &'static str = "gateway.policy.parse";
    /// Fails the Cedar schema (unknown attribute, type error ...).
    pub const VALIDATION: &'static str = "gateway.policy.validation";
    /// A policy without `@id`.
    pub const MISSING_ID: &'static str = "gateway.policy.missing_id";
    /// Two policies with the same `@id`.
    pub const DUPLICATE_ID: &'static str = "gateway.policy.duplicate_id";
    /// A `@decision`, `@risk` or `@approver_role` with an invalid value.
    pub const ANNOTATION: &'static str = "gateway.policy.annotation";
    /// A template (`?principal`): the gateway links no templates.
    pub const TEMPLATE: &'static str = "gateway.policy.template";

    /// Every issue code.
    pub const CODES: [&'static str; 6] = [
        Self::PARSE,
        Self::VALIDATION,
        Self::MISSING_ID,
        Self::DUPLICATE_ID,
        Self::ANNOTATION,
        Self::TEMPLATE,
    ];
}

impl std::fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " at {line}:{column}")?;
        }
        if let Some(id) = &self.policy_id {
            write!(f, " in policy '{id}'")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A tool failed while executing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments pass the schema but make no sense to the tool.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// What the call names does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The content or response exceeds a configured limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The tool did not finish in time.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// An outbound HTTP request failed.
    #[error("http request failed: {0}")]
    Http(String),
    /// The artifact store failed.
    #[error("storage failed: {0}")]
    Storage(String),
    /// Stored content no longer matches its hash.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// Anything else the tool reports.
    #[error("{0}")]
    Failed(String),
    /// A secret the call references is neither stored nor configured.
    #[error("secret '{0}' does not exist")]
    SecretMissing(String),
    /// A secret the call references exists but cannot be read now.
    #[error("secret '{0}' cannot be read: {1}")]
    SecretUnreadable(String, String),
    /// The destination resolves to an address outbound calls may not
    /// reach (loopback, private, link-local ...).
    #[error(transparent)]
    EgressRefused(crate::egress::Refused),
    /// A path names something outside the run's workspace: absolute, with
    /// `..`, or through a symbolic link that leads out.
    #[error("path outside the workspace: {0}")]
    PathOutsideWorkspace(String),
    /// The task's sandbox profile binds the workspace read-only.
    #[error("the workspace is read-only: {0}")]
    WorkspaceReadOnly(String),
    /// The sandbox did not run the command; `code` is the sandbox's own
    /// stable code (`sandbox.isolation_unavailable`, ...).
    #[error("{message}")]
    Sandbox {
        /// One of the sandbox's codes.
        code: &'static str,
        /// Why.
        message: String,
    },
}

impl From<crate::secret::Unavailable> for ToolError {
    fn from(unavailable: crate::secret::Unavailable) -> Self {
        match unavailable {
            crate::secret::Unavailable::Missing(name) => ToolError::SecretMissing(name),
            crate::secret::Unavailable::Unreadable(name, why) => {
                ToolError::SecretUnreadable(name, why)
            }
        }
    }
}

impl ToolError {
    /// Every code this enum can produce.
    pub const CODES: [&'static str; 13] = [
        "gateway.tool.invalid_input",
        "gateway.tool.not_found",
        "gateway.tool.too_large",
        "gateway.tool.timeout",
        "gateway.tool.http",
        "gateway.tool.storage",
        "gateway.tool.integrity",
        "gateway.tool.failed",
        "gateway.tool.secret_missing",
        "gateway.tool.secret_unreadable",
        "gateway.egress.address_refused",
        "gateway.workspace.path_outside",
        "gateway.workspace.read_only",
    ];
}

impl ErrorCode for ToolError {
    fn code(&self) -> &'static str {
        match self {
            ToolError::InvalidInput(_) => "gateway.tool.invalid_input",
            ToolError::NotFound(_) => "gateway.tool.not_found",
            ToolError::TooLarge(_) => "gateway.tool.too_large",
            ToolError::Timeout(_) => "gateway.tool.timeout",
            ToolError::Http(_) => "gateway.tool.http",
            ToolError::Storage(_) => "gateway.tool.storage",
            ToolError::Integrity(_) => "gateway.tool.integrity",
            ToolError::Failed(_) => "gateway.tool.failed",
            ToolError::SecretMissing(_) => "gateway.tool.secret_missing",
            ToolError::SecretUnreadable(..) => "gateway.tool.secret_unreadable",
            ToolError::EgressRefused(_) => "gateway.egress.address_refused",
            ToolError::PathOutsideWorkspace(_) => "gateway.workspace.path_outside",
            ToolError::WorkspaceReadOnly(_) => "gateway.workspace.read_only",
            ToolError::Sandbox { code, .. } => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are published: clients match on them. This list only grows.
    #[test]
    fn every_variant_has_its_stable_code() {
        let errors = [
            Error::InvalidToolName {
                name: String::new(),
            },
            Error::DuplicateTool {
                name: String::new(),
            },
            Error::InvalidToolSchema {
                name: String::new(),
                reason: String::new(),
            },
            Error::InvalidPolicySet(Vec::new()),
            Error::PolicySchema(String::new()),
            Error::SchemaMismatch(String::new()),
            Error::HttpClient(String::new()),
        ];
        let codes: Vec<_> = errors.iter().map(ErrorCode::code).collect();
        assert_eq!(codes, Error::CODES);

        let tool_errors = [
            ToolError::InvalidInput(String::new()),
            ToolError::NotFound(String::new()),
            ToolError::TooLarge(String::new()),
            ToolError::Timeout(0),
            ToolError::Http(String::new()),
            ToolError::Storage(String::new()),
            ToolError::Integrity(String::new()),
            ToolError::Failed(String::new()),
            ToolError::SecretMissing(String::new()),
            ToolError::SecretUnreadable(String::new(), String::new()),
            ToolError::EgressRefused(crate::egress::Refused {
                host: String::new(),
                address: std::net::Ipv4Addr::LOCALHOST.into(),
                class: crate::egress::AddressClass::Loopback,
            }),
            ToolError::PathOutsideWorkspace(String::new()),
            ToolError::WorkspaceReadOnly(String::new()),
        ];
        let codes: Vec<_> = tool_errors.iter().map(ErrorCode::code).collect();
        assert_eq!(codes, ToolError::CODES);
        // The sandbox's refusals keep the sandbox's own codes.
        let refused = ToolError::Sandbox {
            code: "sandbox.isolation_unavailable",
            message: String::new(),
        };
        assert_eq!(refused.code(), "sandbox.isolation_unavailable");

        assert_eq!(
            PolicyIssue::CODES,
            [
                "gateway.policy.parse",
                "gateway.policy.validation",
                "gateway.policy.missing_id",
                "gateway.policy.duplicate_id",
                "gateway.policy.annotation",
                "gateway.policy.template",
            ]
        );
        for code in Error::CODES
            .iter()
            .chain(&ToolError::CODES)
            .chain(&PolicyIssue::CODES)
        {
            assert!(code.starts_with("gateway."), "{code}");
        }
    }
}
