//! Where each BPMN node of a run stands: one row per node, written with
//! the engine step that moved a token.

use agentwerke_store::{Op, Store};
use agentwerke_types::{ErrorCode, NodeState};

use serde_json::json;

use super::support::{commit_all, one_run, queue, step, t};

fn track(node: &str, state: NodeState, entered: u32, at: i64) -> Op {
    Op::TrackNode {
        node_id: node.to_owned(),
        state,
        entered,
        at: t(at),
    }
}

/// Arrivals add up, the last arrival and departure are the latest step's,
/// and a node a token rests on has no departure; a node never gets a
/// second row, and `skipped`, which readers derive, is never recorded.
pub(crate) async fn one_row_per_node_as_its_tokens_left_it(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    step(
        store,
        "engine",
        t(20),
        vec![
            track("Start", NodeState::Done, 1, 20),
            track("Route", NodeState::Done, 1, 20),
            track("Task", NodeState::Active, 1, 20),
        ],
    )
    .await;
    let nodes = store.run_nodes("run-1").await.unwrap();
    let task = nodes.iter().find(|n| n.node_id == "Task").expect("Task");
    assert_eq!(
        (task.state, task.visits, task.left_at),
        (NodeState::Active, 1, None)
    );
    assert_eq!(nodes.len(), 3);

    // The task is paused (no arrival), then left; a loop brings a token
    // back to the gateway.
    queue(
        store,
        "run-1",
        json!({"type": "task_completed"}),
        None,
        None,
    )
    .await
    .unwrap();
    step(
        store,
        "engine",
        t(30),
        vec![
            track("Task", NodeState::Done, 0, 30),
            track("Route", NodeState::Done, 1, 30),
        ],
    )
    .await;
    let nodes = store.run_nodes("run-1").await.unwrap();
    assert_eq!(nodes.len(), 3, "one row per node: {nodes:?}");
    let task = nodes.iter().find(|n| n.node_id == "Task").unwrap();
    assert_eq!(
        (task.state, task.visits, task.entered_at, task.left_at),
        (NodeState::Done, 1, t(20), Some(t(30)))
    );
    let route = nodes.iter().find(|n| n.node_id == "Route").unwrap();
    assert_eq!(
        (route.visits, route.first_entered_at, route.entered_at),
        (2, t(20), t(30))
    );
    let ids: Vec<&str> = nodes.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(ids, ["Route", "Start", "Task"], "first reached, then by id");
    assert!(store.run_nodes("run-2").await.unwrap().is_empty());

    queue(store, "run-1", json!({"type": "timer_fired"}), None, None)
        .await
        .unwrap();
    let claimed = store
        .claim_runs("engine", t(40), 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    let skipped = vec![track("Other", NodeState::Skipped, 0, 40)];
    let refused = store
        .commit_run(commit_all(&claimed, "engine", "running", skipped))
        .await;
    assert_eq!(refused.expect_err("refused").code(), "store.invalid_input");
    assert_eq!(store.run_nodes("run-1").await.unwrap().len(), 3);
}
