//! Kill the real binary with SIGKILL in the middle of many runs, start it
//! again on the same data folder, and check that every run finishes with each
//! step committed exactly once and its timer honoured.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::Server;

const RUNS: usize = 24;

const PIPELINE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="pipeline" name="Crash pipeline" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Plan"/>
    <bpmn:serviceTask id="Plan" name="Plan">
      <bpmn:extensionElements><aw:agentTask agent="planner" purposeType="analysis" environment="staging" prompt="Plan {{input.n}}"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Plan" targetRef="Build"/>
    <bpmn:serviceTask id="Build" name="Build">
      <bpmn:extensionElements><aw:agentTask agent="builder" purposeType="analysis" environment="staging" prompt="Build {{input.n}}"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Build" targetRef="Cool"/>
    <bpmn:intermediateCatchEvent id="Cool" name="Cool down">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f4" sourceRef="Cool" targetRef="Report"/>
    <bpmn:serviceTask id="Report" name="Report">
      <bpmn:extensionElements><aw:agentTask agent="reporter" purposeType="analysis" environment="staging" prompt="Report {{input.n}}"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f5" sourceRef="Report" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

/// Every model call takes a while, so a kill lands while steps are in flight.
const SCRIPTS: &str = r#"
[[default]]
reply = "done with {{input.n}}"
delay_ms = 120
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_loses_nothing_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts.toml");
    std::fs::write(&scripts, SCRIPTS).expect("scripts");
    let env = [
        ("AGENTWERKE_SCRIPTS", scripts.display().to_string()),
        ("AGENTWERKE_LEASE_SECS", "2".to_owned()),
        ("AGENTWERKE_MAX_CONCURRENT_STEPS", "4".to_owned()),
    ];

    let server = Server::start(dir.path(), &env).await;
    let admin = server.token("Admin");
    server.publish(&admin, "pipeline", PIPELINE).await;
    let mut runs = Vec::new();
    for n in 0..RUNS {
        let started = server
            .post(
                &admin,
                "/api/runs",
                json!({"workflowId": "pipeline", "inputs": {"n": n}}),
            )
            .await;
        runs.push(started["runId"].as_str().expect("run id").to_owned());
    }

    // Kill once some steps are committed and while most work is still open.
    server
        .wait_until(Duration::from_secs(60), async |s: &Server| {
            let completed = completed_steps(s, &admin, &runs).await;
            (RUNS / 2..RUNS * 3).contains(&completed)
        })
        .await;
    let port = server.port;
    server.kill();

    let mut env_after = env.to_vec();
    env_after.push(("AGENTWERKE_LOG", "info".to_owned()));
    let server = Server::start_on(dir.path(), &env_after, port).await;
    let admin = server.token("Admin");
    server
        .wait_until(Duration::from_secs(120), async |s: &Server| {
            let mut all = true;
            for run in &runs {
                let body = s.get(&admin, &format!("/api/runs/{run}")).await;
                all &= body["status"] == "completed";
            }
            all
        })
        .await;

    // The restart says what it took over.
    let log = std::fs::read_to_string(dir.path().join("server.log")).expect("log");
    assert!(log.contains("recovering agent work"), "{log}");

    for run in &runs {
        let body = server.get(&admin, &format!("/api/runs/{run}")).await;
        let mut per_node: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for step in body["steps"].as_array().expect("steps") {
            per_node
                .entry(step["nodeId"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(step);
        }
        for node in ["Plan", "Build", "Cool", "Report"] {
            let steps = per_node.get(node).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(
                steps.len(),
                1,
                "run {run}: {node} recorded {} times: {body:#}",
                steps.len()
            );
            assert_eq!(steps[0]["status"], "completed", "run {run}: {body:#}");
        }
        let audit = server.get(&admin, &format!("/api/runs/{run}/audit")).await;
        let items = audit["items"].as_array().expect("audit items");
        for node in ["Plan", "Build", "Report"] {
            let committed = items
                .iter()
                .filter(|r| r["kind"] == "step.completed" && r["data"]["nodeId"] == node)
                .count();
            assert_eq!(
                committed, 1,
                "run {run}: {node} committed {committed} times"
            );
        }
        let output = &body["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["nodeId"] == "Report")
            .expect("report")["output"];
        assert!(
            output.to_string().contains("done with"),
            "run {run}: Report output {output}"
        );
    }
    server.kill();
}

async fn completed_steps(server: &Server, token: &str, runs: &[String]) -> usize {
    let mut completed = 0;
    for run in runs {
        let body = server.get(token, &format!("/api/runs/{run}")).await;
        completed += body["steps"]
            .as_array()
            .map(|steps| steps.iter().filter(|s| s["status"] == "completed").count())
            .unwrap_or_default();
    }
    completed
}
