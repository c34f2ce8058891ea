//! A step that runs longer than the claim lease keeps its claim: two
//! `agentwerke serve` processes on one data folder, with a one-second lease,
//! and a step whose model turns take several leases in all. The step runs
//! once: one prompt and one set of model turns in the evidence, one ending.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Server;

/// One agent step.
const SLOW: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="slow" name="Slow draft" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Draft"/>
    <bpmn:serviceTask id="Draft" name="Draft">
      <bpmn:extensionElements><aw:agentTask agent="writer" purposeType="analysis" environment="staging"
        prompt="Draft {{input.n}}"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Draft" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

/// Four slow turns: well past a one-second lease, several times over.
const SCRIPTS: &str = r#"
[[nodes.Draft]]
tool_calls = [{ name = "nothing.here", arguments = { q = "one" } }]
delay_ms = 900

[[nodes.Draft]]
tool_calls = [{ name = "nothing.here", arguments = { q = "two" } }]
delay_ms = 900

[[nodes.Draft]]
tool_calls = [{ name = "nothing.here", arguments = { q = "three" } }]
delay_ms = 900

[[nodes.Draft]]
reply = "done"
delay_ms = 900
"#;

fn count(pack: &Value, section: &str) -> usize {
    pack[section].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_slower_than_its_lease_runs_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts.toml");
    std::fs::write(&scripts, SCRIPTS).expect("scripts");
    let env = [
        ("AGENTWERKE_SCRIPTS", scripts.display().to_string()),
        ("AGENTWERKE_LEASE_SECS", "1".to_owned()),
        // A claim of work some claim left unfinished is logged at info.
        ("AGENTWERKE_LOG", "info".to_owned()),
    ];
    let one = Server::start(dir.path(), &env).await;
    let other = Server::start(dir.path(), &env).await;
    let admin = one.token("Admin");
    one.publish(&admin, "slow", SLOW).await;
    let started = one
        .post(
            &admin,
            "/api/runs",
            json!({"workflowId": "slow", "inputs": {"n": 1}}),
        )
        .await;
    let run_id = started["runId"].as_str().expect("run id").to_owned();
    other
        .wait_until(Duration::from_secs(60), async |s: &Server| {
            s.get(&admin, &format!("/api/runs/{run_id}")).await["status"] != "running"
        })
        .await;

    let run = one.get(&admin, &format!("/api/runs/{run_id}")).await;
    assert_eq!(run["status"], "completed", "{run:#}");
    let pack = other
        .get(&admin, &format!("/api/runs/{run_id}/evidence-pack"))
        .await;
    assert_eq!(count(&pack, "modelUsage"), 4, "one set of turns: {pack:#}");
    assert_eq!(count(&pack, "prompts"), 1, "one execution: {pack:#}");
    let audit = one.get(&admin, &format!("/api/runs/{run_id}/audit")).await;
    let ended = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["kind"] == "step.completed" || r["kind"] == "step.failed")
        .count();
    assert_eq!(ended, 1, "{audit:#}");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(
        !log.contains("recovering agent work"),
        "no process claimed the step again:\n{log}"
    );
    drop(other);
    drop(one);
}
