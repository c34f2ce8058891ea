//! The run conversation: asking pauses the work; one answer wins and the run
//! hears it once; a stopped attempt's questions close.

use std::sync::Arc;

use agentwerke_store::{
    Change, JsonText, NewQuestion, Op, QuestionFilter, Row, RunEvent, Store, Stream, WorkEnd,
};
use agentwerke_types::{ErrorCode, QuestionStatus};
use serde_json::json;

use super::support::{code_of, commit_all, draft, one_run, step, t};

fn insert(work_id: &str) -> Op {
    Op::InsertWork {
        work_id: work_id.into(),
        kind: "agent_task".to_owned(),
        payload: JsonText::from(&json!({"workId": work_id})),
    }
}

/// Claim `claim` of `work_id` ends asking `question_id`, keeping `resume`.
fn asked(work_id: &str, question_id: &str, resume: Option<JsonText>, claim: u32) -> Change {
    let question = NewQuestion {
        id: question_id.into(),
        work_id: work_id.into(),
        node_id: "Analyze".to_owned(),
        agent: "analyst".to_owned(),
        question: "Which region?".to_owned(),
        asked_at: t(150),
    };
    Change {
        stream: Stream::Run("run-1".into()),
        at: t(150),
        rows: vec![
            Row::CompleteWork {
                work_id: work_id.into(),
                owner: "exec".to_owned(),
                resume,
            },
            Row::OpenQuestion { question },
        ],
        event: Some(RunEvent {
            event: JsonText::from(
                &json!({"type": "task_asked", "work_id": work_id, "question_id": question_id}),
            ),
            dedup_key: Some(format!("work:run-1:{work_id}:{claim}")),
            step: None,
        }),
        audit: vec![draft(
            "run-1",
            "question.asked",
            json!({"questionId": question_id}),
        )],
        records: Vec::new(),
    }
}

fn answer(id: &str, by: &str) -> Change {
    Change {
        stream: Stream::Run("run-1".into()),
        at: t(500),
        rows: vec![Row::AnswerQuestion {
            id: id.into(),
            answer: format!("{by} says eu"),
            answered_by: by.to_owned(),
        }],
        event: Some(RunEvent {
            event: JsonText::from(&json!({"type": "task_resumed", "by": by})),
            dedup_key: Some(format!("answer:{id}")),
            step: None,
        }),
        audit: vec![draft("run-1", "question.answered", json!({"by": by}))],
        records: Vec::new(),
    }
}

/// Asking completes the work as paused and opens the question; of two
/// concurrent answers one wins and the run hears exactly one.
pub(crate) async fn ask_and_answer_once(store: Arc<dyn Store>) {
    one_run(store.as_ref(), "wf", "run-1").await;
    step(store.as_ref(), "engine", t(20), vec![insert("w1")]).await;
    let claimed = store.claim_work("exec", t(100), 1_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);

    let resume = JsonText::from(&json!({"turn": 1, "pending": ["human.ask"]}));
    let first = store
        .commit(asked("w1", "q-1", Some(resume.clone()), 1))
        .await
        .unwrap();
    assert_eq!(first.work(), Some(WorkEnd::Completed));
    assert_eq!(
        first.question().map(|q| q.status),
        Some(QuestionStatus::Open)
    );
    assert_eq!(
        code_of(store.commit(asked("w1", "q-9", None, 1)).await),
        "store.work_closed",
        "a second execution's question is refused and writes nothing"
    );
    assert_eq!(store.get_question("q-9").await.unwrap(), None);
    assert!(
        store
            .claim_work("exec", t(5_000), 1_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing claims the work while a human thinks"
    );
    let open = store
        .list_questions(QuestionFilter {
            status: Some(QuestionStatus::Open),
            run_id: None,
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (
            open[0].question.as_str(),
            open[0].agent.as_str(),
            open[0].asked_at
        ),
        ("Which region?", "analyst", t(150))
    );

    let answers: Vec<_> = ["bob", "eve"]
        .into_iter()
        .map(|by| {
            let store = store.clone();
            tokio::spawn(async move { store.commit(answer("q-1", by)).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in answers {
        outcomes.push(task.await.expect("task"));
    }
    let winners: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one answer wins: {outcomes:?}");
    let loser = outcomes
        .iter()
        .find_map(|o| o.as_ref().err())
        .expect("one loses");
    assert_eq!(loser.code(), "store.already_answered");
    let stored = store.get_question("q-1").await.unwrap().unwrap();
    assert_eq!(winners[0].question(), Some(&stored));
    assert_eq!(stored.status, QuestionStatus::Answered);
    assert_eq!(stored.answered_at, Some(t(500)));
    let by = stored.answered_by.clone().unwrap();
    assert_eq!(stored.answer, Some(format!("{by} says eu")));

    let runs = store.claim_runs("engine", t(600), 1_000, 10).await.unwrap();
    let kinds: Vec<_> = runs[0]
        .events
        .iter()
        .map(|e| e.event["type"].clone())
        .collect();
    assert_eq!(kinds, [json!("task_asked"), json!("task_resumed")]);
    assert_eq!(runs[0].events[1].event["by"], json!(by));
    let answered = store
        .audit_log("run-1")
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "question.answered")
        .count();
    assert_eq!(answered, 1);
    assert_eq!(
        code_of(store.commit(answer("nope", "bob")).await),
        "store.not_found"
    );

    // The attempt asks again; the run is cancelled meanwhile: its open
    // question closes and cannot be answered any more.
    store
        .commit_run(commit_all(
            &runs[0],
            "engine",
            "running",
            vec![Op::ReopenWork {
                work_id: "w1".into(),
            }],
        ))
        .await
        .unwrap();
    let reclaimed = store.claim_work("exec", t(700), 1_000, 10).await.unwrap();
    assert_eq!(
        reclaimed[0].resume.as_ref(),
        Some(&resume),
        "the resumed step gets where it stood"
    );
    store
        .commit(asked("w1", "q-2", None, 2))
        .await
        .expect("the resumed attempt asks again");
    let runs = store.claim_runs("engine", t(800), 1_000, 10).await.unwrap();
    store
        .commit_run(commit_all(
            &runs[0],
            "engine",
            "cancelled",
            vec![Op::CloseQuestions {
                work_id: "w1".into(),
            }],
        ))
        .await
        .unwrap();
    let late = store.commit(answer("q-2", "bob")).await;
    assert!(
        matches!(late, Err(agentwerke_store::Error::AlreadyAnswered { ref status, .. }) if status == "cancelled"),
        "{late:?}"
    );
    let mine = store
        .list_questions(QuestionFilter {
            status: None,
            run_id: Some("run-1".to_owned()),
        })
        .await
        .unwrap();
    let statuses: Vec<_> = mine
        .iter()
        .map(|q| (q.id.as_str(), q.status.as_str()))
        .collect();
    assert_eq!(statuses, [("q-1", "answered"), ("q-2", "cancelled")]);
}
