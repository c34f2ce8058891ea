//! The tool registry: tools by name, with their input schemas compiled once.
//!
//! Compiling a schema at registration means a broken schema fails the
//! server's start, not the first call, and validating a call is a lookup
//! plus a walk of a prepared validator.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use agentwerke_agents::provider::ToolSpec;

use crate::category::Category;
use crate::error::Error;
use crate::tool::{Idempotency, Tool};

/// Most schema messages reported for one call; the rest are counted.
const MAX_SCHEMA_MESSAGES: usize = 5;

/// The tools the gateway can broker. Cheap to clone.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Entry>,
}

#[derive(Clone)]
struct Entry {
    tool: Arc<dyn Tool>,
    category: Category,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.tools.iter().map(|(name, e)| (name, e.category)))
            .finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tool`. Fails on an invalid or duplicate name, or an input
    /// schema that does not compile.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<(), Error> {
        let name = tool.name().to_owned();
        if !is_valid_name(&name) {
            return Err(Error::InvalidToolName { name });
        }
        if self.tools.contains_key(&name) {
            return Err(Error::DuplicateTool { name });
        }
        let validator = jsonschema::validator_for(&tool.input_schema()).map_err(|e| {
            Error::InvalidToolSchema {
                name: name.clone(),
                reason: e.to_string(),
            }
        })?;
        let category = tool.category();
        self.tools.insert(
            name,
            Entry {
                tool,
                category,
                validator: Arc::new(validator),
            },
        );
        Ok(())
    }

    /// [`Self::register`] for chaining.
    pub fn with(mut self, tool: Arc<dyn Tool>) -> Result<Self, Error> {
        self.register(tool)?;
        Ok(self)
    }

    /// The tool named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name).map(|e| &e.tool)
    }

    /// What running `args` on the tool named `name` again would do; an
    /// unknown tool is taken as [`Idempotency::NotIdempotent`].
    pub fn idempotency(&self, name: &str, args: &Value) -> Idempotency {
        self.tools
            .get(name)
            .map_or(Idempotency::NotIdempotent, |e| e.tool.idempotency(args))
    }

    /// The category of the tool named `name`.
    pub fn category(&self, name: &str) -> Option<Category> {
        self.tools.get(name).map(|e| e.category)
    }

    /// Every tool's name and category, sorted by name.
    pub fn categories(&self) -> impl Iterator<Item = (&str, Category)> {
        self.tools.iter().map(|(n, e)| (n.as_str(), e.category))
    }

    /// The tools as the model sees them, sorted by name.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .values()
            .map(|e| ToolSpec {
                name: e.tool.name().to_owned(),
                description: e.tool.description().to_owned(),
                input_schema: e.tool.input_schema(),
            })
            .collect()
    }

    /// Checks `args` against the tool's schema: `None` if valid (or the
    /// tool is unknown), else the first few problems as text.
    pub(crate) fn schema_errors(&self, name: &str, args: &Value) -> Option<String> {
        let validator = &self.tools.get(name)?.validator;
        if validator.is_valid(args) {
            return None;
        }
        let errors: Vec<String> = validator
            .iter_errors(args)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        let mut text = errors
            .iter()
            .take(MAX_SCHEMA_MESSAGES)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if errors.len() > MAX_SCHEMA_MESSAGES {
            text.push_str(&format!(
                "; and {} more",
                errors.len() - MAX_SCHEMA_MESSAGES
            ));
        }
        Some(text)
    }
}

/// Tool names become Cedar action ids and show up in BPMN attributes and
/// logs: keep them to a boring alphabet.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use serde_json::json;

    use agentwerke_types::ErrorCode;

    use super::*;
    use crate::error::ToolError;
    use crate::tool::ToolContext;

    struct Named(&'static str, Value);

    #[async_trait]
    impl Tool for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn description(&self) -> &str {
            "test"
        }
        fn category(&self) -> Category {
            Category::Read
        }
        fn input_schema(&self) -> Value {
            self.1.clone()
        }
        async fn execute(&self, _: &Value, _: &ToolContext) -> Result<Value, ToolError> {
            Ok(Value::Null)
        }
    }

    fn object() -> Value {
        json!({"type": "object", "required": ["q"], "properties": {"q": {"type": "string"}}})
    }

    #[test]
    fn registration_checks_names_duplicates_and_schemas() {
        let mut registry = ToolRegistry::new();
        registry.register(Arc::new(Named("a.b", object()))).unwrap();
        let dup = registry.register(Arc::new(Named("a.b", object())));
        assert_eq!(dup.unwrap_err().code(), "gateway.registry.duplicate_tool");
        for bad in ["", "Has.Upper", "category:read", "sp ace"] {
            let err = registry.register(Arc::new(Named(bad, object())));
            assert_eq!(
                err.unwrap_err().code(),
                "gateway.registry.invalid_tool_name"
            );
        }
        let err = registry.register(Arc::new(Named("bad.schema", json!({"type": 5}))));
        assert_eq!(
            err.unwrap_err().code(),
            "gateway.registry.invalid_tool_schema"
        );
        assert_eq!(registry.specs().len(), 1);
    }

    #[test]
    fn schema_errors_name_the_instance_path() {
        let registry = ToolRegistry::new()
            .with(Arc::new(Named("t", object())))
            .unwrap();
        assert_eq!(registry.schema_errors("t", &json!({"q": "x"})), None);
        let err = registry.schema_errors("t", &json!({"q": 5})).unwrap();
        assert!(err.starts_with("/q: "), "{err}");
        assert!(registry.schema_errors("t", &json!([])).is_some());
    }
}
