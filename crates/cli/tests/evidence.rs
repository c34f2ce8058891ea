//! `evidence verify` proves where a pack comes from, not only that it is
//! intact, and each outcome has its own exit code.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use agentwerke_evidence::EvidencePack;
use agentwerke_evidence::keys::signing_key_from_seed;
use serde_json::json;
use support::{BIN, Server};

fn verify(pack: &Path, args: &[&str], token: &str) -> Output {
    Command::new(BIN)
        .args(["evidence", "verify"])
        .arg(pack)
        .args(args)
        .env("AGENTWERKE_TOKEN", token)
        .env_remove("AGENTWERKE_URL")
        .output()
        .expect("run agentwerke")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A genuine pack from a server, and a forgery: the same pack with other
/// inputs, re-signed with a key of the forger's own.
async fn genuine_and_forged(
    server: &Server,
    dir: &Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let operator = server.token("Operator");
    let started = server
        .post(
            &operator,
            "/api/runs",
            json!({"workflowId": "hello-sdlc", "inputs": {"title": "Pay invoice 17"}}),
        )
        .await;
    let run = started["runId"].as_str().expect("run id");
    let pack = server
        .get(&operator, &format!("/api/runs/{run}/evidence-pack"))
        .await;
    let genuine = dir.join("genuine.json");
    std::fs::write(&genuine, serde_json::to_vec_pretty(&pack).expect("json")).expect("write");

    let mut forged: EvidencePack = serde_json::from_value(pack).expect("a v1 pack");
    forged.run.inputs = json!({"title": "Pay invoice 17 to the forger"});
    agentwerke_evidence::sign(&mut forged, &signing_key_from_seed([42; 32]));
    let forged_path = dir.join("forged.json");
    std::fs::write(
        &forged_path,
        serde_json::to_vec_pretty(&forged).expect("json"),
    )
    .expect("write");
    (genuine, forged_path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_signed_forgery_is_not_valid_and_origin_needs_a_trust_anchor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]).await;
    let viewer = server.token("Viewer");
    let (genuine, forged) = genuine_and_forged(&server, dir.path()).await;

    // Without a trust anchor: intact, origin unverified, exit 3, for both.
    for pack in [&genuine, &forged] {
        let output = verify(pack, &[], "");
        assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
        assert!(
            stdout(&output).contains("origin is UNVERIFIED"),
            "{}",
            stdout(&output)
        );
    }

    // The key from the server: the genuine pack is valid, the forgery is not.
    let valid = verify(&genuine, &["--server", &server.url], &viewer);
    assert_eq!(valid.status.code(), Some(0), "{}", stdout(&valid));
    assert!(stdout(&valid).contains("valid. Signed by the trusted key"));
    let refused = verify(&forged, &["--server", &server.url], &viewer);
    assert_eq!(refused.status.code(), Some(4), "{}", stdout(&refused));
    assert!(stdout(&refused).contains("NOT signed by the trusted key"));

    // The same key pinned in a file (the server's answer, saved) or given inline.
    let answer = server.get(&viewer, "/api/evidence/public-key").await;
    let pinned = dir.path().join("server-key.json");
    std::fs::write(&pinned, answer.to_string()).expect("write");
    let pinned_arg = pinned.display().to_string();
    let key = answer["publicKey"].as_str().expect("public key");
    for anchor in [["--public-key-file", &pinned_arg], ["--public-key", key]] {
        assert_eq!(verify(&genuine, &anchor, "").status.code(), Some(0));
        assert_eq!(verify(&forged, &anchor, "").status.code(), Some(4));
    }

    // A pack altered without re-signing stays exit 1 whatever the anchor.
    let text = std::fs::read_to_string(&genuine).expect("read");
    let altered = dir.path().join("altered.json");
    std::fs::write(
        &altered,
        text.replacen("Pay invoice 17", "Pay invoice 71", 1),
    )
    .expect("write");
    assert_eq!(
        verify(&altered, &["--public-key", key], "").status.code(),
        Some(1)
    );
    assert_eq!(verify(&altered, &[], "").status.code(), Some(1));

    // The exit codes are documented where a user looks.
    let help = Command::new(BIN)
        .args(["evidence", "verify", "--help"])
        .output()
        .expect("help");
    let help = stdout(&help);
    for line in [
        "0  intact, and signed by the trusted key",
        "3  intact, but origin unverified",
        "4  intact, but signed by a different key",
    ] {
        assert!(help.contains(line), "{help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_into_a_closed_pipe_is_not_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]).await;
    let viewer = server.token("Viewer");
    let (genuine, _) = genuine_and_forged(&server, dir.path()).await;

    let answer = server.get(&viewer, "/api/evidence/public-key").await;
    let key = answer["publicKey"].as_str().expect("public key");
    // As `verify ... | head -1` once head has exited: nobody reads.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let output = Command::new(BIN)
        .args(["evidence", "verify"])
        .arg(&genuine)
        .args(["--public-key", key])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run agentwerke");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
