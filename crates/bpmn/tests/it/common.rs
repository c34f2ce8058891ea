//! Shared helpers.

use std::path::PathBuf;

use agentwerke_bpmn::{Diagnostic, KnownTools, Limits, Report, analyse};

/// `crates/bpmn/tests/fixtures/<name>`.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The MIWG reference models (CC BY 3.0, see `tests/fixtures/miwg/README.md`).
pub(crate) fn miwg_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/miwg")
}

/// Parse and validate with default limits, against no known tool.
pub(crate) fn report(xml: &[u8]) -> Report {
    analyse(xml, &Limits::default(), &KnownTools::default()).1
}

/// The diagnostics with `code`.
pub(crate) fn with_code<'r>(report: &'r Report, code: &str) -> Vec<&'r Diagnostic> {
    report
        .diagnostics
        .iter()
        .filter(|d| d.code == code)
        .collect()
}

/// Asserts one diagnostic with `code` on `element` at `line`.
pub(crate) fn assert_finding(report: &Report, code: &str, element: &str, line: u32) {
    let found = report
        .diagnostics
        .iter()
        .any(|d| d.code == code && d.element_id.as_deref() == Some(element) && d.line == line);
    assert!(
        found,
        "expected {code} on {element} at line {line}; got:\n{}",
        dump(report)
    );
}

/// One finding per line, for failure messages.
pub(crate) fn dump(report: &Report) -> String {
    report
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{:?} {} {:?} {}:{} {}",
                d.severity, d.code, d.element_id, d.line, d.column, d.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
