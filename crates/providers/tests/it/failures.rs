//! Answers that go wrong: each ends the step with its stable code, retried
//! when another attempt may succeed, and never with the key in sight.

use std::time::{Duration, Instant};

use agentwerke_agents::step::StepOutcome;
use agentwerke_providers::fake::{FakeProvider, FakeTurn, Reply, Wire};

use crate::support::{Echo, KEY, Pieces, Vault, failure, provider, settings, step};

const WIRES: [Wire; 2] = [Wire::OpenAi, Wire::Anthropic];

/// Runs one step against a fake answering with `replies`, whole or streamed.
async fn run(wire: Wire, stream: bool, replies: Vec<Reply>) -> (StepOutcome, FakeProvider) {
    let fake = FakeProvider::start(wire, Some(KEY)).await;
    for reply in replies {
        fake.push(reply);
    }
    let mut settings = settings(wire, &fake);
    settings.stream = Some(stream);
    settings.timeout_secs = Some(1);
    let provider = provider(&settings, Vault::new(&[("MODEL_KEY", KEY)]));
    let outcome = step(&provider, &Echo::default(), &Pieces::default(), None).await;
    (outcome, fake)
}

fn completed_after(outcome: &StepOutcome, retries: u32) {
    match outcome {
        StepOutcome::Completed { output, turns, .. } => {
            assert_eq!(output["text"], "fine");
            assert_eq!(turns[0].call.retries, retries, "{turns:?}");
        }
        other => panic!("not completed: {other:?}"),
    }
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_the_answer_counts() {
    for wire in WIRES {
        let started = Instant::now();
        let (outcome, fake) = run(
            wire,
            true,
            vec![
                Reply::Error {
                    status: 429,
                    retry_after: Some("1".into()),
                    kind: "rate_limit_error".into(),
                    message: "slow down".into(),
                },
                Reply::Turn(FakeTurn::text("fine").usage(10, 2, 0)),
            ],
        )
        .await;
        completed_after(&outcome, 1);
        // Retry-After said one second; the fast backoff alone would be 40ms.
        assert!(started.elapsed() >= Duration::from_secs(1), "{wire:?}");
        assert_eq!(fake.requests().len(), 2);
        assert!(outcome.turns()[0].call.latency_ms >= 1000);
    }
}

#[tokio::test]
async fn a_500_and_a_529_are_retried_with_backoff() {
    for wire in WIRES {
        let (outcome, fake) = run(
            wire,
            false,
            vec![
                Reply::error(500, "server_error", "boom"),
                Reply::error(529, "overloaded_error", "Overloaded"),
                Reply::Turn(FakeTurn::text("fine")),
            ],
        )
        .await;
        completed_after(&outcome, 2);
        assert_eq!(fake.requests().len(), 3);
    }
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_failure_is_the_code() {
    for wire in WIRES {
        let (outcome, fake) = run(
            wire,
            true,
            vec![
                Reply::error(503, "server_error", "down"),
                Reply::error(503, "server_error", "down"),
                Reply::error(429, "rate_limit_error", "slow down"),
                Reply::Turn(FakeTurn::text("never asked for")),
            ],
        )
        .await;
        let (code, message) = failure(&outcome);
        assert_eq!(code, "model.rate_limited", "{message}");
        assert!(message.contains("3 attempts"), "{message}");
        // max-retries = 2: three attempts, no fourth.
        assert_eq!(fake.requests().len(), 3);
    }
}

#[tokio::test]
async fn a_refused_key_fails_at_once_with_auth_failed_and_no_key_in_the_message() {
    for wire in WIRES {
        let fake = FakeProvider::start(wire, Some("the-right-key")).await;
        fake.push(Reply::Turn(FakeTurn::text("never")));
        let provider = provider(&settings(wire, &fake), Vault::new(&[("MODEL_KEY", KEY)]));
        let outcome = step(&provider, &Echo::default(), &Pieces::default(), None).await;
        let (code, message) = failure(&outcome);
        assert_eq!(code, "model.auth_failed");
        assert!(message.contains("401"), "{message}");
        assert!(!message.contains(KEY), "{message}");
        // Not retried.
        assert_eq!(fake.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_missing_key_fails_before_anything_is_sent() {
    for wire in WIRES {
        let fake = FakeProvider::start(wire, Some(KEY)).await;
        let vault = Vault::new(&[]);
        let provider = provider(&settings(wire, &fake), vault.clone());
        let outcome = step(&provider, &Echo::default(), &Pieces::default(), None).await;
        let (code, message) = failure(&outcome);
        assert_eq!(code, "model.key_unavailable");
        assert!(message.contains("MODEL_KEY"), "{message}");
        assert_eq!(fake.requests().len(), 0);
        assert_eq!(vault.resolutions(), 1);
    }
}

#[tokio::test]
async fn a_malformed_body_is_a_bad_response_and_not_retried() {
    for wire in WIRES {
        for stream in [false, true] {
            let (outcome, fake) = run(
                wire,
                stream,
                vec![Reply::Malformed, Reply::Turn(FakeTurn::text("never"))],
            )
            .await;
            let (code, message) = failure(&outcome);
            assert_eq!(code, "model.bad_response", "{wire:?} {stream}: {message}");
            assert_eq!(fake.requests().len(), 1);
        }
    }
}

#[tokio::test]
async fn an_answer_that_breaks_off_is_a_bad_response() {
    for wire in WIRES {
        for stream in [false, true] {
            let turn = FakeTurn::calls([(
                "c1",
                "artifact_write",
                serde_json::json!({"path": "a.md", "content": "a long enough body to split"}),
            )]);
            let (outcome, _fake) = run(wire, stream, vec![Reply::BreakOff(turn)]).await;
            let (code, message) = failure(&outcome);
            assert_eq!(code, "model.bad_response", "{wire:?} {stream}: {message}");
            assert!(outcome.turns().is_empty());
        }
    }
}

#[tokio::test]
async fn a_slow_answer_past_the_timeout_is_retried_then_fails_with_timeout() {
    for wire in WIRES {
        let slow = || Reply::Slow(Duration::from_secs(3), FakeTurn::text("late"));
        let started = Instant::now();
        let (outcome, fake) = run(wire, true, vec![slow(), slow(), slow()]).await;
        let (code, message) = failure(&outcome);
        assert_eq!(code, "model.timeout", "{message}");
        assert_eq!(fake.requests().len(), 3);
        // Three attempts of one second each, not three of three.
        assert!(started.elapsed() < Duration::from_secs(6));
    }
}

#[tokio::test]
async fn a_slow_answer_within_the_timeout_is_fine() {
    let (outcome, _fake) = run(
        Wire::OpenAi,
        true,
        vec![Reply::Slow(
            Duration::from_millis(300),
            FakeTurn::text("fine"),
        )],
    )
    .await;
    completed_after(&outcome, 0);
    assert!(outcome.turns()[0].call.latency_ms >= 300);
}

#[tokio::test]
async fn a_conversation_too_long_has_its_own_code() {
    let cases = [
        (
            Wire::OpenAi,
            Reply::error(
                400,
                "context_length_exceeded",
                "This model's maximum context length is 8192 tokens.",
            ),
        ),
        (
            Wire::Anthropic,
            Reply::error(
                400,
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
            ),
        ),
    ];
    for (wire, reply) in cases {
        let (outcome, fake) = run(wire, true, vec![reply]).await;
        let (code, message) = failure(&outcome);
        assert_eq!(code, "model.context_too_long", "{message}");
        assert_eq!(fake.requests().len(), 1);
    }
    // Any other 400 is a refusal, with the provider's words.
    let (outcome, _fake) = run(
        Wire::OpenAi,
        false,
        vec![Reply::error(400, "invalid_request_error", "Unknown model")],
    )
    .await;
    let (code, message) = failure(&outcome);
    assert_eq!(code, "model.rejected");
    assert!(message.contains("Unknown model"), "{message}");
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable_after_retries() {
    // A port nothing listens on: bind one, then let it go.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let fake = FakeProvider::start(Wire::OpenAi, None).await;
    let mut settings = settings(Wire::OpenAi, &fake);
    settings.base_url = Some(format!("http://{address}/v1"));
    let provider = provider(&settings, Vault::new(&[("MODEL_KEY", KEY)]));
    let outcome = step(&provider, &Echo::default(), &Pieces::default(), None).await;
    let (code, message) = failure(&outcome);
    assert_eq!(code, "model.unavailable", "{message}");
    assert!(message.contains("3 attempts"), "{message}");
}
