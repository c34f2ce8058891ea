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

    if nix::unistd::geteuid().is_root() {
        // The sandbox runs as `nobody`: its group may pass through to the
        // run's workspace, and list or read nothing.
        use std::os::unix::fs::MetadataExt;
        assert_eq!(mode(&data), 0o710);
        assert_eq!(std::fs::metadata(&data).expect("data").gid(), 65534);
    } else {
        assert_eq!(mode(&data), 0o700);
    }
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

/// What a newcomer types: `--bind localhost:PORT`; every request shows in
/// the log at the default level; `token` finds the key where `serve` put it
/// and says which one it used, whatever the bind setting says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_bind_localhost_logs_requests_and_token_finds_its_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log = dir.path().join("server.log");
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--bind", &format!("localhost:{port}")])
        .env_remove("AGENTWERKE_LOG")
        .env_remove("AGENTWERKE_BIND")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("serve");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http.get(format!("{url}/api/health/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not ready: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // `token` with the bind setting serve would refuse, from the data folder.
    let token = Command::new(BIN)
        .args(["token", "--role", "Viewer", "--data-dir"])
        .arg(&data)
        .env("AGENTWERKE_BIND", "0.0.0.0:8080")
        .output()
        .expect("token");
    let stderr = String::from_utf8_lossy(&token.stderr);
    assert!(token.status.success(), "{stderr}");
    assert!(
        stderr.contains(&data.join("dev-jwt-key.pem").display().to_string()),
        "token names its key: {stderr}"
    );
    let token = String::from_utf8(token.stdout).expect("utf-8");
    let listed = http
        .get(format!("{url}/api/workflows"))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 200);

    let missing = http
        .get(format!("{url}/api/no-such-route"))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = std::fs::read_to_string(&log).expect("log");
    for seen in [
        "uri=/api/workflows",
        "uri=/api/no-such-route",
        "status=200",
        "status=404",
    ] {
        assert!(text.contains(seen), "{seen} not in the log:\n{text}");
    }
    assert!(!text.contains(token.trim()), "the token is never logged");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn token_without_the_servers_key_says_where_it_looked_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(BIN)
        .args(["token", "--role", "Operator"])
        .current_dir(dir.path())
        .env_remove("AGENTWERKE_DATA_DIR")
        .output()
        .expect("token");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no development key at data/dev-jwt-key.pem"),
        "{stderr}"
    );
    assert!(stderr.contains("--data-dir"), "{stderr}");
    assert!(!dir.path().join("data").exists());
}

#[test]
fn dump_config_is_toml_that_config_reads_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("state");
    let dump = |args: &[&std::ffi::OsStr]| {
        let output = Command::new(BIN)
            .args(["serve", "--dump-config"])
            .args(args)
            .env_remove("AGENTWERKE_DATABASE_URL")
            .env_remove("AGENTWERKE_BIND")
            .output()
            .expect("dump");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let first = dump(&[
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--bind".as_ref(),
        "localhost:9000".as_ref(),
    ]);
    let expected = format!(
        "database-url = \"sqlite://{}/agentwerke.db\"",
        data.display()
    );
    assert!(first.contains(&expected), "{first}");
    assert!(first.contains("bind = \"localhost:9000\""), "{first}");
    let file = dir.path().join("agentwerke.toml");
    std::fs::write(&file, &first).expect("write");
    let second = dump(&["--config".as_ref(), file.as_os_str()]);
    assert_eq!(first, second);
    assert!(!data.exists(), "dumping creates nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_folder_open_to_others_is_named_in_a_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = Server::start(dir.path(), &[]).await;
    let log = std::fs::read_to_string(dir.path().join("server.log")).expect("log");
    assert!(log.contains("is open to other users (mode 755)"), "{log}");
    // Run by root, the sandbox's group may pass through it: 710.
    let closed = if nix::unistd::geteuid().is_root() {
        "710"
    } else {
        "700"
    };
    assert!(
        log.contains(&format!("chmod {closed} {}", data.display())),
        "{log}"
    );
    assert!(server.stop().success());
}
