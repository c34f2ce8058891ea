//! A person answers an agent's blocking question (`human.ask`); the asking
//! step resumes with the answer.

use agentwerke_engine::{Event, WorkId};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{QuestionRow, Row};
use agentwerke_types::{Actor, AuditKind, QuestionId, QuestionStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Error, Plan, PlannedEvent};
use crate::clock::rfc3339;

/// The longest answer, in characters.
pub const MAX_ANSWER_CHARS: usize = 16 * 1024;

/// A person's answer to an open question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerQuestion {
    /// The question.
    pub question_id: QuestionId,
    /// The answer as typed.
    pub answer: String,
    /// Who answers (token subject).
    pub answered_by: String,
}

/// What answering reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The question, if it exists.
    pub question: Option<QuestionRow>,
}

/// Plans an answer: it fits and is not blank, the question is open; then
/// the row (the answer trimmed and redacted), the event that resumes the
/// asking attempt and the audit record.
pub fn plan(snapshot: &Snapshot, command: AnswerQuestion, ctx: &Ctx<'_>) -> Result<Plan, Error> {
    if command.answer.chars().count() > MAX_ANSWER_CHARS {
        return Err(Error::AnswerTooLong {
            max: MAX_ANSWER_CHARS,
        });
    }
    let text = command.answer.trim();
    if text.is_empty() {
        return Err(Error::EmptyAnswer);
    }
    let question = snapshot.question.as_ref().ok_or_else(|| Error::NotFound {
        what: "question",
        id: command.question_id.to_string(),
    })?;
    if question.status != QuestionStatus::Open {
        return Err(Error::QuestionClosed {
            id: question.id.to_string(),
            status: question.status.as_str().to_owned(),
        });
    }
    let work_id: WorkId = question
        .work_id
        .as_str()
        .parse()
        .map_err(|reason| Error::Corrupt {
            what: format!("the work id of question '{}': {reason}", question.id),
        })?;
    let text = ctx.redactor.redact_str(text);
    Ok(Plan {
        run: question.run_id.clone(),
        event: Some(PlannedEvent {
            event: Event::TaskResumed {
                work_id,
                at: ctx.at,
            },
            dedup_key: Some(format!("answer:{}", question.id)),
        }),
        audit: vec![AuditDraft {
            run_id: question.run_id.to_string(),
            at: rfc3339(ctx.at),
            actor: Actor::user(&command.answered_by),
            kind: AuditKind::QuestionAnswered,
            data: json!({"questionId": question.id, "workId": question.work_id,
                         "nodeId": question.node_id, "answer": text}),
        }],
        rows: vec![Row::AnswerQuestion {
            id: question.id.clone(),
            answer: text,
            answered_by: command.answered_by,
        }],
        records: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_types::{ErrorCode, Timestamp};

    use super::*;

    fn question(status: QuestionStatus) -> QuestionRow {
        QuestionRow {
            id: "q-1".into(),
            run_id: "run-1".into(),
            work_id: "w2".into(),
            node_id: "Draft".to_owned(),
            agent: "analyst".to_owned(),
            question: "Which region?".to_owned(),
            status,
            answer: None,
            answered_by: None,
            asked_at: Timestamp::from_millis(1),
            answered_at: None,
        }
    }

    fn answer(text: &str) -> AnswerQuestion {
        AnswerQuestion {
            question_id: "q-1".into(),
            answer: text.to_owned(),
            answered_by: "bob".to_owned(),
        }
    }

    #[test]
    fn an_answer_is_the_row_the_resuming_event_and_the_audit_record() {
        let redactor = agentwerke_evidence::redact::Redactor::new(["s3cret"]);
        let ctx = Ctx {
            at: Timestamp::from_millis(9),
            redactor: &redactor,
        };
        let snapshot = Snapshot {
            question: Some(question(QuestionStatus::Open)),
        };
        let plan = plan(&snapshot, answer("  eu-west, key s3cret \n"), &ctx).unwrap();
        assert_eq!(
            plan.rows,
            [Row::AnswerQuestion {
                id: "q-1".into(),
                answer: "eu-west, key [REDACTED]".to_owned(),
                answered_by: "bob".to_owned(),
            }]
        );
        assert_eq!(
            plan.event,
            Some(PlannedEvent {
                event: Event::TaskResumed {
                    work_id: WorkId(2),
                    at: ctx.at
                },
                dedup_key: Some("answer:q-1".to_owned()),
            })
        );
        assert_eq!(plan.audit[0].kind, AuditKind::QuestionAnswered);
        assert_eq!(plan.audit[0].data["answer"], "eu-west, key [REDACTED]");
    }

    #[test]
    fn every_check_refuses_before_anything_is_planned() {
        let ctx = Ctx {
            at: Timestamp::from_millis(9),
            redactor: crate::command::no_secrets(),
        };
        let open = Snapshot {
            question: Some(question(QuestionStatus::Open)),
        };
        let code = |snapshot: &Snapshot, text: &str| {
            plan(snapshot, answer(text), &ctx).unwrap_err().code()
        };
        assert_eq!(code(&open, " \n "), "question.empty_answer");
        assert_eq!(
            code(&open, &"x".repeat(MAX_ANSWER_CHARS + 1)),
            "question.answer_too_long"
        );
        assert_eq!(code(&Snapshot::default(), "yes"), "command.not_found");
        let answered = Snapshot {
            question: Some(question(QuestionStatus::Answered)),
        };
        assert_eq!(code(&answered, "yes"), "question.closed");
    }
}
