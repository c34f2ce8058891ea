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

/// A workflow whose one agent step writes an artifact, reads from a remote
/// server (`GET`, safe to repeat) and posts an order to it (`POST`, not).
const COURIER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="courier" name="Courier" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Deliver"/>
    <bpmn:serviceTask id="Deliver" name="Deliver">
      <bpmn:extensionElements><aw:agentTask agent="courier" purposeType="delivery" environment="staging" permissionLevel="full" sandboxProfile="repo-read" prompt="Deliver order {{input.n}}"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Deliver" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

/// Lets the courier reach the test's own server (loopback, which the
/// default policies refuse) and write artifacts, without a human.
const LOOPBACK_POLICY: &str = r#"
@id("permit-reads") @rationale("Reads are fine.")
permit (principal, action in Action::"category:read", resource);
@id("permit-artifacts") @rationale("Artifacts are fine.")
permit (principal, action == Action::"artifact.write", resource);
@id("permit-test-server") @rationale("The test's own order server.")
permit (principal, action == Action::"http.request", resource == Target::"127.0.0.1");
"#;

/// A remote order server: it logs every request it receives (method and
/// path with query) and SIGKILLs the agentwerke process the first time an
/// order is posted, after the order has arrived and before any answer can
/// be recorded: the side effect happened, its record did not.
mod orders {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::extract::{Request, State};

    #[derive(Default)]
    pub(super) struct Orders {
        pub(super) seen: Mutex<Vec<(String, String)>>,
        pub(super) victim: AtomicU32,
        pub(super) killed: AtomicBool,
    }

    impl Orders {
        pub(super) fn seen(&self) -> Vec<(String, String)> {
            self.seen.lock().expect("log").clone()
        }
    }

    async fn any(State(orders): State<Arc<Orders>>, request: Request) -> &'static str {
        let method = request.method().to_string();
        let uri = request.uri().to_string();
        orders.seen.lock().expect("log").push((method.clone(), uri));
        if method == "POST" && !orders.killed.swap(true, Ordering::SeqCst) {
            use nix::sys::signal::{Signal, kill};
            use nix::unistd::Pid;
            let pid = orders.victim.load(Ordering::SeqCst);
            kill(
                Pid::from_raw(i32::try_from(pid).expect("pid")),
                Signal::SIGKILL,
            )
            .expect("SIGKILL");
        }
        "ok"
    }

    /// Serves on a free loopback port; its base URL.
    pub(super) async fn serve(orders: Arc<Orders>) -> String {
        let app = axum::Router::new().fallback(any).with_state(orders);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        url
    }
}

/// Kill -9 between a tool call's side effect and its record: the restarted
/// server replays the step from the journal. Recorded calls are not made
/// again; the lost `POST` is not repeated until a human approves it, and
/// every request the remote server saw is accounted for in the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_a_tool_call_and_its_record_repeats_nothing_silently() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use agentwerke_store::{SqliteStore, Store};

    const ORDERS: usize = 3;
    let orders = Arc::new(orders::Orders::default());
    let base = orders::serve(Arc::clone(&orders)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts.toml");
    std::fs::write(
        &scripts,
        format!(
            r#"
[[nodes.Deliver]]
tool_calls = [
  {{ name = "artifact.write", arguments = {{ path = "orders/{{{{input.n}}}}.md", content = "order {{{{input.n}}}}" }} }},
  {{ name = "http.request", arguments = {{ url = "{base}/stock?n={{{{input.n}}}}" }} }},
  {{ name = "http.request", arguments = {{ url = "{base}/orders?n={{{{input.n}}}}", method = "POST", body = "order {{{{input.n}}}}" }} }},
]
[[nodes.Deliver]]
reply = "delivered {{{{input.n}}}}"
"#
        ),
    )
    .expect("scripts");
    let config = dir.path().join("agentwerke.toml");
    std::fs::write(
        &config,
        "egress-allow-private-hosts = [\"127.0.0.1\"]\n\n\
         [[agents]]\nname = \"courier\"\nsandbox-profiles = [\"repo-read\"]\n",
    )
    .expect("config");
    let env = [
        ("AGENTWERKE_SCRIPTS", scripts.display().to_string()),
        ("AGENTWERKE_CONFIG", config.display().to_string()),
        ("AGENTWERKE_LEASE_SECS", "2".to_owned()),
        ("AGENTWERKE_MAX_CONCURRENT_STEPS", "1".to_owned()),
    ];

    let server = Server::start(dir.path(), &env).await;
    orders.victim.store(server.pid(), Ordering::SeqCst);
    let admin = server.token("Admin");
    let draft = server
        .post(&admin, "/api/policies", json!({"text": LOOPBACK_POLICY}))
        .await;
    let version = draft["version"].as_i64().expect("policy version");
    server
        .post(
            &admin,
            &format!("/api/policies/{version}/publish"),
            json!({}),
        )
        .await;
    server.publish(&admin, "courier", COURIER).await;
    let mut runs = Vec::new();
    for n in 0..ORDERS {
        let started = server
            .post(
                &admin,
                "/api/runs",
                json!({"workflowId": "courier", "inputs": {"n": n}}),
            )
            .await;
        runs.push(started["runId"].as_str().expect("run id").to_owned());
    }

    // The first order posted kills the server.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !orders.killed.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no order was posted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let port = server.port;
    server.kill();
    let posted_before: Vec<(String, String)> = orders
        .seen()
        .into_iter()
        .filter(|(method, _)| method == "POST")
        .collect();
    assert_eq!(posted_before.len(), 1, "{:?}", orders.seen());
    let lost = posted_before[0].1.clone();

    let server = Server::start_on(dir.path(), &env, port).await;
    let admin = server.token("Admin");
    // Every other order goes through; the lost one waits for a human.
    let status = async |s: &Server, run: &str| -> String {
        let body = s.get(&admin, &format!("/api/runs/{run}")).await;
        body["status"].as_str().unwrap_or_default().to_owned()
    };
    server
        .wait_until(Duration::from_secs(60), async |s: &Server| {
            let mut settled = 0;
            for run in &runs {
                let now = status(s, run).await;
                settled += usize::from(now == "completed" || now == "awaiting_approval");
            }
            settled == ORDERS
        })
        .await;
    let mut waiting = Vec::new();
    for run in &runs {
        if status(&server, run).await == "awaiting_approval" {
            waiting.push(run.clone());
        }
    }
    assert_eq!(
        waiting.len(),
        1,
        "the run whose order was lost waits for a human"
    );
    let waiting = waiting.remove(0);
    let store = SqliteStore::open(&server.data_dir.join("agentwerke.db").display().to_string())
        .await
        .expect("open the database");

    let posts = |seen: &[(String, String)], uri: &str| {
        seen.iter().filter(|(m, u)| m == "POST" && u == uri).count()
    };
    let seen = orders.seen();
    assert_eq!(
        posts(&seen, &lost),
        1,
        "not repeated without a human: {seen:?}"
    );
    let approvals = server
        .get(
            &admin,
            &format!("/api/approvals?runId={waiting}&status=pending"),
        )
        .await;
    let items = approvals["items"].as_array().expect("approvals");
    assert_eq!(items.len(), 1, "{approvals:#}");
    // The request's content is shown with the approval.
    let request = &items[0];
    assert_eq!(request["cause"], "tool_outcome_unknown", "{request:#}");
    assert_eq!(request["tool"], "http.request");
    assert!(
        request["requestedAction"]
            .as_str()
            .is_some_and(|a| a.contains("may or may not have happened")),
        "{request:#}"
    );
    let journal = store.tool_calls_for_run(&waiting).await.expect("journal");
    let post = journal
        .iter()
        .find(|c| c.arguments["method"] == "POST")
        .expect("the lost order's intent is journalled");
    assert_eq!(post.status.as_str(), "started", "its outcome is unknown");
    assert_eq!(post.executions, 1);
    assert_eq!(request["callId"], post.call_id.as_str());
    for call in journal.iter().filter(|c| c.arguments["method"] != "POST") {
        assert_eq!(
            (call.status.as_str(), call.executions),
            ("executed", 1),
            "recorded before the kill, replayed after it: {call:?}"
        );
    }

    // A human says: post it again.
    let approval = items[0]["id"].as_str().expect("approval id").to_owned();
    let approver = server.token("Approver");
    server
        .post(
            &approver,
            &format!("/api/approvals/{approval}/decision"),
            json!({"decision": "approve", "comment": "the shop never got it"}),
        )
        .await;
    server
        .wait_until(Duration::from_secs(60), async |s: &Server| {
            s.get(&admin, &format!("/api/runs/{waiting}")).await["status"] == "completed"
        })
        .await;
    let seen = orders.seen();
    assert_eq!(
        posts(&seen, &lost),
        2,
        "once more, after the approval: {seen:?}"
    );
    let journal = store.tool_calls_for_run(&waiting).await.expect("journal");
    let post = journal
        .iter()
        .find(|c| c.arguments["method"] == "POST")
        .expect("journalled");
    assert_eq!((post.status.as_str(), post.executions), ("executed", 2));
    assert_eq!(post.approval_id.as_deref(), Some(approval.as_str()));

    // Every request the order server saw is in the journal, as often as it
    // was made, and nothing in the journal was not seen.
    let mut journalled: Vec<(String, String)> = Vec::new();
    for run in &runs {
        for call in store.tool_calls_for_run(run).await.expect("journal") {
            if call.tool != "http.request" {
                assert_eq!(call.executions, 1, "{call:?}");
                continue;
            }
            assert_eq!(call.status.as_str(), "executed", "{call:?}");
            let method = call.arguments["method"]
                .as_str()
                .unwrap_or("GET")
                .to_owned();
            let url = call.arguments["url"].as_str().expect("url");
            let uri = url
                .strip_prefix(base.as_str())
                .expect("the order server")
                .to_owned();
            for _ in 0..call.executions {
                journalled.push((method.clone(), uri.clone()));
            }
        }
    }
    let mut seen = orders.seen();
    seen.sort();
    journalled.sort();
    assert_eq!(seen, journalled);
    assert_eq!(seen.len(), ORDERS * 2 + 1, "{seen:?}");
    for run in &runs {
        let body = server.get(&admin, &format!("/api/runs/{run}")).await;
        assert_eq!(body["status"], "completed", "{body:#}");
    }
    store.close().await;
    server.kill();
}
