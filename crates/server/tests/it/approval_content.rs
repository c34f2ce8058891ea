//! Approval requests carry what an approver must review: the artifacts the
//! related steps wrote (with their digests), the related output, and a risk
//! score built from the Tool Gateway's assessments of the run's calls and
//! the gate's own attributes; the evidence pack carries the same.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::TestServer;

/// Start -> Draft (an agent that writes one artifact) -> Review (a gate) ->
/// End, with the drafting task's `purposeType` given.
fn drafted_review(id: &str, purpose: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="d" targetNamespace="https://example.test">
  <process id="{id}" isExecutable="true">
    <startEvent id="Start"/>
    <sequenceFlow id="f1" sourceRef="Start" targetRef="Draft"/>
    <serviceTask id="Draft" name="Draft">
      <extensionElements>
        <aw:agentTask agent="release-assistant" purposeType="{purpose}" policyTag="sdlc"
                      environment="staging" permissionLevel="read-write" sandboxProfile="repo-read">
          <aw:prompt>Draft notes for {{{{input.topic}}}}.</aw:prompt>
        </aw:agentTask>
      </extensionElements>
    </serviceTask>
    <sequenceFlow id="f2" sourceRef="Draft" targetRef="Review"/>
    <userTask id="Review" name="Review">
      <extensionElements>
        <aw:approvalTask purposeType="review" policyTag="sdlc"/>
      </extensionElements>
    </userTask>
    <sequenceFlow id="f3" sourceRef="Review" targetRef="End"/>
    <endEvent id="End"/>
  </process>
</definitions>
"#
    )
}

/// The drafting agent writes one artifact, then answers.
const DRAFT: &str = r#"
[[nodes.Draft]]
tool_calls = [{ name = "artifact.write", arguments = { path = "notes/{{input.topic}}.md", content = "Notes on {{input.topic}}." } }]

[[nodes.Draft]]
reply = "Drafted the notes on {{input.topic}}."
"#;

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The factor named `name` among a request's `riskFactors`.
fn factor<'a>(approval: &'a Value, name: &str) -> &'a Value {
    approval["riskFactors"]
        .as_array()
        .and_then(|factors| factors.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("no factor {name}: {approval:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_lists_the_written_artifacts_and_weighs_the_assessed_calls() {
    let server = TestServer::start_with_scripts(DRAFT).await;
    // The same work under a purpose that only reads: the gateway scores the
    // write higher (purpose_misaligned), and so does the gate.
    server
        .publish("drafting", &drafted_review("drafting", "drafting"))
        .await;
    server
        .publish("analysing", &drafted_review("analysing", "analysis"))
        .await;

    let mut scores = Vec::new();
    for (workflow, call_score) in [("drafting", 10), ("analysing", 30)] {
        let run_id = server.start_run(workflow, json!({"topic": workflow})).await;
        let run = server.wait_status(&run_id, "awaiting_approval").await;
        let approval = &run["pendingApprovals"][0];
        assert_eq!(approval["kind"], "gate", "{approval:#}");

        let content = format!("Notes on {workflow}.");
        assert_eq!(
            approval["artifacts"],
            json!([{
                "name": format!("notes/{workflow}.md"),
                "sha256": sha256(&content),
                "size": content.len(),
                "mediaType": approval["artifacts"][0]["mediaType"],
            }]),
            "{approval:#}"
        );
        assert!(approval["artifacts"][0]["mediaType"].is_string());
        assert_eq!(
            approval["relatedOutput"]["Draft"]["text"],
            format!("Drafted the notes on {workflow}.")
        );

        let assessed = factor(approval, "assessed_calls");
        assert_eq!(assessed["weight"], call_score, "{approval:#}");
        let detail = assessed["detail"].as_str().expect("detail");
        assert!(
            detail.contains(&format!(
                "artifact.write at 'Draft', was scored {call_score}"
            )),
            "{detail}"
        );
        assert_eq!(factor(approval, "human_gate")["weight"], 10);
        let sum: u64 = approval["riskFactors"]
            .as_array()
            .expect("factors")
            .iter()
            .map(|f| f["weight"].as_u64().expect("weight"))
            .sum();
        assert_eq!(approval["riskScore"], sum, "the score is its factors' sum");
        scores.push(approval["riskScore"].clone());

        // The evidence pack shows the approval as its approver saw it.
        let pack = server.evidence_pack(&run_id).await;
        let recorded = &pack["approvals"][0];
        assert_eq!(recorded["artifacts"], approval["artifacts"]);
        assert_eq!(recorded["artifacts"][0], pack["artifacts"][0]);
        assert_eq!(recorded["relatedOutput"], approval["relatedOutput"]);
        assert_eq!(recorded["riskFactorDetails"], approval["riskFactors"]);
        assert_eq!(
            recorded["riskScore"].as_f64(),
            approval["riskScore"].as_f64()
        );
        let report = agentwerke_evidence::verify(&serde_json::to_vec(&pack).expect("bytes"), None);
        assert!(report.is_valid(), "{:?}", report.problems);
    }
    assert_eq!(scores, [json!(20), json!(40)]);
    server.stop().await;
}
