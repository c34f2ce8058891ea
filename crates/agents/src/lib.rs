//! Agents for Agentwerke: prompt assembly, the model provider seam, a
//! deterministic scripted provider, and the tool-use loop of one agent step.
//!
//! The design decision: everything here is a function of its inputs except
//! the two seams a step awaits, [`provider::ModelProvider`] and
//! [`step::ToolExecutor`]. Prompt rendering ([`prompt`]) is pure and
//! bounded; the loop ([`step::run_step`]) returns one [`step::StepOutcome`]
//! that the runtime turns into an engine event; the scripted provider
//! ([`scripted`]) makes whole runs reproducible without a model or a token.
//! Tool calls fail closed: without a gateway ([`step::NoTools`]) every call
//! is refused and the model is told why.
//!
//! ```
//! use agentwerke_agents::prompt::{TaskPromptSpec, assemble};
//! use agentwerke_agents::scripted::{ScriptedProvider, Turn};
//! use agentwerke_agents::step::{NoTools, StepInput, StepOutcome, run_step};
//! use serde_json::json;
//!
//! let context = json!({"input": {"ticket": "T-7"}});
//! let task = TaskPromptSpec {
//!     agent: "triage".into(),
//!     node_id: "Triage".into(),
//!     node_name: "Triage ticket".into(),
//!     prompt_template: Some("Triage {{input.ticket}}".into()),
//!     ..TaskPromptSpec::default()
//! };
//! let prompt = assemble(&task, &context, "run-1").unwrap();
//! assert_eq!(prompt.user, "Triage T-7");
//!
//! let provider = ScriptedProvider::new().with_node("Triage", vec![Turn::reply("{{input.ticket}} is fine")]);
//! let mut input = StepInput::new(prompt, "run-1", "work-1", "Triage", "triage");
//! input.context = context;
//! let outcome = tokio::runtime::Runtime::new()
//!     .unwrap()
//!     .block_on(run_step(input, &provider, &NoTools));
//! assert!(matches!(outcome, StepOutcome::Completed { output, .. } if output == json!({"text": "T-7 is fine"})));
//! ```
#![deny(missing_docs)]

pub mod budget;
mod error;
pub mod human;
pub mod meter;
pub mod pricing;
pub mod prompt;
pub mod provider;
pub mod scripted;
pub mod step;

pub use error::Error;
