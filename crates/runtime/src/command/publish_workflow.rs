//! A workflow author publishes a draft version: runs start on the newest
//! published one, and a published version never changes again. The
//! document is checked again (against the tools the server has now) before
//! the command is made. Publishing a published version changes nothing.

use agentwerke_store::{Row, WorkflowVersion, Written};
use agentwerke_types::{AuditKind, WorkflowStatus};
use serde::{Deserialize, Serialize};

use super::import_workflow::record;
use super::{Ctx, Error, GlobalPlan};

/// Publish a workflow version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishWorkflow {
    /// The workflow.
    pub workflow_id: String,
    /// The version.
    pub version: i64,
    /// Who publishes it: a token subject, or `system`.
    pub by: String,
}

/// What publishing reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The version as stored, if it exists.
    pub version: Option<WorkflowVersion>,
}

/// Plans a publication: the version exists; when it is published already,
/// nothing changes; otherwise the row and the `workflow.version_published`
/// record.
pub fn plan(
    snapshot: &Snapshot,
    command: PublishWorkflow,
    ctx: &Ctx<'_>,
) -> Result<GlobalPlan, Error> {
    let found = snapshot.version.as_ref().ok_or_else(|| Error::NotFound {
        what: "workflow version",
        id: format!("{}@{}", command.workflow_id, command.version),
    })?;
    if found.status == WorkflowStatus::Published {
        return Ok(GlobalPlan::Unchanged(Box::new(Written::WorkflowVersion(
            found.clone(),
        ))));
    }
    Ok(GlobalPlan::Write {
        audit: vec![record(
            &command.by,
            ctx,
            AuditKind::WorkflowVersionPublished,
            &found.workflow_id,
            found.version,
            &found.bpmn_sha256,
        )],
        rows: vec![Row::PublishWorkflowVersion {
            workflow_id: found.workflow_id.clone(),
            version: found.version,
            published_by: command.by,
        }],
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_evidence::chain::AuditDraft;
    use agentwerke_store::GLOBAL_STREAM;
    use agentwerke_types::{Actor, ErrorCode, Timestamp};
    use serde_json::json;

    use super::*;
    use crate::clock::rfc3339;

    fn stored(status: WorkflowStatus) -> WorkflowVersion {
        WorkflowVersion {
            workflow_id: "wf".to_owned(),
            version: 2,
            name: "Workflow".to_owned(),
            status,
            bpmn_xml: "<definitions/>".to_owned(),
            bpmn_sha256: "abc".to_owned(),
            diagnostics: json!([]),
            created_by: "ada".to_owned(),
            created_at: Timestamp::from_millis(0),
            published_by: None,
            published_at: None,
        }
    }

    fn publish(by: &str) -> PublishWorkflow {
        PublishWorkflow {
            workflow_id: "wf".to_owned(),
            version: 2,
            by: by.to_owned(),
        }
    }

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(0),
            redactor: crate::command::no_secrets(),
        }
    }

    #[test]
    fn a_draft_is_published_with_its_record() {
        let snapshot = Snapshot {
            version: Some(stored(WorkflowStatus::Draft)),
        };
        assert_eq!(
            plan(&snapshot, publish("bob"), &ctx()).unwrap(),
            GlobalPlan::Write {
                rows: vec![Row::PublishWorkflowVersion {
                    workflow_id: "wf".to_owned(),
                    version: 2,
                    published_by: "bob".to_owned(),
                }],
                audit: vec![AuditDraft {
                    run_id: GLOBAL_STREAM.to_owned(),
                    at: rfc3339(ctx().at),
                    actor: Actor::user("bob"),
                    kind: AuditKind::WorkflowVersionPublished,
                    data: json!({"workflowId": "wf", "version": 2, "bpmnSha256": "abc"}),
                }],
            }
        );
    }

    #[test]
    fn a_published_version_is_answered_as_it_is() {
        let published = stored(WorkflowStatus::Published);
        let snapshot = Snapshot {
            version: Some(published.clone()),
        };
        assert_eq!(
            plan(&snapshot, publish("eve"), &ctx()).unwrap(),
            GlobalPlan::Unchanged(Box::new(Written::WorkflowVersion(published)))
        );
    }

    #[test]
    fn a_missing_version_is_not_found() {
        let refused = plan(&Snapshot::default(), publish("bob"), &ctx()).unwrap_err();
        assert_eq!(refused.code(), "command.not_found");
        assert_eq!(
            refused.to_string(),
            "workflow version 'wf@2' does not exist"
        );
    }
}
