//! Sequence-flow conditions: CEL, plus the legacy `{{path}} op literal` form.
//!
//! Conditions are compiled once when a workflow is validated, and evaluated by
//! the engine against a JSON context whose top-level keys (`input`, `output`,
//! `event`, `approval`, `run_id`) become CEL variables. Evaluation fails closed:
//! a missing variable or key, or a result that is not a boolean, is an error,
//! never `false`.
//!
//! Source text is bounded in length and bracket nesting *before* it reaches the
//! CEL parser, and both compiling and evaluating run under `catch_unwind`, so a
//! hostile expression cannot take the process down.
//!
//! ```
//! use agentwerke_bpmn::condition::Condition;
//! let c = Condition::compile_str(r#"approval.Review.decision == "approve""#).unwrap();
//! let ctx = serde_json::json!({"approval": {"Review": {"decision": "approve"}}});
//! assert!(c.evaluate(&ctx).unwrap());
//! assert_eq!(c.references(), ["approval.Review.decision"]);
//! ```

mod cel_eval;
mod legacy;

use std::fmt;

use serde::{Deserialize, Serialize};

use agentwerke_types::ErrorCode;

use crate::model::Position;

/// Longest condition source accepted, in bytes.
pub const MAX_CONDITION_BYTES: usize = 4096;
/// Deepest bracket nesting (`(`, `[`, `{`) accepted.
pub const MAX_CONDITION_NESTING: usize = 32;
/// Most binary/logical operators accepted; bounds the depth of the syntax tree
/// that chained operators (`a || b || c ...`) build.
pub const MAX_CONDITION_OPERATORS: usize = 128;

/// A condition as written in the BPMN file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionSource {
    /// The trimmed expression text.
    pub text: String,
    /// Which language the text is in.
    pub language: ConditionLanguage,
    /// Where the `conditionExpression` starts.
    pub position: Position,
}

impl ConditionSource {
    /// A source whose language is detected from its text.
    pub fn new(text: impl Into<String>, position: Position) -> Self {
        let text = text.into();
        let language = ConditionLanguage::detect(&text);
        Self {
            text,
            language,
            position,
        }
    }
}

/// The language of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionLanguage {
    /// Common Expression Language.
    Cel,
    /// `{{path}} == "literal"`, kept so existing workflows keep working.
    Legacy,
}

impl ConditionLanguage {
    /// Text containing `{{` is legacy; everything else is CEL.
    pub fn detect(text: &str) -> Self {
        if text.contains("{{") {
            Self::Legacy
        } else {
            Self::Cel
        }
    }
}

/// Why a condition could not be compiled or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The source is longer than [`MAX_CONDITION_BYTES`].
    #[error("condition is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Brackets nest deeper than [`MAX_CONDITION_NESTING`], or there are more
    /// operators than [`MAX_CONDITION_OPERATORS`].
    #[error("condition is too complex: {0}")]
    TooComplex(String),
    /// The text does not parse.
    #[error("condition does not parse: {0}")]
    Syntax(String),
    /// Evaluation failed (missing variable or key, type error, ...).
    #[error("condition could not be evaluated: {0}")]
    Eval(String),
    /// Evaluation produced something other than a boolean.
    #[error("condition evaluated to {0}, not a boolean")]
    NotBoolean(String),
}

impl ErrorCode for ConditionError {
    fn code(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "bpmn.condition_too_long",
            Self::TooComplex(_) => "bpmn.condition_too_complex",
            Self::Syntax(_) => "bpmn.condition_syntax",
            Self::Eval(_) => "engine.condition_eval",
            Self::NotBoolean(_) => "engine.condition_not_boolean",
        }
    }
}

/// A compiled condition, ready to evaluate many times.
pub struct Condition {
    text: String,
    references: Vec<String>,
    body: Body,
}

enum Body {
    Cel(cel::Program),
    Legacy(legacy::Legacy),
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let language = match self.body {
            Body::Cel(_) => ConditionLanguage::Cel,
            Body::Legacy(_) => ConditionLanguage::Legacy,
        };
        f.debug_struct("Condition")
            .field("text", &self.text)
            .field("language", &language)
            .field("references", &self.references)
            .finish()
    }
}

impl Condition {
    /// Compiles a condition in the language its source names.
    pub fn compile(src: &ConditionSource) -> Result<Condition, ConditionError> {
        let text = src.text.trim();
        check_bounds(text)?;
        let (body, references) = match src.language {
            ConditionLanguage::Legacy => {
                let legacy = legacy::Legacy::parse(text)?;
                let refs = vec![legacy.path().to_owned()];
                (Body::Legacy(legacy), refs)
            }
            ConditionLanguage::Cel => {
                let program = cel_eval::compile(text)?;
                let refs = cel_eval::references(&program);
                (Body::Cel(program), refs)
            }
        };
        Ok(Condition {
            text: text.to_owned(),
            references,
            body,
        })
    }

    /// Compiles `text`, detecting its language.
    pub fn compile_str(text: &str) -> Result<Condition, ConditionError> {
        Self::compile(&ConditionSource::new(text, Position::default()))
    }

    /// Evaluates against a context object (`{"input": .., "output": .., ...}`).
    pub fn evaluate(&self, context: &serde_json::Value) -> Result<bool, ConditionError> {
        match &self.body {
            Body::Legacy(legacy) => Ok(legacy.evaluate(context)),
            Body::Cel(program) => cel_eval::evaluate(program, context),
        }
    }

    /// The trimmed source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The dotted context paths the condition reads, in the order they
    /// appear, without duplicates: `approval.Review.decision`, `input.region`
    /// (`input["region"]` included). A variable read whole appears as just
    /// its name; variables bound inside macros (`exists(x, ..)`) are left out.
    pub fn references(&self) -> &[String] {
        &self.references
    }

    /// True when some reference starts with `root` as a whole segment
    /// (`reads("approval.Review")` matches `approval.Review.decision`).
    pub fn reads(&self, root: &str) -> bool {
        self.references.iter().any(|r| {
            r == root || (r.starts_with(root) && r.as_bytes().get(root.len()) == Some(&b'.'))
        })
    }
}

/// Length, nesting and operator-count checks done before any parser runs.
fn check_bounds(text: &str) -> Result<(), ConditionError> {
    if text.len() > MAX_CONDITION_BYTES {
        return Err(ConditionError::TooLong {
            len: text.len(),
            max: MAX_CONDITION_BYTES,
        });
    }
    if text.is_empty() {
        return Err(ConditionError::Syntax("the condition is empty".to_owned()));
    }
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev = ' ';
    for ch in text.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == q {
                quote = None;
            }
            prev = ch;
            continue;
        }
        match ch {
            '"' | '\'' => quote = Some(ch),
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_CONDITION_NESTING {
                    return Err(ConditionError::TooComplex(format!(
                        "brackets nest deeper than {MAX_CONDITION_NESTING}"
                    )));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '+' | '-' | '*' | '/' | '%' | '<' | '>' | '?' | '.' | '!' => operators += 1,
            '&' | '|' | '=' if ch != prev => operators += 1,
            _ => {}
        }
        prev = ch;
        if operators > MAX_CONDITION_OPERATORS {
            return Err(ConditionError::TooComplex(format!(
                "more than {MAX_CONDITION_OPERATORS} operators"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
