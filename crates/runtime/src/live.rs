//! What a running step shows while it runs, in memory only: the model's
//! text as it arrives, for whoever watches the run's stream, and the signal
//! that aborts a model call when its run is cancelled.
//!
//! Nothing here is persisted: the turn's final text is recorded with the
//! step as before. A server restart loses only what nobody can replay
//! anyway (half-written text of a call that is made again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agentwerke_agents::provider::{
    ModelErrorKind, ModelProvider, ModelRequest, ModelResponse, NoSink, ProviderError, TextSink,
};
use agentwerke_evidence::redact::Redactor;
use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

/// Pieces a slow watcher may fall behind by before it misses some.
const LIVE_BUFFER: usize = 256;

/// Characters of the newest text held back until more arrives: a secret
/// split across two pieces is whole (and redacted) before any of it is
/// sent. Known values and credential shapes up to this length are covered.
pub const HOLD_BACK: usize = 512;

/// One piece of a model's text as it arrived, redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LivePiece {
    /// The step's unit of work.
    pub work_id: String,
    /// Its BPMN node.
    pub node_id: String,
    /// The text.
    pub text: String,
}

/// The live channels of the runs of this process.
#[derive(Clone, Default)]
pub struct Live {
    text: Arc<Mutex<HashMap<String, broadcast::Sender<LivePiece>>>>,
    calls: Arc<Mutex<HashMap<String, watch::Sender<bool>>>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    /// The run's text from now on.
    pub fn subscribe(&self, run_id: &str) -> broadcast::Receiver<LivePiece> {
        let mut text = self.text.lock().unwrap_or_else(|e| e.into_inner());
        // Channels whose watchers all left go, so watched runs that ended
        // keep nothing.
        text.retain(|_, sender| sender.receiver_count() > 0);
        text.entry(run_id.to_owned())
            .or_insert_with(|| broadcast::channel(LIVE_BUFFER).0)
            .subscribe()
    }

    /// Hands `piece` to the run's watchers, if any; a run nobody watches
    /// keeps no channel.
    pub fn publish(&self, run_id: &str, piece: LivePiece) {
        let mut text = self.text.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = text.get(run_id)
            && sender.send(piece).is_err()
        {
            text.remove(run_id);
        }
    }

    /// Whether anybody watches the run's text.
    pub fn watched(&self, run_id: &str) -> bool {
        let text = self.text.lock().unwrap_or_else(|e| e.into_inner());
        text.get(run_id)
            .is_some_and(|sender| sender.receiver_count() > 0)
    }

    /// Aborts the run's model calls in flight in this process.
    pub fn cancel(&self, run_id: &str) {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = calls.get(run_id) {
            sender.send_replace(true);
        }
    }

    /// Watches for the run's cancellation while one of its steps runs.
    pub fn in_flight(&self, run_id: &str) -> InFlight {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let receiver = calls
            .entry(run_id.to_owned())
            .or_insert_with(|| watch::channel(false).0)
            .subscribe();
        InFlight {
            live: self.clone(),
            run_id: run_id.to_owned(),
            cancelled: receiver,
        }
    }
}

/// A step's watch on its run's cancellation; the run's signal goes when the
/// last step of the run lets go of it.
pub struct InFlight {
    live: Live,
    run_id: String,
    cancelled: watch::Receiver<bool>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut calls = self.live.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls
            .get(&self.run_id)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            calls.remove(&self.run_id);
        }
    }
}

impl InFlight {
    /// `provider`, aborted when the run is cancelled.
    pub fn guard<'a>(&self, provider: &'a dyn ModelProvider) -> Cancellable<'a> {
        Cancellable {
            inner: provider,
            cancelled: self.cancelled.clone(),
        }
    }
}

/// A provider whose calls end with `model.cancelled` as soon as the run is
/// cancelled: the HTTP request is dropped, not waited out. Only the model
/// call is aborted; a tool call in progress finishes, so its journal and
/// records stay whole.
pub struct Cancellable<'a> {
    inner: &'a dyn ModelProvider,
    cancelled: watch::Receiver<bool>,
}

#[async_trait]
impl ModelProvider for Cancellable<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(&self, req: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        self.complete_streaming(req, &NoSink).await
    }

    async fn complete_streaming(
        &self,
        req: &ModelRequest,
        sink: &dyn TextSink,
    ) -> Result<ModelResponse, ProviderError> {
        let mut cancelled = self.cancelled.clone();
        let signal = async move {
            // A signal that can no longer come never does.
            if cancelled.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            biased;
            () = signal => Err(ProviderError::model(
                ModelErrorKind::Cancelled,
                req.provider.as_deref().unwrap_or(self.inner.name()),
                "the run was cancelled while the model was asked",
            )),
            answer = self.inner.complete_streaming(req, sink) => answer,
        }
    }
}

/// Hands a step's streamed text to the run's watchers, redacted, holding
/// back the newest [`HOLD_BACK`] characters until more text (or the end of
/// the step) shows whether they begin a secret.
pub struct LiveSink {
    live: Live,
    run_id: String,
    work_id: String,
    node_id: String,
    redactor: Redactor,
    state: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    /// Everything the model wrote in this step, raw.
    raw: String,
    /// How much of its redaction was sent, in bytes.
    sent: usize,
}

impl LiveSink {
    /// A sink for one step of `run_id`.
    pub fn new(live: Live, run_id: &str, work_id: &str, node_id: &str, redactor: Redactor) -> Self {
        Self {
            live,
            run_id: run_id.to_owned(),
            work_id: work_id.to_owned(),
            node_id: node_id.to_owned(),
            redactor,
            state: Mutex::new(Held::default()),
        }
    }

    /// Sends what was held back: the step is over.
    pub fn flush(&self) {
        self.send(0);
    }

    /// Sends the redacted text up to `hold` characters before its end.
    fn send(&self, hold: usize) {
        // Nobody watching: nothing to redact now; a watcher who comes later
        // gets the text from the step's beginning.
        if !self.live.watched(&self.run_id) {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let redacted = self.redactor.redact_str(&state.raw);
        let chars = redacted.chars().count();
        let end = redacted
            .char_indices()
            .nth(chars.saturating_sub(hold))
            .map_or(redacted.len(), |(at, _)| at);
        if end <= state.sent || !redacted.is_char_boundary(state.sent) {
            return;
        }
        let text = redacted[state.sent..end].to_owned();
        state.sent = end;
        drop(state);
        self.live.publish(
            &self.run_id,
            LivePiece {
                work_id: self.work_id.clone(),
                node_id: self.node_id.clone(),
                text,
            },
        );
    }
}

impl TextSink for LiveSink {
    fn text(&self, piece: &str) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .raw
            .push_str(piece);
        self.send(HOLD_BACK);
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
