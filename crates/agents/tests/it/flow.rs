//! A whole agent step as the runtime drives it: task and context in,
//! prompt snapshot and outcome out, with the scripted provider from TOML.

use serde_json::json;

use agentwerke_agents::prompt::{TaskPromptSpec, assemble};
use agentwerke_agents::scripted::ScriptedProvider;
use agentwerke_agents::step::{NO_TOOLS_REASON, NoTools, StepInput, StepOutcome, run_step};
use agentwerke_evidence::redact::Redactor;

const SCRIPTS: &str = r#"
[[nodes.Draft]]
tool_calls = [{ name = "artifact.write", arguments = { path = "{{input.customer}}.md" } }]

[[nodes.Draft]]
reply = '{"summary": "Draft for {{input.customer}}", "feedback": "{{feedback}}"}'
"#;

#[tokio::test]
async fn a_reworked_task_runs_end_to_end_on_the_scripted_provider() {
    let context = json!({
        "input": {"customer": "ACME", "api_key": "sk-live-0123456789abcdefghij"},
        "output": {"Intake": {"priority": "high"}},
        "run_id": "run-9",
    });
    let task = TaskPromptSpec {
        agent: "writer".into(),
        node_id: "Draft".into(),
        node_name: "Draft the offer".into(),
        prompt_template: Some(
            "Draft an offer for {{input.customer}} (priority {{output.Intake.priority}}). \
             Key: {{input.api_key}}. Region: {{input.region}}."
                .into(),
        ),
        strict: false,
        feedback: Some("mention the discount".into()),
        ..TaskPromptSpec::default()
    };
    let prompt = assemble(&task, &context, "run-9").unwrap();
    assert_eq!(prompt.unresolved, ["input.region"]);
    assert!(prompt.user.contains("{{input.region}}"));
    assert!(prompt.user.ends_with("mention the discount"));
    assert!(
        !prompt
            .snapshot(&[], &Redactor::default())
            .text
            .contains("sk-live")
    );

    let provider = ScriptedProvider::from_toml_str(SCRIPTS).unwrap();
    let mut input = StepInput::new(prompt, "run-9", "work-3", "Draft", "writer");
    input.node_name = "Draft the offer".into();
    input.context = context;
    input.feedback = task.feedback.clone();
    let outcome = run_step(input, &provider, &NoTools).await;

    let StepOutcome::Completed {
        output,
        turns,
        usage_total,
    } = outcome
    else {
        panic!("expected completion, got {outcome:?}");
    };
    assert_eq!(
        output,
        json!({"summary": "Draft for ACME", "feedback": "mention the discount"})
    );
    assert_eq!(turns.len(), 2);
    assert_eq!(
        turns[0].tool_calls[0].call.arguments,
        json!({"path": "ACME.md"})
    );
    let decision = serde_json::to_value(&turns[0].tool_calls[0].result).unwrap();
    assert_eq!(
        decision,
        json!({"decision": "rejected", "reason": NO_TOOLS_REASON})
    );
    assert_eq!(usage_total.cost_usd, 0.0);
    assert!(usage_total.input_tokens > 0);
}

/// The README's configuration example must stay valid.
#[test]
fn the_readme_example_parses() {
    let readme = include_str!("../../README.md");
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("its end");
    let provider = ScriptedProvider::from_toml_str(&readme[start..end]).unwrap();
    assert_eq!(provider.config().nodes["Draft"].len(), 2);
    assert_eq!(provider.config().agents["flaky"].len(), 2);
}
