//! From a task, the agent's profile and the run context to the two messages
//! a model sees first.
//!
//! The system message is the agent's own system prompt (its profile's
//! Markdown body), then what Agentwerke tells every agent about the task,
//! then the skills its profile lists, each with its name, description and
//! instructions. The user message is the rendered task prompt. What evidence
//! keeps of them is [`AssembledPrompt::snapshot`].

use serde_json::Value;

use super::{Output, PromptVars, render_tracked};
use crate::error::Error;

/// What [`assemble`] needs to know about the task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskPromptSpec {
    /// The agent profile doing the work (`agentTask/@agent`).
    pub agent: String,
    /// The BPMN node id.
    pub node_id: String,
    /// The node's name; empty means "use the node id".
    pub node_name: String,
    /// The task prompt (`agentTask/@prompt`); `None` gets a default prompt.
    pub prompt_template: Option<String>,
    /// `strictVariables`: unresolved variables are an error.
    pub strict: bool,
    /// The approver's `request_changes` comment when the work was sent back.
    pub feedback: Option<String>,
    /// The agent's system prompt from its profile; empty when it has none.
    /// Used as written: it is the author's text, not a template.
    pub agent_prompt: String,
    /// The skills the agent's profile lists, in its order.
    pub skills: Vec<SkillPrompt>,
}

/// A skill as it is put into the system message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SkillPrompt {
    /// Its name.
    pub name: String,
    /// What it does and when to use it.
    pub description: String,
    /// Its instructions.
    pub body: String,
}

/// A prompt ready for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledPrompt {
    /// The system message: who the agent is, what the task is, and the
    /// agent's skills.
    pub system: String,
    /// The user message: the rendered task prompt.
    pub user: String,
    /// Variables that did not resolve (always empty for strict tasks).
    pub unresolved: Vec<String>,
}

/// Renders the task's prompt against `context` and builds the messages.
///
/// Without a template the user message is the node name and the run input
/// as JSON. Feedback the template does not place itself with `{{feedback}}`
/// is appended, so a reworked task always sees why it was sent back.
/// The prompt goes to the model as rendered; what is persisted is the
/// redacted [`AssembledPrompt::snapshot`].
pub fn assemble(
    task: &TaskPromptSpec,
    context: &Value,
    run_id: &str,
) -> Result<AssembledPrompt, Error> {
    let node_name = if task.node_name.is_empty() {
        task.node_id.as_str()
    } else {
        task.node_name.as_str()
    };
    let feedback = task.feedback.as_deref().filter(|f| !f.trim().is_empty());
    let vars = PromptVars {
        context,
        run_id,
        node_name,
        feedback,
    };
    let (mut user, unresolved, used_feedback) = match &task.prompt_template {
        Some(template) => {
            let (rendered, used_feedback) = render_tracked(template, &vars)?;
            (rendered.text, rendered.unresolved, used_feedback)
        }
        None => (default_prompt(node_name, context)?, Vec::new(), false),
    };
    if task.strict && !unresolved.is_empty() {
        return Err(Error::UnresolvedVariable { names: unresolved });
    }
    if let (Some(feedback), false) = (feedback, used_feedback) {
        let mut out = Output(user);
        out.push("\n\nReviewer feedback on the previous attempt:\n")?;
        out.push(feedback)?;
        user = out.0;
    }
    let framing = task_framing(&task.agent, node_name, &task.node_id, run_id);
    let mut system = Output::default();
    if !task.agent_prompt.trim().is_empty() {
        system.push(task.agent_prompt.trim())?;
        system.push("\n\n")?;
    }
    system.push(&framing)?;
    if !task.skills.is_empty() {
        system.push("\n\n# Skills\n\nInstructions for particular kinds of work; use a skill when its description fits.")?;
        for skill in &task.skills {
            system.push(&format!(
                "\n\n## Skill: {}\n\n{}\n\n{}",
                skill.name,
                skill.description.trim(),
                skill.body.trim()
            ))?;
        }
    }
    Ok(AssembledPrompt {
        system: system.0,
        user,
        unresolved,
    })
}

/// What every agent is told about the task and the gateway.
fn task_framing(agent: &str, node_name: &str, node_id: &str, run_id: &str) -> String {
    format!(
        "You are the agent \"{agent}\", doing one task in an Agentwerke workflow run.\n\
         Task: {node_name} (BPMN node {node_id}, run {run_id}).\n\
         Every tool call you make passes a policy gateway and is recorded as evidence; \
         a refused call comes back to you with its reason.\n\
         When the task is done, reply with the result: a JSON object if the task asks \
         for structured output, plain text otherwise."
    )
}

/// The node name and the run input, for tasks without a prompt.
fn default_prompt(node_name: &str, context: &Value) -> Result<String, Error> {
    let input = context.get("input").unwrap_or(&Value::Null);
    let json = serde_json::to_string_pretty(input).unwrap_or_else(|_| input.to_string());
    let mut out = Output::default();
    out.push(node_name)?;
    out.push("\n\nRun input (JSON):\n")?;
    out.push(&json)?;
    Ok(out.0)
}
