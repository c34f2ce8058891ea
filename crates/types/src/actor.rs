//! Who did something, as audit records name them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The author of an audit record: the system itself, an authenticated user
/// (by subject) or an agent (by name).
///
/// Persisted as `system`, `user:<subject>` or `agent:<name>`; those prefixes
/// never change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The runtime or the store, acting on their own (timers, effects).
    System,
    /// A person or service account, by token subject.
    User(String),
    /// An agent, by its name in the workflow.
    Agent(String),
}

impl Actor {
    /// A user by token subject.
    pub fn user(subject: impl Into<String>) -> Self {
        Actor::User(subject.into())
    }

    /// An agent by name.
    pub fn agent(name: impl Into<String>) -> Self {
        Actor::Agent(name.into())
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::User(subject) => write!(f, "user:{subject}"),
            Actor::Agent(name) => write!(f, "agent:{name}"),
        }
    }
}

/// Text that names no actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownActor(pub String);

impl fmt::Display for UnknownActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown actor '{}'; expected 'system', 'user:<subject>' or 'agent:<name>'",
            self.0
        )
    }
}

impl std::error::Error for UnknownActor {}

impl FromStr for Actor {
    type Err = UnknownActor;

    fn from_str(text: &str) -> Result<Self, UnknownActor> {
        if text == "system" {
            return Ok(Actor::System);
        }
        match text.split_once(':') {
            Some(("user", subject)) if !subject.is_empty() => Ok(Actor::user(subject)),
            Some(("agent", name)) if !name.is_empty() => Ok(Actor::agent(name)),
            _ => Err(UnknownActor(text.to_owned())),
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persisted_forms_never_change() {
        let cases = [
            (Actor::System, "system"),
            (Actor::user("alice"), "user:alice"),
            (Actor::agent("triage"), "agent:triage"),
            (Actor::user("svc:deployer"), "user:svc:deployer"),
        ];
        for (actor, text) in cases {
            assert_eq!(actor.to_string(), text);
            assert_eq!(text.parse::<Actor>(), Ok(actor.clone()));
            assert_eq!(
                serde_json::to_string(&actor).unwrap(),
                format!("\"{text}\"")
            );
        }
    }

    #[test]
    fn text_that_names_no_actor_is_refused() {
        for text in ["", "root", "user:", "bot:x", "System"] {
            let error = text.parse::<Actor>().unwrap_err();
            assert!(error.to_string().contains("expected 'system'"), "{text}");
        }
    }
}
