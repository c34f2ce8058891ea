//! The state each open run was left in by the last step this process
//! committed for it.
//!
//! A step needs the run's current state. Reading it back from the store
//! costs a round trip and a parse for every agent result and every decision,
//! although this process wrote that very state moments before. So each
//! committed step leaves its state here, tagged with the state version it
//! is at, and the next step starts from it.
//!
//! An entry is only ever a guess: the store commits a step only at the state
//! version it was computed from ([`agentwerke_store::AppliedStep`]), so an
//! entry that another writer overtook costs a fallback to the applier, never
//! a wrong step.

use std::collections::HashMap;
use std::sync::Mutex;

use agentwerke_engine::RunState;
use agentwerke_store::RiskPeak;

/// How many runs are remembered at most. Beyond that an arbitrary entry
/// makes room: a forgotten run is read back from the store when it moves.
const CAPACITY: usize = 4096;

/// A run's state as of a committed step, with what a step needs besides.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    /// The store's state version this state is at.
    pub(crate) version: i64,
    pub(crate) state: RunState,
    pub(crate) workflow_id: String,
    pub(crate) workflow_version: i64,
    pub(crate) requested_by: String,
    /// The run row's riskiest assessed call, as of this state.
    pub(crate) risk_peak: Option<RiskPeak>,
}

/// The remembered states, by run id.
#[derive(Debug, Default)]
pub(crate) struct RunStates {
    runs: Mutex<HashMap<String, Known>>,
}

impl RunStates {
    /// Remembers `known` for `run_id` unless a later state is remembered
    /// already. A run that has ended is forgotten: no event moves it again.
    pub(crate) fn remember(&self, run_id: &str, known: Known) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if known.state.status().is_terminal() {
            runs.remove(run_id);
            return;
        }
        if let Some(current) = runs.get_mut(run_id) {
            if current.version < known.version {
                *current = known;
            }
            return;
        }
        if runs.len() >= CAPACITY
            && let Some(any) = runs.keys().next().cloned()
        {
            runs.remove(&any);
        }
        runs.insert(run_id.to_owned(), known);
    }

    /// Takes the remembered state out: the step about to be taken from it
    /// replaces it, or, if that step is not committed, leaves the next one
    /// to read the store.
    pub(crate) fn take(&self, run_id: &str) -> Option<Known> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(run_id)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.runs.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(version: i64) -> Known {
        Known {
            version,
            state: RunState::new("r".to_owned()),
            workflow_id: "wf".to_owned(),
            workflow_version: 1,
            requested_by: "alice".to_owned(),
            risk_peak: None,
        }
    }

    #[test]
    fn a_later_state_is_never_replaced_by_an_earlier_one() {
        let states = RunStates::default();
        states.remember("r", known(3));
        states.remember("r", known(2));
        assert_eq!(states.take("r").map(|k| k.version), Some(3));
        assert!(states.take("r").is_none(), "taking removes the entry");
    }

    #[test]
    fn capacity_is_bounded() {
        let states = RunStates::default();
        for n in 0..CAPACITY + 10 {
            states.remember(&format!("r{n}"), known(1));
        }
        assert_eq!(states.len(), CAPACITY);
    }
}
