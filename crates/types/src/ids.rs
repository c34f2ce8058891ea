//! Identifiers of the things a run is made of.
//!
//! Every id is text on the wire and in the database, and was once a bare
//! `String` in code, where a run id and a work id could be swapped without a
//! complaint. A newtype per kind of id makes that a compile error. Each one
//! serializes exactly as the text it wraps (`serde(transparent)`), so
//! persisted rows and API bodies are unchanged.
//!
//! Ids the system mints (UUIDv7 text, work ids the engine derives) are
//! wrapped with [`From`]; ids that arrive from outside are parsed with
//! [`FromStr`](std::str::FromStr), which refuses text no id can be.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The most characters an id parsed from outside may have.
pub const MAX_ID_LEN: usize = 128;

/// Why text is not an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError {
    /// What the text was meant to identify, e.g. `run`.
    pub kind: &'static str,
    /// What is wrong with it.
    pub reason: IdProblem,
}

/// What is wrong with text offered as an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProblem {
    /// It is empty.
    Empty,
    /// It has more than [`MAX_ID_LEN`] characters.
    TooLong,
    /// It contains whitespace or a control character.
    BadCharacter,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            IdProblem::Empty => write!(f, "the {} id must not be empty", self.kind),
            IdProblem::TooLong => write!(
                f,
                "the {} id has at most {MAX_ID_LEN} characters",
                self.kind
            ),
            IdProblem::BadCharacter => write!(
                f,
                "the {} id must not contain whitespace or control characters",
                self.kind
            ),
        }
    }
}

impl std::error::Error for IdError {}

fn check(kind: &'static str, text: &str) -> Result<(), IdError> {
    let reason = if text.is_empty() {
        IdProblem::Empty
    } else if text.chars().count() > MAX_ID_LEN {
        IdProblem::TooLong
    } else if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        IdProblem::BadCharacter
    } else {
        return Ok(());
    };
    Err(IdError { kind, reason })
}

macro_rules! id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, IdError> {
                check($kind, text).map(|()| Self(text.to_owned()))
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> Self {
                id.0.clone()
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id!(
    /// A run (UUIDv7 text, minted when the run is requested).
    RunId,
    "run"
);
id!(
    /// A unit of work within a run, e.g. one attempt of an agent task.
    /// Unique within its run only.
    WorkId,
    "work"
);
id!(
    /// An approval request (UUID text).
    ApprovalId,
    "approval"
);
id!(
    /// A question an agent asked a human (UUID text).
    QuestionId,
    "question"
);
id!(
    /// One tool call of an agent step, derived from the step and the call
    /// (not minted at random), so a step replayed after a crash names its
    /// calls exactly as the interrupted execution did.
    ToolCallId,
    "tool call"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_print_as_their_text() {
        let id: RunId = "0190a5b2-7c1d-7e3f-8a9b-0c1d2e3f4a5b".parse().unwrap();
        assert_eq!(id.to_string(), "0190a5b2-7c1d-7e3f-8a9b-0c1d2e3f4a5b");
        assert_eq!(id, "0190a5b2-7c1d-7e3f-8a9b-0c1d2e3f4a5b");
        let work: WorkId = "review#2".parse().unwrap();
        assert_eq!(work.as_str(), "review#2");
    }

    #[test]
    fn text_no_id_can_be_is_refused_with_its_reason() {
        let empty = "".parse::<ApprovalId>().unwrap_err();
        assert_eq!(empty.reason, IdProblem::Empty);
        assert_eq!(empty.to_string(), "the approval id must not be empty");
        let spaced = "a b".parse::<QuestionId>().unwrap_err();
        assert_eq!(spaced.reason, IdProblem::BadCharacter);
        assert_eq!(
            spaced.to_string(),
            "the question id must not contain whitespace or control characters"
        );
        let long = "x".repeat(MAX_ID_LEN + 1).parse::<WorkId>().unwrap_err();
        assert_eq!(long.reason, IdProblem::TooLong);
        assert!("x".repeat(MAX_ID_LEN).parse::<WorkId>().is_ok());
        assert!("line\nbreak".parse::<RunId>().is_err());
    }
}
