//! Model usage: each turn kept once, with its evidence, and summed per
//! step's work and per run over every claim that made turns.

use agentwerke_evidence::Record;
use agentwerke_store::usage::{ModelTurn, Spend};
use agentwerke_store::{Change, Row, Store, Stream, Written};

use super::support::{code_of, one_run, t, usage};

fn turn(work: &str, claim: i64, turn: u32, tokens: (u64, u64), cost_usd: f64) -> ModelTurn {
    ModelTurn {
        work_id: work.into(),
        claim,
        turn,
        node_id: "Draft".to_owned(),
        attempt: 1,
        provider: "scripted".to_owned(),
        model: "scripted-v1".to_owned(),
        input_tokens: tokens.0,
        output_tokens: tokens.1,
        cached_input_tokens: 0,
        cost_usd,
    }
}

fn keep(run: &str, turn: ModelTurn, record: Record) -> Change {
    Change {
        stream: Stream::Run(run.into()),
        at: t(20),
        rows: vec![Row::RecordModelUsage(turn)],
        event: None,
        audit: Vec::new(),
        records: vec![record],
    }
}

/// Two claims of one work and a second work of the same run add up; the
/// other run is apart; a turn kept twice is refused with its evidence.
pub(crate) async fn turns_add_up_per_work_and_run_once_each(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    one_run(store, "wf2", "run-2").await;
    let empty = store.model_spend("run-1", "w-1").await.unwrap();
    assert_eq!(
        (empty.work, empty.run),
        (Spend::default(), Spend::default())
    );

    let kept = store
        .commit(keep(
            "run-1",
            turn("w-1", 1, 1, (10, 5), 0.25),
            usage("a", 0.25),
        ))
        .await
        .unwrap();
    assert_eq!(
        kept.rows,
        [Written::ModelUsage {
            work_id: "w-1".into(),
            claim: 1,
            turn: 1
        }]
    );
    // The re-run after a crash is claim 2: its turn 1 is another turn.
    for change in [
        keep("run-1", turn("w-1", 2, 1, (7, 3), 0.5), usage("b", 0.5)),
        keep("run-1", turn("w-2", 1, 1, (100, 0), 1.0), usage("c", 1.0)),
        keep("run-2", turn("w-9", 1, 1, (1000, 0), 9.0), usage("d", 9.0)),
    ] {
        store.commit(change).await.unwrap();
    }
    let repeat = store
        .commit(keep(
            "run-1",
            turn("w-1", 2, 1, (7, 3), 0.5),
            usage("b", 0.5),
        ))
        .await;
    assert_eq!(code_of(repeat), "store.conflict");

    let spent = store.model_spend("run-1", "w-1").await.unwrap();
    assert_eq!(spent.work.tokens, 25);
    assert!((spent.work.cost_usd - 0.75).abs() < 1e-12);
    assert_eq!(spent.run.tokens, 125);
    assert!((spent.run.cost_usd - 1.75).abs() < 1e-12);
    let models: Vec<String> = store
        .records("run-1")
        .await
        .unwrap()
        .iter()
        .filter_map(|r| match &r.record {
            Record::ModelUsage(call) => Some(call.model.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        models,
        ["a", "b", "c"],
        "the refused repeat wrote no evidence"
    );
}

/// A turn of a run that does not exist is refused by name.
pub(crate) async fn a_turn_of_an_unknown_run_is_not_found(store: &dyn Store) {
    let refused = store
        .commit(keep(
            "run-x",
            turn("w-1", 1, 1, (1, 1), 0.0),
            usage("a", 0.0),
        ))
        .await;
    assert_eq!(code_of(refused), "store.not_found");
}
