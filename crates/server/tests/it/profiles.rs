//! Agent profiles and skills from files: listed by `GET /api/agents`,
//! reloaded into the gateway, and used by agent steps: the profile's
//! prompt and skills in the prompt, its default tools as the granted
//! surface, and only that surface offered to the model.

use std::path::Path;

use agentwerke_gateway::{AgentProfile, SandboxProfile};
use serde_json::Value;

use crate::harness::{TestServer, one_agent_task};

const REVIEWER: &str = "---
description: Reviews release notes
provider: local
model: llama3.1:8b
temperature: 0.2
max-turns: 4
budgets:
  step: {tokens: 20000}
  on-exceed: escalate
sandbox-profiles: [offline, repo-read]
allowed-tools: [knowledge.search]
skills: [style-guide]
secrets: [github_token]
---
You are the release team's reviewer. Never approve your own work.
";

const STYLE: &str = "---
name: style-guide
description: The team's writing rules; use for any prose.
---
Write short sentences in the active voice.
";

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    std::fs::write(path, text).expect("write");
}

/// Loads `dir` next to the configuration's `[[agents]]` of the harness
/// and puts it in force, as a reload while serving does.
fn install(server: &TestServer, dir: &Path) {
    let config = [AgentProfile::new("analyst", [SandboxProfile::Offline])];
    let catalogue = agentwerke_profiles::load(dir, &agentwerke_profiles::Known::nothing(), &config)
        .expect("profiles");
    server.gateway.install_profiles(catalogue);
}

#[tokio::test]
async fn the_api_lists_profiles_from_config_and_files() {
    let server = TestServer::start().await;
    let dir = server.dir.path().join("profiles");
    write(&dir, "agents/reviewer.md", REVIEWER);
    write(&dir, "skills/style-guide/SKILL.md", STYLE);
    let before = server.get("/api/agents", &server.operator()).await;
    assert!(
        before["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .all(|a| a["source"] == "config"),
        "{before}"
    );
    let gateway = server.gateway.current();
    assert!(gateway.agent("reviewer").is_none());
    install(&server, &dir);
    // The gateway follows: the file's sandbox profiles and secret grants.
    let gateway = server.gateway.current();
    let reviewer = gateway
        .agent("reviewer")
        .expect("the gateway knows the reloaded agent");
    assert_eq!(reviewer.allowed_sandbox_profiles.len(), 2);
    assert_eq!(
        reviewer
            .secrets
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        ["github_token"]
    );
    assert!(
        gateway.agent("integrator").is_none(),
        "the reload replaced the old set"
    );

    let listed = server
        .get(
            "/api/agents",
            &server.token("v", &[agentwerke_auth::Role::Viewer]),
        )
        .await;
    let agents = listed["agents"].as_array().expect("agents");
    let names: Vec<&str> = agents.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names, ["analyst", "reviewer"]);
    let analyst = &agents[0];
    assert_eq!(analyst["source"], "config");
    assert_eq!(analyst["path"], Value::Null);
    assert_eq!(analyst["sandboxProfiles"], serde_json::json!(["offline"]));
    let reviewer = &agents[1];
    assert_eq!(reviewer["source"], "file");
    assert_eq!(
        reviewer["path"],
        dir.join("agents/reviewer.md").display().to_string()
    );
    assert_eq!(reviewer["description"], "Reviews release notes");
    assert_eq!(reviewer["provider"], "local");
    assert_eq!(reviewer["model"], "llama3.1:8b");
    assert!((reviewer["temperature"].as_f64().expect("temperature") - 0.2).abs() < 1e-6);
    assert_eq!(reviewer["maxTurns"], 4);
    assert_eq!(reviewer["budgets"]["step"]["tokens"], 20000);
    assert_eq!(reviewer["budgets"]["run"]["tokens"], Value::Null);
    assert_eq!(reviewer["budgets"]["onExceed"], "escalate");
    assert_eq!(
        reviewer["sandboxProfiles"],
        serde_json::json!(["offline", "repo-read"])
    );
    assert_eq!(
        reviewer["allowedTools"],
        serde_json::json!(["knowledge.search"])
    );
    assert_eq!(reviewer["secrets"], serde_json::json!(["github_token"]));
    assert_eq!(
        reviewer["skills"],
        serde_json::json!([{"name": "style-guide", "description": "The team's writing rules; use for any prose."}])
    );
    assert_eq!(
        reviewer["systemPromptSha256"],
        agentwerke_evidence::canonical::sha256_hex(
            b"You are the release team's reviewer. Never approve your own work."
        )
    );
    let text = listed.to_string();
    assert!(
        !text.contains("Never approve"),
        "the prompt itself is not listed"
    );

    let (status, problem) = server
        .call(reqwest::Method::GET, "/api/agents", None, None)
        .await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    assert!(problem["code"].is_string(), "{problem}");
    server.stop().await;
}

/// The step's prompt carries the profile's system prompt and skill, and
/// the model is offered the profile's default tools (plus `human.ask`)
/// instead of every registered tool; the evidence keeps exactly that.
#[tokio::test]
async fn a_step_uses_its_profile_and_is_offered_its_granted_surface_only() {
    let server = TestServer::start().await;
    let dir = server.dir.path().join("profiles");
    write(&dir, "agents/reviewer.md", REVIEWER);
    write(&dir, "skills/style-guide/SKILL.md", STYLE);
    install(&server, &dir);
    server
        .publish(
            "review",
            &one_agent_task("review", "Review", "reviewer", "analysis"),
        )
        .await;
    let run_id = server.start_run("review", serde_json::json!({})).await;
    server.wait_status(&run_id, "completed").await;

    let pack = server.evidence_pack(&run_id).await;
    let prompt = &pack["prompts"][0];
    let text = prompt["text"].as_str().expect("prompt text");
    assert_eq!(
        prompt["sha256"],
        agentwerke_evidence::canonical::sha256_hex(text.as_bytes())
    );
    assert!(
        text.starts_with("[system]\nYou are the release team's reviewer."),
        "{text}"
    );
    assert!(text.contains("## Skill: style-guide"), "{text}");
    assert!(
        text.contains("Write short sentences in the active voice."),
        "{text}"
    );
    assert!(text.contains("\n\n[user]\nReview\n\n[tools]\n"), "{text}");
    let tools: Vec<Value> =
        serde_json::from_str(text.split("\n\n[tools]\n").nth(1).expect("tools")).expect("json");
    let offered: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    // The task sets no allowedTools and grants full permission under
    // repo-read: without the profile every registered tool would pass the
    // surface; with it, only its default tool does.
    assert_eq!(offered, ["knowledge.search", "human.ask"]);
    assert!(tools[0]["input_schema"].is_object(), "{text}");
    server.stop().await;
}

/// An agent from the configuration only may not run under the task's
/// sandbox profile: every call would be refused outright, so no gateway
/// tool is offered at all (only `human.ask`, which stays as it was).
#[tokio::test]
async fn a_configured_agent_outside_its_sandbox_profiles_is_offered_no_tool() {
    let server = TestServer::start().await;
    server
        .publish(
            "analysis",
            &one_agent_task("analysis", "Analyze", "analyst", "analysis"),
        )
        .await;
    let run_id = server.start_run("analysis", serde_json::json!({})).await;
    server.wait_status(&run_id, "completed").await;
    let pack = server.evidence_pack(&run_id).await;
    let text = pack["prompts"][0]["text"].as_str().expect("prompt text");
    let tools: Vec<Value> =
        serde_json::from_str(text.split("\n\n[tools]\n").nth(1).expect("tools")).expect("json");
    let offered: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(offered, ["human.ask"]);
    assert!(!server.gateway.current().registry().specs().is_empty());
    server.stop().await;
}
