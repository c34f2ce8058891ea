//! Error codes are a published contract: this list must only ever grow.

use agentwerke_bpmn::condition::ConditionError;
use agentwerke_bpmn::timer::TimerError;
use agentwerke_engine::{Error, Fault, TimerId, WorkId};
use agentwerke_types::ErrorCode;

#[test]
fn every_error_code_is_listed() {
    let errors = [
        Error::NoExecutableProcess,
        Error::NoStartEvent { scope: "p".into() },
        Error::UnsupportedElement {
            element_id: "x".into(),
            element: "callActivity".into(),
        },
        Error::MissingExtension {
            element_id: "x".into(),
            extension: "agentTask",
        },
        Error::InvalidModel {
            element_id: "x".into(),
            reason: "r".into(),
        },
        Error::InvalidCondition {
            flow_id: "f".into(),
            source: ConditionError::Syntax("s".into()),
        },
        Error::InvalidTimer {
            element_id: "t".into(),
            source: TimerError::Date("d".into()),
        },
        Error::AlreadyStarted,
        Error::NotStarted,
        Error::RunFinished,
        Error::UnknownWork(WorkId(1)),
        Error::UnknownTimer(TimerId(1)),
        Error::WorkKindMismatch {
            work_id: WorkId(1),
            expected: "agent",
            actual: "timer",
        },
        Error::NotRetryable(WorkId(1)),
        Error::TooComplex {
            element_id: "x".into(),
        },
    ];
    let codes: Vec<_> = errors.iter().map(|e| e.code()).collect();
    assert_eq!(
        codes,
        [
            "engine.no_executable_process",
            "engine.no_start_event",
            "engine.unsupported_element",
            "engine.missing_extension",
            "engine.invalid_model",
            "engine.invalid_condition",
            "engine.invalid_timer",
            "engine.already_started",
            "engine.not_started",
            "engine.run_finished",
            "engine.unknown_work",
            "engine.unknown_timer",
            "engine.work_kind_mismatch",
            "engine.not_retryable",
            "engine.too_complex",
        ]
    );
    let faults: Vec<_> = Fault::ALL.iter().map(|f| f.code()).collect();
    assert_eq!(
        faults,
        [
            "engine.no_matching_flow",
            "engine.condition_failed",
            "engine.step_limit",
            "engine.deadlock",
            "engine.correlation_key_unresolved",
            "engine.task_failed",
            "engine.unhandled_error",
        ]
    );
}
