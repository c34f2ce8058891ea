//! Live updates for the run pages, over server-sent events (the vendored
//! htmx SSE extension listens; no script of ours runs).
//!
//! The run page follows the run's own stream, the one
//! `/api/runs/{id}/stream` serves ([`run_stream`]): each `audit` event
//! means the run moved, and the page fetches itself again. The run list
//! follows the status of the runs it shows that have not ended, read from
//! the same store, one stream for the whole list (a browser keeps only a
//! few connections per site open, so not one per row).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use agentwerke_auth::Permission;
use agentwerke_types::RunStatus;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;

use crate::routes::runs::run_stream;
use crate::state::AppState;
use crate::ui::auth::{SignedIn, UiError};

/// How often the run list's stream reads the statuses it follows.
const STATUS_POLL: Duration = Duration::from_millis(500);
/// The most runs one list stream follows (a page of the list).
const MAX_FOLLOWED: usize = 200;

/// `?after=` of the run's stream: the newest audit record the page shows.
#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    after: u64,
}

/// `GET /runs/{id}/events?after=`: the run's live stream for a signed-in
/// browser, from the records after those its page was rendered with (so
/// connecting does not make the page fetch itself again for nothing).
pub(crate) async fn run_events(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
) -> Result<Response, UiError> {
    Ok(run_stream(state, &signed.caller(), id, query.after)
        .await?
        .into_response())
}

/// `?ids=` of the run list's stream: the runs to follow, comma-separated,
/// and `?seen=`, the status the page shows for each, in the same order.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusQuery {
    #[serde(default)]
    ids: String,
    #[serde(default)]
    seen: String,
}

/// `GET /runs/statuses?ids=a,b&seen=running,running`: an event
/// `status-<id>` carrying the status badge's HTML whenever a followed run's
/// status is not the one last shown, then `end` once all of them have
/// ended.
pub(crate) async fn statuses(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(query): Query<StatusQuery>,
) -> Result<Response, UiError> {
    signed.caller().require(Permission::Read)?;
    let seen = query.seen.split(',').map(|s| RunStatus::parse(s.trim()));
    let followed: BTreeMap<String, Option<RunStatus>> = query
        .ids
        .split(',')
        .map(str::trim)
        .zip(seen.chain(std::iter::repeat(None)))
        .filter(|(id, _)| !id.is_empty())
        .take(MAX_FOLLOWED)
        .map(|(id, seen)| (id.to_owned(), seen))
        .collect();
    Ok(Sse::new(status_events(state, followed))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The status badge, as the list shows it (statuses are a closed set of
/// plain words, so the HTML needs no escaping).
pub(crate) fn badge(status: RunStatus) -> String {
    let name = status.as_str();
    format!(r#"<span class="status {name}">{name}</span>"#)
}

fn status_events(
    state: AppState,
    known: BTreeMap<String, Option<RunStatus>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (state, known, Vec::<Event>::new(), false),
        |(state, mut known, mut ready, done)| async move {
            loop {
                if let Some(event) = ready.pop() {
                    return Some((Ok(event), (state, known, ready, done)));
                }
                if done {
                    return None;
                }
                let mut changed = Vec::new();
                for (id, last) in known.iter_mut() {
                    if last.is_some_and(RunStatus::is_terminal) {
                        continue;
                    }
                    let Ok(Some(run)) = state.store.get_run(id).await else {
                        // Gone or unreadable: nothing more to follow.
                        *last = Some(RunStatus::Cancelled);
                        continue;
                    };
                    if *last != Some(run.status) {
                        *last = Some(run.status);
                        changed.push(
                            Event::default()
                                .event(format!("status-{id}"))
                                .data(badge(run.status)),
                        );
                    }
                }
                let finished = known
                    .values()
                    .all(|last| last.is_some_and(RunStatus::is_terminal));
                if finished {
                    ready.push(Event::default().event("end").data("{}"));
                }
                // `ready` is a stack: the end goes out after the changes.
                ready.extend(changed.into_iter().rev());
                if !ready.is_empty() {
                    let event = ready.pop().expect("not empty");
                    return Some((Ok(event), (state, known, ready, finished)));
                }
                tokio::time::sleep(STATUS_POLL).await;
            }
        },
    )
}
