//! Prompt templates: `{{variable}}` interpolation and nothing else.
//!
//! A task's prompt is written by a workflow author and filled from run data
//! that nobody reviewed, so the template language is deliberately the
//! smallest one that does the job: a variable is a name or a dotted path
//! between double braces, optionally padded with spaces (`{{ input.x }}`).
//! There are no conditionals, loops, filters or escapes, and inserted text is
//! never scanned again, so run data cannot smuggle in further variables.
//!
//! | Variable | Value |
//! |---|---|
//! | `{{input.a.b}}`, `{{input.items.0}}` | a path into the run input; digits index arrays |
//! | `{{output.NodeId}}`, `{{output.NodeId.field}}` | an earlier task's output |
//! | `{{approval.x}}`, `{{event.x}}` | the latest approval decision / received message, if the context has them |
//! | `{{run_id}}` | the run id |
//! | `{{node_name}}` | the task's name (its id when it has none) |
//! | `{{feedback}}` | the approver's `request_changes` comment; empty when there is none |
//!
//! Strings are inserted as they are; every other JSON value as compact JSON
//! (`{"a":1}`, `[1,2]`, `true`, `null`). A variable that does not resolve
//! stays in the text verbatim (`{{input.missing}}`), so a reader of the
//! evidence sees the hole, and is listed in [`Rendered::unresolved`]; a
//! strict task turns that list into [`Error::UnresolvedVariable`] (see
//! [`assemble`]). A `{{` with no closing `}}` is plain text.

mod assemble;
mod snapshot;

use serde_json::Value;

use crate::error::Error;

pub use assemble::{AssembledPrompt, SkillPrompt, TaskPromptSpec, assemble};
pub use snapshot::PromptSnapshot;

/// Templates larger than this (64 KiB) are refused before rendering.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// Rendered prompts larger than this (1 MiB) are refused: a template of a few
/// lines can repeat a large input many times over.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// Context roots a path may start with.
const CONTEXT_ROOTS: [&str; 4] = ["input", "output", "approval", "event"];

/// What a template is rendered against.
#[derive(Debug, Clone, Copy)]
pub struct PromptVars<'a> {
    /// The run context: `{input, output, approval, event, run_id}`.
    pub context: &'a Value,
    /// The run id, for `{{run_id}}`.
    pub run_id: &'a str,
    /// The task's name, for `{{node_name}}`.
    pub node_name: &'a str,
    /// The approver's `request_changes` comment, for `{{feedback}}`.
    pub feedback: Option<&'a str>,
}

/// A rendered template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The text, with unresolved variables left in verbatim.
    pub text: String,
    /// Unresolved variables as written (trimmed, without braces), each once,
    /// in order of first appearance.
    pub unresolved: Vec<String>,
}

impl Rendered {
    /// The text, or [`Error::UnresolvedVariable`] naming every variable that
    /// did not resolve. This is what `strictVariables` means.
    pub fn strict(self) -> Result<String, Error> {
        if self.unresolved.is_empty() {
            Ok(self.text)
        } else {
            Err(Error::UnresolvedVariable {
                names: self.unresolved,
            })
        }
    }
}

/// Renders `template` against `vars` (see the module docs for the syntax).
///
/// Errors only on the size limits; unresolved variables are reported in the
/// result, not as an error.
pub fn render(template: &str, vars: &PromptVars<'_>) -> Result<Rendered, Error> {
    render_tracked(template, vars).map(|(rendered, _)| rendered)
}

/// [`render`], also saying whether the template used `{{feedback}}`.
pub(crate) fn render_tracked(
    template: &str,
    vars: &PromptVars<'_>,
) -> Result<(Rendered, bool), Error> {
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(Error::TemplateTooLarge {
            len: template.len(),
            limit: MAX_TEMPLATE_BYTES,
        });
    }
    let mut out = Output::default();
    let mut unresolved: Vec<String> = Vec::new();
    let mut used_feedback = false;
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break;
        };
        let inner = &after[..close];
        // `{{ a {{b}}`: the variable is the innermost one; the rest is text.
        if let Some(nested) = inner.rfind("{{") {
            let literal_end = open + 2 + nested;
            out.push(&rest[..literal_end])?;
            rest = &rest[literal_end..];
            continue;
        }
        out.push(&rest[..open])?;
        let name = inner.trim();
        used_feedback |= name == "feedback";
        match resolve(name, vars) {
            Some(value) => out.push(&value)?,
            None => {
                out.push(&rest[open..open + 2 + close + 2])?;
                if !unresolved.iter().any(|n| n == name) {
                    unresolved.push(name.to_owned());
                }
            }
        }
        rest = &after[close + 2..];
    }
    out.push(rest)?;
    let rendered = Rendered {
        text: out.0,
        unresolved,
    };
    Ok((rendered, used_feedback))
}

/// A string that refuses to grow past [`MAX_OUTPUT_BYTES`].
#[derive(Default)]
struct Output(String);

impl Output {
    fn push(&mut self, piece: &str) -> Result<(), Error> {
        if self.0.len() + piece.len() > MAX_OUTPUT_BYTES {
            return Err(Error::PromptTooLarge {
                limit: MAX_OUTPUT_BYTES,
            });
        }
        self.0.push_str(piece);
        Ok(())
    }
}

/// The text a variable stands for, or `None` when it does not resolve.
fn resolve(name: &str, vars: &PromptVars<'_>) -> Option<String> {
    match name {
        "run_id" => return Some(vars.run_id.to_owned()),
        "node_name" => return Some(vars.node_name.to_owned()),
        "feedback" => return Some(vars.feedback.unwrap_or_default().to_owned()),
        _ => {}
    }
    let mut segments = name.split('.');
    let root = segments.next()?;
    if !CONTEXT_ROOTS.contains(&root) || !name.split('.').all(is_segment) {
        return None;
    }
    let value = segments.try_fold(vars.context.get(root)?, step)?;
    Some(match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// One step down a path: object members by name, array items by index.
fn step<'a>(value: &'a Value, segment: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

/// Path segments are identifiers: letters, digits, `_` and `-`.
fn is_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
#[path = "prompt_tests.rs"]
mod tests;
