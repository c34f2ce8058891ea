//! Tool names in a workflow: which `action` names a tool, and which tools
//! the deployment has.
//!
//! A name has a *tool's shape* when it is two or more dot-separated
//! segments of lowercase ASCII letters, digits, `_` and `-`:
//! `artifact.write`, `http.request`, `human.ask`. That is the gateway
//! registry's alphabet plus the dot every tool name carries. An `action` of
//! that shape is a tool call and is never sent to a model instead: naming a
//! tool the deployment does not have is `bpmn.unknown_tool`, an error. Any
//! other `action` (`analyze`, `Summarise the incident`) is a label for a
//! model call.
//!
//! This crate does no IO, so it does not know the registry: callers pass the
//! names in as [`KnownTools`].
//!
//! ```
//! use agentwerke_bpmn::tools::{KnownTools, is_tool_shaped};
//! assert!(is_tool_shaped("exec.run"));
//! assert!(!is_tool_shaped("analyze"));
//! let known = KnownTools::new(["artifact.read", "artifact.write"]);
//! assert!(known.contains("artifact.read") && !known.contains("exec.run"));
//! assert!(known.matches_pattern("artifact.*") && !known.matches_pattern("vault.*"));
//! ```

use std::collections::BTreeSet;

/// True when `name` looks like a tool name: `ns.verb`, lowercase ASCII
/// letters, digits, `_` and `-` between the dots.
pub fn is_tool_shaped(name: &str) -> bool {
    name.contains('.')
        && name.len() <= 128
        && name.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// The tool names a deployment has (the gateway's registry, and
/// `human.ask`), against which validation checks `action`, `allowedTools`
/// and `deniedTools`. Empty knows no tool, so every tool-shaped `action` is
/// refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownTools(BTreeSet<String>);

impl KnownTools {
    /// The tools named `names`.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self(names.into_iter().map(Into::into).collect())
    }

    /// True when `name` is one of them.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// True when a tool-list entry matches at least one of them, read the
    /// way the gateway reads `allowedTools` and `deniedTools`: `*` matches
    /// every tool, `prefix.*` every tool starting with `prefix.`, anything
    /// else exactly one name.
    pub fn matches_pattern(&self, pattern: &str) -> bool {
        match pattern.strip_suffix('*') {
            Some("") => true,
            Some(prefix) if prefix.ends_with('.') => {
                self.0.iter().any(|name| name.starts_with(prefix))
            }
            _ => self.0.contains(pattern),
        }
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl<S: Into<String>> FromIterator<S> for KnownTools {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self::new(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_is_dotted_lowercase() {
        for tool in [
            "artifact.write",
            "http.request",
            "human.ask",
            "exec.run",
            "a.b.c",
            "x-1.y_2",
        ] {
            assert!(is_tool_shaped(tool), "{tool}");
        }
        for label in [
            "analyze",
            "Summarise the incident.",
            "Exec.Run",
            "exec.",
            ".run",
            "exec..run",
            "exec.run now",
            "",
        ] {
            assert!(!is_tool_shaped(label), "{label}");
        }
    }

    #[test]
    fn patterns_match_like_the_gateway() {
        let known = KnownTools::new(["artifact.read", "http.request"]);
        assert!(known.matches_pattern("*"));
        assert!(KnownTools::default().matches_pattern("*"));
        assert!(known.matches_pattern("artifact.*"));
        assert!(known.matches_pattern("http.request"));
        assert!(!known.matches_pattern("art*"));
        assert!(!known.matches_pattern("vault.*"));
        assert!(!known.matches_pattern("exec.run"));
    }
}
