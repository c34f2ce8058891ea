//! Deterministic identifiers handed out by the engine.
//!
//! Ids are counters kept in [`RunState`](crate::RunState), never random and
//! never read from a clock, so that replaying the same events yields the same
//! ids. They travel as short strings (`"w3"`, `"t7"`) because the runtime uses
//! them as idempotency keys and users see them in evidence.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! counter_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.strip_prefix($prefix)
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|n| *n > 0)
                    .map($name)
                    .ok_or_else(|| format!(concat!("`{}` is not a ", $prefix, "<n> id"), s))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

counter_id!(
    /// One unit of open work (an agent attempt, an approval, a message or
    /// timer wait): `w1`, `w2`, ... unique within a run. Every work id has
    /// exactly one [`StepRecord`](crate::StepRecord); a retry gets a new id.
    WorkId,
    "w"
);

counter_id!(
    /// One armed timer: `t1`, `t2`, ... unique within a run. A rescheduled
    /// cycle timer gets a new id, so a late firing of the old one is stale.
    TimerId,
    "t"
);

/// A token scope: the process (id 0) or one active embedded subprocess.
/// Internal, but persisted inside [`RunState`](crate::RunState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct ScopeId(pub(crate) u32);

impl ScopeId {
    /// The process-level scope.
    pub(crate) const ROOT: ScopeId = ScopeId(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_prefixed_strings() {
        let w = WorkId(12);
        assert_eq!(serde_json::to_string(&w).unwrap(), "\"w12\"");
        assert_eq!(serde_json::from_str::<WorkId>("\"w12\"").unwrap(), w);
        assert!(serde_json::from_str::<WorkId>("\"t12\"").is_err());
        assert!("w0".parse::<WorkId>().is_err());
        assert_eq!("t3".parse::<TimerId>().unwrap(), TimerId(3));
    }
}
