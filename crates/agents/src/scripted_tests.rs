use serde_json::json;

use agentwerke_types::ErrorCode;

use super::*;
use crate::provider::Message;

fn request(node_id: &str, agent: &str) -> ModelRequest {
    ModelRequest {
        run_id: "run-1".into(),
        work_id: "work-1".into(),
        node_id: node_id.into(),
        node_name: format!("{node_id} task"),
        agent: agent.into(),
        attempt: 1,
        model: None,
        provider: None,
        temperature: None,
        messages: vec![
            Message::system("You are a test."),
            Message::user("Please review the order for Ada"),
        ],
        tools: Vec::new(),
        context: json!({"input": {"name": "Ada", "order": {"id": 7}}}),
        feedback: None,
    }
}

/// The request for the `call`-th model call (1-based) of the same step.
fn nth_call(mut req: ModelRequest, call: usize) -> ModelRequest {
    for i in 1..call {
        req.messages
            .push(Message::assistant(String::new(), Vec::new()));
        req.messages
            .push(Message::tool(format!("call-{i}-1"), "ok"));
    }
    req
}

async fn text(provider: &ScriptedProvider, req: &ModelRequest) -> String {
    provider.complete(req).await.unwrap().content.unwrap()
}

#[tokio::test]
async fn node_scripts_win_over_agent_scripts_over_the_default() {
    let provider = ScriptedProvider::new()
        .with_node("Review", vec![Turn::reply("node")])
        .with_agent("reviewer", vec![Turn::reply("agent")])
        .with_default(vec![Turn::reply("default")]);
    assert_eq!(
        text(&provider, &request("Review", "reviewer")).await,
        "node"
    );
    assert_eq!(
        text(&provider, &request("Other", "reviewer")).await,
        "agent"
    );
    assert_eq!(
        text(&provider, &request("Other", "writer")).await,
        "default"
    );
}

#[tokio::test]
async fn without_a_script_the_reply_summarises_the_prompt() {
    let provider = ScriptedProvider::new();
    let response = provider
        .complete(&request("Review", "reviewer"))
        .await
        .unwrap();
    assert_eq!(
        response.content.as_deref(),
        Some("Scripted analysis by reviewer for Review task: Please review the order for Ada")
    );
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.provider, "scripted");
    assert_eq!(response.model, "scripted-v1");
    assert_eq!(provider.name(), "scripted");

    let mut long = request("Review", "reviewer");
    long.messages[1] =
        Message::user("one two three four five six seven eight nine ten eleven twelve thirteen");
    assert!(text(&provider, &long).await.ends_with("eleven twelve ..."));
}

#[tokio::test]
async fn turns_follow_the_conversation_and_the_last_one_repeats() {
    let provider = ScriptedProvider::new().with_default(vec![
        Turn::tool_calls(vec![
            ScriptedToolCall {
                name: "artifact.write".into(),
                arguments: json!({"path": "{{input.name}}.md", "n": 1}),
            },
            ScriptedToolCall {
                name: "search".into(),
                arguments: json!({}),
            },
        ]),
        Turn::reply("second"),
        Turn::reply("third for {{input.name}}"),
    ]);
    let first = provider.complete(&request("A", "a")).await.unwrap();
    assert_eq!(first.content, None);
    let ids: Vec<_> = first.tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["call-1-1", "call-1-2"]);
    assert_eq!(first.tool_calls[0].name, "artifact.write");
    assert_eq!(
        first.tool_calls[0].arguments,
        json!({"path": "Ada.md", "n": 1})
    );

    assert_eq!(
        text(&provider, &nth_call(request("A", "a"), 2)).await,
        "second"
    );
    assert_eq!(
        text(&provider, &nth_call(request("A", "a"), 3)).await,
        "third for Ada"
    );
    assert_eq!(
        text(&provider, &nth_call(request("A", "a"), 9)).await,
        "third for Ada"
    );
}

#[tokio::test]
async fn fail_times_n_fails_the_first_n_attempts_then_steps_aside() {
    let provider = ScriptedProvider::new().with_default(vec![
        Turn::fail("UPSTREAM_DOWN", "the upstream is down").times(2),
        Turn::reply("recovered"),
    ]);
    for attempt in 1..=2 {
        let req = ModelRequest {
            attempt,
            ..request("A", "a")
        };
        let err = provider.complete(&req).await.unwrap_err();
        assert_eq!(err.code(), "agents.scripted_failure");
        assert_eq!(err.step_code(), "UPSTREAM_DOWN");
        assert!(err.to_string().contains("the upstream is down"));
    }
    let third = ModelRequest {
        attempt: 3,
        ..request("A", "a")
    };
    assert_eq!(text(&provider, &third).await, "recovered");
}

#[tokio::test]
async fn fail_without_times_fails_every_attempt() {
    let provider = ScriptedProvider::new().with_default(vec![Turn::fail("BOOM", "boom")]);
    let req = ModelRequest {
        attempt: 50,
        ..request("A", "a")
    };
    assert_eq!(
        provider.complete(&req).await.unwrap_err().step_code(),
        "BOOM"
    );

    // A script whose only turn has stood aside falls back to the built-in reply.
    let once = ScriptedProvider::new().with_default(vec![Turn::fail("BOOM", "boom").times(1)]);
    assert!(
        text(&once, &req)
            .await
            .starts_with("Scripted analysis by a")
    );
}

#[tokio::test]
async fn the_same_request_gets_the_same_response() {
    let provider = ScriptedProvider::new().with_default(vec![Turn::reply(
        "Order {{input.order.id}} for {{input.name}}",
    )]);
    let req = request("A", "a");
    let first = provider.complete(&req).await.unwrap();
    let second = provider.complete(&req).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.content.as_deref(), Some("Order 7 for Ada"));
    // Words in: 4 + 6; words out: 4; never any cost.
    assert_eq!(first.usage.input_tokens, 10);
    assert_eq!(first.usage.output_tokens, 4);
    assert_eq!(first.usage.cost_usd, 0.0);
}

#[tokio::test]
async fn delays_are_honoured() {
    let provider = ScriptedProvider::new().with_default(vec![Turn::reply("late").delay_ms(30)]);
    let started = std::time::Instant::now();
    assert_eq!(text(&provider, &request("A", "a")).await, "late");
    assert!(started.elapsed() >= Duration::from_millis(30));
}

const EXAMPLE: &str = r#"
default = [{ reply = "Default answer for {{node_name}}" }]

[[nodes.Review]]
tool_calls = [{ name = "artifact.write", arguments = { path = "review.md", content = "Review of {{input.name}}" } }]

[[nodes.Review]]
reply = '{"verdict": "ok"}'
delay_ms = 5

[agents]
flaky = [
  { fail = { code = "RATE_LIMITED", message = "try again", times = 1 } },
  { reply = "done" },
]
"#;

#[tokio::test]
async fn toml_configuration_is_parsed() {
    let provider = ScriptedProvider::from_toml_str(EXAMPLE).unwrap();
    let config = provider.config();
    assert_eq!(config.nodes["Review"].len(), 2);
    assert_eq!(
        config.agents["flaky"][0],
        Turn::fail("RATE_LIMITED", "try again").times(1)
    );
    assert_eq!(
        config.nodes["Review"][1],
        Turn::reply(r#"{"verdict": "ok"}"#).delay_ms(5)
    );

    let call = provider.complete(&request("Review", "x")).await.unwrap();
    assert_eq!(
        call.tool_calls[0].arguments,
        json!({"path": "review.md", "content": "Review of Ada"})
    );
    assert_eq!(
        text(&provider, &request("Other", "x")).await,
        "Default answer for Other task"
    );
    let err = provider
        .complete(&request("Other", "flaky"))
        .await
        .unwrap_err();
    assert_eq!(err.step_code(), "RATE_LIMITED");
}

#[test]
fn toml_configuration_round_trips() {
    let config = ScriptConfig::from_toml_str(EXAMPLE).unwrap();
    let text = toml::to_string(&config).unwrap();
    assert_eq!(ScriptConfig::from_toml_str(&text).unwrap(), config);
}

#[test]
fn toml_errors_are_clear() {
    let cases: &[(&str, &str)] = &[
        ("[[nodes.A]]\nreplly = \"typo\"\n", "unknown field `replly`"),
        (
            "[[nodes.A]]\nreply = \"x\"\nfail = { code = \"C\" }\n",
            "exactly one of",
        ),
        ("[[nodes.A]]\ndelay_ms = 5\n", "exactly one of"),
        ("[[nodes.A]]\ntool_calls = []\n", "`tool_calls` is empty"),
        (
            "[[nodes.A]]\ntool_calls = [{ name = \"t\", args = {} }]\n",
            "unknown field `args`",
        ),
        (
            "[[nodes.A]]\nfail = { code = \"C\", time = 2 }\n",
            "unknown field `time`",
        ),
        (
            "[[nodes.A]]\nfail = { message = \"m\" }\n",
            "missing field `code`",
        ),
        ("[scripts]\n", "unknown field `scripts`"),
        ("nodes = { A = [] }\n", "script `nodes.A` has no turns"),
    ];
    for (toml_text, expected) in cases {
        let err = ScriptedProvider::from_toml_str(toml_text).unwrap_err();
        assert_eq!(err.code(), "agents.script_invalid");
        assert!(
            err.to_string().contains(expected),
            "{toml_text:?}: {err} does not mention {expected:?}"
        );
    }
}

#[test]
fn configuration_files_are_read_and_named_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("scripts.toml");
    std::fs::write(&good, EXAMPLE).unwrap();
    let provider = ScriptedProvider::from_path(&good).unwrap();
    assert_eq!(provider.config().nodes.len(), 1);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "nodes = 3").unwrap();
    let err = ScriptedProvider::from_path(&bad).unwrap_err();
    assert!(err.to_string().contains("bad.toml"));

    let missing = ScriptedProvider::from_path(&dir.path().join("nope.toml")).unwrap_err();
    assert_eq!(missing.code(), "agents.script_invalid");
}

#[test]
fn an_empty_configuration_is_valid() {
    let config = ScriptConfig::from_toml_str("").unwrap();
    assert_eq!(config, ScriptConfig::default());
}

#[tokio::test]
async fn a_reply_can_quote_the_latest_tool_result_but_never_renders_it() {
    let provider = ScriptedProvider::new().with_default(vec![
        Turn::reply("first"),
        Turn::reply("{{input.name}} was told: {{last_tool_result}}"),
    ]);
    let mut req = nth_call(request("Draft", "analyst"), 2);
    req.messages
        .push(Message::tool("call-2-1", "{{input.order.id}} eu"));
    assert_eq!(
        text(&provider, &req).await,
        "Ada was told: {{input.order.id}} eu"
    );
    let first = request("Draft", "analyst");
    let quoting = ScriptedProvider::new().with_default(vec![Turn::reply("[{{last_tool_result}}]")]);
    assert_eq!(text(&quoting, &first).await, "[]", "no tool result yet");
}
