use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::provider::{ProviderError, Role};
use crate::scripted::{ScriptedProvider, ScriptedToolCall, Turn};

fn prompt() -> AssembledPrompt {
    AssembledPrompt {
        system: "You are the agent \"writer\".".into(),
        user: "Write the report".into(),
        unresolved: Vec::new(),
    }
}

fn input() -> StepInput {
    let mut input = StepInput::new(prompt(), "run-1", "work-1", "Write", "writer");
    input.context = json!({"input": {"topic": "otters"}});
    input
}

fn write_call() -> ScriptedToolCall {
    ScriptedToolCall {
        name: "artifact.write".into(),
        arguments: json!({"path": "{{input.topic}}.md"}),
    }
}

/// Records every request, then lets the scripted provider answer.
struct Recording {
    inner: ScriptedProvider,
    requests: Mutex<Vec<ModelRequest>>,
}

impl Recording {
    fn new(inner: ScriptedProvider) -> Self {
        Self {
            inner,
            requests: Mutex::new(Vec::new()),
        }
    }

    fn requests(&self) -> Vec<ModelRequest> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait]
impl ModelProvider for Recording {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(&self, req: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        self.requests.lock().unwrap().push(req.clone());
        self.inner.complete(req).await
    }
}

/// Allows `artifact.write`, escalates `deploy`, asks on `human.ask`,
/// rejects the rest.
struct Gateway {
    seen: Mutex<Vec<(String, StepContext)>>,
}

impl Gateway {
    fn new() -> Self {
        Self {
            seen: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl ToolExecutor for Gateway {
    async fn call(&self, call: &ToolCallRequest, ctx: &StepContext) -> ToolResult {
        self.seen
            .lock()
            .unwrap()
            .push((call.name.clone(), ctx.clone()));
        match call.name.as_str() {
            "artifact.write" => ToolResult::Allowed {
                output: json!({"written": call.arguments["path"]}),
            },
            "deploy" => ToolResult::Escalated {
                approval_id: "appr-1".into(),
            },
            "human.ask" => ToolResult::Asked {
                question_id: "q-1".into(),
            },
            _ => ToolResult::Rejected {
                reason: "not granted".into(),
            },
        }
    }
}

#[tokio::test]
async fn a_plain_reply_completes_in_one_turn() {
    let provider =
        ScriptedProvider::new().with_default(vec![Turn::reply("All about {{input.topic}}")]);
    let outcome = run_step(input(), &provider, &NoTools).await;
    let StepOutcome::Completed {
        output,
        usage_total,
        turns,
    } = outcome
    else {
        panic!("expected completion, got {outcome:?}");
    };
    assert_eq!(output, json!({"text": "All about otters"}));
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].turn, 1);
    assert_eq!(turns[0].provider, "scripted");
    assert_eq!(turns[0].model, "scripted-v1");
    assert_eq!(usage_total, turns[0].usage);
    assert_eq!(usage_total.output_tokens, 3);
}

#[tokio::test]
async fn a_json_object_reply_is_the_output() {
    for reply in [
        r#"{"verdict": "ok"}"#,
        "```json\n{\"verdict\": \"ok\"}\n```",
    ] {
        let provider = ScriptedProvider::new().with_default(vec![Turn::reply(reply)]);
        let outcome = run_step(input(), &provider, &NoTools).await;
        assert!(
            matches!(&outcome, StepOutcome::Completed { output, .. } if *output == json!({"verdict": "ok"})),
            "{reply:?}: {outcome:?}"
        );
    }
    let provider = ScriptedProvider::new().with_default(vec![Turn::reply("[1, 2]")]);
    let outcome = run_step(input(), &provider, &NoTools).await;
    assert!(
        matches!(outcome, StepOutcome::Completed { output, .. } if output == json!({"text": "[1, 2]"}))
    );
}

#[tokio::test]
async fn without_a_gateway_tool_calls_are_rejected_and_the_model_is_told_why() {
    let provider = Recording::new(ScriptedProvider::new().with_default(vec![
        Turn::tool_calls(vec![write_call()]),
        Turn::reply("Could not write; here is the report inline."),
    ]));
    let outcome = run_step(input(), &provider, &NoTools).await;

    let StepOutcome::Completed {
        output,
        turns,
        usage_total,
    } = &outcome
    else {
        panic!("expected completion, got {outcome:?}");
    };
    assert_eq!(
        output["text"],
        "Could not write; here is the report inline."
    );
    assert_eq!(turns.len(), 2);
    let record = &turns[0].tool_calls[0];
    assert_eq!(record.call.id, "call-1-1");
    assert_eq!(record.call.arguments, json!({"path": "otters.md"}));
    assert_eq!(
        record.result,
        Some(ToolResult::Rejected {
            reason: NO_TOOLS_REASON.into()
        })
    );
    assert_eq!(*usage_total, outcome.usage());

    let requests = provider.requests();
    assert_eq!(requests.len(), 2);
    let second = &requests[1].messages;
    let roles: Vec<_> = second.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::System, Role::User, Role::Assistant, Role::Tool]
    );
    assert_eq!(second[2].tool_calls[0].id, "call-1-1");
    assert_eq!(second[3].tool_call_id.as_deref(), Some("call-1-1"));
    assert!(
        second[3].content.contains(NO_TOOLS_REASON),
        "{}",
        second[3].content
    );
}

#[tokio::test]
async fn allowed_outputs_go_back_to_the_model() {
    let provider = Recording::new(ScriptedProvider::new().with_default(vec![
        Turn::tool_calls(vec![
            write_call(),
            ScriptedToolCall {
                name: "shell.exec".into(),
                arguments: json!({}),
            },
        ]),
        Turn::reply("done"),
    ]));
    let gateway = Gateway::new();
    let outcome = run_step(input(), &provider, &gateway).await;
    assert!(
        matches!(outcome, StepOutcome::Completed { .. }),
        "{outcome:?}"
    );

    let second = &provider.requests()[1].messages;
    assert_eq!(second[3].content, r#"{"written":"otters.md"}"#);
    assert!(second[4].content.contains("not granted"));
    let seen = gateway.seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1.turn, 1);
    assert_eq!(seen[0].1.work_id, "work-1");
}

#[tokio::test]
async fn an_escalated_call_pauses_the_step_before_later_calls_run() {
    let provider = ScriptedProvider::new().with_default(vec![
        Turn::tool_calls(vec![write_call()]),
        Turn::tool_calls(vec![
            ScriptedToolCall {
                name: "deploy".into(),
                arguments: json!({"env": "production"}),
            },
            write_call(),
        ]),
        Turn::reply("never reached"),
    ]);
    let gateway = Gateway::new();
    let outcome = run_step(input(), &provider, &gateway).await;
    let StepOutcome::Paused {
        approval_id,
        turns,
        resume,
    } = &outcome
    else {
        panic!("expected a pause, got {outcome:?}");
    };
    assert_eq!(approval_id, "appr-1");
    assert_eq!(turns.len(), 2);
    assert_eq!(resume.turn, 2);
    let pending: Vec<&str> = resume.pending.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        pending,
        ["deploy", "artifact.write"],
        "the paused call first"
    );
    let roles: Vec<Role> = resume.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Assistant
        ],
        "up to the turn that asked, with the results of the calls before the pause"
    );
    let paused = &turns[1].tool_calls;
    assert_eq!(
        paused[0].result,
        Some(ToolResult::Escalated {
            approval_id: "appr-1".into()
        })
    );
    assert_eq!(paused[1].call.name, "artifact.write");
    assert_eq!(paused[1].result, None);
    // The call after the escalation was never executed.
    assert_eq!(gateway.seen.lock().unwrap().len(), 2);
    assert_eq!(
        outcome.usage().output_tokens,
        turns.iter().map(|t| t.usage.output_tokens).sum::<u64>()
    );
}

#[tokio::test]
async fn a_question_to_a_human_pauses_the_step_before_later_calls_run() {
    let provider = ScriptedProvider::new().with_default(vec![
        Turn::tool_calls(vec![
            ScriptedToolCall {
                name: "human.ask".into(),
                arguments: json!({"question": "Which region?"}),
            },
            write_call(),
        ]),
        Turn::reply("never reached"),
    ]);
    let gateway = Gateway::new();
    let outcome = run_step(input(), &provider, &gateway).await;
    let StepOutcome::Asked {
        question_id, turns, ..
    } = &outcome
    else {
        panic!("expected a question, got {outcome:?}");
    };
    assert_eq!(question_id, "q-1");
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].tool_calls[1].result, None);
    assert_eq!(gateway.seen.lock().unwrap().len(), 1, "the write never ran");
}

/// Allows every call, so that a paused call goes through on resume.
struct AllowAll {
    seen: Mutex<Vec<(String, u32)>>,
}

#[async_trait]
impl ToolExecutor for AllowAll {
    async fn call(&self, call: &ToolCallRequest, ctx: &StepContext) -> ToolResult {
        self.seen
            .lock()
            .unwrap()
            .push((call.name.clone(), ctx.turn));
        ToolResult::Allowed {
            output: json!(format!("{} done", call.name)),
        }
    }
}

#[tokio::test]
async fn a_resumed_step_makes_its_paused_calls_and_goes_on_without_asking_the_model_again() {
    let script = ScriptedProvider::new().with_default(vec![
        Turn::tool_calls(vec![write_call()]),
        Turn::tool_calls(vec![
            ScriptedToolCall {
                name: "deploy".into(),
                arguments: json!({"env": "production"}),
            },
            write_call(),
        ]),
        Turn::reply("shipped after {{last_tool_result}}"),
    ]);
    let first = Recording::new(script.clone());
    let StepOutcome::Paused { resume, .. } = run_step(input(), &first, &Gateway::new()).await
    else {
        panic!("expected a pause");
    };
    assert_eq!(first.requests().len(), 2);

    let mut again = input();
    again.resume = Some(resume);
    let second = Recording::new(script);
    let tools = AllowAll {
        seen: Mutex::new(Vec::new()),
    };
    let outcome = run_step(again, &second, &tools).await;
    let StepOutcome::Completed { output, turns, .. } = &outcome else {
        panic!("expected completion, got {outcome:?}");
    };
    assert_eq!(output["text"], "shipped after artifact.write done");
    assert_eq!(
        *tools.seen.lock().unwrap(),
        [("deploy".to_owned(), 2), ("artifact.write".to_owned(), 2)],
        "the paused call and the one after it, as calls of turn 2"
    );
    let requests = second.requests();
    assert_eq!(
        requests.len(),
        1,
        "only the turn after the pause is asked for"
    );
    assert_eq!(
        requests[0].messages.len(),
        7,
        "the whole conversation so far"
    );
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].turn, 3);
}

/// Allows every call while the switch is off; while it is on, holds the
/// step before each model turn and every call.
struct KillSwitch {
    on: std::sync::atomic::AtomicBool,
    /// Model turns it let through.
    turns: Mutex<Vec<u32>>,
    calls: Mutex<Vec<String>>,
}

impl KillSwitch {
    fn new() -> Self {
        Self {
            on: std::sync::atomic::AtomicBool::new(false),
            turns: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn set(&self, on: bool) {
        self.on.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    fn is_on(&self) -> bool {
        self.on.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl ToolExecutor for KillSwitch {
    async fn call(&self, call: &ToolCallRequest, _ctx: &StepContext) -> ToolResult {
        if self.is_on() {
            return ToolResult::Halted {
                reason: "global halt: incident".into(),
            };
        }
        self.calls.lock().unwrap().push(call.name.clone());
        // The operator pulls the switch while the first call runs.
        self.set(true);
        ToolResult::Allowed {
            output: json!("written"),
        }
    }

    async fn halted(&self, ctx: &StepContext) -> Option<String> {
        if self.is_on() {
            return Some("global halt: incident".into());
        }
        self.turns.lock().unwrap().push(ctx.turn);
        None
    }
}

#[tokio::test]
async fn a_halt_pauses_the_step_before_its_next_model_turn_and_it_goes_on_after_resume() {
    let script = ScriptedProvider::new().with_default(vec![
        Turn::tool_calls(vec![write_call()]),
        Turn::reply("report written"),
    ]);
    let switch = KillSwitch::new();
    let first = Recording::new(script.clone());
    let outcome = run_step(input(), &first, &switch).await;
    let StepOutcome::Halted {
        reason,
        turns,
        resume,
    } = outcome
    else {
        panic!("expected a halt, got {outcome:?}");
    };
    assert_eq!(reason, "global halt: incident");
    assert_eq!(turns.len(), 1);
    assert_eq!(first.requests().len(), 1, "turn 2 was never asked for");
    assert!(resume.pending.is_empty());
    assert_eq!(resume.turn, 1);

    // Still halted: the resumed step pauses again without asking the model.
    let mut again = input();
    again.resume = Some(resume);
    let held = Recording::new(script.clone());
    let outcome = run_step(again.clone(), &held, &switch).await;
    assert!(matches!(outcome, StepOutcome::Halted { .. }), "{outcome:?}");
    assert!(held.requests().is_empty());

    switch.set(false);
    let second = Recording::new(script);
    let outcome = run_step(again, &second, &switch).await;
    let StepOutcome::Completed { output, turns, .. } = &outcome else {
        panic!("expected completion, got {outcome:?}");
    };
    assert_eq!(output["text"], "report written");
    assert_eq!(
        turns[0].turn, 2,
        "it goes on at the turn it was held before"
    );
    assert_eq!(*switch.turns.lock().unwrap(), [1, 2]);
    assert_eq!(*switch.calls.lock().unwrap(), ["artifact.write"]);
}

#[tokio::test]
async fn a_halted_call_is_not_made_and_is_the_first_made_after_resume() {
    let script = ScriptedProvider::new().with_default(vec![
        Turn::tool_calls(vec![write_call(), write_call()]),
        Turn::reply("both written"),
    ]);
    let switch = KillSwitch::new();
    let outcome = run_step(input(), &script, &switch).await;
    let StepOutcome::Halted { turns, resume, .. } = outcome else {
        panic!("expected a halt, got {outcome:?}");
    };
    assert_eq!(
        turns[0].tool_calls[1].result,
        Some(ToolResult::Halted {
            reason: "global halt: incident".into()
        })
    );
    assert_eq!(resume.pending.len(), 1, "the held call waits");
    assert_eq!(*switch.calls.lock().unwrap(), ["artifact.write"]);

    switch.set(false);
    let mut again = input();
    again.resume = Some(resume);
    let tools = AllowAll {
        seen: Mutex::new(Vec::new()),
    };
    let outcome = run_step(again, &script, &tools).await;
    assert!(
        matches!(&outcome, StepOutcome::Completed { output, .. } if output["text"] == "both written"),
        "{outcome:?}"
    );
    assert_eq!(
        *tools.seen.lock().unwrap(),
        [("artifact.write".to_owned(), 1)]
    );
}

#[tokio::test]
async fn a_model_that_never_stops_hits_the_turn_limit() {
    let provider = ScriptedProvider::new().with_default(vec![Turn::tool_calls(vec![write_call()])]);
    let mut step = input();
    step.max_turns = 3;
    let outcome = run_step(step, &provider, &NoTools).await;
    let StepOutcome::Failed {
        code,
        message,
        turns,
    } = &outcome
    else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert_eq!(code, "agents.turn_limit");
    assert!(message.contains("3 turns"));
    assert_eq!(turns.len(), 3);
    let ids: Vec<_> = turns
        .iter()
        .map(|t| t.tool_calls[0].call.id.as_str())
        .collect();
    assert_eq!(ids, ["call-1-1", "call-2-1", "call-3-1"]);
}

#[tokio::test]
async fn the_default_turn_limit_is_eight() {
    let provider = ScriptedProvider::new().with_default(vec![Turn::tool_calls(vec![write_call()])]);
    let outcome = run_step(input(), &provider, &NoTools).await;
    assert_eq!(outcome.turns().len(), DEFAULT_MAX_TURNS as usize);
}

#[tokio::test]
async fn provider_failures_fail_the_step_with_the_turns_so_far() {
    let provider = ScriptedProvider::new().with_default(vec![
        Turn::tool_calls(vec![write_call()]),
        Turn::fail("VALIDATION_ERROR", "bad data").times(1),
        Turn::reply("fine on retry"),
    ]);
    let outcome = run_step(input(), &provider, &NoTools).await;
    let StepOutcome::Failed {
        code,
        message,
        turns,
    } = &outcome
    else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert_eq!(code, "VALIDATION_ERROR");
    assert!(message.contains("bad data"));
    assert_eq!(turns.len(), 1);

    let mut retry = input();
    retry.attempt = 2;
    let outcome = run_step(retry, &provider, &NoTools).await;
    assert!(
        matches!(&outcome, StepOutcome::Completed { output, .. } if output["text"] == "fine on retry"),
        "{outcome:?}"
    );
}

#[test]
fn outcomes_serialize_with_stable_tags() {
    let outcome = StepOutcome::Paused {
        approval_id: "a".into(),
        turns: Vec::new(),
        resume: Resume {
            messages: Vec::new(),
            pending: Vec::new(),
            turn: 1,
            lifted: Vec::new(),
            budget: None,
        },
    };
    assert_eq!(
        serde_json::to_value(&outcome).unwrap(),
        json!({"outcome": "paused", "approval_id": "a", "turns": [],
               "resume": {"messages": [], "pending": [], "turn": 1}})
    );
    let result = ToolResult::Rejected { reason: "r".into() };
    assert_eq!(
        serde_json::to_value(&result).unwrap(),
        json!({"decision": "rejected", "reason": "r"})
    );
}

/// A resume point is persisted with the work: the names of a lifted limit
/// and of the budget question it waits on are pinned.
#[test]
fn a_budget_pause_keeps_its_names() {
    use crate::meter::{Exceeded, Limit, Measure, Moment, Scope};
    let resume = Resume {
        messages: Vec::new(),
        pending: Vec::new(),
        turn: 1,
        lifted: vec![Limit {
            scope: Scope::Run,
            measure: Measure::Cost,
        }],
        budget: Some(BudgetAsk {
            approval_id: "ap".into(),
            exceeded: Exceeded {
                scope: Scope::Step,
                measure: Measure::Tokens,
                limit: 30.0,
                spent: 10.0,
                turn: 25.0,
                moment: Moment::Before,
                turn_number: 2,
            },
        }),
    };
    let kept = serde_json::to_value(&resume).unwrap();
    assert_eq!(
        kept,
        json!({"messages": [], "pending": [], "turn": 1,
               "lifted": [{"scope": "run", "measure": "cost"}],
               "budget": {"approvalId": "ap", "exceeded": {
                   "scope": "step", "measure": "tokens", "limit": 30.0, "spent": 10.0,
                   "turn": 25.0, "moment": "before", "turn_number": 2}}})
    );
    assert_eq!(serde_json::from_value::<Resume>(kept).unwrap(), resume);
    let outcome = StepOutcome::OverBudget {
        exceeded: resume.budget.clone().unwrap().exceeded,
        turns: Vec::new(),
        resume,
    };
    assert_eq!(
        serde_json::to_value(&outcome).unwrap()["outcome"],
        "over_budget"
    );
}

/// Says a sentence with every request for tools, as models that explain
/// their calls do.
struct Explaining(ScriptedProvider);

#[async_trait]
impl ModelProvider for Explaining {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn complete(&self, req: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        let mut response = self.0.complete(req).await?;
        if !response.tool_calls.is_empty() {
            response.content = Some(format!("Turn {}: I need these calls.", req.messages.len()));
        }
        Ok(response)
    }
}

#[tokio::test]
async fn a_call_carries_what_the_model_said_when_it_asked_for_it() {
    let provider = Explaining(ScriptedProvider::new().with_default(vec![
        Turn::tool_calls(vec![write_call()]),
        Turn::tool_calls(vec![ScriptedToolCall {
            name: "deploy".into(),
            arguments: json!({"env": "production"}),
        }]),
        Turn::reply("done"),
    ]));
    let gateway = Gateway::new();
    let outcome = run_step(input(), &provider, &gateway).await;
    let StepOutcome::Paused { resume, .. } = outcome else {
        panic!("expected a pause, got {outcome:?}");
    };
    let said: Vec<Option<String>> = gateway
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, ctx)| ctx.said.clone())
        .collect();
    assert_eq!(
        said,
        [
            Some("Turn 2: I need these calls.".to_owned()),
            Some("Turn 4: I need these calls.".to_owned())
        ]
    );

    // Resumed, the paused call is made again with the words of its turn.
    let resumed = Gateway::new();
    let mut again = input();
    again.resume = Some(resume);
    run_step(again, &provider, &resumed).await;
    let seen = resumed.seen.lock().unwrap();
    assert_eq!(seen[0].0, "deploy");
    assert_eq!(
        seen[0].1.said.as_deref(),
        Some("Turn 4: I need these calls.")
    );
}
