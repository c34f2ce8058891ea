//! Budgets survive a crash: kill the real binary with SIGKILL while an agent
//! step is between model turns, start it again on the same data folder, and
//! check that the re-run of the step counts what the killed process spent,
//! so the step's budget still holds, and that the evidence lists every
//! kept turn once, priced from the configured table.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Server;

/// One agent step with a cost budget of $0.05 per attempt.
const DRAFT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="budgeted" name="Budgeted draft" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Draft"/>
    <bpmn:serviceTask id="Draft" name="Draft">
      <bpmn:extensionElements><aw:agentTask agent="writer" purposeType="analysis" environment="staging"
        prompt="Draft {{input.n}}" stepCostBudget="0.05"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Draft" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

/// Four tool-call turns of 11 completion tokens each (the tool's name and
/// ten words of arguments), then a one-word answer: 45 completion tokens in
/// all. Every turn takes a while, so a kill lands between turns.
const SCRIPTS: &str = r#"
[[nodes.Draft]]
tool_calls = [{ name = "nothing.here", arguments = { q = "a b c d e f g h i j" } }]
delay_ms = 400

[[nodes.Draft]]
tool_calls = [{ name = "nothing.here", arguments = { q = "a b c d e f g h i j" } }]
delay_ms = 400

[[nodes.Draft]]
tool_calls = [{ name = "nothing.here", arguments = { q = "a b c d e f g h i j" } }]
delay_ms = 400

[[nodes.Draft]]
tool_calls = [{ name = "nothing.here", arguments = { q = "a b c d e f g h i j" } }]
delay_ms = 400

[[nodes.Draft]]
reply = "done"
delay_ms = 400
"#;

/// Prompts are free and a completion token costs $0.001, so every turn's
/// cost is known in advance and no estimate of a prompt counts against
/// the budget: a full execution costs $0.045, within the $0.05.
const CONFIG: &str = r#"
[prices."scripted-v1"]
input = 0
output = 1000
"#;

fn costs(pack: &Value) -> Vec<f64> {
    pack["modelUsage"]
        .as_array()
        .expect("model usage")
        .iter()
        .map(|u| u["costUsd"].as_f64().expect("a cost"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_step_keeps_what_was_spent_and_the_budget_holds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts.toml");
    std::fs::write(&scripts, SCRIPTS).expect("scripts");
    let config = dir.path().join("agentwerke.toml");
    std::fs::write(&config, CONFIG).expect("config");
    let env = [
        ("AGENTWERKE_SCRIPTS", scripts.display().to_string()),
        ("AGENTWERKE_CONFIG", config.display().to_string()),
        ("AGENTWERKE_LEASE_SECS", "5".to_owned()),
    ];

    let server = Server::start(dir.path(), &env).await;
    let admin = server.token("Admin");
    server.publish(&admin, "budgeted", DRAFT).await;
    let start = async |server: &Server, n: u32| {
        let started = server
            .post(
                &admin,
                "/api/runs",
                json!({"workflowId": "budgeted", "inputs": {"n": n}}),
            )
            .await;
        started["runId"].as_str().expect("run id").to_owned()
    };
    let status = async |server: &Server, run: &str| {
        server.get(&admin, &format!("/api/runs/{run}")).await["status"].clone()
    };
    let pack = async |server: &Server, run: &str| {
        server
            .get(&admin, &format!("/api/runs/{run}/evidence-pack"))
            .await
    };

    // Uninterrupted, the step fits its budget, each turn priced.
    let whole = start(&server, 1).await;
    server
        .wait_until(Duration::from_secs(30), async |s: &Server| {
            status(s, &whole).await != "running"
        })
        .await;
    let run = server.get(&admin, &format!("/api/runs/{whole}")).await;
    assert_eq!(run["status"], "completed", "{run:#}");
    let spent = costs(&pack(&server, &whole).await);
    let expected = [0.011, 0.011, 0.011, 0.011, 0.001];
    assert_eq!(spent.len(), expected.len(), "{spent:?}");
    for (cost, want) in spent.iter().zip(expected) {
        assert!((cost - want).abs() < 1e-9, "{spent:?}");
    }

    // Killed once two turns are kept, before the step ends.
    let killed = start(&server, 2).await;
    server
        .wait_until(Duration::from_secs(30), async |s: &Server| {
            costs(&pack(s, &killed).await).len() >= 2
        })
        .await;
    let port = server.port;
    server.kill();
    // Read back from the same folder: no turn went missing.
    let server = Server::start_on(dir.path(), &env, port).await;
    let admin = server.token("Admin");
    let before = costs(
        &server
            .get(&admin, &format!("/api/runs/{killed}/evidence-pack"))
            .await,
    );
    assert!(
        (2..5).contains(&before.len()),
        "the kill landed mid-step: {before:?}"
    );

    // The re-run starts over and counts the killed turns: it is stopped by
    // the turn that takes the attempt past $0.05, the fifth in all.
    server
        .wait_until(Duration::from_secs(60), async |s: &Server| {
            s.get(&admin, &format!("/api/runs/{killed}")).await["status"] == "failed"
        })
        .await;
    let run = server.get(&admin, &format!("/api/runs/{killed}")).await;
    let step = &run["steps"][0];
    assert_eq!(step["error"]["code"], "budget.exceeded", "{run:#}");
    let message = step["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("the step cost budget of $0.050000 was passed by model turn")
            && message.contains("$0.055000 spent ($0.044000 before the turn, $0.011000 in it)"),
        "{message}"
    );
    let after = costs(
        &server
            .get(&admin, &format!("/api/runs/{killed}/evidence-pack"))
            .await,
    );
    assert_eq!(after.len(), 5, "each kept turn once: {after:?}");
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "the killed turns stayed"
    );
    let total: f64 = after.iter().sum();
    assert!((total - 0.055).abs() < 1e-9, "{after:?}");
    server.kill();
}

/// Two steps of one run share its budget: `Review` alone would fit its
/// run's $0.02, but `Draft` spent $0.012 of it first.
const TWO_STEPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="shared" name="Shared run budget" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Draft"/>
    <bpmn:serviceTask id="Draft" name="Draft">
      <bpmn:extensionElements><aw:agentTask agent="writer" purposeType="analysis" prompt="Draft" runCostBudget="0.02"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Draft" targetRef="Review"/>
    <bpmn:serviceTask id="Review" name="Review">
      <bpmn:extensionElements><aw:agentTask agent="writer" purposeType="analysis" prompt="Review" runCostBudget="0.02"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

/// Each step: one tool-call turn ($0.011), then a one-word answer ($0.001).
const TWO_SCRIPTS: &str = r#"
[[default]]
tool_calls = [{ name = "nothing.here", arguments = { q = "a b c d e f g h i j" } }]

[[default]]
reply = "done"
"#;

/// A step whose first prompt alone (the platform's instructions and the
/// tools on offer) is estimated above its 50 tokens.
const TIGHT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="tight" name="Tight step" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Draft"/>
    <bpmn:serviceTask id="Draft" name="Draft">
      <bpmn:extensionElements><aw:agentTask agent="writer" purposeType="analysis" prompt="Draft" stepTokenBudget="50"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Draft" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

/// Runs `workflow` to its end on a fresh server and returns the run and
/// its evidence pack.
async fn run_to_end(workflow_id: &str, xml: &str) -> (Value, Value) {
    run_to_end_with(workflow_id, xml, CONFIG).await
}

/// [`run_to_end`] under the configuration `config_text`.
async fn run_to_end_with(workflow_id: &str, xml: &str, config_text: &str) -> (Value, Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts.toml");
    std::fs::write(&scripts, TWO_SCRIPTS).expect("scripts");
    let config = dir.path().join("agentwerke.toml");
    std::fs::write(&config, config_text).expect("config");
    let env = [
        ("AGENTWERKE_SCRIPTS", scripts.display().to_string()),
        ("AGENTWERKE_CONFIG", config.display().to_string()),
    ];
    let server = Server::start(dir.path(), &env).await;
    let admin = server.token("Admin");
    server.publish(&admin, workflow_id, xml).await;
    let started = server
        .post(
            &admin,
            "/api/runs",
            json!({"workflowId": workflow_id, "inputs": {}}),
        )
        .await;
    let run_id = started["runId"].as_str().expect("run id").to_owned();
    server
        .wait_until(Duration::from_secs(30), async |s: &Server| {
            s.get(&admin, &format!("/api/runs/{run_id}")).await["status"] != "running"
        })
        .await;
    let run = server.get(&admin, &format!("/api/runs/{run_id}")).await;
    let pack = server
        .get(&admin, &format!("/api/runs/{run_id}/evidence-pack"))
        .await;
    server.kill();
    (run, pack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_budget_counts_every_step_of_the_run() {
    let (run, pack) = run_to_end("shared", TWO_STEPS).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps[0]["nodeId"], "Draft");
    assert_eq!(steps[0]["status"], "completed", "{run:#}");
    assert_eq!(steps[1]["nodeId"], "Review");
    assert_eq!(steps[1]["error"]["code"], "budget.exceeded", "{run:#}");
    assert_eq!(
        steps[1]["error"]["message"],
        "the run cost budget of $0.020000 was passed by model turn 1: $0.023000 spent ($0.012000 before the turn, $0.011000 in it)"
    );
    assert_eq!(costs(&pack).len(), 3, "{pack:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_fails_before_a_turn_whose_prompt_would_pass_its_budget() {
    let (run, pack) = run_to_end("tight", TIGHT).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    let error = &run["steps"][0]["error"];
    assert_eq!(error["code"], "budget.exceeded", "{run:#}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(
            "the step token budget of 50 tokens would be passed by model turn 1: 0 tokens spent, and its prompt is estimated at"
        ),
        "{message}"
    );
    assert_eq!(costs(&pack), Vec::<f64>::new(), "the model was never asked");
}

/// An agent whose `[agents.budgets]` in the configuration hold its steps
/// to the 50 tokens `TIGHT` sets on its task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_configured_budget_holds_its_steps() {
    let untight = TIGHT.replace(r#" stepTokenBudget="50""#, "");
    assert_ne!(untight, TIGHT);
    let config = format!(
        "{CONFIG}\n[[agents]]\nname = \"writer\"\nsandbox-profiles = [\"offline\"]\n\
         [agents.budgets.step]\ntokens = 50\n"
    );
    let (run, pack) = run_to_end_with("tight", &untight, &config).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    let error = &run["steps"][0]["error"];
    assert_eq!(error["code"], "budget.exceeded", "{run:#}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("the step token budget of 50 tokens would be passed by model turn 1"),
        "{message}"
    );
    assert_eq!(costs(&pack), Vec::<f64>::new(), "the model was never asked");
}

/// A step whose budget says `escalate`: its first turn ($0.011) passes
/// the $0.01, so a person is asked before the second.
const ESCALATING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="escalating" name="Escalating step" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Draft"/>
    <bpmn:serviceTask id="Draft" name="Draft">
      <bpmn:extensionElements><aw:agentTask agent="writer" purposeType="analysis" prompt="Draft"
        stepCostBudget="0.01" onBudgetExceeded="escalate"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Draft" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

fn run_cli(server: &Server, token: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(support::BIN)
        .args(args)
        .env("AGENTWERKE_URL", &server.url)
        .env("AGENTWERKE_TOKEN", token)
        .output()
        .expect("run agentwerke");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A passed budget that says `escalate` asks a person through an approval
/// of its own kind: approved, the step goes on past the old limit and its
/// usage is kept; rejected, it fails with `budget.exceeded`. The audit log
/// and the evidence pack show the question.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_budget_that_says_escalate_asks_a_person() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts.toml");
    std::fs::write(&scripts, TWO_SCRIPTS).expect("scripts");
    let config = dir.path().join("agentwerke.toml");
    std::fs::write(&config, CONFIG).expect("config");
    let env = [
        ("AGENTWERKE_SCRIPTS", scripts.display().to_string()),
        ("AGENTWERKE_CONFIG", config.display().to_string()),
    ];
    let server = Server::start(dir.path(), &env).await;
    let admin = server.token("Admin");
    let approver = server.token("Approver");
    server.publish(&admin, "escalating", ESCALATING).await;
    let asked = async |server: &Server| {
        let started = server
            .post(
                &admin,
                "/api/runs",
                json!({"workflowId": "escalating", "inputs": {}}),
            )
            .await;
        let run_id = started["runId"].as_str().expect("run id").to_owned();
        let pending = format!("/api/approvals?runId={run_id}&status=pending");
        server
            .wait_until(Duration::from_secs(30), async |s: &Server| {
                s.get(&admin, &pending).await["items"]
                    .as_array()
                    .is_some_and(|items| !items.is_empty())
            })
            .await;
        let approval = server.get(&admin, &pending).await["items"][0].clone();
        (run_id, approval)
    };
    let decide = async |server: &Server, approval: &Value, decision: &str| {
        let id = approval["id"].as_str().expect("approval id");
        server
            .post(
                &approver,
                &format!("/api/approvals/{id}/decision"),
                json!({"decision": decision, "comment": "checked the spend"}),
            )
            .await;
    };
    let ended = async |server: &Server, run_id: &str| {
        server
            .wait_until(Duration::from_secs(30), async |s: &Server| {
                s.get(&admin, &format!("/api/runs/{run_id}")).await["status"] != "running"
            })
            .await;
        server.get(&admin, &format!("/api/runs/{run_id}")).await
    };

    // Asked before the second turn, with the budget's figures.
    let (approved_run, approval) = asked(&server).await;
    assert_eq!(approval["kind"], "budget_escalation", "{approval:#}");
    let budget = &approval["budget"];
    assert_eq!(
        (&budget["scope"], &budget["measure"], &budget["turn"]),
        (&json!("step"), &json!("cost_usd"), &json!(2)),
        "{approval:#}"
    );
    assert_eq!(budget["limit"], 0.01);
    assert!((budget["spent"].as_f64().unwrap() - 0.011).abs() < 1e-9);
    assert_eq!(budget["estimate"], 0.0, "prompts are free here");
    assert_eq!(
        approval["requestedAction"],
        "Let agent 'writer' go on at 'Draft' past the step cost budget of $0.010000"
    );
    assert_eq!(
        costs(
            &server
                .get(&admin, &format!("/api/runs/{approved_run}/evidence-pack"))
                .await
        )
        .len(),
        1
    );
    let id = approval["id"].as_str().expect("id");
    let shown = run_cli(&server, &admin, &["approval", "show", id]);
    assert!(
        shown.contains("budget    the step cost_usd budget, limit 0.01"),
        "{shown}"
    );

    // Approved: the step goes on past its old limit, every turn kept.
    decide(&server, &approval, "approve").await;
    let run = ended(&server, &approved_run).await;
    assert_eq!(run["status"], "completed", "{run:#}");
    let pack = server
        .get(&admin, &format!("/api/runs/{approved_run}/evidence-pack"))
        .await;
    let spent = costs(&pack);
    assert_eq!(spent.len(), 2, "{pack:#}");
    assert!(
        (spent.iter().sum::<f64>() - 0.012).abs() < 1e-9,
        "{spent:?}"
    );
    let approvals = pack["approvals"].as_array().expect("approvals");
    assert_eq!(approvals[0]["kind"], "budget_escalation", "{pack:#}");
    assert_eq!(approvals[0]["status"], "approved", "{pack:#}");
    let audit = server
        .get(&admin, &format!("/api/runs/{approved_run}/audit"))
        .await;
    let paused = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["kind"] == "step.paused")
        .expect("a step.paused record");
    assert_eq!(paused["data"]["approvalId"], approval["id"], "{audit:#}");
    assert_eq!(paused["data"]["budget"]["scope"], "step", "{audit:#}");

    // Rejected: the step fails with `budget.exceeded`, the model not asked.
    let (rejected_run, approval) = asked(&server).await;
    decide(&server, &approval, "reject").await;
    let run = ended(&server, &rejected_run).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    let error = &run["steps"][0]["error"];
    assert_eq!(error["code"], "budget.exceeded", "{run:#}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("the step cost budget of $0.010000 would be passed by model turn 2")
            && message.contains("going on past it was rejected by test-Approver"),
        "{message}"
    );
    let pack = server
        .get(&admin, &format!("/api/runs/{rejected_run}/evidence-pack"))
        .await;
    assert_eq!(costs(&pack).len(), 1, "turn 2 never ran: {pack:#}");
    server.kill();
}

/// Nobody decides in time: the question expires as a rejection, and the
/// step fails with `budget.exceeded`, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_question_nobody_answers_fails_the_step_when_it_expires() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts.toml");
    std::fs::write(&scripts, TWO_SCRIPTS).expect("scripts");
    let config = dir.path().join("agentwerke.toml");
    std::fs::write(&config, format!("escalation-ttl-secs = 1\n{CONFIG}")).expect("config");
    let env = [
        ("AGENTWERKE_SCRIPTS", scripts.display().to_string()),
        ("AGENTWERKE_CONFIG", config.display().to_string()),
    ];
    let server = Server::start(dir.path(), &env).await;
    let admin = server.token("Admin");
    server.publish(&admin, "escalating", ESCALATING).await;
    let started = server
        .post(
            &admin,
            "/api/runs",
            json!({"workflowId": "escalating", "inputs": {}}),
        )
        .await;
    let run_id = started["runId"].as_str().expect("run id").to_owned();
    server
        .wait_until(Duration::from_secs(30), async |s: &Server| {
            let status = s.get(&admin, &format!("/api/runs/{run_id}")).await["status"].clone();
            status == "failed" || status == "completed"
        })
        .await;
    let run = server.get(&admin, &format!("/api/runs/{run_id}")).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    let error = &run["steps"][0]["error"];
    assert_eq!(error["code"], "budget.exceeded", "{run:#}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("to go on past it expired without a decision"),
        "{message}"
    );
    let approvals = server
        .get(&admin, &format!("/api/approvals?runId={run_id}"))
        .await;
    assert_eq!(approvals["items"][0]["kind"], "budget_escalation");
    assert_eq!(approvals["items"][0]["status"], "expired", "{approvals:#}");
    server.kill();
}
