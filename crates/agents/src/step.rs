//! The tool-use loop of one agent step.
//!
//! Pure apart from awaiting the two seams: the [`ModelProvider`] and the
//! [`ToolExecutor`] (the policy gateway in production). The loop owns no
//! clock, store or network, so every path through it is tested with the
//! scripted provider and an in-memory executor.
//!
//! Each round: ask the model; if it wants tools, hand each call to the
//! executor in order and feed the results back as tool messages. A rejected
//! call goes back to the model with its reason, so it can change course. An
//! escalated call, or a question to a human (`human.ask`), pauses the step
//! at once: later calls of the same turn are not executed, because they
//! might depend on the one awaiting a person.
//!
//! A passed budget fails the step, or, when the budgets say `escalate`,
//! pauses it before the turn that would pass the limit
//! ([`StepOutcome::OverBudget`]): the caller opens an approval request and
//! keeps it in the [`Resume`] point; approved, the step goes on with that
//! limit lifted for the rest of its attempt ([`Resume::lifted`]).
//!
//! The kill switch is asked before every model turn
//! ([`ToolExecutor::halted`]) and answers every tool call it holds with
//! [`ToolResult::Halted`]: either way the step pauses where it stands
//! ([`StepOutcome::Halted`]) and goes on from there once the halt is lifted.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use agentwerke_types::ErrorCode;

use crate::budget::{Budgets, OnExceed};
use crate::error::Error;
use crate::meter::{
    Exceeded, Limit, Meter, Moment, Spending, Spent, Tally, TurnUsage, check,
    estimate_prompt_tokens, lift, limits_anything, limits_cost,
};
use crate::pricing::Prices;
use crate::prompt::AssembledPrompt;
use crate::provider::{
    CallStats, Message, ModelProvider, ModelRequest, ModelResponse, NoSink, Role, TextSink,
    ToolCallRequest, ToolSpec, Usage,
};

/// Model calls a step may make unless told otherwise.
pub const DEFAULT_MAX_TURNS: u32 = 8;

/// Why [`NoTools`] refuses every call.
pub const NO_TOOLS_REASON: &str = "no tool gateway is configured: the call was refused";

/// Executes tool calls on the model's behalf (the policy gateway).
#[async_trait]
pub trait ToolExecutor: Send + Sync {
    /// Decides on and, when allowed, executes one call.
    async fn call(&self, call: &ToolCallRequest, ctx: &StepContext) -> ToolResult;

    /// Why the kill switch holds the step now, if it does; asked before
    /// every model turn, so a halted agent does not even think. Executors
    /// without a kill switch hold nothing.
    async fn halted(&self, _ctx: &StepContext) -> Option<String> {
        None
    }
}

/// Which step a tool call belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepContext {
    /// The run.
    pub run_id: String,
    /// The attempt's unit of work.
    pub work_id: String,
    /// The BPMN node id.
    pub node_id: String,
    /// The agent profile.
    pub agent: String,
    /// The attempt number.
    pub attempt: u32,
    /// The model turn (1-based) that asked for the call.
    pub turn: u32,
    /// What the model said in that turn besides asking for calls (its
    /// reasoning, as far as it gives one), if anything: an approver of an
    /// escalated call reads it next to the call.
    #[serde(default)]
    pub said: Option<String>,
}

/// The gateway's answer to one tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ToolResult {
    /// The tool ran; its output goes back to the model.
    Allowed {
        /// What the tool returned.
        output: Value,
    },
    /// The call was refused; the reason goes back to the model.
    Rejected {
        /// Why.
        reason: String,
    },
    /// The call needs a human decision; the step pauses.
    Escalated {
        /// The approval request that was opened.
        approval_id: String,
    },
    /// The call (`human.ask`) put a question to a human; the step pauses
    /// until it is answered.
    Asked {
        /// The question that was opened.
        question_id: String,
    },
    /// The kill switch holds the call: it is not made, and the step pauses
    /// until the halt is lifted, then makes it.
    Halted {
        /// Which halt, and why.
        reason: String,
    },
}

/// The executor used when no gateway is wired in: refuses everything, so a
/// misconfigured deployment fails closed instead of running tools ungoverned.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTools;

#[async_trait]
impl ToolExecutor for NoTools {
    async fn call(&self, _call: &ToolCallRequest, _ctx: &StepContext) -> ToolResult {
        ToolResult::Rejected {
            reason: NO_TOOLS_REASON.to_owned(),
        }
    }
}

/// Everything one step needs besides the two seams.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInput {
    /// The assembled prompt.
    pub prompt: AssembledPrompt,
    /// The run.
    pub run_id: String,
    /// The attempt's unit of work.
    pub work_id: String,
    /// The BPMN node id.
    pub node_id: String,
    /// The node's name (its id when it has none).
    pub node_name: String,
    /// The agent profile.
    pub agent: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The model; `None` is the provider's default.
    pub model: Option<String>,
    /// The configured provider, by name; `None` is the default one.
    pub provider: Option<String>,
    /// Sampling temperature; `None` is the provider's default.
    pub temperature: Option<f32>,
    /// The tools offered to the model.
    pub tools: Vec<ToolSpec>,
    /// The run context (see [`ModelRequest::context`]).
    pub context: Value,
    /// The approver's `request_changes` comment, if any.
    pub feedback: Option<String>,
    /// Model calls allowed before the step fails with `agents.turn_limit`.
    pub max_turns: u32,
    /// Where a paused step stood: it continues there instead of starting
    /// over.
    pub resume: Option<Resume>,
    /// The step's and the run's limits (see [`crate::meter`]); unlimited
    /// by default.
    pub budgets: Budgets,
    /// The price table every turn's cost is computed from.
    pub prices: Prices,
}

/// Where a paused step stands, kept so that it goes on from there once a
/// person has decided or answered: the model is not asked again for what it
/// already said, and its earlier turns are neither paid for nor recorded
/// twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// The conversation so far, up to the model turn that asked for the
    /// paused call, with the results of the calls made before it.
    pub messages: Vec<Message>,
    /// The paused call, then the calls of the same turn after it.
    pub pending: Vec<ToolCallRequest>,
    /// The model turn (1-based) that asked for them; for a step halted
    /// before a model turn (nothing pending), the turn before it, 0 when
    /// the model was not asked yet.
    pub turn: u32,
    /// The limits a person let this attempt go on past, for the rest of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifted: Vec<Limit>,
    /// The passed budget the step paused on and the approval it waits for;
    /// settled by the caller (approved: its limit joins `lifted`) before
    /// the step goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetAsk>,
}

/// A passed budget a person is asked about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetAsk {
    /// The approval request.
    pub approval_id: String,
    /// Which budget, its limit, what was spent and the turn's estimate.
    pub exceeded: Exceeded,
}

impl StepInput {
    /// A first attempt with no tools, the provider's default model and
    /// [`DEFAULT_MAX_TURNS`]; set the other fields directly.
    pub fn new(
        prompt: AssembledPrompt,
        run_id: impl Into<String>,
        work_id: impl Into<String>,
        node_id: impl Into<String>,
        agent: impl Into<String>,
    ) -> Self {
        let node_id = node_id.into();
        Self {
            prompt,
            run_id: run_id.into(),
            work_id: work_id.into(),
            node_name: node_id.clone(),
            node_id,
            agent: agent.into(),
            attempt: 1,
            model: None,
            provider: None,
            temperature: None,
            tools: Vec::new(),
            context: Value::Null,
            feedback: None,
            max_turns: DEFAULT_MAX_TURNS,
            resume: None,
            budgets: Budgets::default(),
            prices: Prices::default(),
        }
    }

    fn request(&self, messages: &[Message]) -> ModelRequest {
        ModelRequest {
            run_id: self.run_id.clone(),
            work_id: self.work_id.clone(),
            node_id: self.node_id.clone(),
            node_name: self.node_name.clone(),
            agent: self.agent.clone(),
            attempt: self.attempt,
            model: self.model.clone(),
            provider: self.provider.clone(),
            temperature: self.temperature,
            messages: messages.to_vec(),
            tools: self.tools.clone(),
            context: self.context.clone(),
            feedback: self.feedback.clone(),
        }
    }

    fn tool_context(&self, turn: u32, said: Option<&str>) -> StepContext {
        StepContext {
            run_id: self.run_id.clone(),
            work_id: self.work_id.clone(),
            node_id: self.node_id.clone(),
            agent: self.agent.clone(),
            attempt: self.attempt,
            turn,
            said: said
                .filter(|text| !text.trim().is_empty())
                .map(str::to_owned),
        }
    }
}

/// What evidence keeps of one model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// 1-based.
    pub turn: u32,
    /// The provider that answered.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// What the call consumed.
    pub usage: Usage,
    /// The model's text, if any.
    pub content: Option<String>,
    /// The tool calls it asked for, with the gateway's decisions, in order.
    /// Calls after an escalation are listed without a decision.
    pub tool_calls: Vec<ToolCallRecord>,
    /// Latency, retries and the key used.
    #[serde(default)]
    pub call: CallStats,
}

/// One tool call and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    /// The call as the model made it.
    pub call: ToolCallRequest,
    /// The gateway's answer; `None` when the step paused before reaching it.
    pub result: Option<ToolResult>,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    /// The model gave its final answer.
    Completed {
        /// `{"text": ...}`, or the reply itself when it is a JSON object.
        output: Value,
        /// The sum over all turns.
        usage_total: Usage,
        /// Every model call.
        turns: Vec<TurnRecord>,
    },
    /// A tool call was escalated; the step waits for the approval.
    Paused {
        /// The approval request to wait for.
        approval_id: String,
        /// Every model call of this execution up to the pause.
        turns: Vec<TurnRecord>,
        /// Where to go on from.
        resume: Resume,
    },
    /// The model asked a human (`human.ask`); the step waits for the answer.
    Asked {
        /// The question to wait for.
        question_id: String,
        /// Every model call of this execution up to the pause.
        turns: Vec<TurnRecord>,
        /// Where to go on from.
        resume: Resume,
    },
    /// The kill switch holds the step, before a model turn or a tool call
    /// (`human.ask` included); it goes on from `resume` once the halt is
    /// lifted.
    Halted {
        /// Which halt, and why.
        reason: String,
        /// Every model call of this execution up to the pause.
        turns: Vec<TurnRecord>,
        /// Where to go on from.
        resume: Resume,
    },
    /// The next model turn would pass a budget whose `on-exceed` is
    /// `escalate`: the step waits for a person to let it go on. The caller
    /// opens the approval request and sets [`Resume::budget`].
    OverBudget {
        /// Which budget, its limit, what was spent and the estimate.
        exceeded: Exceeded,
        /// Every model call of this execution up to the pause.
        turns: Vec<TurnRecord>,
        /// Where to go on from (before the model turn).
        resume: Resume,
    },
    /// The provider failed, or the model did not finish in time.
    Failed {
        /// A stable code (a scripted failure's own code; see
        /// [`crate::provider::ProviderError::step_code`]).
        code: String,
        /// What happened.
        message: String,
        /// Every successful model call before the failure.
        turns: Vec<TurnRecord>,
    },
}

impl StepOutcome {
    /// The model calls made, whatever the outcome.
    pub fn turns(&self) -> &[TurnRecord] {
        match self {
            StepOutcome::Completed { turns, .. }
            | StepOutcome::Paused { turns, .. }
            | StepOutcome::Asked { turns, .. }
            | StepOutcome::Halted { turns, .. }
            | StepOutcome::OverBudget { turns, .. }
            | StepOutcome::Failed { turns, .. } => turns,
        }
    }

    /// Usage summed over [`Self::turns`] (also for paused and failed steps,
    /// whose tokens were spent all the same).
    pub fn usage(&self) -> Usage {
        let mut total = Usage::default();
        for turn in self.turns() {
            total += turn.usage;
        }
        total
    }
}

/// Runs the tool-use loop until a final answer, a pause, a failure or the
/// turn limit; a resumed step first makes the calls it paused on. Usage is
/// counted in memory ([`Tally`]): the budgets hold within this execution.
pub async fn run_step(
    input: StepInput,
    provider: &dyn ModelProvider,
    tools: &dyn ToolExecutor,
) -> StepOutcome {
    run_metered_step(input, provider, tools, &Tally::default(), &NoSink).await
}

/// As [`run_step`], handing the model's text to `sink` as it arrives
/// (see [`ModelProvider::complete_streaming`]).
pub async fn run_step_streaming(
    input: StepInput,
    provider: &dyn ModelProvider,
    tools: &dyn ToolExecutor,
    sink: &dyn TextSink,
) -> StepOutcome {
    run_metered_step(input, provider, tools, &Tally::default(), sink).await
}

/// [`run_step_streaming`] with every turn's usage kept by `meter`, which
/// also says what was spent before: the step's and the run's budgets are
/// checked against it before each turn (with an estimate of the prompt) and
/// after (with the real usage). Passing one fails the step with
/// `budget.exceeded`; the turn that passed it is kept and recorded, and
/// its answer (a final one, or tool calls, which are not made) is dropped.
/// With `on-exceed: escalate`, a budget the next turn would pass pauses the
/// step before that turn instead ([`StepOutcome::OverBudget`]); a turn whose
/// real usage passed one is kept with its answer, and the question comes
/// before the turn after it.
pub async fn run_metered_step(
    mut input: StepInput,
    provider: &dyn ModelProvider,
    tools: &dyn ToolExecutor,
    meter: &dyn Meter,
    sink: &dyn TextSink,
) -> StepOutcome {
    let mut turns: Vec<TurnRecord> = Vec::new();
    let mut usage_total = Usage::default();
    let lifted = input
        .resume
        .as_ref()
        .map(|resume| resume.lifted.clone())
        .unwrap_or_default();
    for limit in &lifted {
        lift(&mut input.budgets, *limit);
    }
    let pause_at = |pause: Pause, turns, messages, pending, turn| {
        pause.outcome(turns, messages, pending, turn, lifted.clone())
    };
    let (mut messages, first_turn) = match input.resume.take() {
        Some(resume) => {
            if let Some(ask) = resume.budget {
                // The caller settles the question before the step goes on;
                // one that reaches the loop unsettled is not taken as a yes.
                let error = Error::BudgetExceeded {
                    detail: format!(
                        "{}; the decision on approval '{}' is not known",
                        ask.exceeded, ask.approval_id
                    ),
                };
                return failed(&error, turns);
            }
            let mut messages = resume.messages;
            // The turn that asked for the pending calls is the last one kept.
            let said = messages
                .iter()
                .rev()
                .find(|m| m.role == Role::Assistant)
                .map(|m| m.content.as_str());
            let ctx = input.tool_context(resume.turn, said);
            // The calls were recorded with the turn that asked for them.
            let mut records = Vec::new();
            if let Some((pause, pending)) =
                call_tools(resume.pending, &mut messages, tools, &ctx, &mut records).await
            {
                return pause_at(pause, turns, messages, pending, resume.turn);
            }
            (messages, resume.turn + 1)
        }
        None => (
            vec![
                Message::system(input.prompt.system.as_str()),
                Message::user(input.prompt.user.as_str()),
            ],
            1,
        ),
    };
    for turn in first_turn..=input.max_turns {
        if let Some(reason) = tools.halted(&input.tool_context(turn, None)).await {
            return pause_at(Pause::Halted(reason), turns, messages, Vec::new(), turn - 1);
        }
        let last_model = turns.last().map(|t: &TurnRecord| t.model.as_str());
        let spent = match before_turn(&input, meter, &messages, turn, last_model).await {
            Ok(Before::Go(spent)) => spent,
            Ok(Before::Ask(exceeded)) => {
                return StepOutcome::OverBudget {
                    exceeded,
                    turns,
                    resume: Resume {
                        messages,
                        pending: Vec::new(),
                        turn: turn - 1,
                        lifted: lifted.clone(),
                        budget: None,
                    },
                };
            }
            Err(error) => return failed(&error, turns),
        };
        let request = input.request(&messages);
        let response = match provider.complete_streaming(&request, sink).await {
            Ok(response) => response,
            Err(e) => {
                return StepOutcome::Failed {
                    code: e.step_code(),
                    message: e.to_string(),
                    turns,
                };
            }
        };
        let ModelResponse {
            content,
            tool_calls,
            mut usage,
            model,
            provider: provider_name,
            call,
        } = response;
        let price = input.prices.get(&model);
        // Unpriced models cost nothing (unless a cost budget applies, below).
        usage.cost_usd = price.map_or(0.0, |price| price.cost(&usage));
        usage_total += usage;
        let kept = meter
            .record(&TurnUsage {
                turn,
                provider: provider_name.clone(),
                model: model.clone(),
                usage,
                call: call.clone(),
            })
            .await;
        let mut record = TurnRecord {
            turn,
            provider: provider_name,
            model,
            usage,
            content: content.clone(),
            tool_calls: Vec::new(),
            call,
        };
        let over = after_turn(&input, kept, price.is_some(), &record, spent);
        if let Err(error) = over {
            turns.push(record);
            return failed(&error, turns);
        }
        if tool_calls.is_empty() {
            turns.push(record);
            return StepOutcome::Completed {
                output: final_output(content.as_deref().unwrap_or_default()),
                usage_total,
                turns,
            };
        }
        let ctx = input.tool_context(turn, content.as_deref());
        messages.push(Message::assistant(
            content.unwrap_or_default(),
            tool_calls.clone(),
        ));
        let paused = call_tools(
            tool_calls,
            &mut messages,
            tools,
            &ctx,
            &mut record.tool_calls,
        )
        .await;
        turns.push(record);
        if let Some((pause, pending)) = paused {
            return pause_at(pause, turns, messages, pending, turn);
        }
    }
    let error = Error::TurnLimit {
        max_turns: input.max_turns,
    };
    StepOutcome::Failed {
        code: error.code().to_owned(),
        message: error.to_string(),
        turns,
    }
}

/// Checks the budgets before turn `turn`: what `meter` says was spent plus
/// the estimate of the prompt (priced at the input price of the requested
/// model, or of the model that answered the turn before). What was spent,
/// when a budget applies.
async fn before_turn(
    input: &StepInput,
    meter: &dyn Meter,
    messages: &[Message],
    turn: u32,
    last_model: Option<&str>,
) -> Result<Before, Error> {
    if !limits_anything(&input.budgets) {
        return Ok(Before::Go(None));
    }
    let model = input.model.as_deref().or(last_model);
    let price = model.and_then(|model| input.prices.get(model));
    if let Some(model) = model
        && price.is_none()
        && limits_cost(&input.budgets)
    {
        return Err(Error::UnpricedModel {
            model: model.to_owned(),
        });
    }
    let spent = meter
        .spent()
        .await
        .map_err(|error| Error::UsageUnrecorded {
            message: error.to_string(),
        })?;
    let tokens = estimate_prompt_tokens(messages, &input.tools);
    let estimate = Spent {
        tokens,
        cost_usd: price.map_or(0.0, |price| price.prompt_cost(tokens)),
    };
    match check(&input.budgets, &spent, estimate, Moment::Before, turn) {
        Some(exceeded) if input.budgets.on_exceed == OnExceed::Escalate => {
            Ok(Before::Ask(exceeded))
        }
        Some(exceeded) => Err(over_budget(&exceeded)),
        None => Ok(Before::Go(Some(spent))),
    }
}

/// Whether the next model turn may be asked.
enum Before {
    /// Yes; what was spent, when a budget applies.
    Go(Option<Spending>),
    /// Only if a person lets the step pass this budget.
    Ask(Exceeded),
}

/// Checks a turn once it is answered: it was kept, its model is priced when
/// a cost budget applies, and its real usage passes no budget.
fn after_turn(
    input: &StepInput,
    kept: Result<(), crate::meter::MeterError>,
    priced: bool,
    record: &TurnRecord,
    spent: Option<Spending>,
) -> Result<(), Error> {
    kept.map_err(|error| Error::UsageUnrecorded {
        message: error.to_string(),
    })?;
    if !priced && limits_cost(&input.budgets) {
        return Err(Error::UnpricedModel {
            model: record.model.clone(),
        });
    }
    // Escalated, the turn's money is spent either way: its answer is used,
    // and the check before the next turn asks a person.
    let Some(spent) = spent.filter(|_| input.budgets.on_exceed == OnExceed::Fail) else {
        return Ok(());
    };
    let used = Spent::of(&record.usage);
    match check(&input.budgets, &spent, used, Moment::After, record.turn) {
        Some(exceeded) => Err(over_budget(&exceeded)),
        None => Ok(()),
    }
}

/// The failure for a passed budget.
fn over_budget(exceeded: &Exceeded) -> Error {
    Error::BudgetExceeded {
        detail: exceeded.to_string(),
    }
}

/// A step failed by this crate's `error`.
fn failed(error: &Error, turns: Vec<TurnRecord>) -> StepOutcome {
    StepOutcome::Failed {
        code: error.code().to_owned(),
        message: error.to_string(),
        turns,
    }
}

/// Hands `calls` to the executor in order, feeding each result back as a
/// tool message and recording it. Stops at the first call that waits for a
/// person or for a halt to be lifted: that call and the ones after it are returned, unmade (the later
/// ones are recorded without a result).
async fn call_tools(
    calls: Vec<ToolCallRequest>,
    messages: &mut Vec<Message>,
    tools: &dyn ToolExecutor,
    ctx: &StepContext,
    records: &mut Vec<ToolCallRecord>,
) -> Option<(Pause, Vec<ToolCallRequest>)> {
    let mut calls = calls.into_iter();
    while let Some(call) = calls.next() {
        let result = tools.call(&call, ctx).await;
        let pause = match &result {
            ToolResult::Allowed { output } => {
                messages.push(Message::tool(call.id.as_str(), tool_text(output)));
                None
            }
            ToolResult::Rejected { reason } => {
                messages.push(Message::tool(
                    call.id.as_str(),
                    format!("The tool call was rejected: {reason}"),
                ));
                None
            }
            ToolResult::Escalated { approval_id } => Some(Pause::Approval(approval_id.clone())),
            ToolResult::Asked { question_id } => Some(Pause::Question(question_id.clone())),
            ToolResult::Halted { reason } => Some(Pause::Halted(reason.clone())),
        };
        records.push(ToolCallRecord {
            call: call.clone(),
            result: Some(result),
        });
        if let Some(pause) = pause {
            let rest: Vec<ToolCallRequest> = calls.collect();
            records.extend(rest.iter().map(|call| ToolCallRecord {
                call: call.clone(),
                result: None,
            }));
            let pending = std::iter::once(call).chain(rest).collect();
            return Some((pause, pending));
        }
    }
    None
}

/// What a paused step waits for.
enum Pause {
    Approval(String),
    Question(String),
    /// The lifting of the halt described.
    Halted(String),
}

impl Pause {
    fn outcome(
        self,
        turns: Vec<TurnRecord>,
        messages: Vec<Message>,
        pending: Vec<ToolCallRequest>,
        turn: u32,
        lifted: Vec<Limit>,
    ) -> StepOutcome {
        let resume = Resume {
            messages,
            pending,
            turn,
            lifted,
            budget: None,
        };
        match self {
            Pause::Approval(approval_id) => StepOutcome::Paused {
                approval_id,
                turns,
                resume,
            },
            Pause::Question(question_id) => StepOutcome::Asked {
                question_id,
                turns,
                resume,
            },
            Pause::Halted(reason) => StepOutcome::Halted {
                reason,
                turns,
                resume,
            },
        }
    }
}

/// A tool's output as the model reads it: strings as they are, the rest as
/// compact JSON.
fn tool_text(output: &Value) -> String {
    match output {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The step output: a reply that is a JSON object (bare, or in one
/// ```` ```json ```` fence, as models like to write it) becomes the output
/// itself; anything else is `{"text": reply}`.
pub fn final_output(reply: &str) -> Value {
    let trimmed = reply.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map_or(trimmed, str::trim);
    match serde_json::from_str::<Value>(unfenced) {
        Ok(object @ Value::Object(_)) => object,
        _ => json!({ "text": reply }),
    }
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "step_budget_tests.rs"]
mod budget_tests;
