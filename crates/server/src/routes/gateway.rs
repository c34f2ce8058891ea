//! The Tool Gateway's administration: hypothetical decisions, the kill
//! switch, and the policy-set lifecycle (draft, validate, simulate, publish).

use agentwerke_types::{Actor, AuditKind};
use std::collections::BTreeMap;

use agentwerke_auth::Permission;
use agentwerke_evidence::canonical::sha256_hex;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_gateway::{CallRequest, Decision, Gateway, Halts, PolicySet, TaskSurface};
use agentwerke_store::GLOBAL_STREAM;
use agentwerke_store::gateway::{HaltRow, HaltScope, NewPolicySet, PolicySetRow};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{AppJson, Caller};
use crate::routes::runs::internal;
use crate::routes::ts;
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
    #[schema(value_type = Object)]
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

/// Decides a hypothetical call and returns the whole decision; nothing runs
/// and nothing is recorded.
#[utoipa::path(post, path = "/api/gateway/evaluate", tag = "gateway", request_body = Evaluate,
    responses((status = 200, description = "The full decision")), security(("bearer" = [])))]
pub async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<Evaluate>,
) -> Result<Json<Decision>, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let gateway = match body.policy_version {
        Some(version) => gateway_for(&state, &stored(&state, version).await?)?,
        None => state.gateway.current().as_ref().clone(),
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

/// `POST /api/gateway/halt` and `/resume` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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

fn scope_of(body: &HaltBody) -> Result<(HaltScope, String), ApiError> {
    let scope = HaltScope::parse(&body.scope).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "gateway.invalid_scope",
            format!("scope is global, agent or workflow, not '{}'", body.scope),
        )
    })?;
    let target = body.target.clone().unwrap_or_default();
    match (scope, target.trim().is_empty()) {
        (HaltScope::Global, _) => Ok((scope, String::new())),
        (_, true) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "gateway.missing_target",
            format!("a {} halt names its target", scope.as_str()),
        )),
        (_, false) => Ok((scope, target)),
    }
}

/// Halts the gateway globally, for one agent or for one workflow: every
/// call it covers is rejected with reason `halted` until resumed.
#[utoipa::path(post, path = "/api/gateway/halt", tag = "gateway", request_body = HaltBody,
    responses((status = 200, description = "Halted")), security(("bearer" = [])))]
pub async fn halt(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<HaltBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let (scope, target) = scope_of(&body)?;
    let reason = body
        .reason
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "gateway.missing_reason",
                "say why the gateway is halted; operators and auditors see it",
            )
        })?;
    let now = state.clock.now();
    let row = HaltRow {
        scope,
        target: target.clone(),
        reason: reason.clone(),
        halted_by: caller.subject().to_owned(),
        halted_at: now,
    };
    let audit = global_audit(
        &state,
        &caller,
        AuditKind::GatewayHalted,
        json!({"scope": scope, "target": target, "reason": reason}),
    );
    state.store.set_halt(row, audit).await?;
    halts_view(&state).await
}

/// Lifts a halt.
#[utoipa::path(post, path = "/api/gateway/resume", tag = "gateway", request_body = HaltBody,
    responses((status = 200, description = "Resumed"), (status = 404, description = "No such halt")),
    security(("bearer" = [])))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<HaltBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let (scope, target) = scope_of(&body)?;
    let audit = global_audit(
        &state,
        &caller,
        AuditKind::GatewayResumed,
        json!({"scope": scope, "target": target}),
    );
    if !state.store.clear_halt(scope, &target, audit).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "gateway.not_halted",
            format!(
                "there is no {} halt{}",
                scope.as_str(),
                if target.is_empty() {
                    String::new()
                } else {
                    format!(" for '{target}'")
                }
            ),
        ));
    }
    halts_view(&state).await
}

/// The halts in force.
#[utoipa::path(get, path = "/api/gateway/halts", tag = "gateway",
    responses((status = 200, description = "Active halts")), security(("bearer" = [])))]
pub async fn halts(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    halts_view(&state).await
}

async fn halts_view(state: &AppState) -> Result<Json<Value>, ApiError> {
    let rows = state.store.halts().await?;
    let items: Vec<Value> = rows.iter().map(halt_view).collect();
    Ok(Json(json!({"items": items})))
}

pub(crate) fn halt_view(row: &HaltRow) -> Value {
    json!({
        "scope": row.scope, "target": row.target, "reason": row.reason,
        "haltedBy": row.halted_by, "haltedAt": ts(row.halted_at),
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
    responses((status = 201, description = "Draft stored"), (status = 422, description = "Invalid policies")),
    security(("bearer" = [])))]
pub async fn create_policy(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<NewPolicy>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let schema = state.gateway.current().policy_schema();
    if let Err(error) = PolicySet::parse("draft", body.text.clone(), schema) {
        return Err(invalid_policies(error));
    }
    let sha256 = sha256_hex(body.text.as_bytes());
    let now = state.clock.now();
    let row = state
        .store
        .create_policy_set(NewPolicySet {
            text: body.text,
            sha256: sha256.clone(),
            note: body.note,
            created_by: caller.subject().to_owned(),
            at: now,
            audit: global_audit(
                &state,
                &caller,
                AuditKind::PolicyDrafted,
                json!({"sha256": sha256}),
            ),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(policy_view(&row, false))))
}

fn invalid_policies(error: agentwerke_gateway::Error) -> ApiError {
    match error {
        agentwerke_gateway::Error::InvalidPolicySet(issues) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "gateway.invalid_policy_set",
            format!(
                "the policy set has {} problem(s); nothing was stored",
                issues.len()
            ),
        )
        .with_detail(json!(issues)),
        other => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "gateway.invalid_policy_set",
            other.to_string(),
        ),
    }
}

/// Every stored policy set, newest first, and which one is in force.
#[utoipa::path(get, path = "/api/policies", tag = "policies",
    responses((status = 200, description = "Policy sets")), security(("bearer" = [])))]
pub async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let rows = state.store.list_policy_sets().await?;
    let current = state.gateway.current();
    let active = current.policies().version().to_owned();
    let items: Vec<Value> = rows
        .iter()
        .map(|r| policy_view(r, r.version.to_string() == active))
        .collect();
    Ok(Json(json!({
        "inForce": {"version": active, "sha256": current.policies().hash()},
        "items": items,
    })))
}

/// One policy set with its text.
#[utoipa::path(get, path = "/api/policies/{version}", tag = "policies",
    params(("version" = i64, Path)),
    responses((status = 200, description = "The policy set")), security(("bearer" = [])))]
pub async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(version): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let row = stored(&state, version).await?;
    let active = state.gateway.current().policies().version() == row.version.to_string();
    let mut view = policy_view(&row, active);
    view["text"] = json!(row.text);
    Ok(Json(view))
}

/// The Cedar schema policies are validated against, and the default set.
#[utoipa::path(get, path = "/api/policies/schema", tag = "policies",
    responses((status = 200, description = "Cedar schema and the default policy set")),
    security(("bearer" = [])))]
pub async fn policy_schema(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let schema = state.gateway.current().policy_schema();
    Ok(Json(json!({
        "schema": schema.text(),
        "defaultPolicies": agentwerke_gateway::policy::DEFAULT_POLICIES,
    })))
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
/// and reports every decision that would change.
#[utoipa::path(post, path = "/api/policies/{version}/simulate", tag = "policies",
    params(("version" = i64, Path)), request_body = Simulate,
    responses((status = 200, description = "Changed decisions")), security(("bearer" = [])))]
pub async fn simulate(
    State(state): State<AppState>,
    caller: Caller,
    Path(version): Path<i64>,
    body: Option<AppJson<Simulate>>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let row = stored(&state, version).await?;
    let gateway = gateway_for(&state, &row)?;
    let limit = body
        .and_then(|AppJson(b)| b.runs)
        .unwrap_or(50)
        .clamp(1, 1000);
    let runs = state
        .store
        .list_runs(agentwerke_store::RunFilter {
            limit,
            ..agentwerke_store::RunFilter::default()
        })
        .await?;
    let mut replayed = 0usize;
    let mut changes = Vec::new();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for run in &runs.items {
        for record in state.store.records(&run.id).await? {
            if record.kind != agentwerke_runtime::evidence::kinds::GATEWAY_CALL {
                continue;
            }
            let Ok(call) = serde_json::from_value::<CallRequest>(record.data["request"].clone())
            else {
                continue;
            };
            replayed += 1;
            let before = record.data["decision"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let after = gateway.decide(&call, &Halts::none());
            let after_kind = after.kind.as_str().to_owned();
            *by_kind.entry(after_kind.clone()).or_default() += 1;
            if before != after_kind {
                changes.push(json!({
                    "runId": run.id, "workId": record.data["workId"], "at": record.data["at"],
                    "tool": call.tool, "agent": call.agent, "nodeId": call.node_id,
                    "before": before, "after": after_kind,
                    "beforePolicySetVersion": record.data["policySetVersion"],
                    "determiningPolicies": after.determining_policies,
                    "reason": after.reason, "rationale": after.rationale,
                }));
            }
        }
    }
    Ok(Json(json!({
        "policySetVersion": row.version, "policySetHash": row.sha256,
        "runsExamined": runs.items.len(), "callsReplayed": replayed,
        "decisions": by_kind, "changed": changes,
    })))
}

/// Publishes a draft: from now on every call is decided under it.
#[utoipa::path(post, path = "/api/policies/{version}/publish", tag = "policies",
    params(("version" = i64, Path)),
    responses((status = 200, description = "Published and in force"), (status = 409, description = "Already published")),
    security(("bearer" = [])))]
pub async fn publish_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(version): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::ManagePolicies)?;
    let draft = stored(&state, version).await?;
    let policies = parse_stored(&state, &draft)?;
    let now = state.clock.now();
    let row = state
        .store
        .publish_policy_set(
            version,
            caller.subject(),
            now,
            global_audit(
                &state,
                &caller,
                AuditKind::PolicyPublished,
                json!({"version": version, "sha256": draft.sha256}),
            ),
        )
        .await?;
    state.gateway.install(policies).map_err(internal)?;
    Ok(Json(policy_view(&row, true)))
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
        .map_err(internal)
}

fn policy_view(row: &PolicySetRow, in_force: bool) -> Value {
    json!({
        "version": row.version, "sha256": row.sha256, "status": row.status,
        "note": row.note, "inForce": in_force,
        "createdBy": row.created_by, "createdAt": ts(row.created_at),
        "publishedBy": row.published_by, "publishedAt": row.published_at.map(ts),
    })
}

fn global_audit(state: &AppState, caller: &Caller, kind: AuditKind, data: Value) -> AuditDraft {
    AuditDraft {
        run_id: GLOBAL_STREAM.to_owned(),
        at: ts(state.clock.now()),
        actor: Actor::user(caller.subject()),
        kind,
        data,
    }
}
