use std::time::Duration;

use agentwerke_agents::provider::{CallStats, Usage};
use serde_json::Value;

use super::*;

fn drain(receiver: &mut broadcast::Receiver<LivePiece>) -> Vec<String> {
    let mut pieces = Vec::new();
    while let Ok(piece) = receiver.try_recv() {
        assert_eq!(
            (piece.work_id.as_str(), piece.node_id.as_str()),
            ("w-1", "Draft")
        );
        pieces.push(piece.text);
    }
    pieces
}

#[test]
fn a_secret_split_across_pieces_never_leaves_and_the_rest_arrives_in_order() {
    let secret = "sk-live-0123456789abcdefXYZ";
    let live = Live::default();
    let mut watcher = live.subscribe("run-1");
    let sink = LiveSink::new(
        live.clone(),
        "run-1",
        "w-1",
        "Draft",
        Redactor::new([secret]),
    );
    let filler = "word ".repeat(HOLD_BACK / 5 + 20);
    sink.text(&filler);
    // More than the hold-back arrived: the start went out before the end.
    let early = drain(&mut watcher);
    assert!(!early.is_empty());
    sink.text("the key is sk-live-0123456");
    sink.text("789abcdefXYZ, keep it safe. ");
    sink.text(&filler);
    sink.flush();
    let all = [early, drain(&mut watcher)].concat();
    let text = all.concat();
    assert!(!text.contains(secret), "{text}");
    assert!(!text.contains("0123456789abcdef"), "{text}");
    assert!(
        text.contains("the key is [REDACTED], keep it safe."),
        "{text}"
    );
    assert!(text.starts_with(&filler) && text.ends_with(&filler));
    // Every piece on its own is free of any part of the secret that could
    // be joined up by the watcher.
    assert!(all.iter().all(|piece| !piece.contains("sk-live")));
}

#[test]
fn short_text_is_held_until_the_step_ends_and_nobody_watching_keeps_nothing() {
    let live = Live::default();
    let sink = LiveSink::new(live.clone(), "run-2", "w-1", "Draft", Redactor::default());
    sink.text("unwatched ");
    assert!(!live.watched("run-2"));
    let mut watcher = live.subscribe("run-2");
    sink.text("Hello");
    assert!(drain(&mut watcher).is_empty());
    sink.flush();
    assert_eq!(drain(&mut watcher).concat(), "unwatched Hello");
    drop(watcher);
    live.publish(
        "run-2",
        LivePiece {
            work_id: String::new(),
            node_id: String::new(),
            text: String::new(),
        },
    );
    assert!(!live.watched("run-2"));
    assert!(live.text.lock().unwrap().is_empty());
    // A watcher who left a run nothing more was said in leaves nothing
    // behind once another run is watched.
    drop(live.subscribe("run-5"));
    let _watching = live.subscribe("run-6");
    assert_eq!(
        live.text.lock().unwrap().keys().collect::<Vec<_>>(),
        ["run-6"]
    );
}

/// A provider that answers after `delay`.
struct Slow(Duration);

#[async_trait]
impl ModelProvider for Slow {
    fn name(&self) -> &str {
        "slow"
    }

    async fn complete(&self, _req: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        tokio::time::sleep(self.0).await;
        Ok(ModelResponse {
            content: Some("late".into()),
            tool_calls: Vec::new(),
            usage: Usage::default(),
            model: "m".into(),
            provider: "slow".into(),
            call: CallStats::default(),
        })
    }
}

fn request() -> ModelRequest {
    ModelRequest {
        run_id: "run-3".into(),
        work_id: "w-1".into(),
        node_id: "Draft".into(),
        node_name: "Draft".into(),
        agent: "writer".into(),
        attempt: 1,
        model: None,
        provider: None,
        temperature: None,
        messages: Vec::new(),
        tools: Vec::new(),
        context: Value::Null,
        feedback: None,
    }
}

#[tokio::test]
async fn a_cancelled_run_aborts_its_model_call_at_once() {
    let live = Live::default();
    let slow = Slow(Duration::from_secs(30));
    let flight = live.in_flight("run-3");
    let guarded = flight.guard(&slow);
    let canceller = {
        let live = live.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            live.cancel("run-3");
        })
    };
    let started = std::time::Instant::now();
    let error = guarded.complete(&request()).await.unwrap_err();
    canceller.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.step_code(), "model.cancelled");
    drop(guarded);
    drop(flight);
    assert!(live.calls.lock().unwrap().is_empty());

    // Another run's cancellation, or none, lets the call answer.
    let quick = Slow(Duration::from_millis(20));
    let flight = live.in_flight("run-4");
    live.cancel("run-3");
    let answer = flight.guard(&quick).complete(&request()).await.unwrap();
    assert_eq!(answer.content.as_deref(), Some("late"));
}
