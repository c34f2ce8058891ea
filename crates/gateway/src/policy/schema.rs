//! The Cedar schema for one tool registry.
//!
//! The shipped `policies/schema.cedarschema` declares the entity types, the
//! context and the category action groups; the tools are appended from the
//! registry, so the registry stays the one place that names tools. Strict
//! validation against the result catches a policy that names a tool that
//! does not exist, or compares `context.attempt` with a string.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use cedar_policy::{Entities, EntityTypeName, Schema};

use crate::category::Category;
use crate::error::Error;
use crate::registry::ToolRegistry;

/// The shipped base schema (entity types, context, category groups).
pub const BASE_SCHEMA: &str = include_str!("../../policies/schema.cedarschema");

/// The Cedar schema for a set of tools, with what evaluation needs
/// precomputed (action entities, type names).
#[derive(Debug)]
pub struct PolicySchema {
    pub(crate) cedar: Schema,
    pub(crate) action_entities: Entities,
    pub(crate) agent_type: EntityTypeName,
    pub(crate) action_type: EntityTypeName,
    pub(crate) target_type: EntityTypeName,
    text: String,
    tools: BTreeMap<String, Category>,
}

impl PolicySchema {
    /// The schema for every tool in `registry`.
    pub fn for_registry(registry: &ToolRegistry) -> Result<Self, Error> {
        Self::for_tools(registry.categories())
    }

    /// The schema for `tools` (name, category).
    pub fn for_tools<'a>(
        tools: impl IntoIterator<Item = (&'a str, Category)>,
    ) -> Result<Self, Error> {
        let tools: BTreeMap<String, Category> =
            tools.into_iter().map(|(n, c)| (n.to_owned(), c)).collect();
        let mut text = BASE_SCHEMA.to_owned();
        text.push_str("\n// Tools of this registry.\n");
        for (name, category) in &tools {
            let name = escape(name);
            let group = category.action_group();
            let _ = writeln!(
                text,
                "action \"{name}\" in [Action::\"{group}\"] appliesTo {{ principal: [Agent], resource: [Target], context: CallContext }};"
            );
        }
        let (cedar, _warnings) =
            Schema::from_cedarschema_str(&text).map_err(|e| Error::PolicySchema(e.to_string()))?;
        let action_entities = cedar
            .action_entities()
            .map_err(|e| Error::PolicySchema(e.to_string()))?;
        let type_name = |name: &str| {
            EntityTypeName::from_str(name).map_err(|e| Error::PolicySchema(e.to_string()))
        };
        Ok(Self {
            agent_type: type_name("Agent")?,
            action_type: type_name("Action")?,
            target_type: type_name("Target")?,
            cedar,
            action_entities,
            text,
            tools,
        })
    }

    /// The complete schema text (base plus one action per tool).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The tools this schema declares, with their categories.
    pub fn tools(&self) -> &BTreeMap<String, Category> {
        &self.tools
    }

    /// Why `registry` is not what this schema declares, if it is not.
    pub(crate) fn mismatch(&self, registry: &ToolRegistry) -> Option<String> {
        let wanted: BTreeMap<String, Category> = registry
            .categories()
            .map(|(n, c)| (n.to_owned(), c))
            .collect();
        if wanted == self.tools {
            return None;
        }
        let missing: Vec<_> = wanted
            .iter()
            .filter(|(n, c)| self.tools.get(*n) != Some(c))
            .map(|(n, c)| format!("{n} ({c})"))
            .collect();
        let extra: Vec<_> = self
            .tools
            .keys()
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        Some(format!(
            "not declared: [{}]; declared but not registered: [{}]",
            missing.join(", "),
            extra.join(", ")
        ))
    }
}

/// Tool names are restricted to `[a-z0-9._-]` by the registry; escaping
/// keeps `for_tools` safe for any caller anyway.
fn escape(name: &str) -> String {
    name.replace('\\', "\\\\").replace('"', "\\\"")
}
