//! Two `agentwerke serve` processes on one data folder: a policy set
//! published or a halt set through one is in force in the other, without a
//! restart, within a few seconds.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Server;

const SCRIPTS: &str = include_str!("../../../examples/scripts.toml");

/// How long the other process may take; it looks every quarter second.
const IN_FORCE_WITHIN: Duration = Duration::from_secs(5);

/// A write the shipped default policies allow.
fn staging_write() -> Value {
    json!({
        "tool": "artifact.write", "arguments": {"path": "a.md", "content": "x"},
        "agent": "release-assistant", "workflowId": "wf", "nodeId": "N",
        "task": {"purposeType": "release-notes", "environment": "staging",
                 "permissionLevel": "read-write", "sandboxProfile": "repo-read"},
    })
}

async fn decision(server: &Server, token: &str) -> Value {
    server
        .post(token, "/api/gateway/evaluate", staging_write())
        .await
}

async fn audit_kinds(server: &Server, token: &str, run_id: &str) -> Vec<String> {
    server
        .get(token, &format!("/api/runs/{run_id}/audit"))
        .await["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["kind"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_and_a_halt_in_one_process_are_in_force_in_the_other() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts.toml");
    std::fs::write(&scripts, SCRIPTS).expect("scripts");
    let env = [("AGENTWERKE_SCRIPTS", scripts.display().to_string())];
    let one = Server::start(dir.path(), &env).await;
    let other = Server::start(dir.path(), &env).await;
    let admin = one.token("Admin");
    assert_eq!(decision(&other, &admin).await["kind"], "allow");

    // A change freeze, published through the first process.
    let schema = one.get(&admin, "/api/policies/schema").await;
    let text = format!(
        "{}\n@id(\"freeze-writes\")\n@rationale(\"Change freeze.\")\nforbid (principal, action in Action::\"category:write\", resource);\n",
        schema["defaultPolicies"].as_str().expect("default set")
    );
    let draft = one
        .post(&admin, "/api/policies", json!({"text": text}))
        .await;
    let version = draft["version"].as_i64().expect("version");
    one.post(
        &admin,
        &format!("/api/policies/{version}/publish"),
        json!({}),
    )
    .await;
    other
        .wait_until(IN_FORCE_WITHIN, async |s: &Server| {
            let decided = decision(s, &admin).await;
            decided["kind"] == "reject"
                && decided["determiningPolicies"]
                    .as_array()
                    .is_some_and(|p| p.contains(&json!("freeze-writes")))
        })
        .await;
    let listed = other.get(&admin, "/api/policies").await;
    assert_eq!(listed["inForce"]["version"], version.to_string());

    // A halt set through the first process holds a run started through the
    // other, whichever process claims its step.
    one.post(
        &admin,
        "/api/gateway/halt",
        json!({"scope": "workflow", "target": "gateway-demo", "reason": "incident 7"}),
    )
    .await;
    let ready = other.get(&admin, "/api/health/ready").await;
    assert_eq!(ready["halts"][0]["target"], "gateway-demo", "{ready}");
    let started = other
        .post(
            &admin,
            "/api/runs",
            json!({"workflowId": "gateway-demo", "inputs": {"release": "9"}}),
        )
        .await;
    let run_id = started["runId"].as_str().expect("run id").to_owned();
    other
        .wait_until(IN_FORCE_WITHIN, async |s: &Server| {
            audit_kinds(s, &admin, &run_id)
                .await
                .contains(&"step.halted".to_owned())
        })
        .await;
    let run = other.get(&admin, &format!("/api/runs/{run_id}")).await;
    assert_eq!(run["status"], "running", "{run}");
    assert!(
        !audit_kinds(&other, &admin, &run_id)
            .await
            .contains(&"tool.called".to_owned()),
        "a held step makes no call"
    );

    // Lifted through the other process, the step goes on, under the freeze.
    other
        .post(
            &admin,
            "/api/gateway/resume",
            json!({"scope": "workflow", "target": "gateway-demo"}),
        )
        .await;
    one.wait_until(IN_FORCE_WITHIN * 2, async |s: &Server| {
        let run = s.get(&admin, &format!("/api/runs/{run_id}")).await;
        run["status"] != "running"
    })
    .await;
    let audit = one.get(&admin, &format!("/api/runs/{run_id}/audit")).await;
    let writes: Vec<&Value> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["kind"] == "tool.called" && r["data"]["tool"] == "artifact.write")
        .collect();
    assert!(!writes.is_empty(), "{audit:#}");
    assert!(
        writes.iter().all(|w| w["data"]["decision"] == "reject"),
        "{writes:#?}"
    );
}

/// A secret set through one process is known to the other's redaction
/// within a second, without a restart: the other refuses a tool call whose
/// arguments carry the value, and the rotated value too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_set_in_one_process_is_known_to_the_other_within_a_second() {
    let dir = tempfile::tempdir().expect("temp dir");
    let one = Server::start(dir.path(), &[]).await;
    let other = Server::start(dir.path(), &[]).await;
    let admin = one.token("Admin");
    let carrying = |value: &str| {
        let mut call = staging_write();
        call["arguments"]["content"] = json!(format!("token {value}"));
        call
    };
    let put = async |value: &str| {
        let response = reqwest::Client::new()
            .put(format!("{}/api/settings/secrets/github_token", one.url))
            .bearer_auth(&admin)
            .json(&json!({"value": value}))
            .send()
            .await
            .expect("PUT");
        assert!(response.status().is_success(), "{}", response.status());
    };
    for value in ["shared-first-9c2e7a41d0", "shared-rotated-5b8f3e02c6"] {
        let before = other
            .post(&admin, "/api/gateway/evaluate", carrying(value))
            .await;
        assert_eq!(before["kind"], "allow", "{before}");
        put(value).await;
        other
            .wait_until(Duration::from_secs(1), async |s: &Server| {
                let decided = s
                    .post(&admin, "/api/gateway/evaluate", carrying(value))
                    .await;
                decided["reason"] == "secret_in_arguments"
            })
            .await;
    }
}
