//! Runs the real `agentwerke` binary on a temporary data folder.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_agentwerke");

/// A server process.
pub struct Server {
    pub port: u16,
    pub url: String,
    pub data_dir: PathBuf,
    child: Child,
    http: reqwest::Client,
}

impl Server {
    /// Starts `agentwerke serve` on a free loopback port.
    pub async fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        let port = free_port();
        Self::start_on(dir, env, port).await
    }

    /// Starts `agentwerke serve` on `port`, with `dir/data` as its data
    /// folder; its standard output and error both go to `dir/server.log`.
    pub async fn start_on(dir: &Path, env: &[(&str, String)], port: u16) -> Self {
        let data_dir = dir.join("data");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("log file");
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .env("AGENTWERKE_BIND", format!("127.0.0.1:{port}"))
            .env("AGENTWERKE_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn agentwerke serve");
        let server = Self {
            port,
            url: format!("http://127.0.0.1:{port}"),
            data_dir,
            child,
            http: reqwest::Client::new(),
        };
        server.wait_ready(dir).await;
        server
    }

    async fn wait_ready(&self, dir: &Path) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = self
                .http
                .get(format!("{}/api/health/ready", self.url))
                .send()
                .await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server did not become ready; log:\n{}",
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A development token with `role`, minted by `agentwerke token`.
    pub fn token(&self, role: &str) -> String {
        let output = Command::new(BIN)
            .args([
                "token",
                "--role",
                role,
                "--subject",
                &format!("test-{role}"),
            ])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .output()
            .expect("agentwerke token");
        assert!(
            output.status.success(),
            "token: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    }

    pub async fn get(&self, token: &str, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    /// Imports and publishes a workflow.
    pub async fn publish(&self, token: &str, id: &str, xml: &str) {
        let response = self
            .http
            .post(format!("{}/api/workflows?id={id}", self.url))
            .bearer_auth(token)
            .header("content-type", "application/xml")
            .body(xml.to_owned())
            .send()
            .await
            .expect("import");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert!(status.is_success(), "import: {status} {body}");
        let version = body["version"].as_i64().expect("version");
        self.post(
            token,
            &format!("/api/workflows/{id}/versions/{version}/publish"),
            serde_json::json!({}),
        )
        .await;
    }

    /// Polls `done` until it holds, failing the test after `limit`.
    pub async fn wait_until(&self, limit: Duration, done: impl AsyncFn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(self).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not reached within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown hooks, no flushing, exactly like a power cut to the process.
    pub fn kill(mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        kill(pid, Signal::SIGKILL).expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Server {
    /// SIGTERM, as a service manager stops it; waits up to 30 s for the
    /// process to end and returns how it ended.
    pub fn stop(mut self) -> std::process::ExitStatus {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        kill(pid, Signal::SIGTERM).expect("SIGTERM");
        wait_for_exit(&mut self.child, Duration::from_secs(30))
            .expect("the server did not stop within 30 s of SIGTERM")
    }
}

/// Waits for `child` to end, up to `limit`; `None` when it is still running
/// (it is then killed, so no test leaves a process behind).
pub fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
