//! Validation findings: each with a stable code, a sentence, and a location.

use serde::{Deserialize, Serialize};

use crate::model::Position;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Will run, but is probably a mistake.
    Warning,
    /// Refuses the workflow.
    Error,
}

/// One finding about a BPMN document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `bpmn.unreachable_node`.
    pub code: &'static str,
    /// A sentence for humans.
    pub message: String,
    /// The BPMN id of the element concerned, if it has one.
    pub element_id: Option<String>,
    /// 1-based line of the element.
    pub line: u32,
    /// 1-based column of the element.
    pub column: u32,
}

impl Diagnostic {
    /// An error at `position`.
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        element_id: Option<&str>,
        position: Position,
    ) -> Self {
        Self::new(Severity::Error, code, message, element_id, position)
    }

    /// A warning at `position`.
    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        element_id: Option<&str>,
        position: Position,
    ) -> Self {
        Self::new(Severity::Warning, code, message, element_id, position)
    }

    fn new(
        severity: Severity,
        code: &'static str,
        message: impl Into<String>,
        element_id: Option<&str>,
        position: Position,
    ) -> Self {
        Self {
            severity,
            code,
            message: message.into(),
            element_id: element_id.map(str::to_owned),
            line: position.line,
            column: position.column,
        }
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}
