//! `agentwerke audit export` and `audit verify` against the real binary.

mod support;

use std::process::{Command, Output};

use agentwerke_evidence::keys::{encode_public_key, signing_key_from_seed};
use serde_json::{Value, json};
use support::{BIN, Server};

fn agentwerke(server: &Server, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("AGENTWERKE_URL", &server.url)
        .env("AGENTWERKE_TOKEN", token)
        .output()
        .expect("run agentwerke")
}

fn report(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_audit_stream_is_exported_and_verified_offline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]).await;
    let admin = server.token("Admin");
    let viewer = server.token("Viewer");

    // The sample workflow was imported and published at start; now a
    // policy publication and a halt with its resume.
    let schema = server.get(&admin, "/api/policies/schema").await;
    let draft = server
        .post(
            &admin,
            "/api/policies",
            json!({"text": schema["defaultPolicies"], "note": "baseline"}),
        )
        .await;
    let version = draft["version"].as_i64().expect("version");
    server
        .post(
            &admin,
            &format!("/api/policies/{version}/publish"),
            json!({}),
        )
        .await;
    server
        .post(
            &admin,
            "/api/gateway/halt",
            json!({"scope": "global", "reason": "incident 42"}),
        )
        .await;
    server
        .post(&admin, "/api/gateway/resume", json!({"scope": "global"}))
        .await;

    let file = dir.path().join("audit-export.json");
    let file_arg = file.display().to_string();
    let exported = agentwerke(&server, &viewer, &["audit", "export", "-o", &file_arg]);
    assert!(exported.status.success(), "{}", report(&exported));
    let text = std::fs::read_to_string(&file).expect("export");
    let export: Value = serde_json::from_str(&text).expect("json");
    let kinds: Vec<&str> = export["auditLog"]
        .as_array()
        .expect("auditLog")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    for kind in [
        "workflow.version_imported",
        "workflow.version_published",
        "policy.published",
        "gateway.halted",
        "gateway.resumed",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }

    // Verified against the server's key, three ways: exit 0.
    let key = server.get(&viewer, "/api/evidence/public-key").await;
    let public_key = key["publicKey"].as_str().expect("key").to_owned();
    let key_file = dir.path().join("server-key.json");
    std::fs::write(&key_file, key.to_string()).expect("key file");
    let key_file_arg = key_file.display().to_string();
    for anchor in [
        ["--public-key", public_key.as_str()],
        ["--public-key-file", key_file_arg.as_str()],
        ["--server", server.url.as_str()],
    ] {
        let verified = agentwerke(
            &server,
            &viewer,
            &["audit", "verify", &file_arg, anchor[0], anchor[1]],
        );
        assert_eq!(verified.status.code(), Some(0), "{}", report(&verified));
        let out = String::from_utf8_lossy(&verified.stdout);
        assert!(out.contains("valid. Signed by the trusted key"), "{out}");
        assert!(
            out.contains(&format!("global audit stream of {} record(s)", kinds.len())),
            "{out}"
        );
    }

    // Intact, but nobody said whose key to trust: a distinct exit code.
    let unanchored = agentwerke(&server, "", &["audit", "verify", &file_arg]);
    assert_eq!(unanchored.status.code(), Some(3), "{}", report(&unanchored));
    assert!(String::from_utf8_lossy(&unanchored.stdout).contains("its origin is UNVERIFIED"));

    // Intact, but signed by another key than the trusted one.
    let stranger = encode_public_key(&signing_key_from_seed([9; 32]).verifying_key());
    let foreign = agentwerke(
        &server,
        "",
        &["audit", "verify", &file_arg, "--public-key", &stranger],
    );
    assert_eq!(foreign.status.code(), Some(4), "{}", report(&foreign));
    assert!(String::from_utf8_lossy(&foreign.stdout).contains("NOT signed by the trusted key"));

    // One byte of the halt's reason changed: the record is named.
    let halted = kinds
        .iter()
        .position(|k| *k == "gateway.halted")
        .expect("halt");
    let tampered = text.replacen("incident 42", "incident 43", 1);
    assert_ne!(text, tampered, "the reason is in the export");
    std::fs::write(&file, tampered).expect("write");
    let refused = agentwerke(
        &server,
        "",
        &["audit", "verify", &file_arg, "--public-key", &public_key],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", report(&refused));
    let out = String::from_utf8_lossy(&refused.stdout);
    assert!(out.contains("NOT valid"), "{out}");
    assert!(
        out.contains(&format!(
            "auditLog[{halted}] (seq {}) content altered",
            halted + 1
        )),
        "{out}"
    );
    server.kill();
}
