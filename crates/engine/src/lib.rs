//! Deterministic BPMN execution: `(definition, state, event) -> (state, effects)`.
//!
//! The engine is a pure function. It has no clock (time arrives in every
//! [`Event`]), no IO and no randomness (ids are counters in [`RunState`]), so
//! replaying a run's events reproduces its state byte for byte, and every
//! behaviour is testable without a database. The runtime commits the new
//! state with the returned [`Effect`]s and only then executes them.
//!
//! Design decisions, in short (the README has the full list):
//! - **Fail closed.** A gateway with no true condition and no default, a
//!   condition that cannot be evaluated, a correlation key that does not
//!   resolve, a loop without wait states, a join that can never fire: the run
//!   fails with a stable `engine.*` code. Never an arbitrary flow.
//! - **`Err` means refused, state untouched.** Every check happens before the
//!   first change; after that the engine cannot fail,
//!   only fail the run.
//! - **Approvals** route by the model when a gateway right after them reads
//!   `approval.<NodeId>`; otherwise `reject` ends the run `rejected` and
//!   `request_changes` re-runs the nearest preceding agent task with the
//!   comment as feedback.
//!
//! ```
//! use agentwerke_bpmn::model::{EventTrigger, FlowNode, NodeKind, Process, SequenceFlow};
//! use agentwerke_engine::{Definition, Effect, Event, RunState, apply};
//! use agentwerke_types::{NodeState, RunStatus, Timestamp};
//!
//! let node = |id: &str, kind| FlowNode {
//!     id: id.into(), name: None, kind, parent: None,
//!     incoming: vec![], outgoing: vec![], boundary: vec![], position: Default::default(),
//! };
//! let process = Process {
//!     id: "p".into(), name: None, is_executable: true, position: Default::default(),
//!     egress_hosts: vec![],
//!     nodes: vec![
//!         node("Start", NodeKind::StartEvent { trigger: EventTrigger::None }),
//!         node("End", NodeKind::EndEvent { trigger: EventTrigger::None }),
//!     ],
//!     flows: vec![SequenceFlow {
//!         id: "f".into(), name: None, source_ref: "Start".into(), target_ref: "End".into(),
//!         source: Some(0), target: Some(1), condition: None, parent: None,
//!         position: Default::default(),
//!     }],
//! };
//! let def = Definition::new(&process)?;
//! let start = Event::Start { input: serde_json::json!({}), at: Timestamp(0) };
//! let t = apply(&def, &RunState::new("run-1"), start)?;
//! assert_eq!(t.state.status(), RunStatus::Completed);
//! assert_eq!(t.visited, ["Start", "End"]);
//! // Every node a token passed, events included, then the end of the run.
//! let done = |id: &str| Effect::NodeChanged { node_id: id.into(), state: NodeState::Done, entered: 1 };
//! assert_eq!(
//!     t.effects,
//!     [done("Start"), done("End"), Effect::RunFinished { status: RunStatus::Completed }]
//! );
//! # Ok::<(), agentwerke_engine::Error>(())
//! ```

#![deny(missing_docs)]

mod definition;
mod effect;
mod error;
mod event;
mod ids;
mod machine;
mod state;
mod template;

use agentwerke_bpmn::model::NodeIdx;

pub use definition::{DEFAULT_MOVE_LIMIT, Definition};
pub use effect::Effect;
pub use error::{Error, Fault};
pub use event::{ApprovalDecision, Event, TIMEOUT_CODE, TaskError};
pub use ids::{TimerId, WorkId};
pub use state::{RunError, RunState, STATE_SCHEMA_VERSION, StepRecord, StepStatus};

/// The result of [`apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The state after the event.
    pub state: RunState,
    /// What the shell must do, in order; `RunFinished` comes last.
    pub effects: Vec<Effect>,
    /// Ids of the nodes tokens reached during this event, in order (a join
    /// appears once per arriving token; a boundary event when it fires).
    /// For audit and conformance tests; not persisted.
    pub visited: Vec<String>,
}

/// Applies an event to a copy of `state`.
pub fn apply(def: &Definition, state: &RunState, event: Event) -> Result<Transition, Error> {
    let mut next = state.clone();
    let mut trace = Vec::new();
    let effects = apply_traced(def, &mut next, event, Some(&mut trace))?;
    let visited = trace
        .into_iter()
        .filter_map(|idx| def.node(idx).map(|n| n.id.clone()))
        .collect();
    Ok(Transition {
        state: next,
        effects,
        visited,
    })
}

/// Applies an event in place. On `Err` the state is unchanged.
pub fn apply_mut(
    def: &Definition,
    state: &mut RunState,
    event: Event,
) -> Result<Vec<Effect>, Error> {
    apply_traced(def, state, event, None)
}

/// [`apply_mut`], also appending the index of every node a token reaches to
/// `trace` (see [`Transition::visited`]).
pub fn apply_traced(
    def: &Definition,
    state: &mut RunState,
    event: Event,
    trace: Option<&mut Vec<NodeIdx>>,
) -> Result<Vec<Effect>, Error> {
    machine::check(def, state, &event)?;
    let at = event.at();
    Ok(machine::Machine::new(def, state, at, trace).run(event))
}
