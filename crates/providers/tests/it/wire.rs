//! Answers that go well: plain text, tool calls, streamed and whole, in
//! both wire formats; exactly what was sent; usage as reported.

use agentwerke_agents::provider::{KeyUse, Usage};
use agentwerke_agents::step::StepOutcome;
use agentwerke_providers::fake::{FakeProvider, FakeTurn, Reply, Wire};
use serde_json::{Value, json};

use crate::support::{Echo, KEY, Pieces, Vault, messages, provider, settings, step};

/// The model asks to write a file, then answers; the step completes with
/// the answer, the tool got its arguments whole, usage is as reported.
async fn tool_call_then_answer(wire: Wire, stream: bool) {
    let fake = FakeProvider::start(wire, Some(KEY)).await;
    let arguments =
        json!({"path": "notes/2.4.md", "content": "Release 2.4: audit export, faster search."});
    fake.push(Reply::Turn(
        FakeTurn::calls([("call_1", "artifact_write", arguments.clone())]).usage(120, 30, 100),
    ));
    fake.push(Reply::Turn(
        FakeTurn::text("Release notes drafted.").usage(180, 12, 0),
    ));
    let vault = Vault::new(&[("MODEL_KEY", KEY)]);
    let mut settings = settings(wire, &fake);
    settings.stream = Some(stream);
    let provider = provider(&settings, vault.clone());
    let tools = Echo::default();
    let sink = Pieces::default();

    let outcome = step(&provider, &tools, &sink, Some(0.2)).await;

    let StepOutcome::Completed {
        output,
        usage_total,
        turns,
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(output, &json!({"text": "Release notes drafted."}));
    // The arguments arrived whole, the name mapped back to the gateway's.
    let calls = tools.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "artifact.write");
    assert_eq!(calls[0].id, "call_1");
    assert_eq!(calls[0].arguments, arguments);
    assert_eq!(
        *usage_total,
        Usage {
            input_tokens: 300,
            output_tokens: 42,
            cached_input_tokens: 100,
            cost_usd: 0.0,
        }
    );
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0].provider, "remote");
    assert_eq!(turns[0].model, "test-model");
    assert_eq!(turns[0].call.retries, 0);
    assert_eq!(
        turns[0].call.key,
        Some(KeyUse {
            secret: "MODEL_KEY".into(),
            fingerprint: Some(vault.fingerprint(KEY)),
        })
    );
    // The key was resolved for each call, not once.
    assert_eq!(vault.resolutions(), 2);
    // Streamed text reached the sink in pieces, in order.
    let pieces = sink.0.lock().unwrap().clone();
    if stream {
        assert!(pieces.len() > 1, "{pieces:?}");
    }
    assert_eq!(pieces.concat(), "Release notes drafted.");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0].body;
    assert_eq!(first["model"], "test-model");
    assert_eq!(first["temperature"], json!(0.2f32));
    if stream {
        assert_eq!(first["stream"], true);
    } else {
        assert_eq!(first.get("stream"), None);
    }
    let second = &requests[1].body;
    match wire {
        Wire::OpenAi => {
            assert_eq!(
                requests[0].headers["authorization"],
                format!("Bearer {KEY}")
            );
            if stream {
                assert_eq!(first["stream_options"], json!({"include_usage": true}));
            }
            assert_eq!(
                first["tools"],
                json!([{"type": "function", "function": {
                    "name": "artifact_write",
                    "description": "Writes an artifact.",
                    "parameters": crate::support::write_tool().input_schema}}])
            );
            assert_eq!(
                messages(second),
                json!([
                    {"role": "system", "content": "You are the release assistant."},
                    {"role": "user", "content": "Draft the notes for 2.4."},
                    {"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_1", "type": "function",
                        "function": {"name": "artifact_write",
                                     "arguments": arguments.to_string()}}]},
                    {"role": "tool", "tool_call_id": "call_1",
                     "content": "{\"written\":\"notes/2.4.md\"}"},
                ])
            );
        }
        Wire::Anthropic => {
            assert_eq!(requests[0].headers["x-api-key"], KEY);
            assert_eq!(requests[0].headers["anthropic-version"], "2023-06-01");
            assert_eq!(first["max_tokens"], 4096);
            assert_eq!(first["system"], "You are the release assistant.");
            assert_eq!(
                first["tools"],
                json!([{"name": "artifact_write", "description": "Writes an artifact.",
                        "input_schema": crate::support::write_tool().input_schema}])
            );
            assert_eq!(second["system"], "You are the release assistant.");
            assert_eq!(
                messages(second),
                json!([
                    {"role": "user", "content": [{"type": "text", "text": "Draft the notes for 2.4."}]},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1",
                        "name": "artifact_write", "input": arguments}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1",
                        "content": "{\"written\":\"notes/2.4.md\"}"}]},
                ])
            );
        }
    }
}

#[tokio::test]
async fn openai_streamed_tool_call_and_answer() {
    tool_call_then_answer(Wire::OpenAi, true).await;
}

#[tokio::test]
async fn openai_whole_tool_call_and_answer() {
    tool_call_then_answer(Wire::OpenAi, false).await;
}

#[tokio::test]
async fn anthropic_streamed_tool_call_and_answer() {
    tool_call_then_answer(Wire::Anthropic, true).await;
}

#[tokio::test]
async fn anthropic_whole_tool_call_and_answer() {
    tool_call_then_answer(Wire::Anthropic, false).await;
}

/// Two calls in one streamed turn, each with arguments split over many
/// chunks, interleaved with text: each call gets exactly its own arguments.
#[tokio::test]
async fn split_arguments_of_several_calls_are_joined_per_call() {
    for wire in [Wire::OpenAi, Wire::Anthropic] {
        let fake = FakeProvider::start(wire, Some(KEY)).await;
        let a = json!({"path": "a.md", "content": "first, with \"quotes\" and ünïcode"});
        let b = json!({"path": "b.md", "content": "second"});
        let mut turn = FakeTurn::calls([
            ("c1", "artifact_write", a.clone()),
            ("c2", "artifact_write", b.clone()),
        ]);
        turn.text = Some("Writing both.".into());
        fake.push(Reply::Turn(turn));
        fake.push(Reply::Turn(FakeTurn::text("done")));
        let provider = provider(&settings(wire, &fake), Vault::new(&[("MODEL_KEY", KEY)]));
        let tools = Echo::default();
        let outcome = step(&provider, &tools, &Pieces::default(), None).await;
        assert!(
            matches!(outcome, StepOutcome::Completed { .. }),
            "{outcome:?}"
        );
        let calls = tools.calls.lock().unwrap().clone();
        let got: Vec<(String, Value)> = calls.into_iter().map(|c| (c.id, c.arguments)).collect();
        assert_eq!(
            got,
            [("c1".to_owned(), a), ("c2".to_owned(), b)],
            "{wire:?}"
        );
        assert_eq!(outcome.turns()[0].content.as_deref(), Some("Writing both."));
        // No temperature was set, so none was sent.
        assert_eq!(fake.requests()[0].body.get("temperature"), None);
    }
}

/// A key from an environment variable named in config; Azure's `api-key`
/// header.
#[tokio::test]
async fn a_key_from_an_environment_variable_in_the_api_key_header() {
    use agentwerke_evidence::redact::Redactor;
    use agentwerke_providers::settings::KeyHeader;
    use agentwerke_providers::{HttpProvider, KeyResolver};
    use std::sync::Arc;

    let fake = FakeProvider::start(Wire::OpenAi, Some(KEY)).await;
    fake.push(Reply::Turn(FakeTurn::text("hello")));
    let mut settings = settings(Wire::OpenAi, &fake);
    settings.api_key = None;
    settings.api_key_env = Some("AZURE_OPENAI_KEY".into());
    settings.api_key_header = Some(KeyHeader::ApiKey);
    let redactor = Redactor::default();
    let keys = KeyResolver::new(
        None,
        Arc::new(crate::support::Vars(vec![("AZURE_OPENAI_KEY", KEY)])),
        redactor.clone(),
    );
    let provider = HttpProvider::new(settings.check().unwrap(), keys).unwrap();
    let outcome = step(&provider, &Echo::default(), &Pieces::default(), None).await;
    assert!(
        matches!(outcome, StepOutcome::Completed { .. }),
        "{outcome:?}"
    );
    let sent = &fake.requests()[0].headers;
    assert_eq!(sent["api-key"], KEY);
    assert!(!sent.contains_key("authorization"));
    assert_eq!(
        outcome.turns()[0].call.key,
        Some(KeyUse {
            secret: "env:AZURE_OPENAI_KEY".into(),
            fingerprint: None
        })
    );
    // The variable's value is now known to redaction everywhere.
    assert!(redactor.contains_known(&format!("key={KEY}")));
    assert!(!redactor.redact_str(&format!("key={KEY}")).contains(KEY));
    // And the provider never shows it.
    assert!(!format!("{provider:?}").contains(KEY));
}
