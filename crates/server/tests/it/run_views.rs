//! What users read: the run view's tool-call journal, and the answers that
//! are documents (the evidence pack's JSON Schema, the Cedar schema), each
//! held to the schema the OpenAPI document names for it.

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::harness::{HELLO_SDLC, TestServer, documented};

const DEMO: &str = include_str!("../../../../examples/gateway-demo.bpmn");
const SCRIPTS: &str = include_str!("../../../../examples/scripts.toml");

fn fields(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// The gateway demo writes notes (allowed), is refused a request, and is
/// let write production notes by an approver: the run view lists the two
/// writes that ran, with the approval the second used, and not the call
/// that never started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_shows_the_tool_calls_its_steps_started() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("gateway-demo", DEMO).await;
    let run_id = server
        .start_run("gateway-demo", json!({"release": "2.4"}))
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let calls = run["toolCalls"].as_array().expect("toolCalls");
    assert_eq!(calls.len(), 1, "only the allowed write started: {calls:#?}");
    let approval = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("approval")
        .to_owned();
    server
        .post(
            &format!("/api/approvals/{approval}/decision"),
            &server.release_manager(),
            json!({"decision": "approve", "comment": "fine"}),
        )
        .await;
    let run = server.wait_status(&run_id, "completed").await;
    let calls = run["toolCalls"].as_array().expect("toolCalls");
    let tools: Vec<&str> = calls.iter().filter_map(|c| c["tool"].as_str()).collect();
    assert_eq!(tools, ["artifact.write", "artifact.write"], "{calls:#?}");
    let (first, approved) = (&calls[0], &calls[1]);
    for call in calls {
        assert_eq!(call["status"], "executed", "{call:#}");
        assert_eq!(call["executions"], 1);
        assert_eq!(call["attempt"], 1);
        assert!(
            call["callId"]
                .as_str()
                .is_some_and(|id| id.starts_with("tc-"))
        );
        assert!(call["startedAt"].is_string() && call["finishedAt"].is_string());
        assert_eq!(call["outcome"]["status"], "executed");
        assert!(
            call["outcome"]["outputSha256"]
                .as_str()
                .is_some_and(|h| h.len() == 64)
        );
        assert!(call["arguments"]["path"].is_string(), "{call:#}");
    }
    assert_eq!(first["approvalId"], Value::Null);
    assert_eq!(first["outcome"]["approved"], false);
    assert_eq!(first["outcome"]["decision"], "allow");
    assert_eq!(approved["outcome"]["decision"], "escalate");
    assert_eq!(approved["approvalId"], approval.as_str());
    assert_eq!(approved["outcome"]["approved"], true);
    assert_eq!(approved["arguments"]["path"], "production/notes/2.4.md");

    let doc = server.get("/openapi.json", &server.admin()).await;
    assert_eq!(
        fields(&run),
        documented(&doc, &doc["components"]["schemas"]["RunDetail"])
    );
    assert_eq!(
        fields(first),
        documented(&doc, &doc["components"]["schemas"]["ToolCallView"])
    );
    assert_eq!(
        fields(&first["outcome"]),
        documented(&doc, &doc["components"]["schemas"]["ToolCallOutcomeView"])
    );
    server.stop().await;
}

/// `GET /api/evidence/schema` serves the pack's JSON Schema, and the
/// component the document names for it describes that document;
/// `GET /api/policies/schema` answers exactly its documented fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_answers_are_what_their_schemas_describe() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let doc = server.get("/openapi.json", &admin).await;
    let answer = &doc["paths"]["/api/evidence/schema"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        answer["application/schema+json"]["schema"]["$ref"],
        "#/components/schemas/EvidencePackJsonSchema"
    );
    let response = server
        .http
        .get(format!("{}/api/evidence/schema", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("schema");
    assert_eq!(
        response.headers()[CONTENT_TYPE].to_str().ok(),
        Some("application/schema+json")
    );
    let served: Value = response.json().await.expect("JSON");
    assert_eq!(
        served["$id"],
        "https://agentwerke.de/schemas/evidence-pack.v1.schema.json"
    );
    let described = &doc["components"]["schemas"]["EvidencePackJsonSchema"];
    let validator = jsonschema::validator_for(described).expect("the component is a schema");
    assert!(
        validator.is_valid(&served),
        "the served schema fits its component"
    );
    assert!(
        !validator.is_valid(&doc["components"]["schemas"]["EvidencePack"]),
        "the component tells the schema document from the pack it describes"
    );

    let cedar = server.get("/api/policies/schema", &admin).await;
    assert_eq!(
        fields(&cedar),
        documented(&doc, &doc["components"]["schemas"]["CedarSchema"])
    );
    assert!(
        cedar["schema"]
            .as_str()
            .is_some_and(|s| s.contains("action"))
    );
    assert!(
        cedar["defaultPolicies"]
            .as_str()
            .is_some_and(|s| s.contains("@id("))
    );
    server.stop().await;
}

/// A credential in a run's input is stored as the run had it (its steps
/// work with it), but no view of the run shows it: not the inputs, not the
/// step outputs that quote it, not the approval whose related output does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_in_a_runs_input_is_never_shown() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let run_id = server
        .start_run(
            "hello-sdlc",
            json!({"title": format!("deploy with {secret}")}),
        )
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    assert_eq!(run["inputs"]["title"], "deploy with [REDACTED]", "{run:#}");
    let output = run["steps"][0]["output"]["text"].as_str().expect("output");
    assert!(output.contains("deploy with [REDACTED]"), "{output}");
    let id = run["pendingApprovals"][0]["id"].as_str().expect("approval");
    let approval = server
        .get(&format!("/api/approvals/{id}"), &server.admin())
        .await;
    let listed = server
        .get(&format!("/api/approvals?runId={run_id}"), &server.admin())
        .await;
    let decided = server
        .post(
            &format!("/api/approvals/{id}/decision"),
            &server.approver(),
            json!({"decision": "approve"}),
        )
        .await;
    for (what, shown) in [
        ("run", &run),
        ("approval", &approval),
        ("approval list", &listed),
        ("decision", &decided),
    ] {
        assert!(
            !shown.to_string().contains(secret),
            "the {what} shows the credential: {shown:#}"
        );
    }
    assert!(
        approval["relatedOutput"].to_string().contains("[REDACTED]"),
        "{approval:#}"
    );
    let run = server.wait_status(&run_id, "completed").await;
    assert!(!run.to_string().contains(secret), "{run:#}");
    server.stop().await;
}

/// The run view lists every node its tokens passed, events and gateways
/// included, and each field it answers is documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_lists_every_node_its_tokens_passed() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server
        .start_run("hello-sdlc", json!({"title": "nodes"}))
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let states = |run: &Value| -> Vec<(String, String)> {
        run["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| {
                (
                    n["nodeId"].as_str().unwrap_or_default().to_owned(),
                    n["state"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let mut got = states(&run);
    got.sort();
    assert_eq!(
        got,
        [
            ("Analyze".to_owned(), "done".to_owned()),
            ("Review".to_owned(), "waiting".to_owned()),
            ("Start".to_owned(), "done".to_owned()),
        ],
        "the end is not reached yet: {run:#}"
    );
    let review = run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["nodeId"] == "Review")
        .expect("Review");
    assert_eq!(review["visits"], 1);
    assert!(review["enteredAt"].is_string() && review["leftAt"].is_null());
    let doc = server.get("/openapi.json", &server.admin()).await;
    assert_eq!(
        fields(review),
        documented(&doc, &doc["components"]["schemas"]["NodeView"])
    );
    assert_eq!(
        doc["components"]["schemas"]["NodeStateName"]["enum"],
        json!([
            "done",
            "active",
            "waiting",
            "failed",
            "cancelled",
            "skipped"
        ])
    );

    let approval = run["pendingApprovals"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .post(
            &format!("/api/approvals/{approval}/decision"),
            &server.approver(),
            json!({"decision": "approve"}),
        )
        .await;
    let run = server.wait_status(&run_id, "completed").await;
    let mut got = states(&run);
    got.sort();
    let done = |id: &str| (id.to_owned(), "done".to_owned());
    assert_eq!(
        got,
        [done("Analyze"), done("End"), done("Review"), done("Start")]
    );
    server.stop().await;
}
