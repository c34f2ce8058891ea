//! Tool names as the wire allows them.
//!
//! Both OpenAI and Anthropic accept only `[a-zA-Z0-9_-]{1,64}` as a tool
//! name, and the gateway's tools are named with dots (`artifact.write`).
//! Each request maps its tools to allowed names and maps the model's calls
//! back, so the gateway sees the names it registered.

use std::collections::BTreeMap;

use agentwerke_agents::provider::ToolSpec;

/// The two-way map of one request's tool names.
#[derive(Debug, Clone, Default)]
pub(crate) struct ToolNames {
    to_wire: BTreeMap<String, String>,
    from_wire: BTreeMap<String, String>,
}

impl ToolNames {
    /// Maps each tool of `tools` to a distinct allowed name.
    pub(crate) fn new(tools: &[ToolSpec]) -> Self {
        let mut names = Self::default();
        for tool in tools {
            names.wire(&tool.name);
        }
        names
    }

    /// The wire name of `name`, assigning one if it has none yet (a call
    /// in the history to a tool no longer offered).
    pub(crate) fn wire(&mut self, name: &str) -> String {
        if let Some(wire) = self.to_wire.get(name) {
            return wire.clone();
        }
        let base: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        let base = if base.is_empty() {
            "tool".to_owned()
        } else {
            base
        };
        let mut wire = base.clone();
        let mut n = 2;
        while self.from_wire.contains_key(&wire) {
            wire = format!("{base}_{n}");
            n += 1;
        }
        self.to_wire.insert(name.to_owned(), wire.clone());
        self.from_wire.insert(wire.clone(), name.to_owned());
        wire
    }

    /// The tool the model meant by `wire`; an unknown name is passed on as
    /// it is, for the gateway to refuse.
    pub(crate) fn real(&self, wire: &str) -> String {
        self.from_wire
            .get(wire)
            .cloned()
            .unwrap_or_else(|| wire.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            input_schema: json!({}),
        }
    }

    #[test]
    fn dotted_names_map_to_allowed_ones_and_back_without_collisions() {
        let mut names = ToolNames::new(&[spec("artifact.write"), spec("artifact_write")]);
        assert_eq!(names.wire("artifact.write"), "artifact_write");
        assert_eq!(names.wire("artifact_write"), "artifact_write_2");
        assert_eq!(names.real("artifact_write"), "artifact.write");
        assert_eq!(names.real("artifact_write_2"), "artifact_write");
        assert_eq!(names.real("shell_exec"), "shell_exec");
    }
}
