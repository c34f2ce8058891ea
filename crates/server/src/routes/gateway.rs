//! The Tool Gateway's administration: hypothetical decisions, the kill
//! switch, and the policy-set lifecycle (draft, validate, simulate, publish).

use agentwerke_auth::Permission;
use agentwerke_gateway::{CallRequest, Decision, Gateway, Halts, PolicySet, TaskSurface};
use agentwerke_runtime::command::{Command, DraftPolicy, Halt, PublishPolicy, Resume};
use agentwerke_store::Committed;
use agentwerke_store::gateway::{HaltRow, HaltScope, PolicySetRow};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::code::Code;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Caller};
use crate::routes::simulation::{Replay, Simulation};
use crate::routes::views::{AuditRef, HaltChange, HaltList, HaltView, LiftedHalt, PolicyView};
use crate::routes::{PageParams, views};
use crate::state::AppState;

/// `POST /api/gateway/evaluate` body: a call that is not made.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Evaluate {
    /// The tool.
    pub tool: String,
    /// Its arguments.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: Value,
    /// The calling agent.
    pub agent: String,
    /// The workflow of the hypothetical run.
    #[serde(default)]
    pub workflow_id: String,
    /// The BPMN node of the hypothetical task.
    #[serde(default)]
    pub node_id: String,
    /// The attempt (1 unless a retry is simulated).
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The task's granted surface (`purposeType`, `permissionLevel`, ...).
    #[schema(value_type = views::TaskSurface)]
    pub task: TaskSurface,
    /// Evaluate under this stored policy set (e.g. a draft) instead of the
    /// one in force.
    #[serde(default)]
    pub policy_version: Option<i64>,
    /// Ignore the kill switch.
    #[serde(default)]
    pub ignore_halts: bool,
}

fn first_attempt() -> u32 {
    1
}

/// The gateway's decision on one call, as `agentwerke_gateway::Decision`
/// serialises it. Documentation only (the gateway crate has no OpenAPI
/// derives); a test holds its names to the decision's.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Decision)]
pub struct DecisionDoc {
    /// `allow`, `escalate` or `reject`.
    #[schema(pattern = "^(allow|escalate|reject)$")]
    pub kind: String,
    /// The stage that decided: `halted`, `secrets`, `unknown_tool`, `schema`,
    /// `surface`, `policy` or `approval`.
    pub stage: String,
    /// Why, as a stable code, e.g. `forbidden`, `no_permit`, `escalated`.
    pub reason: String,
    /// Why, for humans (redacted).
    pub rationale: String,
    /// The tool asked for.
    pub tool: String,
    /// Its category; null for an unknown tool.
    pub category: Option<String>,
    /// `@id`s of the policies that determined the outcome, sorted.
    pub determining_policies: Vec<String>,
    /// The policy set's version.
    pub policy_set_version: String,
    /// SHA-256 (hex) of the policy set's text.
    pub policy_set_hash: String,
    /// `score` (0-100) and `factors` (each `name`, `weight`, `detail`).
    #[schema(value_type = Object)]
    pub risk: Value,
    /// `low`, `medium`, `high` or `critical`.
    pub risk_level: String,
    /// Who must approve an escalation; null means any Approver.
    pub approver_role: Option<String>,
    /// SHA-256 (hex) of the canonical JSON of the arguments as given.
    pub args_hash: String,
    /// The arguments with secrets redacted (any JSON).
    #[schema(value_type = Value)]
    pub redacted_args: Value,
    /// Systems the call would touch (`host:…`, `path:…`, `repo:…`,
    /// `environment:…`).
    pub affected_systems: Vec<String>,
}

/// Decides a hypothetical call and returns the whole decision; nothing runs
/// and nothing is recorded.
#[utoipa::path(post, path = "/api/gateway/evaluate", tag = "gateway", request_body = Evaluate,
    responses((status = 200, description = "The full decision", body = DecisionDoc),
              (status = 404, description = "No such policy set (api.not_found)"),
              (status = 422, description = "The stored policy set no longer validates (gateway.invalid_policy_set)")),
    security(("bearer" = [])))]
pub async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<Evaluate>,
) -> Result<Json<Decision>, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let gateway = match body.policy_version {
        Some(version) => gateway_for(&state, &stored(&state, version).await?)?,
        None => state.gateway.in_force().await.as_ref().clone(),
    };
    let halts = if body.ignore_halts {
        Halts::none()
    } else {
        state.gateway.halts().await
    };
    let call = CallRequest {
        tool: body.tool,
        arguments: body.arguments,
        agent: body.agent,
        workflow_id: body.workflow_id,
        run_id: "evaluate".to_owned(),
        node_id: body.node_id,
        attempt: body.attempt,
        task: body.task,
    };
    Ok(Json(gateway.decide(&call, &halts)))
}

/// `POST /api/gateway/halt` and `/resume` body; documented as
/// [`views::HaltRequest`] and [`views::ResumeRequest`], which say which
/// scopes need a target.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HaltBody {
    /// `global`, `agent` or `workflow`.
    pub scope: String,
    /// The agent name or workflow id; omitted for `global`.
    #[serde(default)]
    pub target: Option<String>,
    /// Why (required to halt; shown on affected runs and in the audit log).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The scope a halt or resume body names; whether it needs a target is the
/// command's check.
fn scope_of(body: &HaltBody) -> Result<HaltScope, ApiError> {
    HaltScope::parse(&body.scope).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::GatewayInvalidScope,
            format!("scope is global, agent or workflow, not '{}'", body.scope),
        )
    })
}

/// Halts every agent step globally, of one agent or in runs of one
/// workflow: each step it covers pauses before its next model turn, tool
/// call or question, on every server sharing the database, and goes on
/// where it stood once the halt is lifted. The answer says what the halt
/// covers and which global audit record it wrote.
#[utoipa::path(post, path = "/api/gateway/halt", tag = "gateway", request_body = views::HaltRequest,
    responses((status = 200, description = "Halted: the halt, what it covers, the audit record written and the halts now in force", body = HaltChange),
              (status = 422, description = "An unknown scope (gateway.invalid_scope), no target \
                (gateway.missing_target) or no reason (gateway.missing_reason)")),
    security(("bearer" = [])))]
pub async fn halt(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<HaltBody>,
) -> Result<Json<HaltChange>, ApiError> {
    halt_gateway(&state, &caller, body).await.map(Json)
}

/// Halts for `caller`: the API's `POST /api/gateway/halt` and the web UI's
/// halt form, one road with one permission check.
pub(crate) async fn halt_gateway(
    state: &AppState,
    caller: &Caller,
    body: HaltBody,
) -> Result<HaltChange, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let command = Command::Halt(Halt {
        scope: scope_of(&body)?,
        target: body.target,
        reason: body.reason,
        by: caller.subject().to_owned(),
    });
    let submitted = state.runtime.submit(command).await?;
    let halt = submitted
        .committed
        .halt()
        .ok_or_else(|| ApiError::internal("a halt wrote no halt"))?;
    let mut change = changed(state, halt, &submitted.committed).await?;
    change.halted = Some(HaltView::from(halt));
    Ok(change)
}

/// The answer to a halt or a resume: the halt, in words what it covers,
/// the global audit record written, and the halts now in force.
async fn changed(
    state: &AppState,
    halt: &HaltRow,
    committed: &Committed,
) -> Result<HaltChange, ApiError> {
    let head = committed
        .audit
        .as_ref()
        .ok_or_else(|| ApiError::internal("a halt or resume wrote no audit record"))?;
    let items = state
        .store
        .halts()
        .await?
        .iter()
        .map(HaltView::from)
        .collect();
    Ok(HaltChange {
        halted: None,
        resumed: None,
        covers: covers(halt.scope, &halt.target),
        audit: AuditRef {
            stream: "global",
            seq: head.seq,
            hash: head.hash.clone(),
        },
        items,
    })
}

/// What a halt of `scope` holds, in words.
fn covers(scope: HaltScope, target: &str) -> String {
    match scope {
        HaltScope::Global => "every agent step of every run".to_owned(),
        HaltScope::Agent => format!("every step of agent '{target}', in every run"),
        HaltScope::Workflow => format!("every agent step in runs of workflow '{target}'"),
    }
}

/// Lifts a halt: the steps it held go on where they stood, unless another
/// halt still covers them. The answer says what the lifted halt covered and
/// which global audit record it wrote.
#[utoipa::path(post, path = "/api/gateway/resume", tag = "gateway", request_body = views::ResumeRequest,
    responses((status = 200, description = "Resumed: the lifted halt, what it covered, the audit record written and the halts now in force", body = HaltChange),
              (status = 404, description = "No such halt (gateway.not_halted)"),
              (status = 422, description = "An unknown scope (gateway.invalid_scope) or no target \
                (gateway.missing_target)")),
    security(("bearer" = [])))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<HaltBody>,
) -> Result<Json<HaltChange>, ApiError> {
    resume_gateway(&state, &caller, body).await.map(Json)
}

/// Lifts a halt for `caller`: the API's `POST /api/gateway/resume` and the
/// web UI's resume button.
pub(crate) async fn resume_gateway(
    state: &AppState,
    caller: &Caller,
    body: HaltBody,
) -> Result<HaltChange, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let command = Command::Resume(Resume {
        scope: scope_of(&body)?,
        target: body.target,
        by: caller.subject().to_owned(),
    });
    let submitted = state.runtime.submit(command).await?;
    // The freed steps wait for an executor: this process's looks at once.
    state.runtime.notify();
    let lifted = submitted
        .committed
        .halt()
        .ok_or_else(|| ApiError::internal("a resume lifted no halt"))?;
    let mut change = changed(state, lifted, &submitted.committed).await?;
    change.resumed = Some(LiftedHalt {
        scope: lifted.scope,
        target: lifted.target.clone(),
    });
    Ok(change)
}

/// The halts in force, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/gateway/halts", tag = "gateway", params(PageParams),
    responses((status = 200, description = "A page of the halts in force", body = HaltList),
              (status = 400, description = "The limit is not 1 to 200 (request.invalid_query) or the cursor is not one this list gave (request.invalid_cursor)")),
    security(("bearer" = [])))]
pub async fn halts(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<Json<HaltList>, ApiError> {
    list_halts(&state, &caller, page).await.map(Json)
}

/// A page of the halts in force, for `caller`: the API's list and the web
/// UI's gateway page.
pub(crate) async fn list_halts(
    state: &AppState,
    caller: &Caller,
    page: PageParams,
) -> Result<HaltList, ApiError> {
    caller.require(Permission::Read)?;
    let page = state.store.page_halts(page.request()?).await?;
    Ok(HaltList {
        items: page.items.iter().map(HaltView::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// `POST /api/policies` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPolicy {
    /// The `.cedar` text.
    pub text: String,
    /// What changed and why.
    #[serde(default)]
    pub note: Option<String>,
}

/// Stores a draft policy set after validating it against the schema; an
/// invalid set is refused with every problem and position, and nothing is
/// stored.
#[utoipa::path(post, path = "/api/policies", tag = "policies", request_body = NewPolicy,
    responses((status = 201, description = "Draft stored", body = PolicyView),
              (status = 422, description = "The set does not validate (gateway.invalid_policy_set); \
                `errors` lists every problem with its `code`, `policyId`, `message` and the 1-based \
                `line` and `column` of the problem, or of its policy where Cedar gives no position")),
    security(("bearer" = [])))]
pub async fn create_policy(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<NewPolicy>,
) -> Result<(StatusCode, Json<PolicyView>), ApiError> {
    let view = draft_policy(&state, &caller, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Validates and stores a draft for `caller`: the API's
/// `POST /api/policies` and the web UI's draft editor.
pub(crate) async fn draft_policy(
    state: &AppState,
    caller: &Caller,
    body: NewPolicy,
) -> Result<PolicyView, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let schema = state.gateway.current().policy_schema();
    if let Err(error) = PolicySet::parse("draft", body.text.clone(), schema) {
        return Err(invalid_policies(error));
    }
    let command = Command::DraftPolicy(DraftPolicy {
        text: body.text,
        note: body.note,
        by: caller.subject().to_owned(),
    });
    let submitted = state.runtime.submit(command).await?;
    let row = submitted
        .committed
        .policy_set()
        .ok_or_else(|| ApiError::internal("a draft wrote no policy set"))?;
    Ok(PolicyView::new(row, false))
}

fn invalid_policies(error: agentwerke_gateway::Error) -> ApiError {
    match error {
        agentwerke_gateway::Error::InvalidPolicySet(issues) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::GatewayInvalidPolicySet,
            format!(
                "the policy set has {} problem(s); nothing was stored",
                issues.len()
            ),
        )
        .with_detail(json!(issues)),
        other => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::GatewayInvalidPolicySet,
            other.to_string(),
        ),
    }
}

/// The policy set calls are decided under now.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct InForce {
    /// Its version (`builtin` before any set was published).
    pub version: String,
    /// SHA-256 of its text; recorded with every decision made under it.
    pub sha256: String,
}

/// A page of policy sets and the one in force.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPage {
    /// The set in force now.
    pub in_force: InForce,
    /// Policy sets, newest first.
    pub items: Vec<PolicyView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Every stored policy set, newest first, and which one is in force.
#[utoipa::path(get, path = "/api/policies", tag = "policies", params(PageParams),
    responses((status = 200, description = "A page of policy sets, newest first, and the one in force",
               body = PolicyPage)),
    security(("bearer" = [])))]
pub async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<Json<PolicyPage>, ApiError> {
    policy_page(&state, &caller, page).await.map(Json)
}

/// A page of policy sets and the one in force, for `caller`: the API's
/// list and the web UI's policy page.
pub(crate) async fn policy_page(
    state: &AppState,
    caller: &Caller,
    page: PageParams,
) -> Result<PolicyPage, ApiError> {
    caller.require(Permission::Read)?;
    let page = state.store.page_policy_sets(page.request()?).await?;
    let current = state.gateway.in_force().await;
    let active = current.policies().version().to_owned();
    let items: Vec<PolicyView> = page
        .items
        .iter()
        .map(|r| PolicyView::new(r, r.version.to_string() == active))
        .collect();
    Ok(PolicyPage {
        in_force: InForce {
            version: active,
            sha256: current.policies().hash().to_owned(),
        },
        items,
        next_cursor: page.next_cursor,
    })
}

/// One policy set with its text.
#[utoipa::path(get, path = "/api/policies/{version}", tag = "policies",
    params(("version" = i64, Path)),
    responses((status = 200, description = "The policy set with its text", body = PolicyView),
              (status = 404, description = "No such policy set (api.not_found)")),
    security(("bearer" = [])))]
pub async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(version): AppPath<i64>,
) -> Result<Json<PolicyView>, ApiError> {
    policy_text(&state, &caller, version).await.map(Json)
}

/// One policy set with its text, for `caller`: the API's
/// `GET /api/policies/{version}` and the web UI's version page.
pub(crate) async fn policy_text(
    state: &AppState,
    caller: &Caller,
    version: i64,
) -> Result<PolicyView, ApiError> {
    caller.require(Permission::Read)?;
    let row = stored(state, version).await?;
    let active = state.gateway.in_force().await.policies().version() == row.version.to_string();
    let mut view = PolicyView::new(&row, active);
    view.text = Some(row.text);
    Ok(view)
}

/// What a policy author writes against: the Cedar schema and the shipped
/// set. Both are Cedar text, not JSON Schema: a policy set is Cedar.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CedarSchema {
    /// The Cedar schema (Cedar's human-readable schema syntax) every policy
    /// set is validated against; its actions are the registered tools.
    pub schema: String,
    /// The policy set in force before any set is published, as `.cedar`
    /// text: a starting point for a draft.
    pub default_policies: String,
}

/// The Cedar schema policies are validated against, and the default set.
#[utoipa::path(get, path = "/api/policies/schema", tag = "policies",
    responses((status = 200, description = "The Cedar schema and the default policy set, as Cedar text", body = CedarSchema)),
    security(("bearer" = [])))]
pub async fn policy_schema(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<CedarSchema>, ApiError> {
    caller.require(Permission::Read)?;
    let schema = state.gateway.current().policy_schema();
    Ok(Json(CedarSchema {
        schema: schema.text().to_owned(),
        default_policies: agentwerke_gateway::policy::DEFAULT_POLICIES.to_owned(),
    }))
}

/// `POST /api/policies/{version}/simulate` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Simulate {
    /// How many of the most recent runs to replay (default 50, at most 1000).
    #[serde(default)]
    pub runs: Option<u32>,
}

/// Replays the recorded tool calls of the last N runs against a policy set
/// and reports every decision that would change, and every recorded call
/// that can no longer be replayed (`unreplayable`). A run whose evidence
/// records no longer read fails the simulation (`store.corrupt`) rather
/// than being left out of it.
#[utoipa::path(post, path = "/api/policies/{version}/simulate", tag = "policies",
    params(("version" = i64, Path)), request_body = Simulate,
    responses((status = 200, description = "Changed decisions and unreplayable calls", body = Simulation),
              (status = 404, description = "No such policy set (api.not_found)"),
              (status = 422, description = "The stored policy set no longer validates (gateway.invalid_policy_set)")),
    security(("bearer" = [])))]
pub async fn simulate(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(version): AppPath<i64>,
    body: Option<AppJson<Simulate>>,
) -> Result<Json<Simulation>, ApiError> {
    let body = body.map(|AppJson(b)| b).unwrap_or_default();
    simulate_policy(&state, &caller, version, body)
        .await
        .map(Json)
}

/// Replays recent calls under policy set `version` for `caller`: the API's
/// simulation and the web UI's simulation table.
pub(crate) async fn simulate_policy(
    state: &AppState,
    caller: &Caller,
    version: i64,
    body: Simulate,
) -> Result<Simulation, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let row = stored(state, version).await?;
    let gateway = gateway_for(state, &row)?;
    let limit = body.runs.unwrap_or(50).clamp(1, 1000);
    let runs = state
        .store
        .list_runs(agentwerke_store::RunFilter {
            limit,
            ..agentwerke_store::RunFilter::default()
        })
        .await?;
    let mut replay = Replay::default();
    for run in &runs.items {
        let records = state.store.records(&run.id).await?;
        replay.run(&gateway, &run.id, &records);
    }
    Ok(Simulation {
        policy_set_version: row.version,
        policy_set_hash: row.sha256,
        runs_examined: runs.items.len(),
        calls_replayed: replay.replayed,
        decisions: replay.by_kind,
        changed: replay.changed,
        unreplayable: replay.unreplayable,
    })
}

/// Publishes a draft: from now on every call is decided under it.
#[utoipa::path(post, path = "/api/policies/{version}/publish", tag = "policies",
    params(("version" = i64, Path)),
    responses((status = 200, description = "Published and in force", body = PolicyView),
              (status = 404, description = "No such policy set (api.not_found)"),
              (status = 409, description = "Already published (api.conflict)"),
              (status = 422, description = "The stored policy set no longer validates (gateway.invalid_policy_set)")),
    security(("bearer" = [])))]
pub async fn publish_policy(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(version): AppPath<i64>,
) -> Result<Json<PolicyView>, ApiError> {
    publish_policy_set(&state, &caller, version).await.map(Json)
}

/// Publishes draft `version` for `caller`: the API's publish and the web
/// UI's publish button.
pub(crate) async fn publish_policy_set(
    state: &AppState,
    caller: &Caller,
    version: i64,
) -> Result<PolicyView, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let draft = stored(state, version).await?;
    let policies = parse_stored(state, &draft)?;
    let command = Command::PublishPolicy(PublishPolicy {
        version,
        by: caller.subject().to_owned(),
    });
    let submitted = state.runtime.submit(command).await?;
    let row = submitted
        .committed
        .policy_set()
        .ok_or_else(|| ApiError::internal("a publication wrote no policy set"))?;
    state
        .gateway
        .install(policies)
        .map_err(ApiError::internal)?;
    Ok(PolicyView::new(row, true))
}

async fn stored(state: &AppState, version: i64) -> Result<PolicySetRow, ApiError> {
    state
        .store
        .get_policy_set(version)
        .await?
        .ok_or_else(|| ApiError::not_found("policy set", &version.to_string()))
}

fn parse_stored(state: &AppState, row: &PolicySetRow) -> Result<PolicySet, ApiError> {
    let schema = state.gateway.current().policy_schema();
    PolicySet::parse(row.version.to_string(), row.text.clone(), schema).map_err(invalid_policies)
}

fn gateway_for(state: &AppState, row: &PolicySetRow) -> Result<Gateway, ApiError> {
    let policies = parse_stored(state, row)?;
    state
        .gateway
        .current()
        .with_policies(policies)
        .map_err(ApiError::internal)
}
