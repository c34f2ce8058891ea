//! What an approver reads besides the action itself: the risk of a gate,
//! the artifacts a request points at, and what an escalated step has
//! produced so far.
//!
//! Everything here is pure and is called where a request is built
//! (`effects` for gates, `gateway` for escalations), so the request recorded
//! in the approval row, which the API shows and the evidence pack copies,
//! is the one document every reader sees.

use agentwerke_bpmn::model::ApprovalSpec;
use agentwerke_evidence::sections::ArtifactRecord;
use agentwerke_gateway::{CallStatus, Execution, Outcome, RiskAssessment, RiskFactor};
use agentwerke_store::RiskPeak;
use serde::Serialize;
use serde_json::Value;

/// Weight of `human_gate`: every modelled gate.
const W_GATE: u8 = 10;
/// Weight of `sensitive_purpose`.
const W_PURPOSE: u8 = 25;
/// Weight of `sensitive_policy_tag`.
const W_POLICY_TAG: u8 = 15;
/// Weight of `restricted_approver`.
const W_APPROVER: u8 = 5;

/// Purpose words of a decision that lets systems change or money move.
const SENSITIVE_PURPOSES: [&str; 9] = [
    "deploy",
    "deployment",
    "release",
    "delete",
    "deletion",
    "payment",
    "migrate",
    "migration",
    "production",
];

/// Policy-tag words of areas where a wrong decision has legal, security or
/// financial consequences.
const SENSITIVE_TAGS: [&str; 9] = [
    "security",
    "legal",
    "compliance",
    "privacy",
    "pii",
    "finance",
    "payment",
    "release",
    "production",
];

/// The risk of a modelled gate, additive like the gateway's own score so
/// that each factor's weight and detail say why it scored what it did.
///
/// The run's part is the riskiest tool call the Tool Gateway assessed in it
/// so far (`peak`, kept on the run row): the gate lets the run go on after
/// that call, so it is at least as risky, and where the run's work lands
/// (production or not) already counts there, judged by the gateway from the
/// call itself. The gate's own part comes from its `purposeType`,
/// `policyTag` and `approverRole`. An `assessed_calls` factor is listed even
/// when no call was assessed (weight 0), so the approver reads that the
/// score does not rest on any tool call.
pub fn gate_risk(peak: Option<&RiskPeak>, spec: &ApprovalSpec) -> RiskAssessment {
    let mut factors = vec![factor(
        "human_gate",
        W_GATE,
        "the workflow requires a human decision here".to_owned(),
    )];
    factors.push(match peak {
        Some(peak) => factor(
            "assessed_calls",
            peak.score,
            format!(
                "the riskiest tool call of this run so far, {} at '{}', was scored {} by the Tool Gateway ({})",
                peak.tool,
                peak.node_id,
                peak.score,
                if peak.factors.is_empty() {
                    "no risk factor".to_owned()
                } else {
                    peak.factors.join(", ")
                }
            ),
        ),
        None => factor(
            "assessed_calls",
            0,
            "no tool call of this run was assessed by the Tool Gateway before this gate".to_owned(),
        ),
    });
    if has_word(&spec.purpose_type, &SENSITIVE_PURPOSES) {
        factors.push(factor(
            "sensitive_purpose",
            W_PURPOSE,
            format!(
                "purpose '{}' lets systems change or money move",
                spec.purpose_type
            ),
        ));
    }
    if has_word(&spec.policy_tag, &SENSITIVE_TAGS) {
        factors.push(factor(
            "sensitive_policy_tag",
            W_POLICY_TAG,
            format!(
                "policy tag '{}' covers an area where a wrong decision has legal, security or financial consequences",
                spec.policy_tag
            ),
        ));
    }
    if let Some(role) = &spec.approver_role {
        factors.push(factor(
            "restricted_approver",
            W_APPROVER,
            format!("the workflow reserves this decision for the '{role}' role"),
        ));
    }
    let score = factors
        .iter()
        .fold(0u8, |sum, f| sum.saturating_add(f.weight))
        .min(100);
    RiskAssessment { score, factors }
}

fn factor(name: &str, weight: u8, detail: String) -> RiskFactor {
    RiskFactor {
        name: name.to_owned(),
        weight,
        detail,
    }
}

/// Whether one of `text`'s words (split on non-letters, any case) is in `list`.
fn has_word(text: &str, list: &[&str]) -> bool {
    text.split(|c: char| !c.is_alphabetic())
        .any(|word| list.iter().any(|w| w.eq_ignore_ascii_case(word)))
}

/// The longest tool output an escalation request quotes in full, in bytes of
/// JSON text; a longer one is quoted up to this size and marked truncated
/// (its digest still identifies the whole output in the evidence).
pub const QUOTED_OUTPUT_MAX: usize = 4096;

/// What an escalated step has produced before the call it escalated: the
/// `relatedOutput` of its approval request.
///
/// An approver judges a call in its context: what the agent said when it
/// asked for it, and what the step's earlier calls returned. Both are as
/// redacted as everything else that is recorded (tool outputs by the
/// gateway, the agent's text here), and both cover this execution of the
/// step only: a step resumed after an earlier pause has its earlier calls in
/// that earlier request and in the evidence pack.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EscalationContext {
    /// What the model said in the turn that asked for the call, redacted;
    /// `None` for a task that calls its tool without a model, or a turn
    /// with no text.
    pub agent_text: Option<String>,
    /// The step's earlier calls in this execution, oldest first.
    pub earlier_calls: Vec<EarlierCall>,
}

/// One earlier call of an escalated step, as its approver sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EarlierCall {
    /// The tool.
    pub tool: String,
    /// What became of it.
    pub status: CallStatus,
    /// The gateway's risk score for the call.
    pub risk_score: u8,
    /// The redacted output of an executed call, quoted whole up to
    /// [`QUOTED_OUTPUT_MAX`] bytes of JSON text, else as the start of that
    /// text.
    pub output: Option<Value>,
    /// Whether `output` is cut short.
    pub truncated: bool,
    /// SHA-256 of the whole redacted output, as the tool-call record has it.
    pub output_sha256: Option<String>,
}

impl EarlierCall {
    /// The call of `tool` that `execution` made, as a later approver of the
    /// same step reads it.
    pub fn of(tool: &str, execution: &Execution) -> Self {
        let (output, truncated) = match &execution.outcome {
            Outcome::Executed { output } => {
                let (quoted, truncated) = Self::quote(output);
                (Some(quoted), truncated)
            }
            _ => (None, false),
        };
        Self {
            tool: tool.to_owned(),
            status: execution.record.status,
            risk_score: execution.record.risk_score,
            output,
            truncated,
            output_sha256: execution.record.output_digest.clone(),
        }
    }

    /// `output` quoted as [`EarlierCall::output`] says.
    pub fn quote(output: &Value) -> (Value, bool) {
        let text = output.to_string();
        if text.len() <= QUOTED_OUTPUT_MAX {
            return (output.clone(), false);
        }
        let mut end = QUOTED_OUTPUT_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        (Value::String(text[..end].to_owned()), true)
    }
}

/// An artifact as an `artifact.write` call's output describes it, in the
/// shape of the evidence pack's artifacts section; `None` for an output
/// that is not one.
pub fn written_artifact(output: &Value) -> Option<ArtifactRecord> {
    Some(ArtifactRecord {
        name: output["path"].as_str()?.to_owned(),
        sha256: output["sha256"].as_str()?.to_owned(),
        size: output["size"].as_u64()?,
        media_type: output["mediaType"].as_str().unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(purpose: &str, tag: &str, role: Option<&str>) -> ApprovalSpec {
        ApprovalSpec {
            purpose_type: purpose.to_owned(),
            policy_tag: tag.to_owned(),
            approver_role: role.map(str::to_owned),
            expiry: None,
        }
    }

    fn peak(score: u8) -> RiskPeak {
        RiskPeak {
            score,
            tool: "http.request".to_owned(),
            node_id: "Deploy".to_owned(),
            work_id: "w1".into(),
            factors: vec!["tool_category".to_owned(), "production_target".to_owned()],
        }
    }

    #[test]
    fn the_riskiest_assessed_call_moves_the_gate_score() {
        let gate = spec("review", "sdlc", None);
        let none = gate_risk(None, &gate);
        let low = gate_risk(Some(&peak(10)), &gate);
        let high = gate_risk(Some(&peak(55)), &gate);
        assert_eq!((none.score, low.score, high.score), (10, 20, 65));
        assert_eq!(high.factors[1].name, "assessed_calls");
        assert_eq!(high.factors[1].weight, 55);
        assert!(
            high.factors[1]
                .detail
                .contains("http.request at 'Deploy', was scored 55")
        );
        assert!(high.factors[1].detail.contains("production_target"));
        assert_eq!(none.factors[1].weight, 0);
        assert!(none.factors[1].detail.starts_with("no tool call"));
    }

    #[test]
    fn the_gate_factors_add_up_and_cap_at_100() {
        let risk = gate_risk(
            Some(&peak(60)),
            &spec("release_approval", "security", Some("release-manager")),
        );
        let names: Vec<_> = risk.factors.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "human_gate",
                "assessed_calls",
                "sensitive_purpose",
                "sensitive_policy_tag",
                "restricted_approver"
            ]
        );
        assert_eq!(risk.score, 100);
        assert_eq!(risk.level().as_str(), "critical");
    }

    #[test]
    fn gate_attributes_count_by_whole_words() {
        let score = |purpose: &str, tag: &str| gate_risk(None, &spec(purpose, tag, None)).score;
        assert_eq!(score("review", "docs"), W_GATE);
        assert_eq!(score("code-review", "sdlc"), W_GATE);
        assert_eq!(score("release_approval", "sdlc"), W_GATE + W_PURPOSE);
        assert_eq!(score("review", "Security"), W_GATE + W_POLICY_TAG);
        assert_eq!(score("redeployment", "securityish"), W_GATE);
    }

    #[test]
    fn long_outputs_are_quoted_short_and_marked() {
        let small = json!({"ok": true});
        assert_eq!(EarlierCall::quote(&small), (small.clone(), false));
        let big = json!({"body": "é".repeat(QUOTED_OUTPUT_MAX)});
        let (quoted, truncated) = EarlierCall::quote(&big);
        assert!(truncated);
        assert!(quoted.as_str().unwrap().len() <= QUOTED_OUTPUT_MAX);
    }

    #[test]
    fn written_artifacts_come_from_the_tool_output() {
        let output =
            json!({"path": "a.md", "sha256": "ab", "size": 2, "mediaType": "text/markdown"});
        let artifact = written_artifact(&output).unwrap();
        assert_eq!((artifact.name.as_str(), artifact.size), ("a.md", 2));
        assert!(written_artifact(&json!({"results": []})).is_none());
    }
}
