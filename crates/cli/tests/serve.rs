//! Starting and stopping the real server: what it refuses, what it creates,
//! and what a clean stop leaves behind.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{BIN, Server, wait_for_exit};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_database_url_of_another_kind_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env(
            "AGENTWERKE_DATABASE_URL",
            "postgres://app:s3cret@db.example/agentwerke",
        )
        .env("AGENTWERKE_BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let status = wait_for_exit(&mut child, Duration::from_secs(20))
        .expect("serve started on a PostgreSQL URL instead of refusing it");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("only SQLite is supported"), "{stderr}");
    assert!(
        !stderr.contains("s3cret"),
        "the URL's password is not echoed: {stderr}"
    );
    let created: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(created.is_empty(), "created {created:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_folder_is_private_and_a_clean_stop_empties_the_write_ahead_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]).await;
    let data = server.data_dir.clone();
    // A run writes its inputs to the database.
    let operator = server.token("Operator");
    server
        .post(
            &operator,
            "/api/runs",
            serde_json::json!({"workflowId": "hello-sdlc", "inputs": {"title": "private"}}),
        )
        .await;

    assert_eq!(mode(&data), 0o700);
    let db = data.join("agentwerke.db");
    let wal = data.join("agentwerke.db-wal");
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&wal), 0o600);
    assert!(std::fs::metadata(&wal).expect("wal").len() > 0);

    let status = server.stop();
    assert!(status.success(), "a clean stop exits 0: {status:?}");
    let left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(left, 0, "the write-ahead log was checkpointed at shutdown");
}
