//! The agent profiles in force: from the configuration's `[[agents]]` and
//! from the profile folder, one set, looked up by agent name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use agentwerke_agents::budget::Budgets;
use agentwerke_evidence::canonical::sha256_hex;
use agentwerke_gateway::{AgentProfile, SandboxProfile};
use agentwerke_secrets::SecretName;

use crate::problem::{FileKind, Problem, Problems, ProfileError};

/// Where a profile was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An `[[agents]]` entry of the configuration.
    Config,
    /// A file of the profile folder.
    File(PathBuf),
}

/// A skill as a profile carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    /// The skill's name (its folder's name).
    pub name: String,
    /// What it does and when to use it.
    pub description: String,
    /// The instructions: the Markdown body of its `SKILL.md`.
    pub body: String,
    /// Its `SKILL.md`.
    pub path: PathBuf,
}

/// One agent profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The agent name tasks use (`agent="..."`).
    pub name: String,
    /// Where it is defined.
    pub source: Source,
    /// What the agent is for, if its file says.
    pub description: Option<String>,
    /// The configured model provider, by name; `None` is the default one.
    pub provider: Option<String>,
    /// The model; `None` is the provider's default.
    pub model: Option<String>,
    /// Sampling temperature; `None` is the provider's default.
    pub temperature: Option<f32>,
    /// Model calls a step may make; `None` is the runtime's default.
    pub max_turns: Option<u32>,
    /// What the agent may spend (see [`Budgets`]).
    pub budgets: Budgets,
    /// Sandbox profiles its tasks may run under.
    pub sandbox_profiles: BTreeSet<SandboxProfile>,
    /// The tools a task that sets no `allowedTools` allows (same patterns).
    pub allowed_tools: Vec<String>,
    /// Secrets its tool calls may reference.
    pub secrets: BTreeSet<SecretName>,
    /// The skills loaded into its context, in the order the profile lists
    /// them.
    pub skills: Vec<Skill>,
    /// The system prompt (the file's Markdown body); empty for a profile
    /// from the configuration.
    pub system_prompt: String,
}

impl Profile {
    /// A profile from the configuration's `[[agents]]`: sandbox profiles
    /// and secrets, nothing else.
    pub fn from_config(agent: &AgentProfile) -> Self {
        Self {
            name: agent.name.clone(),
            source: Source::Config,
            description: None,
            provider: None,
            model: None,
            temperature: None,
            max_turns: None,
            budgets: Budgets::default(),
            sandbox_profiles: agent.allowed_sandbox_profiles.clone(),
            allowed_tools: Vec::new(),
            secrets: agent.secrets.clone(),
            skills: Vec::new(),
            system_prompt: String::new(),
        }
    }

    /// What the Tool Gateway needs to know of it.
    pub fn gateway_profile(&self) -> AgentProfile {
        AgentProfile::new(&self.name, self.sandbox_profiles.iter().copied())
            .with_secrets(self.secrets.iter().cloned())
    }

    /// SHA-256 (lowercase hex) of the system prompt, so two deployments can
    /// be compared without showing the prompt.
    pub fn system_prompt_sha256(&self) -> String {
        sha256_hex(self.system_prompt.as_bytes())
    }
}

/// Every agent profile in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalogue {
    agents: BTreeMap<String, Arc<Profile>>,
}

impl Catalogue {
    /// The configuration's `[[agents]]` alone.
    pub fn from_config(agents: &[AgentProfile]) -> Self {
        Self {
            agents: agents
                .iter()
                .map(|a| (a.name.clone(), Arc::new(Profile::from_config(a))))
                .collect(),
        }
    }

    /// Profiles loaded from files (names already unique: one file each).
    pub(crate) fn from_files(profiles: Vec<Profile>) -> Self {
        Self {
            agents: profiles
                .into_iter()
                .map(|p| (p.name.clone(), Arc::new(p)))
                .collect(),
        }
    }

    /// The configuration's `[[agents]]` next to the folder's profiles; an
    /// agent defined in both is a `profile.duplicate_name` problem at its
    /// file, since neither definition can be said to win.
    pub fn with_config(self, config: &[AgentProfile]) -> Result<Self, Problems> {
        let mut problems = Vec::new();
        let mut agents = self.agents;
        for agent in config {
            if let Some(existing) = agents.get(&agent.name) {
                let file = match &existing.source {
                    Source::File(path) => path.clone(),
                    Source::Config => PathBuf::from("[[agents]]"),
                };
                problems.push(
                    Problem::file(
                        file,
                        FileKind::Profile,
                        ProfileError::DuplicateName {
                            name: agent.name.clone(),
                            other: "an [[agents]] entry of the configuration has the same name; \
                                    remove one of the two"
                                .to_owned(),
                        },
                    )
                    .at(Some(1), None),
                );
                continue;
            }
            agents.insert(agent.name.clone(), Arc::new(Profile::from_config(agent)));
        }
        match Problems::of(problems) {
            Some(problems) => Err(problems),
            None => Ok(Self { agents }),
        }
    }

    /// The configuration's `[agents.budgets]` on its `[[agents]]` profiles
    /// (a profile file declares its own), so every agent's limits are read
    /// from its profile alone, whichever place defines it.
    #[must_use]
    pub fn with_budgets(mut self, budgets: &BTreeMap<String, Budgets>) -> Self {
        for (name, profile) in &mut self.agents {
            if let (Source::Config, Some(budgets)) = (&profile.source, budgets.get(name)) {
                Arc::make_mut(profile).budgets = *budgets;
            }
        }
        self
    }

    /// The profile of `agent`.
    pub fn get(&self, agent: &str) -> Option<&Arc<Profile>> {
        self.agents.get(agent)
    }

    /// Every profile, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Profile>> {
        self.agents.values()
    }

    /// How many profiles.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// The profiles as the Tool Gateway knows agents.
    pub fn gateway_profiles(&self) -> Vec<AgentProfile> {
        self.agents.values().map(|p| p.gateway_profile()).collect()
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_agents::budget::Budget;
    use agentwerke_gateway::SandboxProfile;

    use super::*;

    /// A configured agent's `[agents.budgets]` land on its profile; a
    /// profile file keeps its own; an agent without any is unlimited.
    #[test]
    fn configured_budgets_land_on_configured_profiles_only() {
        let mut from_config = Budgets::default();
        from_config.step.tokens = Some(500);
        let table = BTreeMap::from([
            ("reviewer".to_owned(), from_config),
            ("writer".to_owned(), from_config),
        ]);
        let mut file =
            Profile::from_config(&AgentProfile::new("writer", [SandboxProfile::Offline]));
        file.source = Source::File(PathBuf::from("agents/writer.md"));
        file.budgets.run = Budget {
            tokens: None,
            cost_usd: Some(0.25),
        };
        let own = file.budgets;
        let catalogue = Catalogue::from_files(vec![file])
            .with_config(&[
                AgentProfile::new("reviewer", [SandboxProfile::Offline]),
                AgentProfile::new("someone-else", [SandboxProfile::Offline]),
            ])
            .unwrap()
            .with_budgets(&table);
        let budgets = |name: &str| catalogue.get(name).map(|p| p.budgets);
        assert_eq!(budgets("reviewer"), Some(from_config));
        assert_eq!(budgets("writer"), Some(own));
        assert_eq!(budgets("someone-else"), Some(Budgets::default()));
    }
}
