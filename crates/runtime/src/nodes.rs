//! Every BPMN node of a run as users see it: what its tokens left behind
//! (recorded by the engine step that moved them, see
//! [`Op::TrackNode`](agentwerke_store::Op::TrackNode)), plus the nodes the
//! run can no longer reach, `skipped`.
//!
//! `skipped` is derived on read rather than recorded: whether a node can
//! still be reached depends on where every token is, so recording it would
//! mean rewriting rows of nodes no token touches on every step. Read off the
//! compiled model instead, it costs one walk of the graph per view.

use agentwerke_engine::Definition;
use agentwerke_store::{NodeRow, RunRow};
use agentwerke_types::{NodeState, RunStatus, Timestamp};

use crate::{Error, RuntimeHandle};

/// One node of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNode {
    /// The BPMN node id.
    pub node_id: String,
    /// Where it stands.
    pub state: NodeState,
    /// How many tokens arrived at it (0 when skipped).
    pub visits: u32,
    /// When the first token arrived; `None` when skipped.
    pub first_entered_at: Option<Timestamp>,
    /// When the last token arrived; `None` when skipped.
    pub entered_at: Option<Timestamp>,
    /// When the last token left; `None` while one is there, or when
    /// skipped.
    pub left_at: Option<Timestamp>,
}

impl From<&NodeRow> for RunNode {
    fn from(row: &NodeRow) -> Self {
        Self {
            node_id: row.node_id.clone(),
            state: row.state,
            visits: row.visits,
            first_entered_at: Some(row.first_entered_at),
            entered_at: Some(row.entered_at),
            left_at: row.left_at,
        }
    }
}

/// The recorded nodes in the order they were first reached, then every
/// node no token reached that the run can no longer reach, in model order:
/// once the run has ended, all of them; before, those that no node a token
/// rests on leads to. A live run with no token resting anywhere (its start
/// event still queued) skips nothing: there is nothing to tell from.
pub fn run_nodes(definition: &Definition, rows: &[NodeRow], status: RunStatus) -> Vec<RunNode> {
    let mut nodes: Vec<RunNode> = rows.iter().map(RunNode::from).collect();
    let ended = status.is_terminal();
    let live: Vec<usize> = rows
        .iter()
        .filter(|row| row.state.is_live())
        .filter_map(|row| definition.node_index(&row.node_id))
        .collect();
    if !ended && live.is_empty() {
        return nodes;
    }
    let reachable = if ended {
        vec![false; definition.process().nodes.len()]
    } else {
        definition.reachable_from(live)
    };
    let recorded: std::collections::BTreeSet<&str> =
        rows.iter().map(|row| row.node_id.as_str()).collect();
    for (index, node) in definition.process().nodes.iter().enumerate() {
        if !reachable.get(index).copied().unwrap_or(false) && !recorded.contains(node.id.as_str()) {
            nodes.push(RunNode {
                node_id: node.id.clone(),
                state: NodeState::Skipped,
                visits: 0,
                first_entered_at: None,
                entered_at: None,
                left_at: None,
            });
        }
    }
    nodes
}

impl RuntimeHandle {
    /// Every node of `run` (see [`run_nodes`]): its recorded nodes, read
    /// from the store, and its skipped ones, from its compiled definition.
    pub async fn run_nodes(&self, run: &RunRow) -> Result<Vec<RunNode>, Error> {
        let rows = self.store.run_nodes(run.id.as_str()).await?;
        let definition = self
            .stepper
            .definition(&run.workflow_id, run.workflow_version)
            .await?;
        Ok(run_nodes(&definition, &rows, run.status))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use agentwerke_engine::WorkId;
    use agentwerke_store::{SqliteStore, Store};
    use agentwerke_types::{NodeState, RunStatus, Timestamp};
    use serde_json::json;

    use super::*;
    use crate::command::finish_step::{FinishStep, Outcome, finish};
    use crate::command::global::tests::published;
    use crate::command::{Command, Ctx, StartRun, submit};
    use crate::definitions::DefinitionCache;
    use crate::stepper::Stepper;

    /// Start -> Route (exclusive) -> Big (agent, taken for large amounts)
    /// | Small (agent, the default) -> End.
    const ROUTED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:autofac="https://agentwerke.de/bpmn/extensions/v1"
                  id="routed-definitions" targetNamespace="https://agentwerke.de/tests">
  <bpmn:process id="routed" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:exclusiveGateway id="Route" default="ToSmall"/>
    <bpmn:serviceTask id="Big">
      <bpmn:extensionElements>
        <autofac:agentTask agent="analyst" purposeType="analysis" policyTag="t"
                           permissionLevel="read-only" sandboxProfile="offline">
          <autofac:prompt>Big.</autofac:prompt>
        </autofac:agentTask>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:serviceTask id="Small">
      <bpmn:extensionElements>
        <autofac:agentTask agent="analyst" purposeType="analysis" policyTag="t"
                           permissionLevel="read-only" sandboxProfile="offline">
          <autofac:prompt>Small.</autofac:prompt>
        </autofac:agentTask>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:endEvent id="End"/>
    <bpmn:sequenceFlow id="ToRoute" sourceRef="Start" targetRef="Route"/>
    <bpmn:sequenceFlow id="ToBig" sourceRef="Route" targetRef="Big">
      <bpmn:conditionExpression>input.amount &gt; 1000</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="ToSmall" sourceRef="Route" targetRef="Small"/>
    <bpmn:sequenceFlow id="BigEnd" sourceRef="Big" targetRef="End"/>
    <bpmn:sequenceFlow id="SmallEnd" sourceRef="Small" targetRef="End"/>
  </bpmn:process>
</bpmn:definitions>"#;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn ctx(ms: i64) -> Ctx<'static> {
        Ctx {
            at: at(ms),
            redactor: crate::command::no_secrets(),
        }
    }

    fn states(nodes: &[RunNode]) -> Vec<(&str, NodeState, u32)> {
        nodes
            .iter()
            .map(|n| (n.node_id.as_str(), n.state, n.visits))
            .collect()
    }

    async fn nodes_of(store: &Arc<dyn Store>, run_id: &str) -> Vec<RunNode> {
        let run = store.get_run(run_id).await.unwrap().expect("the run");
        let definition = DefinitionCache::new(store.clone())
            .get(&run.workflow_id, run.workflow_version)
            .await
            .unwrap();
        let rows = store.run_nodes(run_id).await.unwrap();
        run_nodes(&definition, &rows, run.status)
    }

    fn finished(run_id: &str, claimed: &agentwerke_store::WorkItem, owner: &str) -> FinishStep {
        FinishStep {
            run_id: run_id.into(),
            work_id: claimed.work_id.clone(),
            step: claimed.work_id.parse::<WorkId>().unwrap(),
            owner: owner.to_owned(),
            claim: claimed.attempt_count,
            attempt: 1,
            node_id: "Big".to_owned(),
            agent: "analyst".to_owned(),
            workflow_id: "routed".to_owned(),
            outcome: Outcome::Completed {
                output: json!({"ok": true}),
            },
            records: Vec::new(),
            audit: Vec::new(),
            risk: None,
            journal: false,
        }
    }

    /// The start event and the gateway are recorded done by the step that
    /// passed them, the branch taken waits at its task, and the branch not
    /// taken is skipped. An executor that dies holding the step, and a
    /// process restart, leave each node one row with one arrival.
    #[tokio::test]
    async fn every_node_a_token_passed_is_recorded_once_and_the_untaken_branch_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db").display().to_string();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let version = published(store.as_ref(), "routed", ROUTED, at(0)).await;
        let stepper = || Stepper::new(store.clone(), Arc::new(DefinitionCache::new(store.clone())));
        let run_id = "run-1";
        let start = Command::StartRun(StartRun {
            run_id: run_id.into(),
            workflow_id: version.workflow_id.clone(),
            version: Some(version.version),
            inputs: json!({"amount": 5000}),
            requested_by: "alice".to_owned(),
        });
        submit(&store, &stepper(), start, &ctx(1)).await.unwrap();
        let nodes = nodes_of(&store, run_id).await;
        assert_eq!(
            states(&nodes),
            [
                ("Big", NodeState::Active, 1),
                ("Route", NodeState::Done, 1),
                ("Start", NodeState::Done, 1),
                ("Small", NodeState::Skipped, 0),
            ]
        );
        let start_node = nodes.iter().find(|n| n.node_id == "Start").unwrap();
        assert_eq!(
            (start_node.entered_at, start_node.left_at),
            (Some(at(1)), Some(at(1)))
        );
        assert_eq!(nodes[0].left_at, None, "a token is still at Big");

        // An executor claims the step and dies; after its lease another one
        // claims it and finishes it; the dead one's late result is refused.
        let lost = store.claim_work("exec-1", at(2), 1_000, 10).await.unwrap();
        assert_eq!(lost.len(), 1);
        let again = store
            .claim_work("exec-2", at(5_000), 10_000, 10)
            .await
            .unwrap();
        assert_eq!(
            again.len(),
            1,
            "the lease ran out: the step is claimed again"
        );
        finish(
            &store,
            &stepper(),
            finished(run_id, &again[0], "exec-2"),
            &ctx(5_001),
        )
        .await
        .unwrap();
        let late = finish(
            &store,
            &stepper(),
            finished(run_id, &lost[0], "exec-1"),
            &ctx(5_002),
        )
        .await;
        if let Ok(late) = late {
            assert_eq!(
                late.delivered,
                agentwerke_store::Delivered::Dropped,
                "a second completion delivers nothing"
            );
        }

        // The process restarts on the same file.
        drop(store);
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let run = store.get_run(run_id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(
            states(&nodes_of(&store, run_id).await),
            [
                ("Big", NodeState::Done, 1),
                ("Route", NodeState::Done, 1),
                ("Start", NodeState::Done, 1),
                ("End", NodeState::Done, 1),
                ("Small", NodeState::Skipped, 0),
            ]
        );
    }
}
