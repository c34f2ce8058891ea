//! BPMN timer definitions: ISO-8601 durations, dates and repeating cycles.
//!
//! The engine never reads a clock: it hands in the instant a timer was armed
//! (or last fired) and gets back the next due instant. Everything here is
//! UTC milliseconds ([`Timestamp`]) and saturates instead of overflowing.
//!
//! ```
//! use agentwerke_bpmn::timer::{TimerKind, TimerSpec};
//! use agentwerke_types::Timestamp;
//! let spec = TimerSpec { kind: TimerKind::Cycle, expression: "R2/PT10M".into(), position: Default::default() };
//! let schedule = spec.schedule().unwrap();
//! let first = schedule.first_due(Timestamp(0));
//! assert_eq!(first, Timestamp(600_000));
//! assert_eq!(schedule.next_due(first, 1), Some(Timestamp(1_200_000)));
//! assert_eq!(schedule.next_due(Timestamp(1_200_000), 2), None);
//! ```

mod duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::{Iso8601, Rfc3339};

use agentwerke_types::{ErrorCode, Timestamp};

use crate::model::Position;

pub use duration::IsoDuration;

/// A `timerEventDefinition` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerSpec {
    /// Which child element held the expression.
    pub kind: TimerKind,
    /// The trimmed expression text.
    pub expression: String,
    /// Where the timer definition starts.
    pub position: Position,
}

/// `timeDuration`, `timeDate` or `timeCycle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// `timeDuration`: fire once, this long after arming.
    Duration,
    /// `timeDate`: fire once, at this instant.
    Date,
    /// `timeCycle`: fire repeatedly.
    Cycle,
}

/// Why a timer expression was refused. All share one code: the message says
/// which part is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    /// Not an ISO-8601 duration (`P1DT2H`, `PT30S`).
    #[error("`{expression}` is not an ISO-8601 duration: {reason}")]
    Duration {
        /// The text.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Not an RFC 3339 / ISO-8601 date-time with offset.
    #[error("`{0}` is not a date-time with offset, e.g. 2026-12-01T10:00:00Z")]
    Date(String),
    /// Not a repeating interval (`R5/PT10M`, `R/PT1H`, `R3/<start>/P1D`).
    #[error("`{expression}` is not a timer cycle: {reason}")]
    Cycle {
        /// The text.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ErrorCode for TimerError {
    fn code(&self) -> &'static str {
        "bpmn.invalid_timer"
    }
}

/// When a timer fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Schedule {
    /// Once, this long after arming.
    After(IsoDuration),
    /// Once, at this instant (immediately if it is already past).
    At(Timestamp),
    /// Repeatedly.
    Cycle {
        /// How many times in all; `None` is unbounded.
        repetitions: Option<u32>,
        /// First firing; `None` means one period after arming.
        start: Option<Timestamp>,
        /// The period; never zero.
        every: IsoDuration,
    },
}

impl TimerSpec {
    /// Parses the expression according to its kind.
    pub fn schedule(&self) -> Result<Schedule, TimerError> {
        let text = self.expression.trim();
        match self.kind {
            TimerKind::Duration => IsoDuration::parse(text).map(Schedule::After),
            TimerKind::Date => parse_date(text).map(Schedule::At),
            TimerKind::Cycle => parse_cycle(text),
        }
    }
}

impl Schedule {
    /// The first due instant for a timer armed at `armed_at`. A date or cycle
    /// start in the past is returned as is: the runtime fires it at once.
    pub fn first_due(&self, armed_at: Timestamp) -> Timestamp {
        match self {
            Schedule::After(d) => d.add_to(armed_at),
            Schedule::At(t) => *t,
            Schedule::Cycle {
                start: Some(start), ..
            } => *start,
            Schedule::Cycle {
                start: None, every, ..
            } => every.add_to(armed_at),
        }
    }

    /// The due instant after `previous_due`, given that the timer has fired
    /// `fired_count` times so far (including at `previous_due`). `None` when
    /// the timer is done: durations and dates fire once, a bounded cycle
    /// after its repetitions. Periods are added to the previous due instant,
    /// so a month-long period starting on the 31st drifts to the 28th/30th.
    pub fn next_due(&self, previous_due: Timestamp, fired_count: u32) -> Option<Timestamp> {
        match self {
            Schedule::After(_) | Schedule::At(_) => None,
            Schedule::Cycle {
                repetitions, every, ..
            } => match repetitions {
                Some(n) if fired_count >= *n => None,
                _ => Some(every.add_to(previous_due)),
            },
        }
    }
}

fn parse_date(text: &str) -> Result<Timestamp, TimerError> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, &Iso8601::DEFAULT))
        .map_err(|_| TimerError::Date(text.to_owned()))?;
    let millis = parsed.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(millis)
        .map(Timestamp)
        .map_err(|_| TimerError::Date(text.to_owned()))
}

fn parse_cycle(text: &str) -> Result<Schedule, TimerError> {
    let cycle_error = |reason: &str| TimerError::Cycle {
        expression: text.to_owned(),
        reason: reason.to_owned(),
    };
    let mut parts = text.split('/');
    let head = parts.next().unwrap_or_default();
    let count = head
        .strip_prefix('R')
        .ok_or_else(|| cycle_error("it must start with R or Rn, e.g. R5/PT10M"))?;
    let repetitions = if count.is_empty() {
        None
    } else {
        let n: u32 = count
            .parse()
            .map_err(|_| cycle_error("the repetition count must be a whole number"))?;
        if n == 0 {
            return Err(cycle_error("a cycle must repeat at least once"));
        }
        Some(n)
    };
    let rest: Vec<&str> = parts.collect();
    let (start, period) = match rest.as_slice() {
        [period] => (None, *period),
        [start, period] => (Some(parse_date(start)?), *period),
        _ => {
            return Err(cycle_error(
                "expected Rn/<duration> or Rn/<start>/<duration>",
            ));
        }
    };
    let every = IsoDuration::parse(period)?;
    if every.is_zero() {
        return Err(cycle_error("the period must be longer than zero"));
    }
    Ok(Schedule::Cycle {
        repetitions,
        start,
        every,
    })
}

#[cfg(test)]
mod tests;
