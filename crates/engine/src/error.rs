//! The engine's errors, each with a stable dotted code.
//!
//! Two families, kept apart on purpose:
//! - [`Error`]: the definition cannot be loaded, or an event is refused. The
//!   caller gets `Err` and the state is untouched.
//! - [`Fault`]: the run itself fails closed (no matching flow, step limit,
//!   ...). The event is accepted, the run ends `failed`, and the fault's code
//!   is recorded in [`RunError`](crate::RunError).

use agentwerke_bpmn::condition::ConditionError;
use agentwerke_bpmn::timer::TimerError;
use agentwerke_types::ErrorCode;

use crate::ids::{TimerId, WorkId};

/// A definition the engine will not run, or an event it refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The BPMN document has no process with `isExecutable="true"`.
    #[error("the document has no executable process")]
    NoExecutableProcess,
    /// The process or a subprocess lacks a single none start event.
    #[error("{scope} has no none start event")]
    NoStartEvent {
        /// The process or subprocess id.
        scope: String,
    },
    /// An element outside the executable subset.
    #[error("`{element_id}` ({element}) is not executable")]
    UnsupportedElement {
        /// The element id.
        element_id: String,
        /// What it is, e.g. `callActivity` or `signal start event`.
        element: String,
    },
    /// A task without its required extension element.
    #[error("`{element_id}` needs an `{extension}` extension element")]
    MissingExtension {
        /// The element id.
        element_id: String,
        /// The extension, e.g. `agentTask`.
        extension: &'static str,
    },
    /// The graph is not well formed (dangling flow, cross-scope flow, ...).
    #[error("`{element_id}`: {reason}")]
    InvalidModel {
        /// The element id.
        element_id: String,
        /// What is wrong.
        reason: String,
    },
    /// A sequence-flow condition does not compile.
    #[error("condition on `{flow_id}`: {source}")]
    InvalidCondition {
        /// The flow id.
        flow_id: String,
        /// Why.
        source: ConditionError,
    },
    /// A timer expression does not parse.
    #[error("timer on `{element_id}`: {source}")]
    InvalidTimer {
        /// The event id.
        element_id: String,
        /// Why.
        source: TimerError,
    },
    /// `Start` on a run that has already started.
    #[error("the run has already started")]
    AlreadyStarted,
    /// Any event but `Start` before the run started.
    #[error("the run has not started")]
    NotStarted,
    /// An event on a run that has ended.
    #[error("the run has already finished")]
    RunFinished,
    /// A work id this run never issued.
    #[error("unknown work id {0}")]
    UnknownWork(WorkId),
    /// A timer id this run never issued.
    #[error("unknown timer id {0}")]
    UnknownTimer(TimerId),
    /// An event that does not fit the open work item (e.g. an approval
    /// decision for an agent task).
    #[error("{work_id} is {actual} work, not {expected}")]
    WorkKindMismatch {
        /// The work id.
        work_id: WorkId,
        /// What the event needs.
        expected: &'static str,
        /// What the work is.
        actual: &'static str,
    },
    /// `RetryStep` when the run did not fail because of that step.
    #[error("{0} cannot be retried: the run did not fail because of it")]
    NotRetryable(WorkId),
    /// The model's shape makes its analysis cost more than its size
    /// allows (thousands of merges or inclusive joins with no agent task
    /// between them); refused rather than analysed for minutes.
    #[error("`{element_id}`: the model is too complex to analyse; split it into smaller workflows")]
    TooComplex {
        /// The element where the analysis stopped.
        element_id: String,
    },
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::NoExecutableProcess => "engine.no_executable_process",
            Error::NoStartEvent { .. } => "engine.no_start_event",
            Error::UnsupportedElement { .. } => "engine.unsupported_element",
            Error::MissingExtension { .. } => "engine.missing_extension",
            Error::InvalidModel { .. } => "engine.invalid_model",
            Error::InvalidCondition { .. } => "engine.invalid_condition",
            Error::InvalidTimer { .. } => "engine.invalid_timer",
            Error::AlreadyStarted => "engine.already_started",
            Error::NotStarted => "engine.not_started",
            Error::RunFinished => "engine.run_finished",
            Error::UnknownWork(_) => "engine.unknown_work",
            Error::UnknownTimer(_) => "engine.unknown_timer",
            Error::WorkKindMismatch { .. } => "engine.work_kind_mismatch",
            Error::NotRetryable(_) => "engine.not_retryable",
            Error::TooComplex { .. } => "engine.too_complex",
        }
    }
}

/// Why a run failed closed. Recorded as `RunError::code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An exclusive or inclusive gateway (or a conditional activity exit)
    /// found no true condition and has no default flow.
    NoMatchingFlow,
    /// A condition could not be evaluated (missing key, not a boolean, ...).
    /// Never treated as `false`.
    ConditionFailed,
    /// More token moves in one event than the definition's move limit: a
    /// loop without a wait state.
    StepLimit,
    /// Tokens wait at joins that can never fire and nothing else is open.
    Deadlock,
    /// A correlation key template names a value the context does not have.
    CorrelationKeyUnresolved,
    /// An agent task failed after its retries and no error boundary caught it.
    /// The only retryable fault.
    TaskFailed,
    /// An error end event's error reached the process level uncaught.
    UnhandledError,
}

impl Fault {
    /// Every fault, for documentation and the code table test.
    pub const ALL: [Fault; 7] = [
        Fault::NoMatchingFlow,
        Fault::ConditionFailed,
        Fault::StepLimit,
        Fault::Deadlock,
        Fault::CorrelationKeyUnresolved,
        Fault::TaskFailed,
        Fault::UnhandledError,
    ];
}

impl ErrorCode for Fault {
    fn code(&self) -> &'static str {
        match self {
            Fault::NoMatchingFlow => "engine.no_matching_flow",
            Fault::ConditionFailed => "engine.condition_failed",
            Fault::StepLimit => "engine.step_limit",
            Fault::Deadlock => "engine.deadlock",
            Fault::CorrelationKeyUnresolved => "engine.correlation_key_unresolved",
            Fault::TaskFailed => "engine.task_failed",
            Fault::UnhandledError => "engine.unhandled_error",
        }
    }
}
