//! A workflow author imports a BPMN document as the workflow's next draft
//! version (the workflow is created on its first import). The document is
//! checked (executable, every tool known) before the command is made; the
//! planner numbers the version and hashes the document. Importing the
//! document of the newest version again while it is still a draft changes
//! nothing.

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{
    GLOBAL_STREAM, JsonText, NewWorkflowVersion, Row, WorkflowVersion, Written,
};
use agentwerke_types::{Actor, AuditKind, WorkflowStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Ctx, Error, GlobalPlan};
use crate::clock::rfc3339;

/// Import a document as a draft version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportWorkflow {
    /// The workflow.
    pub workflow_id: String,
    /// Its display name from now on.
    pub name: String,
    /// The document exactly as given.
    pub bpmn_xml: String,
    /// The checker's findings, kept for display.
    pub diagnostics: Value,
    /// Who imports it: a token subject, or `system` for what the product
    /// stores itself (the samples).
    pub by: String,
}

/// What importing reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The workflow's newest version, if it has one.
    pub newest: Option<WorkflowVersion>,
}

/// Plans an import: the newest version itself when it is a draft of the
/// same document; otherwise the next version with the document's SHA-256
/// (the *BPMN hash* runs and evidence cite) and the
/// `workflow.version_imported` record.
pub fn plan(
    snapshot: &Snapshot,
    command: ImportWorkflow,
    ctx: &Ctx<'_>,
) -> Result<GlobalPlan, Error> {
    let sha256 = hex::encode(Sha256::digest(command.bpmn_xml.as_bytes()));
    if let Some(newest) = &snapshot.newest
        && newest.status == WorkflowStatus::Draft
        && newest.bpmn_sha256 == sha256
    {
        return Ok(GlobalPlan::Unchanged(Box::new(Written::WorkflowVersion(
            newest.clone(),
        ))));
    }
    let version = snapshot.newest.as_ref().map_or(1, |v| v.version + 1);
    Ok(GlobalPlan::Write {
        audit: vec![record(
            &command.by,
            ctx,
            AuditKind::WorkflowVersionImported,
            &command.workflow_id,
            version,
            &sha256,
        )],
        rows: vec![Row::ImportWorkflowVersion {
            version,
            workflow: NewWorkflowVersion {
                workflow_id: command.workflow_id,
                name: command.name,
                bpmn_xml: command.bpmn_xml,
                bpmn_sha256: sha256,
                diagnostics: JsonText::from(&command.diagnostics),
                created_by: command.by,
            },
        }],
    })
}

/// A workflow version's global record. `by` is the importer's or
/// publisher's token subject, or `system` for what the product stores
/// itself.
pub(super) fn record(
    by: &str,
    ctx: &Ctx<'_>,
    kind: AuditKind,
    workflow_id: &str,
    version: i64,
    sha256: &str,
) -> AuditDraft {
    AuditDraft {
        run_id: GLOBAL_STREAM.to_owned(),
        at: rfc3339(ctx.at),
        actor: match by {
            "system" => Actor::System,
            subject => Actor::user(subject),
        },
        kind,
        data: json!({"workflowId": workflow_id, "version": version, "bpmnSha256": sha256}),
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_types::Timestamp;

    use super::*;

    const XML: &str = "<definitions/>";

    fn import(by: &str) -> ImportWorkflow {
        ImportWorkflow {
            workflow_id: "wf".to_owned(),
            name: "Workflow".to_owned(),
            bpmn_xml: XML.to_owned(),
            diagnostics: json!([{"code": "bpmn.unused"}]),
            by: by.to_owned(),
        }
    }

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(0),
            redactor: crate::command::no_secrets(),
        }
    }

    fn stored(version: i64, status: WorkflowStatus, xml: &str) -> WorkflowVersion {
        WorkflowVersion {
            workflow_id: "wf".to_owned(),
            version,
            name: "Workflow".to_owned(),
            status,
            bpmn_xml: xml.to_owned(),
            bpmn_sha256: hex::encode(Sha256::digest(xml.as_bytes())),
            diagnostics: json!([]),
            created_by: "ada".to_owned(),
            created_at: Timestamp::from_millis(0),
            published_by: None,
            published_at: None,
        }
    }

    #[test]
    fn a_first_import_is_version_one_with_its_hash_and_record() {
        let plan = plan(&Snapshot::default(), import("ada"), &ctx()).unwrap();
        let sha256 = hex::encode(Sha256::digest(XML.as_bytes()));
        assert_eq!(
            plan,
            GlobalPlan::Write {
                rows: vec![Row::ImportWorkflowVersion {
                    version: 1,
                    workflow: NewWorkflowVersion {
                        workflow_id: "wf".to_owned(),
                        name: "Workflow".to_owned(),
                        bpmn_xml: XML.to_owned(),
                        bpmn_sha256: sha256.clone(),
                        diagnostics: JsonText::from(&json!([{"code": "bpmn.unused"}])),
                        created_by: "ada".to_owned(),
                    },
                }],
                audit: vec![AuditDraft {
                    run_id: GLOBAL_STREAM.to_owned(),
                    at: rfc3339(ctx().at),
                    actor: Actor::user("ada"),
                    kind: AuditKind::WorkflowVersionImported,
                    data: json!({"workflowId": "wf", "version": 1, "bpmnSha256": sha256}),
                }],
            }
        );
    }

    #[test]
    fn the_same_document_onto_its_own_draft_changes_nothing() {
        let draft = stored(2, WorkflowStatus::Draft, XML);
        let snapshot = Snapshot {
            newest: Some(draft.clone()),
        };
        assert_eq!(
            plan(&snapshot, import("ada"), &ctx()).unwrap(),
            GlobalPlan::Unchanged(Box::new(Written::WorkflowVersion(draft)))
        );
    }

    #[test]
    fn a_new_document_or_a_published_newest_makes_the_next_draft() {
        for newest in [
            stored(2, WorkflowStatus::Draft, "<definitions id=\"old\"/>"),
            stored(2, WorkflowStatus::Published, XML),
        ] {
            let snapshot = Snapshot {
                newest: Some(newest),
            };
            let GlobalPlan::Write { rows, audit } = plan(&snapshot, import("ada"), &ctx()).unwrap()
            else {
                panic!("a new draft is written");
            };
            assert!(matches!(
                rows[0],
                Row::ImportWorkflowVersion { version: 3, .. }
            ));
            assert_eq!(audit[0].data["version"], 3);
        }
    }

    #[test]
    fn what_the_product_stores_itself_is_the_system_s() {
        let GlobalPlan::Write { audit, .. } =
            plan(&Snapshot::default(), import("system"), &ctx()).unwrap()
        else {
            panic!("a draft is written");
        };
        assert_eq!(audit[0].actor, Actor::System);
    }
}
