use std::os::unix::fs::symlink;
use std::sync::Arc;

use agentwerke_types::ErrorCode;
use serde_json::json;

use super::*;
use crate::category::SandboxProfile;
use crate::sandboxing::{ExecutionMode, StepSandbox};

fn ctx(run: &str, profile: SandboxProfile) -> ToolContext {
    ToolContext {
        run_id: run.to_owned(),
        node_id: "Node".to_owned(),
        agent: "a".to_owned(),
        attempt: 1,
        call_id: None,
        secrets: crate::InjectedSecrets::none(),
        sandbox: StepSandbox::new(profile, ExecutionMode::ToolSandboxed),
    }
}

fn code(result: Result<Value, ToolError>) -> &'static str {
    result.unwrap_err().code()
}

#[tokio::test]
async fn files_round_trip_and_each_run_has_its_own_folder() {
    let dir = tempfile::tempdir().unwrap();
    let workspaces = Arc::new(Workspaces::new(dir.path().join("ws"), None));
    let write = WorkspaceWrite::new(Arc::clone(&workspaces));
    let read = WorkspaceRead::new(Arc::clone(&workspaces));
    let list = WorkspaceList::new(Arc::clone(&workspaces));
    let rw = ctx("run-1", SandboxProfile::RepoWrite);
    let written = write
        .execute(&json!({"path": "src/a.txt", "content": "hello"}), &rw)
        .await
        .unwrap();
    assert_eq!(written["size"], 5);
    let got = read
        .execute(&json!({"path": "src/a.txt"}), &rw)
        .await
        .unwrap();
    assert_eq!(got["content"], "hello");
    let listed = list.execute(&json!({}), &rw).await.unwrap();
    assert_eq!(listed["entries"][0]["name"], "src");
    assert_eq!(listed["entries"][0]["kind"], "folder");
    // Another run sees nothing of it.
    let other = ctx("run-2", SandboxProfile::RepoWrite);
    assert_eq!(
        code(read.execute(&json!({"path": "src/a.txt"}), &other).await),
        "gateway.tool.not_found"
    );
    assert!(dir.path().join("ws/run-1/src/a.txt").is_file());
}

#[tokio::test]
async fn writes_under_read_only_profiles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let workspaces = Arc::new(Workspaces::new(dir.path(), None));
    let write = WorkspaceWrite::new(workspaces);
    for profile in [SandboxProfile::Offline, SandboxProfile::RepoRead] {
        let result = write
            .execute(&json!({"path": "a", "content": "x"}), &ctx("r", profile))
            .await;
        assert_eq!(code(result), "gateway.workspace.read_only", "{profile:?}");
    }
    assert!(!dir.path().join("r/a").exists());
}

#[tokio::test]
async fn paths_leaving_the_workspace_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "no").unwrap();
    let workspaces = Arc::new(Workspaces::new(dir.path().join("ws"), None));
    let root = workspaces.prepare("run-1").await.unwrap();
    symlink(&outside, root.join("escape")).unwrap();
    symlink("/etc/hostname", root.join("host")).unwrap();
    std::fs::create_dir(root.join("inside")).unwrap();
    symlink(root.join("inside"), root.join("fine")).unwrap();
    let read = WorkspaceRead::new(Arc::clone(&workspaces));
    let write = WorkspaceWrite::new(Arc::clone(&workspaces));
    let rw = ctx("run-1", SandboxProfile::RepoWrite);
    for path in [
        "../outside/secret.txt",
        "a/../../outside/secret.txt",
        "/etc/hostname",
        "escape/secret.txt",
        "host",
    ] {
        let result = read.execute(&json!({"path": path}), &rw).await;
        assert_eq!(code(result), "gateway.workspace.path_outside", "{path}");
    }
    let result = write
        .execute(&json!({"path": "escape/new.txt", "content": "x"}), &rw)
        .await;
    assert_eq!(code(result), "gateway.workspace.path_outside");
    assert!(!outside.join("new.txt").exists());
    // A link that stays inside is followed.
    write
        .execute(&json!({"path": "fine/ok.txt", "content": "x"}), &rw)
        .await
        .unwrap();
    assert!(root.join("inside/ok.txt").is_file());
}

#[tokio::test]
async fn a_configured_repository_is_checked_out_at_its_reference() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.test"])
            .args(args)
            .current_dir(&repo)
            .env("HOME", dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(repo.join("README.md"), "first").unwrap();
    git(&["add", "README.md"]);
    git(&["commit", "--quiet", "-m", "first"]);
    git(&["tag", "v1"]);
    std::fs::write(repo.join("README.md"), "second").unwrap();
    git(&["commit", "--quiet", "-am", "second"]);
    let workspaces = Arc::new(Workspaces::new(
        dir.path().join("ws"),
        Some(Repository {
            url: repo.display().to_string(),
            reference: Some("v1".to_owned()),
        }),
    ));
    let read = WorkspaceRead::new(Arc::clone(&workspaces));
    let got = read
        .execute(
            &json!({"path": "README.md"}),
            &ctx("run-1", SandboxProfile::RepoRead),
        )
        .await
        .unwrap();
    assert_eq!(got["content"], "first");
    assert!(dir.path().join("ws/run-1/.git").is_dir());
    let bad = Workspaces::new(
        dir.path().join("ws2"),
        Some(Repository {
            url: dir.path().join("missing").display().to_string(),
            reference: None,
        }),
    );
    assert_eq!(
        bad.prepare("run-1").await.unwrap_err().code(),
        "gateway.tool.storage"
    );
    assert!(!dir.path().join("ws2/run-1").exists());
}

#[tokio::test]
async fn a_run_id_that_is_no_folder_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let workspaces = Workspaces::new(dir.path(), None);
    for run in ["", "..", "a/b", "a b"] {
        assert_eq!(
            workspaces.prepare(run).await.unwrap_err().code(),
            "gateway.tool.invalid_input"
        );
    }
    let none = Workspaces::none();
    assert_eq!(
        none.prepare("run").await.unwrap_err().code(),
        "gateway.tool.storage"
    );
}
