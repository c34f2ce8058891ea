//! The Tool Gateway end to end: a scripted agent's calls are allowed,
//! refused or escalated; an approval runs exactly the approved call once;
//! the kill switch and the policy lifecycle work over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{TestServer, documented};

const DEMO: &str = include_str!("../../../../examples/gateway-demo.bpmn");
const SCRIPTS: &str = include_str!("../../../../examples/scripts.toml");

/// Calls the gateway recorded in a run's audit log: (tool, decision, status, approved).
pub(crate) async fn calls(
    server: &TestServer,
    run_id: &str,
) -> Vec<(String, String, String, bool)> {
    let audit = server.audit(run_id).await;
    audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["kind"] == "tool.called")
        .map(|r| {
            let d = &r["data"];
            (
                d["tool"].as_str().unwrap_or_default().to_owned(),
                d["decision"].as_str().unwrap_or_default().to_owned(),
                d["status"].as_str().unwrap_or_default().to_owned(),
                d["approved"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

pub(crate) fn call(
    tool: &str,
    decision: &str,
    status: &str,
    approved: bool,
) -> (String, String, String, bool) {
    (
        tool.to_owned(),
        decision.to_owned(),
        status.to_owned(),
        approved,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_runs_denied_is_blocked_escalated_runs_once_after_approval() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("gateway-demo", DEMO).await;
    let run_id = server
        .start_run("gateway-demo", json!({"release": "2.4"}))
        .await;

    let run = server.wait_status(&run_id, "awaiting_approval").await;
    assert_eq!(
        calls(&server, &run_id).await,
        [
            call("artifact.write", "allow", "executed", false),
            call("http.request", "reject", "blocked", false),
            call("artifact.write", "escalate", "pending_approval", false),
        ]
    );
    let approval = &run["pendingApprovals"][0];
    assert_eq!(approval["kind"], "tool_escalation", "{approval:#}");
    assert_eq!(approval["tool"], "artifact.write");
    assert_eq!(approval["arguments"]["path"], "production/notes/2.4.md");
    assert!(approval["argsHash"].as_str().is_some_and(|h| h.len() == 64));
    assert!(approval["riskScore"].as_u64().is_some(), "{approval:#}");
    assert!(
        !approval["policyRationale"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    assert!(
        approval["affectedSystems"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert_eq!(run["riskLevel"], "high");

    // The approver sees what the step did before the call: the artifact its
    // first write produced, with its digest, and both earlier calls.
    let first = "Release 2.4: audit export, faster search.";
    assert_eq!(approval["artifacts"].as_array().map(Vec::len), Some(1));
    assert_eq!(approval["artifacts"][0]["name"], "notes/2.4.md");
    assert_eq!(
        approval["artifacts"][0]["sha256"],
        hex::encode(Sha256::digest(first.as_bytes()))
    );
    assert_eq!(approval["artifacts"][0]["size"], first.len());
    let earlier = approval["relatedOutput"]["earlierCalls"]
        .as_array()
        .expect("earlier calls");
    let seen: Vec<(&str, &str)> = earlier
        .iter()
        .map(|c| {
            (
                c["tool"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("artifact.write", "executed"), ("http.request", "blocked")]
    );
    assert_eq!(
        earlier[0]["output"]["sha256"],
        approval["artifacts"][0]["sha256"]
    );
    assert!(
        earlier[0]["outputSha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    assert_eq!(
        earlier[1]["output"],
        Value::Null,
        "a blocked call produced nothing"
    );
    // The scripted model asks for its calls without a word.
    assert_eq!(approval["relatedOutput"]["agentText"], Value::Null);

    assert_eq!(approval["approverRole"], "release-manager");
    let id = approval["id"].as_str().expect("id").to_owned();
    // Only the role the policy names may approve production changes.
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/approvals/{id}/decision"),
            Some(&server.approver()),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "approval.wrong_role");
    server
        .post(
            &format!("/api/approvals/{id}/decision"),
            &server.release_manager(),
            json!({"decision": "approve", "comment": "Production notes are fine."}),
        )
        .await;
    let run = server.wait_status(&run_id, "completed").await;
    // The step went on from the paused call: the calls before it did not
    // run again, and exactly the approved call ran, once.
    assert_eq!(
        calls(&server, &run_id).await,
        [
            call("artifact.write", "allow", "executed", false),
            call("http.request", "reject", "blocked", false),
            call("artifact.write", "escalate", "pending_approval", false),
            call("artifact.write", "escalate", "executed", true),
        ]
    );
    assert_eq!(
        run["steps"][0]["output"]["text"],
        "Release notes for 2.4 drafted and published."
    );

    // The evidence pack carries every call and decision, and still verifies.
    let pack = server.evidence_pack(&run_id).await;
    assert_eq!(pack["toolCalls"].as_array().map(Vec::len), Some(4));
    assert_eq!(pack["policyDecisions"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        pack["prompts"].as_array().map(Vec::len),
        Some(1),
        "one prompt for the one attempt"
    );
    assert_eq!(
        pack["modelUsage"].as_array().map(Vec::len),
        Some(2),
        "the turn before the pause and the one after, each once"
    );
    assert_eq!(pack["approvals"][0]["kind"], "tool_escalation");
    assert_eq!(pack["approvals"][0]["artifacts"], approval["artifacts"]);
    assert_eq!(
        pack["approvals"][0]["relatedOutput"],
        approval["relatedOutput"]
    );
    assert_eq!(
        pack["approvals"][0]["riskFactorDetails"],
        approval["riskFactors"]
    );
    let bytes = serde_json::to_vec(&pack).expect("bytes");
    let report = agentwerke_evidence::verify(&bytes, None);
    assert!(report.is_valid(), "{:?}", report.problems);

    // The approval is single use: deciding it again is refused.
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/approvals/{id}/decision"),
            Some(&server.release_manager()),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    server.stop().await;
}

/// A model that asks for one production write, then for another one.
const TWO_WRITES: &str = r#"
[[nodes.DraftReleaseNotes]]
tool_calls = [{ name = "artifact.write", arguments = { path = "production/a.md", content = "A" } }]

[[nodes.DraftReleaseNotes]]
tool_calls = [{ name = "artifact.write", arguments = { path = "production/b.md", content = "B" } }]

[[nodes.DraftReleaseNotes]]
reply = "done"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_covers_exactly_one_call_once() {
    let server = TestServer::start_with_scripts(TWO_WRITES).await;
    server.publish("gateway-demo", DEMO).await;
    let run_id = server.start_run("gateway-demo", json!({})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let first = run["pendingApprovals"][0].clone();
    assert_eq!(first["arguments"]["path"], "production/a.md");
    let first_id = first["id"].as_str().expect("id").to_owned();
    server
        .post(
            &format!("/api/approvals/{first_id}/decision"),
            &server.release_manager(),
            json!({"decision": "approve", "comment": "a only"}),
        )
        .await;

    // The approval of a.md does not cover b.md: the run pauses again.
    let run = server
        .wait_for(&run_id, |run| {
            let pending = &run["pendingApprovals"][0]["id"];
            run["status"] == "awaiting_approval" && pending.is_string() && *pending != first_id
        })
        .await;
    let second = run["pendingApprovals"][0].clone();
    assert_eq!(second["arguments"]["path"], "production/b.md");
    assert_ne!(second["argsHash"], first["argsHash"]);
    server
        .post(
            &format!(
                "/api/approvals/{}/decision",
                second["id"].as_str().expect("id")
            ),
            &server.release_manager(),
            json!({"decision": "reject", "comment": "Not b."}),
        )
        .await;
    server.wait_status(&run_id, "completed").await;

    let recorded = calls(&server, &run_id).await;
    assert_eq!(
        recorded,
        [
            call("artifact.write", "escalate", "pending_approval", false),
            call("artifact.write", "escalate", "executed", true),
            call("artifact.write", "escalate", "pending_approval", false),
            // After the second decision the step goes on from b.md, which
            // was rejected: it does not run.
            call("artifact.write", "reject", "blocked", false),
        ]
    );
    let audit = server.audit(&run_id).await;
    let rationales: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["kind"] == "tool.called" && r["data"]["status"] == "blocked")
        .filter_map(|r| r["data"]["rationale"].as_str())
        .collect();
    assert_eq!(rationales.len(), 1, "{rationales:?}");
    assert!(rationales[0].contains("Not b."), "{rationales:?}");
    server.stop().await;
}

/// A model that asks for the same production write twice.
const SAME_WRITE_TWICE: &str = r#"
[[nodes.DraftReleaseNotes]]
tool_calls = [{ name = "artifact.write", arguments = { path = "production/a.md", content = "A" } }]

[[nodes.DraftReleaseNotes]]
tool_calls = [{ name = "artifact.write", arguments = { path = "production/a.md", content = "A" } }]

[[nodes.DraftReleaseNotes]]
reply = "done"
"#;

/// An approval is used up by the call it covered: the identical call made
/// again asks a human again, under a new approval, and runs only when that
/// one is approved too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identical_call_made_again_asks_a_human_again() {
    let server = TestServer::start_with_scripts(SAME_WRITE_TWICE).await;
    server.publish("gateway-demo", DEMO).await;
    let run_id = server.start_run("gateway-demo", json!({})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let first = run["pendingApprovals"][0].clone();
    let first_id = first["id"].as_str().expect("id").to_owned();
    server
        .post(
            &format!("/api/approvals/{first_id}/decision"),
            &server.release_manager(),
            json!({"decision": "approve", "comment": "once"}),
        )
        .await;

    let run = server
        .wait_for(&run_id, |run| {
            let pending = &run["pendingApprovals"][0]["id"];
            run["status"] == "awaiting_approval" && pending.is_string() && *pending != first_id
        })
        .await;
    let second = run["pendingApprovals"][0].clone();
    assert_eq!(second["argsHash"], first["argsHash"], "the very same call");
    server
        .post(
            &format!(
                "/api/approvals/{}/decision",
                second["id"].as_str().expect("id")
            ),
            &server.release_manager(),
            json!({"decision": "approve", "comment": "twice"}),
        )
        .await;
    server.wait_status(&run_id, "completed").await;

    assert_eq!(
        calls(&server, &run_id).await,
        [
            call("artifact.write", "escalate", "pending_approval", false),
            call("artifact.write", "escalate", "executed", true),
            call("artifact.write", "escalate", "pending_approval", false),
            call("artifact.write", "escalate", "executed", true),
        ]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_answers_hypothetical_calls_with_the_full_decision() {
    let server = TestServer::start().await;
    let ask = |tool: &str, arguments: Value, environment: &str, level: &str| {
        json!({
            "tool": tool, "arguments": arguments, "agent": "release-assistant",
            "workflowId": "wf", "nodeId": "N",
            "task": {"purposeType": "release-notes", "environment": environment,
                     "permissionLevel": level, "sandboxProfile": "repo-read"},
        })
    };
    let cases = [
        (
            ask(
                "knowledge.search",
                json!({"query": "x"}),
                "staging",
                "read-only",
            ),
            "allow",
        ),
        (
            ask(
                "artifact.write",
                json!({"path": "a.md", "content": "x"}),
                "staging",
                "read-only",
            ),
            "reject",
        ),
        (
            ask(
                "artifact.write",
                json!({"path": "a.md", "content": "x"}),
                "staging",
                "read-write",
            ),
            "allow",
        ),
        (
            ask(
                "artifact.write",
                json!({"path": "a.md", "content": "x"}),
                "production",
                "read-write",
            ),
            "escalate",
        ),
        (ask("shell.exec", json!({}), "staging", "full"), "reject"),
        (
            ask(
                "artifact.write",
                json!({"path": 7}),
                "staging",
                "read-write",
            ),
            "reject",
        ),
    ];
    let doc = server.get("/openapi.json", &server.admin()).await;
    let schema = documented(&doc, &doc["components"]["schemas"]["Decision"]);
    for (body, expected) in cases {
        let decision = server
            .post("/api/gateway/evaluate", &server.admin(), body.clone())
            .await;
        assert_eq!(decision["kind"], expected, "{body} -> {decision:#}");
        let mut fields: Vec<String> = decision
            .as_object()
            .expect("a decision")
            .keys()
            .cloned()
            .collect();
        fields.sort();
        assert_eq!(
            fields, schema,
            "the decision answers what its schema documents"
        );
        assert!(
            decision["policySetHash"]
                .as_str()
                .is_some_and(|h| h.len() == 64)
        );
        assert!(decision["argsHash"].is_string());
    }
    server.stop().await;
}

/// The run's audit kinds, once `kind` is among them (fails after 20 s).
async fn audit_once(server: &TestServer, run_id: &str, kind: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let audit = server.audit(run_id).await;
        let items = audit["items"].as_array().expect("items").clone();
        if items.iter().any(|r| r["kind"] == kind) {
            return items;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind} in {items:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halted_step_waits_without_acting_and_goes_on_after_resume() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("gateway-demo", DEMO).await;
    let admin = server.admin();
    let halted = server
        .post(
            "/api/gateway/halt",
            &admin,
            json!({"scope": "workflow", "target": "gateway-demo", "reason": "incident 42"}),
        )
        .await;
    assert_eq!(halted["items"][0]["reason"], "incident 42");
    assert_eq!(halted["halted"]["target"], "gateway-demo");
    assert_eq!(
        halted["covers"],
        "every agent step in runs of workflow 'gateway-demo'"
    );
    let halt_seq = halted["audit"]["seq"].as_u64().expect("audit seq");
    assert!(
        halted["audit"]["hash"]
            .as_str()
            .is_some_and(|h| h.len() == 64),
        "{halted:#}"
    );
    let ready = server.get("/api/health/ready", &admin).await;
    assert_eq!(ready["halts"][0]["scope"], "workflow", "{ready:#}");
    assert_eq!(ready["halts"][0]["target"], "gateway-demo");

    let run_id = server
        .start_run("gateway-demo", json!({"release": "3"}))
        .await;
    let audit = audit_once(&server, &run_id, "step.halted").await;
    let held = audit
        .iter()
        .find(|r| r["kind"] == "step.halted")
        .expect("step.halted");
    assert_eq!(held["data"]["scope"], "workflow");
    assert_eq!(held["data"]["reason"], "incident 42");
    assert_eq!(held["data"]["nodeId"], "DraftReleaseNotes");
    // Held before its first model turn: no call was made, refused or
    // recorded, and the run neither completed nor failed.
    assert!(calls(&server, &run_id).await.is_empty());
    let run = server.get(&format!("/api/runs/{run_id}"), &admin).await;
    assert_eq!(run["status"], "running", "{run:#}");
    assert_eq!(run["gatewayHalts"][0]["target"], "gateway-demo", "{run:#}");

    let resumed = server
        .post(
            "/api/gateway/resume",
            &admin,
            json!({"scope": "workflow", "target": "gateway-demo"}),
        )
        .await;
    assert_eq!(resumed["resumed"]["target"], "gateway-demo");
    assert_eq!(resumed["items"], json!([]));
    assert_eq!(resumed["audit"]["seq"], halt_seq + 1, "{resumed:#}");
    let ready = server.get("/api/health/ready", &admin).await;
    assert_eq!(ready["halts"], json!([]));

    // The held step goes on and does what it would have done.
    server.wait_status(&run_id, "awaiting_approval").await;
    assert_eq!(
        calls(&server, &run_id).await,
        [
            call("artifact.write", "allow", "executed", false),
            call("http.request", "reject", "blocked", false),
            call("artifact.write", "escalate", "pending_approval", false),
        ]
    );

    let (status, _) = server
        .call(
            Method::POST,
            "/api/gateway/resume",
            Some(&admin),
            Some(json!({"scope": "workflow", "target": "gateway-demo"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_drafts_are_validated_simulated_and_published() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("gateway-demo", DEMO).await;
    let admin = server.admin();

    // Recorded traffic to simulate against.
    let run_id = server
        .start_run("gateway-demo", json!({"release": "5"}))
        .await;
    server.wait_status(&run_id, "awaiting_approval").await;

    // An invalid draft is refused with positions, and nothing is stored.
    let (status, body) = server
        .call(
            Method::POST,
            "/api/policies",
            Some(&admin),
            Some(json!({"text": "@id(\"x\")\npermit (principal, action, resource) when { context.nope };"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "gateway.invalid_policy_set");
    assert!(body["errors"][0]["code"].is_string(), "{body}");
    let listed = server.get("/api/policies", &admin).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0));

    // A draft that forbids every write.
    let schema = server.get("/api/policies/schema", &admin).await;
    let text = format!(
        "{}\n@id(\"freeze-writes\")\n@rationale(\"Change freeze.\")\nforbid (principal, action in Action::\"category:write\", resource);\n",
        schema["defaultPolicies"].as_str().expect("default set")
    );
    let (status, draft) = server
        .call(
            Method::POST,
            "/api/policies",
            Some(&admin),
            Some(json!({"text": text, "note": "freeze"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let version = draft["version"].as_i64().expect("version");

    let simulated = server
        .post(
            &format!("/api/policies/{version}/simulate"),
            &admin,
            json!({"runs": 10}),
        )
        .await;
    let changed = simulated["changed"].as_array().expect("changed");
    assert_eq!(changed.len(), 2, "both writes change: {simulated:#}");
    assert!(
        changed
            .iter()
            .all(|c| c["after"] == "reject" && c["tool"] == "artifact.write")
    );
    // The answer is what its schema documents, down to each change.
    let doc = server.get("/openapi.json", &admin).await;
    let schemas = &doc["components"]["schemas"];
    let fields = |value: &Value| -> Vec<String> {
        let mut names: Vec<String> = value
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    };
    assert_eq!(fields(&simulated), documented(&doc, &schemas["Simulation"]));
    assert_eq!(
        fields(&changed[0]),
        documented(&doc, &schemas["ChangedDecision"])
    );
    assert_eq!(
        simulated["decisions"],
        json!({"allow": 0, "escalate": 0, "reject": 3}),
        "every kind is counted, none left out: {simulated:#}"
    );
    assert_eq!(simulated["callsReplayed"], 3);

    let published = server
        .post(
            &format!("/api/policies/{version}/publish"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(published["inForce"], true);
    let decision = server
        .post(
            "/api/gateway/evaluate",
            &admin,
            json!({"tool": "artifact.write", "arguments": {"path": "a.md", "content": "x"},
                   "agent": "release-assistant",
                   "task": {"purposeType": "notes", "environment": "staging",
                            "permissionLevel": "read-write", "sandboxProfile": "repo-read"}}),
        )
        .await;
    assert_eq!(decision["kind"], "reject");
    assert_eq!(decision["determiningPolicies"], json!(["freeze-writes"]));
    assert_eq!(decision["policySetVersion"], version.to_string());
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/api/policies/{version}/publish"),
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    server.stop().await;
}

/// A model that asks for one production write and nothing else.
const ONE_ESCALATION: &str = r#"
[[nodes.DraftReleaseNotes]]
tool_calls = [{ name = "artifact.write", arguments = { path = "production/x.md", content = "X" } }]

[[nodes.DraftReleaseNotes]]
reply = "gave up"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_nobody_answers_expires_as_a_reject() {
    let server = TestServer::start_with(ONE_ESCALATION, 1).await;
    server.publish("gateway-demo", DEMO).await;
    let run_id = server.start_run("gateway-demo", json!({})).await;
    server.wait_status(&run_id, "awaiting_approval").await;
    let run = server.wait_status(&run_id, "completed").await;
    assert_eq!(run["approvals"][0]["status"], "expired", "{run:#}");
    assert_eq!(
        calls(&server, &run_id).await,
        [
            call("artifact.write", "escalate", "pending_approval", false),
            call("artifact.write", "reject", "blocked", false),
        ]
    );
    server.stop().await;
}

const TOOL_TASK: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="d" targetNamespace="https://example.test">
  <bpmn:process id="tool-task" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Store"/>
    <bpmn:serviceTask id="Store" name="Store the summary">
      <bpmn:extensionElements>
        <aw:agentTask agent="analyst" action="artifact.write" purposeType="archiving"
                      environment="staging" permissionLevel="read-write">
          <aw:metadata key="tool.input.path" value="summaries/{{input.ticket}}.md"/>
          <aw:metadata key="tool.input.content" value="Summary of {{input.ticket}}"/>
        </aw:agentTask>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Store" targetRef="Read"/>
    <bpmn:serviceTask id="Read" name="Read it back">
      <bpmn:extensionElements>
        <aw:agentTask agent="analyst" action="artifact.read" purposeType="archiving"
                      environment="staging" permissionLevel="read-only">
          <aw:metadata key="tool.input.path" value="summaries/{{input.ticket}}.md"/>
        </aw:agentTask>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Read" targetRef="Push"/>
    <bpmn:serviceTask id="Push" name="Push it out">
      <bpmn:extensionElements>
        <aw:agentTask agent="analyst" action="http.request" purposeType="archiving"
                      environment="staging" permissionLevel="read-write">
          <aw:metadata key="tool.input.method" value="POST"/>
          <aw:metadata key="tool.input.url" value="https://archive.example.com/upload"/>
        </aw:agentTask>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f4" sourceRef="Push" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_action_names_a_tool_runs_it_through_the_gateway_without_a_model() {
    let server = TestServer::start().await;
    server.publish("tool-task", TOOL_TASK).await;
    let run_id = server
        .start_run("tool-task", json!({"ticket": "T-7"}))
        .await;
    let run = server.wait_status(&run_id, "failed").await;
    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps[0]["output"]["tool"], "artifact.write", "{run:#}");
    assert_eq!(
        steps[1]["output"]["output"]["content"], "Summary of T-7",
        "{run:#}"
    );
    // read-write grants no network: the gateway refuses, the task fails closed.
    assert_eq!(steps[2]["status"], "failed");
    assert_eq!(steps[2]["error"]["code"], "gateway.rejected", "{run:#}");
    assert_eq!(
        calls(&server, &run_id).await,
        [
            call("artifact.write", "allow", "executed", false),
            call("artifact.read", "allow", "executed", false),
            call("http.request", "reject", "blocked", false),
        ]
    );
    let pack = server.evidence_pack(&run_id).await;
    assert_eq!(
        pack["modelUsage"].as_array().map(Vec::len),
        Some(0),
        "no model was called"
    );
    let artifact = &pack["artifacts"][0];
    assert_eq!(artifact["name"], "summaries/T-7.md", "{pack:#}");
    assert_eq!(artifact["sha256"], steps[0]["output"]["output"]["sha256"]);
    server.stop().await;
}

/// One agent step bounded by a one second timeout.
const QUICK: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:aw="https://agentwerke.de/bpmn/extensions/v1"
                  id="quick-definitions" targetNamespace="https://agentwerke.de/tests">
  <bpmn:process id="quick" name="Quick" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:serviceTask id="Analyze" name="Analyze">
      <bpmn:extensionElements>
        <aw:agentTask agent="analyst" purposeType="analysis" policyTag="sdlc"
                      permissionLevel="read-only" sandboxProfile="offline"
                      environment="staging" timeoutSeconds="1">
          <aw:prompt>Analyze "{{input.title}}".</aw:prompt>
        </aw:agentTask>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:endEvent id="End"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Analyze"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Analyze" targetRef="End"/>
  </bpmn:process>
</bpmn:definitions>"#;

const QUICK_SCRIPT: &str = r#"
[[nodes.Analyze]]
reply = "analysed after the halt"
"#;

/// A halt longer than the step's timeout does not fail the step: the
/// timeout stops while the step is held and counts again, whole, from the
/// release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_steps_timeout_does_not_count_while_it_is_held() {
    let server = TestServer::start_with_scripts(QUICK_SCRIPT).await;
    server.publish("quick", QUICK).await;
    let admin = server.admin();
    server
        .post(
            "/api/gateway/halt",
            &admin,
            json!({"scope": "agent", "target": "analyst", "reason": "incident 7"}),
        )
        .await;
    let run_id = server.start_run("quick", json!({"title": "x"})).await;
    audit_once(&server, &run_id, "step.halted").await;

    // Held well past its one second timeout.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let run = server.get(&format!("/api/runs/{run_id}"), &admin).await;
    assert_eq!(run["status"], "running", "{run:#}");
    assert_eq!(run["steps"][0]["status"], "active", "{run:#}");

    server
        .post(
            "/api/gateway/resume",
            &admin,
            json!({"scope": "agent", "target": "analyst"}),
        )
        .await;
    let run = server.wait_status(&run_id, "completed").await;
    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1, "one attempt, held and released: {run:#}");
    assert_eq!(steps[0]["status"], "completed");
    assert_eq!(steps[0]["output"]["text"], "analysed after the halt");
    server.stop().await;
}
