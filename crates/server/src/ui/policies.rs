//! The policy sets: the list with the one in force, a version's text, the
//! draft editor with its problems at their lines, the simulation table and
//! publish.
//!
//! Every read and write is the API's own function (`routes::gateway`), so
//! the editor validates exactly as `POST /api/policies` does, and a page
//! offers only what the same permission check would let through.

use agentwerke_auth::Permission;
use agentwerke_gateway::policy::DEFAULT_POLICIES;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::code::Code;
use crate::error::ApiError;
use crate::routes::PageParams;
use crate::routes::gateway::{
    NewPolicy, Simulate, draft_policy, policy_page, policy_text, publish_policy_set,
    simulate_policy,
};
use crate::routes::simulation::Simulation;
use crate::routes::views::PolicyView;
use crate::state::AppState;
use crate::ui::auth::{Chrome, SignedIn, UiError, render};
use crate::ui::listing::{Finding, Line, listing, refusal_findings, unplaced};

/// `?from=` (the version the editor starts from) and `?cursor=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    from: Option<i64>,
    cursor: Option<String>,
}

/// One policy set as the list shows it.
struct SetLine {
    version: i64,
    status: String,
    in_force: bool,
    note: String,
    created_by: String,
    created_at: String,
    published: String,
}

impl From<&PolicyView> for SetLine {
    fn from(view: &PolicyView) -> Self {
        Self {
            version: view.version,
            status: view.status.as_str().to_owned(),
            in_force: view.in_force,
            note: view.note.clone().unwrap_or_default(),
            created_by: view.created_by.clone(),
            created_at: view.created_at.clone(),
            published: match (&view.published_by, &view.published_at) {
                (Some(by), Some(at)) => format!("{at} by {by}"),
                _ => String::new(),
            },
        }
    }
}

/// The draft editor: the text, and what validation found in it.
struct Editor {
    /// Where the text came from, in words.
    starting_from: String,
    text: String,
    note: String,
    /// The refusal's sentence ("" before a save).
    problem: String,
    /// The text's numbered lines with the problems at theirs.
    lines: Vec<Line>,
    /// Problems Cedar gave no position for.
    unplaced: Vec<Finding>,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    chrome: Chrome,
    in_force_version: String,
    in_force_hash: String,
    sets: Vec<SetLine>,
    next: Option<String>,
    /// The editor, for those who may store a draft.
    editor: Option<Editor>,
}

/// `GET /policies`: the sets, the one in force and the draft editor.
pub(crate) async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<Response, UiError> {
    let editor = if signed.can(Permission::ManagePolicies) {
        let (starting_from, text) = starting_text(&state, &signed, query.from).await?;
        Some(Editor {
            starting_from,
            text: state.keeper.redactor().redact_str(&text),
            note: String::new(),
            problem: String::new(),
            lines: Vec::new(),
            unplaced: Vec::new(),
        })
    } else {
        None
    };
    list_page(&state, &signed, query.cursor, editor, StatusCode::OK).await
}

/// The text a new draft starts from: the asked version's, else the set in
/// force (the shipped default before any is published).
async fn starting_text(
    state: &AppState,
    signed: &SignedIn,
    from: Option<i64>,
) -> Result<(String, String), UiError> {
    let version = match from {
        Some(version) => Some(version),
        None => {
            let page = policy_page(state, &signed.caller(), one_set()).await?;
            page.in_force.version.parse::<i64>().ok()
        }
    };
    Ok(match version {
        Some(version) => {
            let view = policy_text(state, &signed.caller(), version).await?;
            (format!("version {version}"), view.text.unwrap_or_default())
        }
        None => (
            "the shipped default set".to_owned(),
            DEFAULT_POLICIES.to_owned(),
        ),
    })
}

fn one_set() -> PageParams {
    PageParams {
        limit: Some(1),
        cursor: None,
    }
}

async fn list_page(
    state: &AppState,
    signed: &SignedIn,
    cursor: Option<String>,
    editor: Option<Editor>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let page = policy_page(
        state,
        &signed.caller(),
        PageParams {
            limit: None,
            cursor,
        },
    )
    .await?;
    let page = PoliciesPage {
        chrome: signed.chrome("policies"),
        in_force_version: page.in_force.version,
        in_force_hash: page.in_force.sha256,
        sets: page.items.iter().map(SetLine::from).collect(),
        next: page
            .next_cursor
            .map(|cursor| format!("/policies?cursor={cursor}")),
        editor,
    };
    let mut response = render(&page);
    *response.status_mut() = status;
    Ok(response)
}

/// `POST /policies`: stores the editor's text as a draft, or shows it
/// again with every problem at its line.
pub(crate) async fn save(
    State(state): State<AppState>,
    signed: SignedIn,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = signed.form(&body)?;
    let text = form.get("text").unwrap_or_default().replace("\r\n", "\n");
    let note = form.get("note").unwrap_or_default().trim().to_owned();
    let stored = draft_policy(
        &state,
        &signed.caller(),
        NewPolicy {
            text: text.clone(),
            note: (!note.is_empty()).then(|| note.clone()),
        },
    )
    .await;
    match stored {
        Ok(view) => Ok(Redirect::to(&format!("/policies/{}", view.version)).into_response()),
        Err(error) if error.code() == Code::GatewayInvalidPolicySet => {
            let redactor = state.keeper.redactor();
            let text = redactor.redact_str(&text);
            let findings = refusal_findings(&state, &error);
            let editor = Editor {
                starting_from: "your text".to_owned(),
                lines: listing(&text, &findings, None),
                unplaced: unplaced(&findings),
                text,
                note: redactor.redact_str(&note),
                problem: redactor.redact_str(error.message()),
            };
            list_page(
                &state,
                &signed,
                None,
                Some(editor),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(error) => Err(error.into()),
    }
}

/// One call whose decision the set would change.
struct ChangedLine {
    run_id: String,
    at: String,
    tool: String,
    agent: String,
    node: String,
    before: String,
    after: String,
    policies: String,
    rationale: String,
}

/// The simulation as the page shows it.
struct SimulationView {
    runs_examined: usize,
    calls_replayed: usize,
    allow: usize,
    escalate: usize,
    reject: usize,
    changed: Vec<ChangedLine>,
    unreplayable: usize,
}

impl From<Simulation> for SimulationView {
    fn from(s: Simulation) -> Self {
        Self {
            runs_examined: s.runs_examined,
            calls_replayed: s.calls_replayed,
            allow: s.decisions.allow,
            escalate: s.decisions.escalate,
            reject: s.decisions.reject,
            unreplayable: s.unreplayable.len(),
            changed: s
                .changed
                .into_iter()
                .map(|c| ChangedLine {
                    run_id: c.run_id,
                    at: c.at,
                    tool: c.tool,
                    agent: c.agent,
                    node: c.node_id,
                    before: c.before,
                    after: c.after,
                    policies: c.determining_policies.join(", "),
                    rationale: c.rationale,
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "policy.html")]
struct VersionPage {
    chrome: Chrome,
    version: i64,
    status: String,
    in_force: bool,
    sha256: String,
    note: String,
    created: String,
    published: String,
    lines: Vec<Line>,
    can_manage: bool,
    /// The simulation's table, once asked for.
    simulation: Option<SimulationView>,
}

/// The simulation's default and largest number of runs.
const SIMULATED_RUNS: u32 = 50;
const MAX_SIMULATED_RUNS: u32 = 1000;

/// `GET /policies/{version}`: the set's text and what may be done with it.
pub(crate) async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(version): Path<String>,
) -> Result<Response, UiError> {
    version_page(&state, &signed, parse_version(&version)?, None).await
}

async fn version_page(
    state: &AppState,
    signed: &SignedIn,
    version: i64,
    simulation: Option<Simulation>,
) -> Result<Response, UiError> {
    let view = policy_text(state, &signed.caller(), version).await?;
    let text = state
        .keeper
        .redactor()
        .redact_str(view.text.as_deref().unwrap_or_default());
    let set = SetLine::from(&view);
    let page = VersionPage {
        chrome: signed.chrome("policies"),
        version,
        status: set.status,
        in_force: view.in_force,
        sha256: view.sha256.clone(),
        note: set.note,
        created: format!("{} by {}", set.created_at, set.created_by),
        published: set.published,
        lines: listing(&text, &[], None),
        can_manage: signed.can(Permission::ManagePolicies),
        simulation: simulation.map(SimulationView::from),
    };
    Ok(render(&page))
}

/// `POST /policies/{version}/simulate`: the version page with the table of
/// decisions that would change.
pub(crate) async fn simulate(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(version): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = signed.form(&body)?;
    let version = parse_version(&version)?;
    let runs = match form.filled("runs") {
        None => SIMULATED_RUNS,
        Some(runs) => runs
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_SIMULATED_RUNS).contains(n))
            .ok_or_else(|| {
                UiError::page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("Replay 1 to {MAX_SIMULATED_RUNS} runs, not '{runs}'."),
                )
            })?,
    };
    let simulation = simulate_policy(
        &state,
        &signed.caller(),
        version,
        Simulate { runs: Some(runs) },
    )
    .await?;
    version_page(&state, &signed, version, Some(simulation)).await
}

/// `POST /policies/{version}/publish`: puts the draft in force.
pub(crate) async fn publish(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(version): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    signed.form(&body)?;
    let version = parse_version(&version)?;
    publish_policy_set(&state, &signed.caller(), version).await?;
    Ok(Redirect::to(&format!("/policies/{version}")).into_response())
}

/// A version in a path; anything else names no policy set.
fn parse_version(version: &str) -> Result<i64, UiError> {
    version
        .parse()
        .map_err(|_| ApiError::not_found("policy set", version).into())
}
