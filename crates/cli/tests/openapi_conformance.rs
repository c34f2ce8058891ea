//! The OpenAPI document tells the truth: Schemathesis generates requests from
//! `/openapi.json` (valid and invalid ones), sends them to the real binary
//! and checks every answer against the document with all its checks. Any
//! failure (an undocumented status, a schema-valid request refused, an
//! invalid one accepted, a 5xx, a body that does not match its schema) fails
//! this test.
//!
//! Schemathesis is a Python tool; `scripts/test.sh` installs the pinned
//! version. Without it this test fails and says so: it never passes quietly.

mod support;

use std::path::Path;
use std::process::Command;

use support::Server;

/// The version `scripts/test.sh` installs; keep the two equal.
const SCHEMATHESIS: &str = "4.32.5";

fn installed_version() -> Option<String> {
    let output = Command::new("schemathesis")
        .arg("--version")
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_document_does_not_describe() {
    let version = installed_version().unwrap_or_else(|| {
        panic!(
            "schemathesis is not installed; run scripts/test.sh (it installs schemathesis=={SCHEMATHESIS})"
        )
    });
    assert!(
        version.ends_with(SCHEMATHESIS),
        "schemathesis is '{version}', the suite pins {SCHEMATHESIS}; run scripts/test.sh"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]).await;
    let admin = server.token("Admin");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    let output = Command::new("schemathesis")
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run"])
        .arg(format!("{}/openapi.json", server.url))
        .args([
            "--checks",
            "all",
            "--workers",
            "1",
            "--max-examples",
            "12",
            "--seed",
            "1",
        ])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(dir.path())
        .output()
        .expect("run schemathesis");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}"
    );
    assert!(!report.contains("FAILURES"), "{report}");
    // The figures (operations, test cases, phases) for the suite's log.
    let summary = report.find("SUMMARY").map_or("", |at| &report[at..]);
    eprintln!("{summary}");
}
