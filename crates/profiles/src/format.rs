//! The two file formats: what the front matter of `agents/<name>.md` and
//! of `skills/<name>/SKILL.md` may say, and how a YAML error becomes a
//! problem at a line of the file.
//!
//! Unknown keys are refused, so a misspelt `max-turn:` is an error rather
//! than a limit silently not applied.

use std::collections::BTreeMap;

use agentwerke_agents::budget::Budgets;
use agentwerke_gateway::SandboxProfile;
use agentwerke_secrets::SecretName;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::front::Split;
use crate::problem::ProfileError;

/// The front matter of `agents/<name>.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct AgentFront {
    /// Must equal the file name when given.
    #[serde(default)]
    pub name: Option<String>,
    /// What the agent is for.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub max_turns: Option<u32>,
    #[serde(default)]
    pub budgets: Budgets,
    /// Required: an agent without one can call no tool, which should be
    /// said, not defaulted.
    pub sandbox_profiles: Vec<SandboxProfile>,
    #[serde(default)]
    pub allowed_tools: Vec<String>,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<SecretName>,
}

/// The front matter of `skills/<name>/SKILL.md`: the Agent Skills
/// convention's fields. `allowed-tools` is not among them here, because a
/// skill grants nothing; the agent's profile does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct SkillFront {
    pub name: String,
    /// Optional here so that its absence gets its own code.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "accepted for the convention; not used")]
    pub license: Option<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "accepted for the convention; not used")]
    pub compatibility: Option<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "accepted for the convention; not used")]
    pub metadata: BTreeMap<String, String>,
}

/// A front matter problem and where it is in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Located {
    pub error: ProfileError,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// Parses the YAML of `split` as `T`. A document that is not YAML is
/// `invalid_yaml`; one that is YAML but has a key `T` does not know is
/// `unknown_field`; any other mismatch is `invalid_field`. The parser's
/// line is counted from the YAML's first line and is moved to the file's.
pub(crate) fn parse<T: DeserializeOwned>(split: &Split<'_>) -> Result<T, Located> {
    let yaml = if split.yaml.trim().is_empty() {
        "{}"
    } else {
        split.yaml
    };
    let locate = |error: yaml_serde::Error, kind: fn(String) -> ProfileError| {
        let location = error.location();
        Located {
            error: kind(without_position(&error.to_string())),
            line: location.as_ref().map(|l| l.line() + split.offset),
            column: location.as_ref().map(yaml_serde::Location::column),
        }
    };
    if let Err(error) = yaml_serde::from_str::<yaml_serde::Value>(yaml) {
        return Err(locate(error, ProfileError::InvalidYaml));
    }
    yaml_serde::from_str::<T>(yaml).map_err(|error| {
        if error.to_string().starts_with("unknown field") {
            locate(error, ProfileError::UnknownField)
        } else {
            locate(error, ProfileError::InvalidField)
        }
    })
}

/// The parser's message without its own ` at line N column M`, which
/// counts from the YAML rather than the file; the problem carries the file's.
fn without_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}
