//! The profile folder against the real binary: `check` and `serve` print
//! every problem with file and line and refuse a broken folder; a serving
//! server reloads an edit, keeps the last good profiles through a broken
//! one, and `agent list` shows what is in force.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{BIN, Server, wait_for_exit};

const REVIEWER: &str = "---
model: small-model
max-turns: 4
sandbox-profiles: [offline, repo-read]
allowed-tools: [knowledge.search]
skills: [style-guide]
---
You review release notes.
";

const STYLE: &str = "---
name: style-guide
description: The team's writing rules.
---
Short sentences.
";

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    std::fs::write(path, text).expect("write");
}

fn good_folder(dir: &Path) {
    write(dir, "agents/reviewer.md", REVIEWER);
    write(dir, "skills/style-guide/SKILL.md", STYLE);
}

fn check(profiles: &Path, data: &Path) -> (Option<i32>, String, String) {
    let output = Command::new(BIN)
        .arg("check")
        .arg("--data-dir")
        .arg(data)
        .env("AGENTWERKE_PROFILES_DIR", profiles)
        .output()
        .expect("agentwerke check");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_prints_every_problem_with_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profiles = dir.path().join("prompts");
    good_folder(&profiles);
    let (code, stdout, stderr) = check(&profiles, &dir.path().join("data"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("1 from files, 0 from [[agents]]"),
        "{stdout}"
    );

    write(
        &profiles,
        "agents/typo.md",
        "---\nsandbox-profiles: [offline]\nmax-turn: 3\n---\n",
    );
    write(
        &profiles,
        "agents/lost.md",
        "---\nsandbox-profiles: [offline]\nskills: [nowhere]\n---\n",
    );
    write(
        &profiles,
        "agents/elsewhere.md",
        "---\nsandbox-profiles: [offline]\nprovider: nowhere\n---\n",
    );
    write(
        &profiles,
        "skills/empty/SKILL.md",
        "---\nname: empty\n---\n",
    );
    let (code, _, stderr) = check(&profiles, &dir.path().join("data"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("4 problems in the agent profiles"),
        "{stderr}"
    );
    let at = |file: &str| profiles.join(file).display().to_string();
    assert!(
        stderr.contains(&format!(
            "{}:3:1: profile.unknown_field",
            at("agents/typo.md")
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}:3: profile.unknown_provider",
            at("agents/elsewhere.md")
        )) && stderr.contains("known: scripted"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}:3: profile.unknown_skill",
            at("agents/lost.md")
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}:1: skill.missing_description",
            at("skills/empty/SKILL.md")
        )),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists(), "check creates nothing");
}

#[test]
fn serve_refuses_a_broken_folder_and_names_every_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profiles = dir.path().join("prompts");
    write(&profiles, "agents/plain.md", "no front matter\n");
    write(
        &profiles,
        "agents/analyst.md",
        "---\nsandbox-profiles: [offline]\n---\n",
    );
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("AGENTWERKE_BIND", "127.0.0.1:0")
        .env("AGENTWERKE_PROFILES_DIR", &profiles)
        // A configured agent of the same name as a file.
        .env(
            "AGENTWERKE_AGENTS",
            "[{name=\"analyst\",sandbox-profiles=[\"offline\"]}]",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let status =
        wait_for_exit(&mut child, Duration::from_secs(20)).expect("serve refused to start");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("profile.no_front_matter"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing was created: {stderr}"
    );

    // With the file fixed, the duplicate name is what is left.
    write(
        &profiles,
        "agents/plain.md",
        "---\nsandbox-profiles: [offline]\n---\n",
    );
    let (code, _, stderr) = {
        let output = Command::new(BIN)
            .arg("check")
            .env("AGENTWERKE_PROFILES_DIR", &profiles)
            .env(
                "AGENTWERKE_AGENTS",
                "[{name=\"analyst\",sandbox-profiles=[\"offline\"]}]",
            )
            .output()
            .expect("check");
        (
            output.status.code(),
            (),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("profile.duplicate_name"), "{stderr}");
    assert!(stderr.contains("[[agents]]"), "{stderr}");
}

fn agent_list(server: &Server, token: &str) -> String {
    let output = Command::new(BIN)
        .args(["agent", "list"])
        .env("AGENTWERKE_URL", &server.url)
        .env("AGENTWERKE_TOKEN", token)
        .output()
        .expect("agent list");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_server_reloads_edits_and_keeps_the_last_good_profiles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profiles = dir.path().join("prompts");
    good_folder(&profiles);
    let server = Server::start(
        dir.path(),
        &[("AGENTWERKE_PROFILES_DIR", profiles.display().to_string())],
    )
    .await;
    let token = server.token("Viewer");
    let listed = server.get(&token, "/api/agents").await;
    let names: Vec<&str> = listed["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["reviewer"],
        "the example agents give way to the folder"
    );
    let line = agent_list(&server, &token);
    assert!(
        line.contains("reviewer") && line.contains("small-model"),
        "{line}"
    );
    assert!(line.contains("skills=style-guide"), "{line}");

    let model = async |server: &Server| {
        server.get(&token, "/api/agents").await["agents"][0]["model"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    write(
        &profiles,
        "agents/reviewer.md",
        &REVIEWER.replace("small-model", "larger-model-2"),
    );
    server
        .wait_until(Duration::from_secs(10), async |s| {
            model(s).await == "larger-model-2"
        })
        .await;

    // A broken edit: logged with its file, line and code; nothing changes.
    write(
        &profiles,
        "agents/reviewer.md",
        "---\nsandbox-profiles: [offline]\nmodle: x\n---\n",
    );
    let log = dir.path().join("server.log");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("profile.unknown_field")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the problem was not logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        model(&server).await,
        "larger-model-2",
        "the last good profiles stay"
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("reviewer.md:3:1"), "{text}");

    write(&profiles, "agents/reviewer.md", REVIEWER);
    server
        .wait_until(Duration::from_secs(10), async |s| {
            model(s).await == "small-model"
        })
        .await;
    server.stop();
}
