//! The quickstart, command by command, against the real binary.

mod support;

use std::process::{Command, Output};

use support::{BIN, Server};

fn agentwerke(server: &Server, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("AGENTWERKE_URL", &server.url)
        .env("AGENTWERKE_TOKEN", token)
        .output()
        .expect("run agentwerke")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_from_start_to_verified_evidence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]).await;
    let operator = server.token("Operator");
    let approver = server.token("Approver");

    // The sample workflow is seeded; start it and follow it to the gate.
    let started = ok(agentwerke(
        &server,
        &operator,
        &[
            "run",
            "start",
            "hello-sdlc",
            "--input",
            "title=Add audit export",
            "--wait",
        ],
    ));
    assert!(started.contains("awaiting_approval"), "{started}");
    let approval = started
        .split_whitespace()
        .skip_while(|w| *w != "approve")
        .nth(1)
        .expect("the output says how to approve")
        .to_owned();
    let run_id = started
        .split_whitespace()
        .nth(2)
        .expect("started run <id>")
        .to_owned();

    // The requester may not approve their own run; an approver may.
    let own = agentwerke(&server, &operator, &["approve", &approval, "-m", "mine"]);
    assert!(!own.status.success());
    ok(agentwerke(
        &server,
        &approver,
        &[
            "approve",
            &approval,
            "--comment",
            "Reviewed generated output and risk rationale.",
        ],
    ));

    server
        .wait_until(std::time::Duration::from_secs(20), async |s: &Server| {
            let shown = stdout(&agentwerke(s, &approver, &["run", "show", &run_id]));
            shown.contains("completed")
        })
        .await;
    let listed = ok(agentwerke(
        &server,
        &approver,
        &["run", "list", "--status", "completed"],
    ));
    assert!(listed.contains(&run_id), "{listed}");

    // Download, verify, then tamper with one byte of a step's output.
    let pack = dir.path().join("pack.json");
    let pack_arg = pack.display().to_string();
    ok(agentwerke(
        &server,
        &approver,
        &["evidence", "download", &run_id, "-o", &pack_arg],
    ));
    let verified = ok(agentwerke(
        &server,
        &approver,
        &["evidence", "verify", &pack_arg, "--server", &server.url],
    ));
    assert!(
        verified.contains("valid. Signed by the trusted key"),
        "{verified}"
    );

    let text = std::fs::read_to_string(&pack).expect("pack");
    let tampered = text.replacen("Reviewed generated output", "Reviewed generated 0utput", 1);
    assert_ne!(text, tampered, "the comment is in the pack");
    std::fs::write(&pack, tampered).expect("write");
    let refused = agentwerke(&server, "", &["evidence", "verify", &pack_arg]);
    assert_eq!(refused.status.code(), Some(1));
    let report = stdout(&refused);
    assert!(
        report.contains("NOT valid") && report.contains("was altered"),
        "{report}"
    );
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_question_is_answered_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]).await;
    let operator = server.token("Operator");

    let started = ok(agentwerke(
        &server,
        &operator,
        &[
            "run",
            "start",
            "clarify-request",
            "-i",
            "title=Audit export",
            "--wait",
        ],
    ));
    assert!(started.contains("waiting_user"), "{started}");
    assert!(
        started.contains("Who is the summary of \"Audit export\" for?"),
        "{started}"
    );
    let question = started
        .split_whitespace()
        .skip_while(|w| *w != "answer")
        .nth(1)
        .expect("the output names the question")
        .to_owned();
    let run_id = started
        .split_whitespace()
        .nth(2)
        .expect("started run <id>")
        .to_owned();

    let viewer = server.token("Viewer");
    let refused = agentwerke(&server, &viewer, &["answer", &question, "ops"]);
    assert!(!refused.status.success(), "a Viewer cannot answer");
    let answered = ok(agentwerke(
        &server,
        &operator,
        &["answer", &question, "the release managers"],
    ));
    assert!(answered.contains(&run_id), "{answered}");

    server
        .wait_until(std::time::Duration::from_secs(20), async |s: &Server| {
            stdout(&agentwerke(s, &operator, &["run", "show", &run_id])).contains("completed")
        })
        .await;
    let shown = ok(agentwerke(
        &server,
        &operator,
        &["run", "show", &run_id, "--json"],
    ));
    assert!(
        shown.contains("Summary of Audit export, written for the release managers."),
        "{shown}"
    );
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_commands_report_problems_with_positions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.bpmn");
    std::fs::write(
        &broken,
        r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <process id="p" isExecutable="true">
    <startEvent id="s"/>
    <sequenceFlow id="f" sourceRef="s" targetRef="nowhere"/>
    <serviceTask id="t"/>
  </process>
</definitions>"#,
    )
    .expect("write");
    let output = Command::new(BIN)
        .args(["workflow", "validate"])
        .arg(&broken)
        .output()
        .expect("validate");
    assert!(!output.status.success());
    let text = format!(
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("broken.bpmn:4:5: error bpmn.unknown_flow_ref"),
        "{text}"
    );
    assert!(text.contains("nowhere"), "{text}");

    let server = Server::start(dir.path(), &[]).await;
    let admin = server.token("Admin");
    let imported = agentwerke(
        &server,
        &admin,
        &["workflow", "import", &broken.display().to_string()],
    );
    assert!(!imported.status.success(), "broken BPMN was imported");
    server.kill();
}

#[test]
fn serve_refuses_a_public_address_without_real_authentication() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("AGENTWERKE_BIND", "0.0.0.0:0")
        .output()
        .expect("serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to listen"), "{stderr}");
    assert!(!dir.path().join("agentwerke.db").exists());
}

fn token_with(server: &Server, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .output()
        .expect("token");
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// An escalated tool call is reviewed from the command line before anyone
/// decides, with its exact arguments; afterwards `run show` tells the whole
/// story: outputs, the decision and its comment, every tool call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_is_reviewed_decided_and_shown_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]).await;
    let operator = server.token("Operator");

    let workflows = ok(agentwerke(&server, &operator, &["workflow", "list"]));
    assert!(
        workflows.contains("gateway-demo") && workflows.contains("published v1"),
        "{workflows}"
    );

    let started = ok(agentwerke(
        &server,
        &operator,
        &[
            "run",
            "start",
            "gateway-demo",
            "-i",
            "release=2.4",
            "--wait",
        ],
    ));
    let run_id = started
        .split_whitespace()
        .nth(2)
        .expect("started run <id>")
        .to_owned();

    let pending = ok(agentwerke(&server, &operator, &["approval", "list"]));
    let line = pending
        .lines()
        .find(|l| l.contains(&run_id))
        .unwrap_or_else(|| panic!("the escalation is listed: {pending}"));
    assert!(line.contains("pending"), "{line}");
    let approval = line.split_whitespace().next().expect("id").to_owned();

    let shown = ok(agentwerke(
        &server,
        &operator,
        &["approval", "show", &approval],
    ));
    for expected in [
        "tool      artifact.write",
        "\"path\": \"production/notes/2.4.md\"",
        "\"content\": \"Release 2.4 is live.\"",
        "  production_target",
        "agentwerke approve",
    ] {
        assert!(shown.contains(expected), "{expected} not in:\n{shown}");
    }

    let manager = token_with(
        &server,
        &[
            "--role",
            "Approver",
            "--group",
            "release-manager",
            "--subject",
            "rita",
        ],
    );
    ok(agentwerke(
        &server,
        &manager,
        &["approve", &approval, "-m", "Production notes are fine."],
    ));
    server
        .wait_until(std::time::Duration::from_secs(20), async |s: &Server| {
            stdout(&agentwerke(s, &operator, &["run", "show", &run_id])).contains("completed")
        })
        .await;
    let details = ok(agentwerke(&server, &operator, &["run", "show", &run_id]));
    for expected in [
        "outputs",
        "decisions",
        "approved by rita",
        "Production notes are fine.",
        "tool calls",
        "artifact.write",
        "http.request",
        "reject",
    ] {
        assert!(details.contains(expected), "{expected} not in:\n{details}");
    }
    // The journal: the two writes that ran, the second on the approval; the
    // refused request never started.
    let journal = details
        .split("tool-call journal")
        .nth(1)
        .unwrap_or_else(|| panic!("the journal is shown:\n{details}"));
    assert_eq!(
        journal.matches(" artifact.write at ").count(),
        2,
        "{journal}"
    );
    assert_eq!(
        journal.matches(": executed, 1 execution, started ").count(),
        2,
        "{journal}"
    );
    assert!(
        journal.contains(&format!("executed (escalate), approved in {approval}")),
        "{journal}"
    );
    assert!(
        journal.contains("\"path\":\"production/notes/2.4.md\""),
        "{journal}"
    );
    assert_eq!(journal.matches(", output sha256 ").count(), 2, "{journal}");
    assert!(!journal.contains("http.request"), "{journal}");
    let decided = ok(agentwerke(
        &server,
        &operator,
        &["approval", "list", "--status", "approved"],
    ));
    assert!(decided.contains(&approval), "{decided}");

    let audit = ok(agentwerke(&server, &operator, &["run", "audit", &run_id]));
    assert!(audit.contains("run.requested"), "{audit}");
    assert!(audit.contains("tool.called"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_cancelled_and_only_failed_ones_retried_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]).await;
    let operator = server.token("Operator");
    let started = ok(agentwerke(
        &server,
        &operator,
        &[
            "run",
            "start",
            "hello-sdlc",
            "-i",
            "title=Stop me",
            "--wait",
        ],
    ));
    let run_id = started
        .split_whitespace()
        .nth(2)
        .expect("started run <id>")
        .to_owned();

    let refused = agentwerke(&server, &operator, &["run", "retry", &run_id]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("run.not_failed"), "{stderr}");

    ok(agentwerke(
        &server,
        &operator,
        &["run", "cancel", &run_id, "-m", "superseded"],
    ));
    server
        .wait_until(std::time::Duration::from_secs(20), async |s: &Server| {
            stdout(&agentwerke(s, &operator, &["run", "show", &run_id])).contains("cancelled")
        })
        .await;
    let audit = ok(agentwerke(&server, &operator, &["run", "audit", &run_id]));
    assert!(audit.contains("superseded"), "{audit}");
}

#[test]
fn offline_validate_holds_actions_to_the_built_in_tools() {
    let dir = tempfile::tempdir().expect("temp dir");
    let task = |action: &str| {
        format!(
            r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:aw="https://agentwerke.de/bpmn/extensions/v1">
  <process id="p" isExecutable="true">
    <startEvent id="s"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <serviceTask id="t" name="Task">
      <extensionElements><aw:agentTask agent="analyst" purposeType="p" action="{action}"/></extensionElements>
    </serviceTask>
    <sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
    <endEvent id="e"/>
  </process>
</definitions>"#
        )
    };
    let validate = |name: &str, action: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, task(action)).expect("write");
        Command::new(BIN)
            .args(["workflow", "validate"])
            .arg(&path)
            .output()
            .expect("validate")
    };
    let unknown = validate("unknown.bpmn", "shell.exec");
    assert!(!unknown.status.success());
    let text = stdout(&unknown);
    assert!(
        text.contains("unknown.bpmn:5:5: error bpmn.unknown_tool"),
        "{text}"
    );
    for (name, action) in [
        ("tool.bpmn", "artifact.write"),
        ("exec.bpmn", "exec.run"),
        ("label.bpmn", "analyze"),
    ] {
        let output = validate(name, action);
        assert!(output.status.success(), "{action}: {}", stdout(&output));
    }
}

/// `run show` and `approval show` print what the server shows, and the
/// server never shows a credential a run was given: not in the inputs, not
/// in the outputs that quote it, not in the approval that asks about them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_in_a_runs_input_is_never_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]).await;
    let operator = server.token("Operator");
    let secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let started = ok(agentwerke(
        &server,
        &operator,
        &[
            "run",
            "start",
            "hello-sdlc",
            "-i",
            &format!("title=deploy with {secret}"),
            "--wait",
        ],
    ));
    let run_id = started
        .split_whitespace()
        .nth(2)
        .expect("started run <id>")
        .to_owned();
    let approval = started
        .split_whitespace()
        .skip_while(|w| *w != "approve")
        .nth(1)
        .expect("the output says how to approve")
        .to_owned();
    let shown = ok(agentwerke(&server, &operator, &["run", "show", &run_id]));
    assert!(shown.contains("deploy with [REDACTED]"), "{shown}");
    for (what, printed) in [
        ("run start --wait", started),
        ("run show", shown),
        (
            "run show --json",
            ok(agentwerke(
                &server,
                &operator,
                &["run", "show", &run_id, "--json"],
            )),
        ),
        (
            "approval show",
            ok(agentwerke(
                &server,
                &operator,
                &["approval", "show", &approval],
            )),
        ),
        (
            "approval show --json",
            ok(agentwerke(
                &server,
                &operator,
                &["approval", "show", &approval, "--json"],
            )),
        ),
        (
            "approval list",
            ok(agentwerke(&server, &operator, &["approval", "list"])),
        ),
    ] {
        assert!(
            !printed.contains(secret),
            "{what} prints the credential:\n{printed}"
        );
    }
}
