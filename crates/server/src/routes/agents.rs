//! The agent profiles in force: from the configuration's `[[agents]]` and
//! from the profile folder, as last (re)loaded.
//!
//! A profile's system prompt is shown by its SHA-256 only: the listing is
//! for checking which prompt is in force (and comparing it with the file
//! in the repository), not for reading prompts over the API.

use agentwerke_agents::budget::{Budget, Budgets, OnExceed};
use agentwerke_auth::Permission;
use agentwerke_profiles::{Profile, Source};
use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;

/// Every agent profile, sorted by name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentList {
    /// The profiles.
    pub agents: Vec<AgentView>,
}

/// Where a profile is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentSource {
    /// An `[[agents]]` entry of the configuration.
    Config,
    /// A file of the profile folder.
    File,
}

/// One agent profile.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    /// The agent name tasks use (`agent="..."`).
    pub name: String,
    /// `config` or `file`.
    pub source: AgentSource,
    /// The file, for a profile from the folder.
    pub path: Option<String>,
    /// What the agent is for.
    pub description: Option<String>,
    /// The model provider, by name; null is the default one.
    pub provider: Option<String>,
    /// The model; null is the provider's default.
    pub model: Option<String>,
    /// Sampling temperature; null is the provider's default.
    pub temperature: Option<f32>,
    /// Model calls a step may make; null is the default (8).
    pub max_turns: Option<u32>,
    /// What the agent may spend.
    pub budgets: BudgetsView,
    /// Sandbox profiles its tasks may run under.
    pub sandbox_profiles: Vec<String>,
    /// The tools a task that sets no `allowedTools` allows.
    pub allowed_tools: Vec<String>,
    /// The secret names its tool calls may reference (names only).
    pub secrets: Vec<String>,
    /// The skills loaded into its context, in order.
    pub skills: Vec<SkillView>,
    /// SHA-256 (lowercase hex) of its system prompt (of the empty text for
    /// a profile from the configuration).
    pub system_prompt_sha256: String,
}

/// A skill a profile lists.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillView {
    /// Its name.
    pub name: String,
    /// What it does and when to use it.
    pub description: String,
}

/// A profile's budgets.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetsView {
    /// One attempt of one step.
    pub step: BudgetView,
    /// The whole run.
    pub run: BudgetView,
    /// What passing a limit does.
    pub on_exceed: OnExceedView,
}

/// What passing a budget does to the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnExceedView {
    /// The step fails with `budget.exceeded`.
    Fail,
    /// A human decides whether the step may go on.
    Escalate,
}

/// One budget; null is unlimited.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    /// Prompt plus completion tokens.
    pub tokens: Option<u64>,
    /// US dollars.
    pub cost_usd: Option<f64>,
}

/// The agent profiles in force, with their skills.
#[utoipa::path(get, path = "/api/agents", tag = "agents",
    responses((status = 200, description = "Every agent profile in force, sorted by name", body = AgentList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AgentList>, ApiError> {
    caller.require(Permission::Read)?;
    let profiles = state.gateway.profiles();
    Ok(Json(AgentList {
        agents: profiles
            .iter()
            .map(|p| AgentView::from(p.as_ref()))
            .collect(),
    }))
}

impl From<&Profile> for AgentView {
    fn from(profile: &Profile) -> Self {
        let (source, path) = match &profile.source {
            Source::Config => (AgentSource::Config, None),
            Source::File(path) => (AgentSource::File, Some(path.display().to_string())),
        };
        Self {
            name: profile.name.clone(),
            source,
            path,
            description: profile.description.clone(),
            provider: profile.provider.clone(),
            model: profile.model.clone(),
            temperature: profile.temperature,
            max_turns: profile.max_turns,
            budgets: BudgetsView::from(&profile.budgets),
            sandbox_profiles: profile
                .sandbox_profiles
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            allowed_tools: profile.allowed_tools.clone(),
            secrets: profile
                .secrets
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            skills: profile
                .skills
                .iter()
                .map(|s| SkillView {
                    name: s.name.clone(),
                    description: s.description.clone(),
                })
                .collect(),
            system_prompt_sha256: profile.system_prompt_sha256(),
        }
    }
}

impl From<&Budgets> for BudgetsView {
    fn from(budgets: &Budgets) -> Self {
        let view = |b: &Budget| BudgetView {
            tokens: b.tokens,
            cost_usd: b.cost_usd,
        };
        Self {
            step: view(&budgets.step),
            run: view(&budgets.run),
            on_exceed: match budgets.on_exceed {
                OnExceed::Fail => OnExceedView::Fail,
                OnExceed::Escalate => OnExceedView::Escalate,
            },
        }
    }
}
