//! The loop keeps its budgets: before a turn with the prompt's estimate,
//! after it with the real usage, priced from the table.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::budget::{Budget, OnExceed};
use crate::meter::{Limit, Measure, MeterError, Scope};
use crate::pricing::Price;
use crate::provider::ProviderError;
use crate::scripted::{ScriptedProvider, ScriptedToolCall, Turn};

fn input(budgets: Budgets) -> StepInput {
    let prompt = AssembledPrompt {
        system: "You are the agent \"writer\".".into(),
        user: "Write the report".into(),
        unresolved: Vec::new(),
    };
    let mut input = StepInput::new(prompt, "run-1", "work-1", "Write", "writer");
    input.budgets = budgets;
    input
}

fn step_tokens(limit: u64) -> Budgets {
    Budgets {
        step: Budget {
            tokens: Some(limit),
            cost_usd: None,
        },
        run: Budget::default(),
        on_exceed: OnExceed::Fail,
    }
}

fn run_cost(limit: f64) -> Budgets {
    Budgets {
        step: Budget::default(),
        run: Budget {
            tokens: None,
            cost_usd: Some(limit),
        },
        on_exceed: OnExceed::Fail,
    }
}

/// $1 per million prompt tokens, $2 per million completion tokens.
fn prices() -> Prices {
    Prices::new(BTreeMap::from([(
        ScriptedProvider::MODEL.to_owned(),
        Price {
            input: 1.0,
            output: 2.0,
            cached_input: None,
        },
    )]))
}

/// Counts the model calls it passes on.
struct Counting {
    inner: ScriptedProvider,
    calls: Mutex<u32>,
}

impl Counting {
    fn new(turns: Vec<Turn>) -> Self {
        Self {
            inner: ScriptedProvider::new().with_default(turns),
            calls: Mutex::new(0),
        }
    }

    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

#[async_trait]
impl ModelProvider for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(&self, req: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        *self.calls.lock().unwrap() += 1;
        self.inner.complete(req).await
    }
}

/// A tool call the loop refuses (no gateway), then a reply.
fn two_turns() -> Vec<Turn> {
    vec![
        Turn::tool_calls(vec![ScriptedToolCall {
            name: "artifact.write".into(),
            arguments: json!({"path": "report.md"}),
        }]),
        Turn::reply("Done."),
    ]
}

fn failure(outcome: &StepOutcome) -> (&str, &str, usize) {
    match outcome {
        StepOutcome::Failed {
            code,
            message,
            turns,
        } => (code, message, turns.len()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Turn 1 spends 10 tokens (8 prompt words, 2 for the call); turn 2's
/// prompt, with the refusal fed back, is estimated at far more than the 20
/// left: the step fails before the model is asked again.
#[tokio::test]
async fn a_step_fails_before_the_turn_its_estimate_would_pass() {
    let unlimited = Counting::new(two_turns());
    let outcome = run_step(input(Budgets::default()), &unlimited, &NoTools).await;
    assert!(
        matches!(outcome, StepOutcome::Completed { .. }),
        "{outcome:?}"
    );
    assert_eq!(unlimited.calls(), 2);

    let provider = Counting::new(two_turns());
    let outcome = run_step(input(step_tokens(30)), &provider, &NoTools).await;
    let (code, message, turns) = failure(&outcome);
    assert_eq!(code, "budget.exceeded");
    assert!(
        message.starts_with(
            "the step token budget of 30 tokens would be passed by model turn 2: 10 tokens spent"
        ),
        "{message}"
    );
    assert_eq!(turns, 1, "the turn made is kept");
    assert_eq!(provider.calls(), 1, "turn 2 was never asked");
}

/// The estimate of turn 1 fits, its real usage (a long answer) does not.
#[tokio::test]
async fn a_step_fails_after_a_turn_whose_usage_passes_its_budget() {
    let long = "word ".repeat(50);
    let provider = Counting::new(vec![Turn::reply(long.trim())]);
    let outcome = run_step(input(step_tokens(20)), &provider, &NoTools).await;
    let (code, message, turns) = failure(&outcome);
    assert_eq!(code, "budget.exceeded");
    assert_eq!(
        message,
        "the step token budget of 20 tokens was passed by model turn 1: 58 tokens spent (0 tokens before the turn, 58 tokens in it)"
    );
    assert_eq!(turns, 1);
}

/// Each turn is priced from the table and kept; the run's budget counts
/// what the run spent before the step.
#[tokio::test]
async fn turns_are_priced_and_the_run_budget_counts_earlier_steps() {
    let provider = Counting::new(vec![Turn::reply("Done.")]);
    let mut step = input(run_cost(1.0));
    step.prices = prices();
    let tally = Tally::default();
    let outcome = run_metered_step(step.clone(), &provider, &NoTools, &tally, &NoSink).await;
    let StepOutcome::Completed { usage_total, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    // 8 prompt tokens at $1/M, 1 completion token at $2/M.
    assert!(
        (usage_total.cost_usd - 10e-6).abs() < 1e-12,
        "{usage_total:?}"
    );
    let kept = tally.spent().await.unwrap();
    assert_eq!(kept.step.tokens, 9);
    assert!((kept.run.cost_usd - 10e-6).abs() < 1e-12);

    // The run spent all but $0.000001 of its dollar elsewhere: the prompt
    // alone (11 estimated tokens at $1/M) would pass it.
    let earlier = Spending {
        step: Spent::default(),
        run: Spent {
            tokens: 0,
            cost_usd: 1.0 - 1e-6,
        },
    };
    let provider = Counting::new(vec![Turn::reply("Done."), Turn::reply("Done.")]);
    let mut step = step;
    step.model = Some(ScriptedProvider::MODEL.to_owned());
    let outcome = run_metered_step(
        step,
        &provider,
        &NoTools,
        &Tally::starting_at(earlier),
        &NoSink,
    )
    .await;
    let (code, message, turns) = failure(&outcome);
    assert_eq!(code, "budget.exceeded");
    assert!(
        message.starts_with("the run cost budget of $1.000000 would be passed by model turn 1"),
        "{message}"
    );
    assert_eq!((turns, provider.calls()), (0, 0));
}

/// With a cost budget, a model the table does not price fails the step:
/// before the turn when the request names it, after it when only the
/// answer does.
#[tokio::test]
async fn an_unpriced_model_fails_closed_under_a_cost_budget() {
    let provider = Counting::new(vec![Turn::reply("Done.")]);
    let outcome = run_step(input(run_cost(1.0)), &provider, &NoTools).await;
    let (code, message, turns) = failure(&outcome);
    assert_eq!(code, "budget.unpriced_model");
    assert!(message.contains("scripted-v1"), "{message}");
    assert_eq!(turns, 1);

    let provider = Counting::new(vec![Turn::reply("Done.")]);
    let mut named = input(run_cost(1.0));
    named.model = Some("gpt-unpriced".into());
    let outcome = run_step(named, &provider, &NoTools).await;
    let (code, _, turns) = failure(&outcome);
    assert_eq!(
        (code, turns, provider.calls()),
        ("budget.unpriced_model", 0, 0)
    );

    // Without a cost budget an unpriced model costs nothing.
    let provider = Counting::new(vec![Turn::reply("Done.")]);
    let outcome = run_step(input(step_tokens(1000)), &provider, &NoTools).await;
    assert_eq!(outcome.usage().cost_usd, 0.0);
    assert!(matches!(outcome, StepOutcome::Completed { .. }));
}

/// A meter that cannot keep a turn.
struct Broken;

#[async_trait]
impl Meter for Broken {
    async fn spent(&self) -> Result<Spending, MeterError> {
        Ok(Spending::default())
    }

    async fn record(&self, _turn: &TurnUsage) -> Result<(), MeterError> {
        Err(MeterError("the database is locked".into()))
    }
}

/// Usage nobody kept cannot be counted: the step stops after the turn.
#[tokio::test]
async fn a_turn_that_cannot_be_kept_stops_the_step() {
    let provider = Counting::new(two_turns());
    let outcome = run_metered_step(
        input(Budgets::default()),
        &provider,
        &NoTools,
        &Broken,
        &NoSink,
    )
    .await;
    let (code, message, turns) = failure(&outcome);
    assert_eq!(code, "budget.usage_unrecorded");
    assert!(message.contains("the database is locked"), "{message}");
    assert_eq!((turns, provider.calls()), (1, 1));
}

fn escalating(mut budgets: Budgets) -> Budgets {
    budgets.on_exceed = OnExceed::Escalate;
    budgets
}

/// With `escalate`, the turn that would pass the budget is not asked: the
/// step pauses before it, saying which limit, what was spent and the
/// estimate, and goes on from there.
#[tokio::test]
async fn an_escalating_budget_pauses_before_the_turn_that_would_pass_it() {
    let provider = Counting::new(two_turns());
    let tally = Tally::default();
    let outcome = run_metered_step(
        input(escalating(step_tokens(30))),
        &provider,
        &NoTools,
        &tally,
        &NoSink,
    )
    .await;
    let StepOutcome::OverBudget {
        exceeded,
        turns,
        resume,
    } = outcome
    else {
        panic!("expected a pause, got {outcome:?}");
    };
    assert_eq!(
        (exceeded.scope, exceeded.measure, exceeded.moment),
        (Scope::Step, Measure::Tokens, Moment::Before)
    );
    assert_eq!((exceeded.limit, exceeded.spent), (30.0, 10.0));
    assert!(exceeded.spent + exceeded.turn > 30.0, "{exceeded:?}");
    assert_eq!(exceeded.turn_number, 2);
    assert_eq!((turns.len(), provider.calls()), (1, 1));
    assert_eq!(resume.turn, 1, "turn 2 is still to come");
    assert!(resume.pending.is_empty() && resume.lifted.is_empty());

    // Approved: the limit is lifted for the rest of the attempt.
    let mut approved = resume.clone();
    approved.lifted.push(exceeded.limit_passed());
    let mut again = input(escalating(step_tokens(30)));
    again.resume = Some(approved);
    let outcome = run_metered_step(again, &provider, &NoTools, &tally, &NoSink).await;
    assert!(
        matches!(outcome, StepOutcome::Completed { .. }),
        "{outcome:?}"
    );
    assert_eq!(provider.calls(), 2);
    assert!(
        tally.spent().await.unwrap().step.tokens > 30,
        "the step went on past its old limit"
    );

    // A question nobody settled is not taken as a yes.
    let mut unsettled = resume;
    unsettled.budget = Some(BudgetAsk {
        approval_id: "ap-1".into(),
        exceeded,
    });
    let mut again = input(escalating(step_tokens(30)));
    again.resume = Some(unsettled);
    let outcome = run_step(again, &provider, &NoTools).await;
    let (code, message, _) = failure(&outcome);
    assert_eq!(code, "budget.exceeded");
    assert!(
        message.contains("approval 'ap-1' is not known"),
        "{message}"
    );
    assert_eq!(provider.calls(), 2, "the model was not asked");
}

/// A lifted limit stays lifted across a later pause of the same attempt,
/// and the other limits still hold.
#[tokio::test]
async fn a_lifted_limit_is_kept_through_later_pauses() {
    let mut budgets = escalating(step_tokens(30));
    budgets.run.tokens = Some(12);
    let provider = Counting::new(two_turns());
    let lifted = Limit {
        scope: Scope::Step,
        measure: Measure::Tokens,
    };
    let mut step = input(budgets);
    step.resume = Some(Resume {
        messages: vec![
            Message::system("You are the agent \"writer\"."),
            Message::user("Write the report"),
        ],
        pending: Vec::new(),
        turn: 0,
        lifted: vec![lifted],
        budget: None,
    });
    let outcome = run_step(step, &provider, &NoTools).await;
    let StepOutcome::OverBudget {
        exceeded, resume, ..
    } = outcome
    else {
        panic!("expected a pause, got {outcome:?}");
    };
    assert_eq!((exceeded.scope, exceeded.limit), (Scope::Run, 12.0));
    assert_eq!(resume.lifted, vec![lifted]);
}

/// With `escalate`, a turn whose real usage passed a budget is kept with
/// its answer: a final answer ends the step, as the money is spent anyway.
#[tokio::test]
async fn an_escalating_budget_passed_by_a_final_answer_lets_it_stand() {
    let long = "word ".repeat(50);
    let provider = Counting::new(vec![Turn::reply(long.trim())]);
    let outcome = run_step(input(escalating(step_tokens(20))), &provider, &NoTools).await;
    assert!(
        matches!(outcome, StepOutcome::Completed { .. }),
        "{outcome:?}"
    );
}
