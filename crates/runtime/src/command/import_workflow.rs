//! A workflow author imports a BPMN document as the workflow's next draft
//! version (the workflow is created on its first import). The document is
//! checked (executable, every tool known) before the command is made; the
//! planner redacts the document (see
//! [`crate::definitions::redact_document`]), numbers the version and hashes
//! what it keeps. Importing the document of the newest version again while
//! it is still a draft changes nothing.

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
    /// The document as given; it is kept redacted.
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
/// same document; otherwise the next version with the redacted document,
/// its SHA-256 (the *BPMN hash* runs and evidence cite, so of what runs)
/// and the `workflow.version_imported` record. The name and the findings
/// are redacted too; a document that redaction would break is refused
/// with [`Error::SecretInDocument`].
pub fn plan(
    snapshot: &Snapshot,
    command: ImportWorkflow,
    ctx: &Ctx<'_>,
) -> Result<GlobalPlan, Error> {
    let bpmn_xml = crate::definitions::redact_document(&command.bpmn_xml, ctx.redactor)?;
    let sha256 = hex::encode(Sha256::digest(bpmn_xml.as_bytes()));
    if let Some(newest) = &snapshot.newest
        && newest.status == WorkflowStatus::Draft
        && newest.bpmn_sha256 == sha256
    {
        return Ok(GlobalPlan::Unchanged(Box::new(Written::WorkflowVersion(
            newest.clone(),
        ))));
    }
    let version = snapshot.newest.as_ref().map_or(1, |v| v.version + 1);
    let mut diagnostics = command.diagnostics;
    ctx.redactor.redact_value(&mut diagnostics);
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
                name: ctx.redactor.redact_str(&command.name),
                bpmn_xml,
                bpmn_sha256: sha256,
                diagnostics: JsonText::from(&diagnostics),
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
    use agentwerke_evidence::redact::REDACTED;
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

    const HELLO_SDLC: &str = include_str!("../../../../examples/hello-sdlc.bpmn");
    const MESSAGE_WAIT: &str = include_str!("../../../server/tests/fixtures/message-wait.bpmn");
    const PROMPT: &str = "list its risks.";

    fn importing(xml: String) -> ImportWorkflow {
        ImportWorkflow {
            bpmn_xml: xml,
            ..import("ada")
        }
    }

    fn kept(plan: GlobalPlan) -> NewWorkflowVersion {
        let GlobalPlan::Write { mut rows, .. } = plan else {
            panic!("a draft is written");
        };
        match rows.remove(0) {
            Row::ImportWorkflowVersion { workflow, .. } => workflow,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_prompt_s_secret_and_credential_shape_are_kept_redacted_and_hashed_as_kept() {
        let known = "known-secret-3f9a1c";
        let shape = "ghp_promptGithubToken0123456789abcd";
        // The assignment ends the prompt: its value ends with the text, not
        // at the next space after the closing tag.
        let xml = HELLO_SDLC.replace(
            PROMPT,
            &format!("{PROMPT} Use {known} and {shape}. password=hunter22"),
        );
        let redactor = agentwerke_evidence::redact::Redactor::new([known]);
        let ctx = Ctx {
            at: Timestamp::from_millis(0),
            redactor: &redactor,
        };
        let command = ImportWorkflow {
            name: format!("named {known}"),
            diagnostics: json!([{"message": known}]),
            ..importing(xml)
        };
        let workflow = kept(plan(&Snapshot::default(), command, &ctx).unwrap());
        let expected = HELLO_SDLC.replace(
            PROMPT,
            &format!("{PROMPT} Use {REDACTED} and {REDACTED}. password={REDACTED}"),
        );
        assert_eq!(workflow.bpmn_xml, expected);
        assert_eq!(
            workflow.bpmn_sha256,
            hex::encode(Sha256::digest(expected.as_bytes()))
        );
        assert_eq!(workflow.name, format!("named {REDACTED}"));
        assert!(!workflow.diagnostics.as_str().contains(known));
        // What is kept is what runs: it compiles, and the prompt says so.
        crate::definitions::compile(workflow.bpmn_xml.as_bytes()).unwrap();
        let parsed = agentwerke_bpmn::parse(
            workflow.bpmn_xml.as_bytes(),
            &agentwerke_bpmn::Limits::default(),
        )
        .unwrap();
        let model = serde_json::to_string(&parsed.definitions).unwrap();
        assert!(model.contains(&format!(
            "risks. Use {REDACTED} and {REDACTED}. password={REDACTED}"
        )));
    }

    #[test]
    fn a_document_redaction_would_break_or_cannot_see_into_is_refused() {
        let known = "known-secret-3f9a1c";
        let redactor = agentwerke_evidence::redact::Redactor::new([known]);
        let ctx = Ctx {
            at: Timestamp::from_millis(0),
            redactor: &redactor,
        };
        let broken = [
            // A condition on a member named like a credential: the
            // `token = ...` shape takes the operator with it.
            MESSAGE_WAIT.replace("event.result ==", "event.token =="),
            // Written with a character reference, which the text hides.
            HELLO_SDLC.replace(PROMPT, &format!("{PROMPT} &#107;{}", &known[1..])),
        ];
        for xml in broken {
            assert!(xml != HELLO_SDLC && xml != MESSAGE_WAIT);
            let refused = plan(&Snapshot::default(), importing(xml), &ctx).unwrap_err();
            assert!(matches!(refused, Error::SecretInDocument), "{refused:?}");
        }
        // The same documents without the value are kept as given.
        for xml in [HELLO_SDLC, MESSAGE_WAIT] {
            let workflow =
                kept(plan(&Snapshot::default(), importing(xml.to_owned()), &ctx).unwrap());
            assert_eq!(workflow.bpmn_xml, xml);
        }
    }
}
