//! The kill switch's rows: a halt is set (or set again with a new reason)
//! and lifted once, each with its global audit record.

use agentwerke_store::gateway::HaltScope;
use agentwerke_store::{GLOBAL_STREAM, Row, Store};
use serde_json::json;

use super::support::{clear_halt, code_of, draft, global, set_halt, t};

/// A halt is set, set again with a new reason, and lifted; the answer names
/// the halt and the record written. A halt whose target does not fit its
/// scope and the lift of a halt not in force are refused, and write nothing.
pub(crate) async fn set_and_lifted(store: &dyn Store) {
    let halted = set_halt(store, HaltScope::Agent, "writer", t(1))
        .await
        .unwrap();
    let halt = halted.halt().expect("the halt").clone();
    assert_eq!(
        (halt.scope, halt.target.as_str(), halt.reason.as_str()),
        (HaltScope::Agent, "writer", "incident")
    );
    assert_eq!((halt.halted_by.as_str(), halt.halted_at), ("ada", t(1)));
    let head = halted.audit.expect("the record written");
    assert_eq!(head.seq, 1);

    let again = Row::SetHalt {
        scope: HaltScope::Agent,
        target: "writer".to_owned(),
        reason: "still the incident".to_owned(),
        halted_by: "bob".to_owned(),
    };
    let record = draft(GLOBAL_STREAM, "gateway.halted", json!({}));
    let again = global(store, t(2), vec![again], vec![record])
        .await
        .unwrap();
    assert_eq!(again.audit.map(|h| h.seq), Some(2));
    let halts = store.halts().await.unwrap();
    assert_eq!(halts.len(), 1, "one halt per scope and target");
    assert_eq!(
        (halts[0].reason.as_str(), halts[0].halted_by.as_str()),
        ("still the incident", "bob")
    );

    for (scope, target) in [
        (HaltScope::Global, "writer"),
        (HaltScope::Agent, ""),
        (HaltScope::Workflow, ""),
    ] {
        assert_eq!(
            code_of(set_halt(store, scope, target, t(3)).await),
            "store.invalid_input",
            "{scope:?} '{target}'"
        );
    }
    assert_eq!(
        code_of(clear_halt(store, HaltScope::Workflow, "billing", t(3)).await),
        "store.conflict",
        "no such halt"
    );
    assert_eq!(store.halts().await.unwrap(), halts, "nothing was written");
    assert_eq!(store.audit_log(GLOBAL_STREAM).await.unwrap().len(), 2);

    let lifted = clear_halt(store, HaltScope::Agent, "writer", t(4))
        .await
        .unwrap();
    assert_eq!(lifted.halt(), Some(&halts[0]), "the halt as it was");
    assert_eq!(lifted.audit.map(|h| h.seq), Some(3));
    assert!(store.halts().await.unwrap().is_empty());
    assert_eq!(
        code_of(clear_halt(store, HaltScope::Agent, "writer", t(5)).await),
        "store.conflict",
        "lifted once"
    );
    assert_eq!(store.audit_log(GLOBAL_STREAM).await.unwrap().len(), 3);
}
