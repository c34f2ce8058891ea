//! A text shown with numbered lines and the findings about it at their
//! lines: the policy editor's validation problems and a BPMN upload's
//! findings are both read where they are, not as a list of positions.

use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;
use crate::ui::text;

/// One finding about a text, as the API's problem detail carries it (a
/// policy issue or a BPMN diagnostic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// 1-based line, when known.
    pub(crate) line: Option<u32>,
    /// 1-based column, when known.
    pub(crate) column: Option<u32>,
    /// `error` or `warning`.
    pub(crate) severity: String,
    /// The stable code.
    pub(crate) code: String,
    /// The sentence for humans.
    pub(crate) message: String,
}

impl Finding {
    /// The findings in a problem's detail: an array of objects with
    /// `line`, `column`, `code`, `message` and, for BPMN, `severity` (a
    /// policy problem is always an error). Anything else yields none.
    pub(crate) fn all_in(detail: Option<&Value>) -> Vec<Self> {
        detail
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|item| Self {
                line: position(&item["line"]),
                column: position(&item["column"]),
                severity: match item["severity"].as_str() {
                    Some(severity) => severity.to_owned(),
                    None => "error".to_owned(),
                },
                code: text(&item["code"]),
                message: text(&item["message"]),
            })
            .collect()
    }
}

/// The findings of a refusal (its problem's `errors`), each sentence
/// passed through the keeper's redactor, as the refusal's own is.
pub(crate) fn refusal_findings(state: &AppState, error: &ApiError) -> Vec<Finding> {
    let redactor = state.keeper.redactor();
    Finding::all_in(error.detail())
        .into_iter()
        .map(|mut f| {
            f.message = redactor.redact_str(&f.message);
            f
        })
        .collect()
}

fn position(value: &Value) -> Option<u32> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// One shown line of the text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Line {
    /// Its 1-based number.
    pub(crate) number: u32,
    /// Its text.
    pub(crate) text: String,
    /// Whether lines were left out before it.
    pub(crate) gap: bool,
    /// The findings at this line.
    pub(crate) findings: Vec<Finding>,
}

/// The lines of `source` to show with `findings` at theirs: every line, or
/// with `context` only the lines within that many of a finding. A finding
/// past the last line is shown at the last line.
pub(crate) fn listing(source: &str, findings: &[Finding], context: Option<u32>) -> Vec<Line> {
    let texts: Vec<&str> = source.lines().collect();
    let last = u32::try_from(texts.len()).unwrap_or(u32::MAX).max(1);
    let at = |f: &Finding| f.line.map(|line| line.min(last));
    let shown = |number: u32| match context {
        None => true,
        Some(context) => findings
            .iter()
            .filter_map(at)
            .any(|line| line.abs_diff(number) <= context),
    };
    let mut lines = Vec::new();
    let mut previous = 0;
    for number in 1..=last {
        if !shown(number) {
            continue;
        }
        let index = usize::try_from(number - 1).unwrap_or(usize::MAX);
        lines.push(Line {
            number,
            text: texts.get(index).copied().unwrap_or_default().to_owned(),
            gap: number != previous + 1,
            findings: findings
                .iter()
                .filter(|f| at(f) == Some(number))
                .cloned()
                .collect(),
        });
        previous = number;
    }
    lines
}

/// The findings without a line, shown above the listing.
pub(crate) fn unplaced(findings: &[Finding]) -> Vec<Finding> {
    findings
        .iter()
        .filter(|f| f.line.is_none())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(line: u32) -> Finding {
        Finding {
            line: Some(line),
            column: Some(3),
            severity: "error".to_owned(),
            code: "c".to_owned(),
            message: format!("at {line}"),
        }
    }

    #[test]
    fn findings_stand_at_their_lines_and_context_keeps_only_lines_near_them() {
        let source = "a\nb\nc\nd\ne\nf\ng\nh";
        let all = listing(source, &[at(2)], None);
        assert_eq!(all.len(), 8);
        assert_eq!(all[1].text, "b");
        assert_eq!(all[1].findings, vec![at(2)]);
        assert!(all.iter().all(|l| !l.gap));

        let near = listing(source, &[at(2), at(7)], Some(1));
        let numbers: Vec<_> = near.iter().map(|l| (l.number, l.gap)).collect();
        assert_eq!(
            numbers,
            [
                (1, false),
                (2, false),
                (3, false),
                (6, true),
                (7, false),
                (8, false)
            ]
        );
        // Past the end: at the last line, so it is never lost.
        let past = listing("a\nb", &[at(9)], Some(0));
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].number, 2);
        assert_eq!(past[0].findings.len(), 1);
    }

    #[test]
    fn findings_are_read_from_policy_issues_and_bpmn_diagnostics() {
        let detail = json!([
            {"code": "gateway.policy.parse", "message": "unexpected token", "line": 4, "column": 7, "policyId": null},
            {"code": "gateway.policy.missing_id", "message": "no @id", "line": null, "column": null},
            {"severity": "warning", "code": "bpmn.x", "message": "m", "line": 2, "column": 1, "elementId": "A"},
        ]);
        let found = Finding::all_in(Some(&detail));
        assert_eq!(found.len(), 3);
        assert_eq!((found[0].line, found[0].column), (Some(4), Some(7)));
        assert_eq!(found[0].severity, "error");
        assert_eq!(found[2].severity, "warning");
        assert_eq!(unplaced(&found).len(), 1);
        assert_eq!(unplaced(&found)[0].code, "gateway.policy.missing_id");
        assert!(Finding::all_in(Some(&json!({"not": "a list"}))).is_empty());
        assert!(Finding::all_in(None).is_empty());
    }
}
