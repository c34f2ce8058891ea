//! Code execution through the real binary: a scripted agent runs a command
//! with `exec.run` and works on the run's workspace (a git checkout); the
//! execution is in the evidence pack and the audit chain, a secret the
//! command prints is redacted everywhere, read-only profiles and paths
//! leaving the workspace are refused, and without bubblewrap the tool fails
//! closed.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::Server;

/// The value of `EXEC_TEST_TOKEN`, a secret the server redacts.
const PLANTED: &str = "s3cr3t-plantedvalue-xyz";

const WORKFLOW: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="build" name="Build" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Build"/>
    <bpmn:serviceTask id="Build" name="Build">
      <bpmn:extensionElements><aw:agentTask agent="builder" purposeType="analysis" environment="staging"
        permissionLevel="full" sandboxProfile="repo-write" executionMode="tool_sandboxed"
        requiresEvidence="true" prompt="Build it"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Build" targetRef="Inspect"/>
    <bpmn:serviceTask id="Inspect" name="Inspect">
      <bpmn:extensionElements><aw:agentTask agent="reader" purposeType="analysis" environment="staging"
        permissionLevel="full" sandboxProfile="repo-read" prompt="Look at it"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Inspect" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

const SCRIPTS: &str = r#"
[[nodes.Build]]
tool_calls = [{ name = "workspace.write", arguments = { path = "notes/hello.txt", content = "hello from the agent" } }]

[[nodes.Build]]
tool_calls = [{ name = "exec.run", arguments = { program = "sh", args = ["-c", "echo hi; printf '%s%s\\n' s3cr3t-planted value-xyz; ls; ls ../..; cat notes/hello.txt"] } }]

[[nodes.Build]]
tool_calls = [{ name = "workspace.read", arguments = { path = "notes/hello.txt" } }]

[[nodes.Build]]
reply = "built"

[[nodes.Inspect]]
tool_calls = [{ name = "workspace.write", arguments = { path = "sneaky.txt", content = "no" } }]

[[nodes.Inspect]]
tool_calls = [{ name = "workspace.read", arguments = { path = "../../agentwerke.db" } }]

[[nodes.Inspect]]
tool_calls = [{ name = "workspace.read", arguments = { path = "README.md" } }]

[[nodes.Inspect]]
reply = "inspected"
"#;

/// A repository with one commit, for the workspace checkout.
fn repository(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).expect("repo");
    std::fs::write(repo.join("README.md"), "checked out").expect("readme");
    for args in [
        &["init", "--quiet", "--initial-branch=main"][..],
        &["add", "README.md"],
        &["commit", "--quiet", "-m", "first"],
    ] {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.test"])
            .args(args)
            .current_dir(&repo)
            .env("HOME", dir)
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    }
    repo
}

/// Starts a server for the workflow with `extra` config lines.
async fn server(dir: &Path, extra: &str) -> Server {
    let repo = repository(dir);
    let scripts = dir.join("scripts.toml");
    std::fs::write(&scripts, SCRIPTS).expect("scripts");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"seed-sample = false
scripts = "{scripts}"
redact-env = ["EXEC_TEST_TOKEN"]
{extra}
[[agents]]
name = "builder"
sandbox-profiles = ["repo-write"]

[[agents]]
name = "reader"
sandbox-profiles = ["repo-read"]

[workspace]
repository = "{repo}"
"#,
            scripts = scripts.display(),
            repo = repo.display(),
        ),
    )
    .expect("config");
    let env = [
        ("AGENTWERKE_CONFIG", config.display().to_string()),
        ("EXEC_TEST_TOKEN", PLANTED.to_owned()),
    ];
    Server::start(dir, &env).await
}

async fn run_to_end(server: &Server, token: &str) -> (String, Value) {
    run_workflow(server, token, "build", WORKFLOW).await
}

/// Publishes `bpmn` as `id`, starts a run of it and waits for its end: the
/// run's id and view.
async fn run_workflow(server: &Server, token: &str, id: &str, bpmn: &str) -> (String, Value) {
    server.publish(token, id, bpmn).await;
    let started = server
        .post(token, "/api/runs", json!({"workflowId": id, "inputs": {}}))
        .await;
    let run = started["runId"].as_str().expect("run id").to_owned();
    server
        .wait_until(Duration::from_secs(60), async |s: &Server| {
            let body = s.get(token, &format!("/api/runs/{run}")).await;
            matches!(body["status"].as_str(), Some("completed" | "failed"))
        })
        .await;
    let body = server.get(token, &format!("/api/runs/{run}")).await;
    (run, body)
}

fn call_error<'a>(run: &'a Value, tool: &str) -> Vec<&'a str> {
    run["toolCalls"]
        .as_array()
        .expect("tool calls")
        .iter()
        .filter(|c| c["tool"] == tool)
        .filter_map(|c| c["outcome"]["error"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_runs_sandboxed_in_the_run_workspace_and_is_in_the_evidence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = server(dir.path(), "").await;
    let admin = server.token("Admin");
    let (run, body) = run_to_end(&server, &admin).await;
    assert_eq!(body["status"], "completed", "{body:#}");

    // The workspace is a checkout, and what the agent wrote is in it.
    let workspace = server.data_dir.join("workspaces").join(&run);
    assert!(workspace.join(".git").is_dir());
    assert_eq!(
        std::fs::read_to_string(workspace.join("notes/hello.txt")).expect("written"),
        "hello from the agent"
    );

    // Refusals under repo-read, with their codes.
    let writes = call_error(&body, "workspace.write");
    assert!(
        writes
            .iter()
            .any(|e| e.starts_with("gateway.workspace.read_only")),
        "{body:#}"
    );
    let reads = call_error(&body, "workspace.read");
    assert!(
        reads
            .iter()
            .any(|e| e.starts_with("gateway.workspace.path_outside")),
        "{body:#}"
    );

    let pack = server
        .get(&admin, &format!("/api/runs/{run}/evidence-pack"))
        .await;
    let executions = pack["sandboxExecutions"].as_array().expect("executions");
    assert_eq!(executions.len(), 1, "{pack:#}");
    let execution = &executions[0];
    assert_eq!(execution["profile"], "repo-write");
    assert_eq!(execution["mode"], "tool_sandboxed");
    assert_eq!(execution["isolation"], "namespaces");
    assert_eq!(execution["exitCode"], 0);
    assert!(
        execution["command"]
            .as_str()
            .is_some_and(|c| c.starts_with("sh -c 'echo hi;")),
        "{execution:#}"
    );
    let stdout = &execution["stdout"];
    assert_eq!(stdout["sha256"].as_str().map(str::len), Some(64));
    let excerpt = stdout["excerpt"].as_str().expect("excerpt");
    assert!(excerpt.starts_with("hi\n"), "{excerpt}");
    assert!(
        excerpt.contains("README.md") && excerpt.contains("notes"),
        "{excerpt}"
    );
    assert!(excerpt.contains("hello from the agent"), "{excerpt}");
    assert!(excerpt.contains("[REDACTED"), "{excerpt}");
    // The digest is of what the command wrote, secret and all.
    // `ls ../..` is the data folder as the command sees it: nothing but
    // the workspaces' folder (no database, no keys).
    assert!(server.data_dir.join("agentwerke.db").is_file());
    let written = format!("hi\n{PLANTED}\nREADME.md\nnotes\nworkspaces\nhello from the agent");
    assert_eq!(
        stdout["sha256"],
        agentwerke_evidence::canonical::sha256_hex(written.as_bytes()),
        "{excerpt}"
    );

    // The planted secret is nowhere: not in the pack, not in the run.
    let shown = serde_json::to_string(&pack).expect("json");
    assert!(!shown.contains(PLANTED));
    assert!(
        !serde_json::to_string(&body)
            .expect("json")
            .contains(PLANTED)
    );
    let audit = pack["auditLog"].as_array().expect("audit");
    assert!(
        audit
            .iter()
            .any(|r| r["kind"] == "sandbox.executed" && r["data"]["exitCode"] == 0),
        "{pack:#}"
    );
    let report = agentwerke_evidence::verify(&serde_json::to_vec(&pack).expect("json"), None);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let log = std::fs::read_to_string(dir.path().join("server.log")).expect("log");
    assert!(!log.contains(PLANTED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_bubblewrap_exec_fails_closed_and_a_step_requiring_evidence_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-bwrap");
    let server = server(
        dir.path(),
        &format!("[sandbox]\nbwrap = \"{}\"\n", missing.display()),
    )
    .await;
    let admin = server.token("Admin");
    let (run, body) = run_to_end(&server, &admin).await;
    assert_eq!(body["status"], "failed", "{body:#}");
    let errors = call_error(&body, "exec.run");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("sandbox.isolation_unavailable")),
        "{body:#}"
    );
    let build = body["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["nodeId"] == "Build")
        .expect("the Build step");
    assert!(
        build.to_string().contains("sandbox.isolation_unavailable"),
        "{build:#}"
    );
    let pack = server
        .get(&admin, &format!("/api/runs/{run}/evidence-pack"))
        .await;
    assert_eq!(pack["sandboxExecutions"], json!([]));
    let log = std::fs::read_to_string(dir.path().join("server.log")).expect("log");
    assert_eq!(
        log.matches("exec.run is unavailable").count(),
        1,
        "said once at start: {log}"
    );
}

/// `agentwerke check` says whether `exec.run` can run commands here.
#[test]
fn check_says_whether_commands_can_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = |bwrap: &Path| {
        let output = std::process::Command::new(support::BIN)
            .arg("check")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("AGENTWERKE_SANDBOX__BWRAP", bwrap)
            .output()
            .expect("agentwerke check");
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let missing = check(&dir.path().join("no-bwrap"));
    assert!(
        missing.contains("exec.run: unavailable")
            && missing.contains("sandbox.isolation_unavailable"),
        "{missing}"
    );
    let found = check(Path::new("bwrap"));
    assert!(
        found.contains("exec.run: commands run in the sandbox"),
        "{found}"
    );
}

/// A task under `repo-read` reaches out only through the egress proxy: a
/// host its profile's `[sandbox.egress-hosts]` lists is reached (a server
/// of the test's, on the host's loopback, which `localhost` may reach as a
/// named private exception), one off the list is refused by the proxy, and
/// both connections are in the pack with their decisions. A secret granted
/// to the agent and asked for by a call is a file for that command only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repo_read_command_reaches_only_listed_hosts_through_the_proxy() {
    let port = serve_hello();
    let workflow = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="fetch" name="Fetch" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fetch"/>
    <bpmn:serviceTask id="Fetch" name="Fetch">
      <bpmn:extensionElements><aw:agentTask agent="reader" purposeType="analysis" environment="staging"
        permissionLevel="full" sandboxProfile="repo-read" requiresEvidence="true" prompt="Fetch it"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Fetch" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts.toml");
    std::fs::write(
        &scripts,
        format!(
            r#"
[[nodes.Fetch]]
tool_calls = [{{ name = "exec.run", arguments = {{ program = "sh", args = ["-c", "curl -s http://localhost:{port}/; echo; curl -s -o /dev/null -w '%{{http_code}}' http://blocked.example/"] }} }}]

[[nodes.Fetch]]
tool_calls = [{{ name = "exec.run", arguments = {{ program = "sh", args = ["-c", "cat $SECRETS_DIR/deploy_key; echo; ls $SECRETS_DIR"], secret_files = ["secret:deploy_key"] }} }}]

[[nodes.Fetch]]
tool_calls = [{{ name = "exec.run", arguments = {{ program = "sh", args = ["-c", "ls /run; echo ${{SECRETS_DIR:-none}}"] }} }}]

[[nodes.Fetch]]
reply = "fetched"
"#
        ),
    )
    .expect("scripts");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"seed-sample = false
scripts = "{scripts}"
egress-allow-private-hosts = ["localhost"]

[secrets]
deploy_key = "env:EXEC_DEPLOY_KEY"

[[agents]]
name = "reader"
sandbox-profiles = ["repo-read"]
secrets = ["deploy_key"]

[sandbox.egress-hosts]
repo-read = ["localhost"]
"#,
            scripts = scripts.display(),
        ),
    )
    .expect("config");
    let server = Server::start(
        dir.path(),
        &[
            ("AGENTWERKE_CONFIG", config.display().to_string()),
            ("EXEC_DEPLOY_KEY", DEPLOY_KEY.to_owned()),
        ],
    )
    .await;
    let admin = server.token("Admin");
    let (run, body) = run_workflow(&server, &admin, "fetch", workflow).await;
    assert_eq!(body["status"], "completed", "{body:#}");
    let pack = server
        .get(&admin, &format!("/api/runs/{run}/evidence-pack"))
        .await;
    let execution = &pack["sandboxExecutions"][0];
    assert_eq!(
        execution["stdout"]["excerpt"], "hello-from-host\n403",
        "{execution:#}"
    );
    let egress = execution["egress"].as_array().expect("egress");
    assert_eq!(egress.len(), 2, "{execution:#}");
    assert_eq!(egress[0]["host"], "localhost");
    assert_eq!(egress[0]["decision"], "allowed");
    assert!(egress[0]["bytesDown"].as_u64().is_some_and(|b| b > 0));
    assert_eq!(egress[1]["host"], "blocked.example");
    assert_eq!(egress[1]["decision"], "refused");
    assert_eq!(egress[1]["code"], "gateway.egress.host_not_allowed");

    // A granted secret is a file for the command that asked for it, and
    // for no other; its value is in no record, only its name.
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&pack["toolCalls"]).unwrap()
    );
    let with_secret = &pack["sandboxExecutions"][1];
    assert_eq!(
        with_secret["secretFiles"],
        json!(["deploy_key"]),
        "{with_secret:#}"
    );
    let excerpt = with_secret["stdout"]["excerpt"].as_str().expect("excerpt");
    assert!(
        excerpt.contains("[REDACTED") && excerpt.ends_with("deploy_key\n"),
        "{excerpt}"
    );
    let without = &pack["sandboxExecutions"][2];
    assert!(without.get("secretFiles").is_none(), "{without:#}");
    // Its `/run` holds the proxy's socket folder and no secrets.
    assert_eq!(
        without["stdout"]["excerpt"], "agentwerke\nnone\n",
        "{without:#}"
    );
    assert!(
        !serde_json::to_string(&pack)
            .expect("json")
            .contains(DEPLOY_KEY)
    );
    assert!(
        !serde_json::to_string(&body)
            .expect("json")
            .contains(DEPLOY_KEY)
    );
    let log = std::fs::read_to_string(dir.path().join("server.log")).expect("log");
    assert!(!log.contains(DEPLOY_KEY));

    let report = agentwerke_evidence::verify(&serde_json::to_vec(&pack).expect("json"), None);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// The value of the `deploy_key` secret the egress test grants.
const DEPLOY_KEY: &str = "dk-9f8e7d6c5b4a39281706";

/// A loopback HTTP server on the host answering `hello-from-host`; its port.
fn serve_hello() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ =
                stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\nhello-from-host");
        }
    });
    port
}

/// `executionMode="agent_sandboxed"`: the step's commands share one
/// sandbox (a file one leaves in its private `/tmp` is there for the next),
/// behind one egress proxy, and each is recorded with the session's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sandboxed_step_runs_its_commands_in_one_sandbox() {
    let port = serve_hello();
    let workflow = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="work" name="Work" isExecutable="true" aw:egressHosts="localhost">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Work"/>
    <bpmn:serviceTask id="Work" name="Work">
      <bpmn:extensionElements><aw:agentTask agent="reader" purposeType="analysis" environment="staging"
        permissionLevel="full" sandboxProfile="repo-read" executionMode="agent_sandboxed"
        requiresEvidence="true" prompt="Work"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Work" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts.toml");
    std::fs::write(
        &scripts,
        format!(
            r#"
[[nodes.Work]]
tool_calls = [{{ name = "exec.run", arguments = {{ program = "sh", args = ["-c", "echo carried > /tmp/note; curl -s http://localhost:{port}/; {background}"] }} }}]

[[nodes.Work]]
tool_calls = [{{ name = "exec.run", arguments = {{ program = "sh", args = ["-c", "cat /tmp/note; touch /tmp/go"] }} }}]

# The model takes its time: what the process left running does now is
# between commands.
[[nodes.Work]]
delay_ms = 4000
tool_calls = [{{ name = "exec.run", arguments = {{ program = "sh", args = ["-c", "while [ ! -e /tmp/bg-done ]; do sleep 0.05; done; cat /tmp/bg"] }} }}]

[[nodes.Work]]
reply = "done"
"#,
            // Left running by the first command: a second after the second
            // command, while the model thinks, it reaches the host's server
            // and then a host off the list.
            background = "(while [ ! -e /tmp/go ]; do sleep 0.05; done; sleep 1; \
                curl -s http://localhost:{port}/ > /tmp/bg; \
                curl -s http://blocked.example/ > /dev/null; touch /tmp/bg-done) > /dev/null 2>&1 &"
                .replace("{port}", &port.to_string()),
        ),
    )
    .expect("scripts");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"seed-sample = false
scripts = "{scripts}"
egress-allow-private-hosts = ["localhost"]

[[agents]]
name = "reader"
sandbox-profiles = ["repo-read"]
"#,
            scripts = scripts.display(),
        ),
    )
    .expect("config");
    let server = Server::start(
        dir.path(),
        &[("AGENTWERKE_CONFIG", config.display().to_string())],
    )
    .await;
    let admin = server.token("Admin");
    let (run, body) = run_workflow(&server, &admin, "work", workflow).await;
    assert_eq!(body["status"], "completed", "{body:#}");
    let pack = server
        .get(&admin, &format!("/api/runs/{run}/evidence-pack"))
        .await;
    let executions = pack["sandboxExecutions"].as_array().expect("executions");
    assert_eq!(executions.len(), 3, "{pack:#}");
    let session = executions[0]["session"].as_str().expect("a session id");
    for execution in executions {
        assert_eq!(execution["mode"], "agent_sandboxed", "{execution:#}");
        assert_eq!(execution["session"], session, "{execution:#}");
    }
    // The workflow's egressHosts let it reach the host's server.
    assert_eq!(executions[0]["stdout"]["excerpt"], "hello-from-host");
    assert_eq!(executions[0]["egress"][0]["decision"], "allowed");
    assert_eq!(executions[1]["stdout"]["excerpt"], "carried\n");
    assert_eq!(executions[2]["stdout"]["excerpt"], "hello-from-host");
    // What the process left running did between commands is in no
    // command's record: the session's own record holds it.
    for execution in &executions[1..] {
        assert!(execution.get("egress").is_none(), "{execution:#}");
    }
    let sessions = pack["sandboxSessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{pack:#}");
    assert_eq!(sessions[0]["session"], session);
    assert_eq!(sessions[0]["commands"], 3);
    let between: Vec<(&str, &str)> = sessions[0]["egress"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| (c["host"].as_str().unwrap(), c["decision"].as_str().unwrap()))
        .collect();
    assert_eq!(
        between,
        [("localhost", "allowed"), ("blocked.example", "refused")]
    );
    let closed: Vec<&Value> = pack["auditLog"]
        .as_array()
        .expect("audit")
        .iter()
        .filter(|r| r["kind"] == "sandbox.session_closed")
        .collect();
    assert_eq!(closed.len(), 1, "{pack:#}");
    assert_eq!(closed[0]["data"]["connections"], 2);
    assert_eq!(closed[0]["data"]["notAllowed"], 1);
}
