//! `agentwerke secret set` and `secret list` against the real binary and
//! server: the value goes in through standard input only, and afterwards
//! it is in no output, no server log line and no byte of the data folder
//! but the key files.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{BIN, Server};

fn secret(server: &Server, token: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("secret")
        .args(args)
        .env("AGENTWERKE_URL", &server.url)
        .env("AGENTWERKE_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run agentwerke secret");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("agentwerke secret")
}

fn report(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Occurrences of `needle` in every file under `dir` except the secret key
/// files.
fn on_disk(dir: &Path, needle: &str) -> usize {
    let mut found = 0;
    for entry in std::fs::read_dir(dir).expect("folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found += on_disk(&path, needle);
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("secrets-") && name.ends_with(".key") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("file");
        found += bytes
            .windows(needle.len())
            .filter(|w| *w == needle.as_bytes())
            .count();
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_set_from_standard_input_and_listed_without_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mounted = dir.path().join("github-token");
    std::fs::write(&mounted, "mounted-file-value-4711\n").expect("mount");
    let config = dir.path().join("agentwerke.toml");
    std::fs::write(
        &config,
        format!(
            "[secrets]\ngithub_token = \"file:{}\"\nllm_key = \"env:CLI_TEST_LLM_KEY\"\n",
            mounted.display()
        ),
    )
    .expect("config");
    let server = Server::start(
        dir.path(),
        &[("AGENTWERKE_CONFIG", config.display().to_string())],
    )
    .await;
    let admin = server.token("Admin");
    let first = "first-stdin-value-8d1c2f";
    let second = "second-stdin-value-93be07";

    let set = secret(
        &server,
        &admin,
        &["set", "openai_api_key"],
        &format!("{first}\n"),
    );
    assert!(set.status.success(), "{}", report(&set));
    let said = String::from_utf8_lossy(&set.stdout).into_owned();
    assert!(
        said.contains("secret openai_api_key is set; fingerprint hmac-sha256:"),
        "{said}"
    );
    let old = said
        .trim()
        .rsplit(' ')
        .next()
        .expect("fingerprint")
        .to_owned();

    let rotated = secret(&server, &admin, &["set", "openai_api_key"], second);
    assert!(rotated.status.success(), "{}", report(&rotated));
    assert!(!String::from_utf8_lossy(&rotated.stdout).contains(&old));

    let listed = secret(&server, &admin, &["list"], "");
    assert!(listed.status.success(), "{}", report(&listed));
    let out = String::from_utf8_lossy(&listed.stdout).into_owned();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0][..3], ["github_token", "file", "set"], "{out}");
    assert_eq!(lines[1][..4], ["llm_key", "env", "missing", "-"], "{out}");
    assert_eq!(lines[2][..3], ["openai_api_key", "store", "set"], "{out}");
    assert!(
        lines[2][3].starts_with("hmac-sha256:") && lines[2][3] != old,
        "{out}"
    );
    assert_eq!(lines[2][5], "test-Admin", "{out}");

    // Refusals: a configured secret, an empty value, a non-Admin caller.
    let configured = secret(&server, &admin, &["set", "github_token"], "x-value-123");
    assert!(!configured.status.success());
    assert!(String::from_utf8_lossy(&configured.stderr).contains("secret.configured"));
    let empty = secret(&server, &admin, &["set", "other"], "\n");
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("secret value is empty"));
    let operator = server.token("Operator");
    let forbidden = secret(&server, &operator, &["set", "other"], "some-value-123");
    assert!(!forbidden.status.success());
    assert!(String::from_utf8_lossy(&forbidden.stderr).contains("auth.forbidden"));

    let audit = server.get(&admin, "/api/audit?limit=200").await;
    let text = audit.to_string();
    assert!(
        text.contains("secret.rotated") && text.contains(&old),
        "{text}"
    );
    let data_dir = server.data_dir.clone();
    server.stop();
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    for value in [first, second, "mounted-file-value-4711"] {
        for (what, output) in [("set", &set), ("rotate", &rotated), ("list", &listed)] {
            assert!(!report(output).contains(value), "{what} shows the value");
        }
        assert!(!text.contains(value), "the audit stream holds the value");
        assert!(!log.contains(value), "the server log holds the value");
        assert_eq!(
            on_disk(&data_dir, value),
            0,
            "the data folder holds the value"
        );
    }
}

/// The server log passes through the redactor: a request line that carries
/// a `redact-env` value, a value set through the API after start, or a
/// credential shape shows `[REDACTED]` in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_log_redacts_values_and_shapes_in_every_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("agentwerke.toml");
    std::fs::write(&config, "redact-env = [\"CLI_LOG_TEST_VALUE\"]\n").expect("config");
    let from_env = "env-log-value-5a7e21";
    let from_api = "api-log-value-c08d93";
    let shape = "ghp_loggedGithubToken0123456789abcdef";
    let server = Server::start(
        dir.path(),
        &[
            ("AGENTWERKE_CONFIG", config.display().to_string()),
            ("CLI_LOG_TEST_VALUE", from_env.to_owned()),
            ("AGENTWERKE_LOG", "debug,sqlx=warn".to_owned()),
        ],
    )
    .await;
    let admin = server.token("Admin");
    let set = secret(&server, &admin, &["set", "deploy_token"], from_api);
    assert!(set.status.success(), "{}", report(&set));
    let http = reqwest::Client::new();
    for value in [from_env, from_api, shape] {
        // Each request line names its path, and so the value; the answer
        // is a 404 that names the run id, redacted too.
        let answer = http
            .get(format!("{}/api/runs/{value}", server.url))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("GET");
        assert_eq!(answer.status(), reqwest::StatusCode::NOT_FOUND);
    }
    server.stop();
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(log.contains("/api/runs/[REDACTED]"), "{log}");
    for value in [from_env, from_api, shape] {
        assert!(!log.contains(value), "the server log holds {value}:\n{log}");
    }
}
