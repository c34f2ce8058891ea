//! Schemas of what the API reads and answers that no derive can produce:
//! types of crates without OpenAPI derives (the gateway's task surface), and
//! bodies whose rules depend on one field (a halt's target).
//!
//! Each is written as JSON Schema with its enum values taken from the Rust
//! types themselves, so a new permission level or sandbox profile shows up in
//! the document without anyone editing it.

use agentwerke_gateway::{PermissionLevel, SandboxProfile, ToolEscalation};
use agentwerke_store::gateway::{HaltRow, HaltScope, PolicySetRow};
use agentwerke_store::{QuestionRow, RunRow};
use agentwerke_types::{
    ApprovalStatus, NodeState, QuestionStatus, RiskLevel, RunStatus, ToolCallStatus, WorkflowStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::routes::ts;

/// A page of a list, as every list answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// The items of this page, in list order.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(pattern = "^c1[0-9a-f]{16}([0-9a-f]{2}){0,256}$")]
    pub next_cursor: Option<String>,
}

/// A question an agent asked a human, as the API shows it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuestionView {
    /// Its id.
    pub id: String,
    /// The run.
    pub run_id: String,
    /// The agent attempt that waits for the answer.
    pub work_id: String,
    /// Its BPMN node.
    pub node_id: String,
    /// The agent that asked.
    pub agent: String,
    /// The question, redacted.
    pub question: String,
    /// `open`, `answered` or `cancelled`.
    #[schema(value_type = QuestionStatusName)]
    pub status: QuestionStatus,
    /// When it was asked (RFC 3339).
    pub asked_at: String,
    /// The answer, once given (redacted).
    pub answer: Option<String>,
    /// Who answered.
    pub answered_by: Option<String>,
    /// When (RFC 3339).
    pub answered_at: Option<String>,
}

impl From<&QuestionRow> for QuestionView {
    fn from(q: &QuestionRow) -> Self {
        Self {
            id: q.id.to_string(),
            run_id: q.run_id.to_string(),
            work_id: q.work_id.to_string(),
            node_id: q.node_id.clone(),
            agent: q.agent.clone(),
            question: q.question.clone(),
            status: q.status,
            asked_at: ts(q.asked_at),
            answer: q.answer.clone(),
            answered_by: q.answered_by.clone(),
            answered_at: q.answered_at.map(ts),
        }
    }
}

/// A page of questions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuestionPage {
    /// The questions, oldest first.
    pub items: Vec<QuestionView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(pattern = "^c1[0-9a-f]{16}([0-9a-f]{2}){0,256}$")]
    pub next_cursor: Option<String>,
}

/// A stored Cedar policy set, as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    /// Its version.
    pub version: i64,
    /// SHA-256 of its text; recorded with every decision made under it.
    pub sha256: String,
    /// `draft` or `published`.
    #[schema(value_type = String)]
    pub status: WorkflowStatus,
    /// What changed and why.
    pub note: Option<String>,
    /// Whether calls are decided under it now.
    pub in_force: bool,
    /// Who stored it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Who published it.
    pub published_by: Option<String>,
    /// When (RFC 3339).
    pub published_at: Option<String>,
    /// The `.cedar` text (only when one set is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl PolicyView {
    /// The view of `row`; `in_force` says whether it is the set in force.
    pub(crate) fn new(row: &PolicySetRow, in_force: bool) -> Self {
        Self {
            version: row.version,
            sha256: row.sha256.clone(),
            status: row.status,
            note: row.note.clone(),
            in_force,
            created_by: row.created_by.clone(),
            created_at: ts(row.created_at),
            published_by: row.published_by.clone(),
            published_at: row.published_at.map(ts),
            text: None,
        }
    }
}

/// A run as lists show it (the full view adds steps, approvals and the
/// conversation).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Its id.
    pub id: String,
    /// The same id, under the name `POST /api/runs` answers with.
    pub run_id: String,
    /// The workflow.
    pub workflow_id: String,
    /// The published version it runs.
    pub workflow_version: i64,
    /// Its status.
    #[schema(value_type = RunStatusName)]
    pub status: RunStatus,
    /// The highest risk level of its tool calls so far: `low`, `medium`, `high` or `critical`.
    #[schema(value_type = Option<String>)]
    pub risk_level: Option<RiskLevel>,
    /// Who started it.
    pub requested_by: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    pub completed_at: Option<String>,
}

impl From<&RunRow> for RunSummary {
    fn from(run: &RunRow) -> Self {
        Self {
            id: run.id.to_string(),
            run_id: run.id.to_string(),
            workflow_id: run.workflow_id.clone(),
            workflow_version: run.workflow_version,
            status: run.status,
            risk_level: run.risk_level,
            requested_by: run.requested_by.clone(),
            started_at: ts(run.created_at),
            completed_at: run.completed_at.map(ts),
        }
    }
}

/// A page of runs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunPage {
    /// The runs, newest first.
    pub items: Vec<RunSummary>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(pattern = "^c1[0-9a-f]{16}([0-9a-f]{2}){0,256}$")]
    pub next_cursor: Option<String>,
}

/// A kill-switch halt in force.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HaltView {
    /// `global`, `agent` or `workflow`.
    #[schema(value_type = String)]
    pub scope: HaltScope,
    /// The agent or workflow; empty for a global halt.
    pub target: String,
    /// Why, as the operator said.
    pub reason: String,
    /// Who halted.
    pub halted_by: String,
    /// When (RFC 3339).
    pub halted_at: String,
}

impl From<&HaltRow> for HaltView {
    fn from(row: &HaltRow) -> Self {
        Self {
            scope: row.scope,
            target: row.target.clone(),
            reason: row.reason.clone(),
            halted_by: row.halted_by.clone(),
            halted_at: ts(row.halted_at),
        }
    }
}

/// The halts in force.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HaltList {
    /// Halts in force, oldest first.
    pub items: Vec<HaltView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A halt that was lifted: its scope and target.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiftedHalt {
    /// `global`, `agent` or `workflow`.
    #[schema(value_type = String)]
    pub scope: HaltScope,
    /// The agent or workflow; empty for a global halt.
    pub target: String,
}

/// The global audit record a change wrote.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRef {
    /// Always `global`: halts are recorded in the global audit stream.
    pub stream: &'static str,
    /// The record's sequence number in that stream.
    pub seq: u64,
    /// The record's hash.
    pub hash: String,
}

/// The answer to a halt or a resume: what changed, in words what it covers,
/// the audit record written, and the halts in force after it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HaltChange {
    /// The halt set, on a halt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<HaltView>,
    /// The halt lifted, on a resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<LiftedHalt>,
    /// What the halt holds (or held), in words.
    pub covers: String,
    /// The global audit record written.
    pub audit: AuditRef,
    /// Every halt in force now.
    pub items: Vec<HaltView>,
}

/// The serde names of `values`, for a schema's `enum`.
fn names<T: Serialize>(values: &[T]) -> Value {
    values
        .iter()
        .map(|v| serde_json::to_value(v).expect("enum names serialise"))
        .collect()
}

/// A string with something other than whitespace in it.
fn non_blank() -> Value {
    json!({"type": "string", "minLength": 1, "pattern": "\\S"})
}

/// The hand-written component schemas, by name.
pub(crate) fn hand_written_schemas() -> Vec<(String, Value)> {
    let mut schemas: Vec<(String, Value)> = vec![
        ("TaskSurface".into(), task_surface()),
        ("HaltRequest".into(), halt(true)),
        ("ResumeRequest".into(), halt(false)),
        (
            "RunStatusName".into(),
            json!({"enum": names(&RunStatus::ALL)}),
        ),
        (
            "ApprovalStatusName".into(),
            json!({"enum": ApprovalStatus::NAMES}),
        ),
        (
            "QuestionStatusName".into(),
            json!({"enum": QuestionStatus::NAMES}),
        ),
        (
            "ToolCallStatusName".into(),
            json!({"enum": ToolCallStatus::NAMES}),
        ),
        ("NodeStateName".into(), json!({"enum": NodeState::NAMES})),
    ];
    schemas.extend(evidence_pack());
    schemas.push(("EvidencePackJsonSchema".into(), evidence_pack_json_schema()));
    schemas.push((
        "RunEventStream".into(),
        json!({
            "type": "string",
            "description": "A text/event-stream of server-sent events: `audit` events whose \
                `data` is a JSON array of the run's new audit records (each an `AuditRecord`); \
                `text` events while an agent step runs, whose `data` is \
                `{\"workId\", \"nodeId\", \"text\"}`: the next piece of the model's answer as \
                it arrives, redacted (the newest characters are held back until it is clear \
                they do not begin a secret), kept in memory only (the step's final text is \
                in the run and its audit as before); a watcher who joins during a step gets that \
                step's text from its beginning, earlier steps' text is not replayed; \
                then one `end` event with `data: {}` once the run has ended.",
        }),
    ));
    schemas
}

/// What `GET /api/evidence/schema` serves: not a pack but the JSON Schema
/// document packs validate against. Described as the JSON Schema it is,
/// with its dialect and `$id` taken from the served file, so the
/// description cannot drift from the document.
fn evidence_pack_json_schema() -> Value {
    let served: Value =
        serde_json::from_str(agentwerke_evidence::PACK_SCHEMA).expect("the pack schema is JSON");
    json!({
        "type": "object",
        "description": "A JSON Schema (draft 2020-12) document: the schema of \
            agentwerke.evidence-pack.v1, the one `agentwerke evidence verify` checks packs \
            against offline. Its definitions are under `$defs`; the API describes the same \
            pack as the `EvidencePack` component.",
        "required": ["$schema", "$id", "type", "properties", "$defs"],
        "properties": {
            "$schema": {"const": served["$schema"]},
            "$id": {"const": served["$id"]},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "type": {"const": "object"},
            "additionalProperties": {"type": "boolean"},
            "required": {"type": "array", "items": {"type": "string"}},
            "properties": {"type": "object", "description": "The pack's top-level fields, each a JSON Schema."},
            "$defs": {"type": "object", "description": "The schemas the fields refer to, by name."},
        },
    })
}

/// The evidence pack's own JSON Schema (the one `GET /api/evidence/schema`
/// serves), as components: the pack is `EvidencePack`, each of its `$defs`
/// is `EvidencePack.<name>`. Taken from the schema file itself, so the API
/// description and the offline schema cannot disagree.
fn evidence_pack() -> Vec<(String, Value)> {
    fn relink(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get_mut("$ref")
                    && let Some(name) = target.strip_prefix("#/$defs/")
                {
                    *target = format!("#/components/schemas/EvidencePack.{name}");
                }
                map.values_mut().for_each(relink);
            }
            Value::Array(items) => items.iter_mut().for_each(relink),
            _ => {}
        }
    }
    let mut pack: Value =
        serde_json::from_str(agentwerke_evidence::PACK_SCHEMA).expect("the pack schema is JSON");
    relink(&mut pack);
    let mut schemas = Vec::new();
    if let Some(map) = pack.as_object_mut() {
        map.remove("$schema");
        map.remove("$id");
        if let Some(Value::Object(defs)) = map.remove("$defs") {
            for (name, def) in defs {
                schemas.push((format!("EvidencePack.{name}"), def));
            }
        }
    }
    schemas.push(("EvidencePack".into(), pack));
    schemas
}

fn task_surface() -> Value {
    json!({
        "type": "object",
        "description": "The granted surface of a BPMN agent task: its agentTask attributes that bear on tool calls.",
        "required": ["purposeType"],
        "properties": {
            "purposeType": {"type": "string", "description": "e.g. analysis or deployment"},
            "policyTag": {"type": ["string", "null"]},
            "environment": {"type": ["string", "null"], "description": "e.g. staging or production"},
            "permissionLevel": {"enum": names(&PermissionLevel::ALL)},
            "allowedTools": {"type": "array", "items": {"type": "string"}},
            "deniedTools": {"type": "array", "items": {"type": "string"}},
            "sandboxProfile": {"enum": names(&SandboxProfile::ALL)},
            "toolEscalation": {"enum": names(&[ToolEscalation::Reject, ToolEscalation::Escalate])},
        },
    })
}

/// A halt or resume body: `global` needs no target, `agent` and `workflow`
/// name one; halting says why.
fn halt(needs_reason: bool) -> Value {
    let reason = if needs_reason {
        non_blank()
    } else {
        json!({"type": ["string", "null"]})
    };
    let variant = |scopes: &[&str], target: Value, required: &[&str]| {
        let mut required: Vec<&str> = required.to_vec();
        if needs_reason {
            required.push("reason");
        }
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": {"scope": {"enum": scopes}, "target": target, "reason": reason},
        })
    };
    json!({
        "oneOf": [
            variant(&["global"], json!({"type": ["string", "null"], "description": "ignored"}), &["scope"]),
            variant(&["agent", "workflow"], non_blank(), &["scope", "target"]),
        ],
    })
}

/// Marks a type whose schema is a hand-written component, so annotations can
/// name it like a derived one.
macro_rules! hand_written {
    ($($ty:ident),*) => {$(
        #[doc = concat!("The `", stringify!($ty), "` component (hand-written; see the module doc).")]
        pub struct $ty;

        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                RefOr::Ref(utoipa::openapi::Ref::from_schema_name(stringify!($ty)))
            }
        }

        impl utoipa::ToSchema for $ty {}
    )*};
}

hand_written!(
    EvidencePack,
    EvidencePackJsonSchema,
    RunEventStream,
    TaskSurface,
    HaltRequest,
    ResumeRequest,
    RunStatusName,
    ApprovalStatusName,
    QuestionStatusName,
    ToolCallStatusName,
    NodeStateName
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The cursor shape the document promises is the one the store decodes.
    #[test]
    fn the_documented_cursor_pattern_is_the_stores() {
        let doc = crate::openapi::document();
        let params = doc["paths"]["/api/approvals"]["get"]["parameters"]
            .as_array()
            .expect("parameters");
        let cursor = params
            .iter()
            .find(|p| p["name"] == "cursor")
            .expect("cursor");
        assert_eq!(
            cursor["schema"]["pattern"],
            agentwerke_store::CURSOR_PATTERN
        );
        assert_eq!(
            doc["components"]["schemas"]["Page"]["properties"]["nextCursor"]["pattern"],
            agentwerke_store::CURSOR_PATTERN
        );
    }

    /// Every enum value the document offers is one the server reads.
    #[test]
    fn the_task_surface_schema_offers_only_values_the_gateway_reads() {
        let schema = task_surface();
        for (field, ok) in [
            (
                "permissionLevel",
                &(|v: &Value| serde_json::from_value::<PermissionLevel>(v.clone()).is_ok())
                    as &dyn Fn(&Value) -> bool,
            ),
            ("sandboxProfile", &|v: &Value| {
                serde_json::from_value::<SandboxProfile>(v.clone()).is_ok()
            }),
            ("toolEscalation", &|v: &Value| {
                serde_json::from_value::<ToolEscalation>(v.clone()).is_ok()
            }),
        ] {
            let values = schema["properties"][field]["enum"]
                .as_array()
                .expect("enum");
            assert!(!values.is_empty(), "{field}");
            assert!(values.iter().all(ok), "{field}: {values:?}");
        }
    }
}
