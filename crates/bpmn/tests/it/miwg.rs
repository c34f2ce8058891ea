//! The 21 MIWG reference models: each parses without panic and gets a clear
//! verdict. None is an executable Agentwerke workflow, so each is refused,
//! and a file with flow nodes outside the executable subset names them.

use std::path::PathBuf;

use agentwerke_bpmn::{Limits, parse};

use super::common::{dump, miwg_dir, report, with_code};

fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(miwg_dir())
        .expect("MIWG fixtures in tests/fixtures/miwg")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bpmn"))
        .collect();
    files.sort();
    files
}

fn name(path: &std::path::Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn all_21_parse_and_are_refused_with_reasons() {
    let files = files();
    assert_eq!(files.len(), 21);
    for path in files {
        let xml = std::fs::read(&path).unwrap();
        let parsed =
            parse(&xml, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!parsed.definitions.processes.is_empty(), "{}", name(&path));
        let r = report(&xml);
        assert!(!r.is_ok(), "{} should be refused", name(&path));
        for d in r.errors() {
            assert!(d.line > 0 && d.column > 0, "{}: {d:?}", name(&path));
            assert!(d.code.starts_with("bpmn."), "{}: {d:?}", name(&path));
        }
    }
}

/// Per file: is a process executable, and which non-executable elements are
/// named (by id and line) in the refusal.
#[test]
fn verdicts() {
    let expect_not_executable = [
        "A.1.0", "A.2.0", "A.2.1", "A.3.0", "A.4.0", "A.4.1", "B.1.0", "B.2.0", "C.2.0", "C.4.0",
        "C.5.0", "C.6.0", "C.7.0", "C.8.0",
    ];
    for path in files() {
        let xml = std::fs::read(&path).unwrap();
        let r = report(&xml);
        let n = name(&path);
        let no_exec = !with_code(&r, "bpmn.no_executable_process").is_empty();
        assert_eq!(
            no_exec,
            expect_not_executable.contains(&n.as_str()),
            "{n}:\n{}",
            dump(&r)
        );
    }
}

#[test]
fn a_1_0_names_its_plain_tasks() {
    let xml = std::fs::read(miwg_dir().join("A.1.0.bpmn")).unwrap();
    let r = report(&xml);
    let unsupported = with_code(&r, "bpmn.unsupported_element");
    assert_eq!(unsupported.len(), 3, "{}", dump(&r));
    for d in unsupported {
        assert!(d.element_id.is_some() && d.line > 3);
        assert!(
            d.message.contains("a task") && d.message.contains("outside the executable subset")
        );
    }
}

#[test]
fn c_8_1_lists_send_and_business_rule_tasks() {
    let xml = std::fs::read(miwg_dir().join("C.8.1.bpmn")).unwrap();
    let r = report(&xml);
    let lines: Vec<(Option<&str>, u32)> = with_code(&r, "bpmn.unsupported_element")
        .iter()
        .map(|d| (d.element_id.as_deref(), d.line))
        .collect();
    assert!(
        lines.contains(&(Some("_1a818a94-ba6f-413b-a7e8-6f8fd2a11e32"), 303)),
        "{lines:?}"
    );
    assert!(
        lines.contains(&(Some("_9ed61a6a-7cc1-4ed1-86d8-03482b0983c9"), 408)),
        "{lines:?}"
    );
}

#[test]
fn c_9_0_event_subprocess_and_call_activity() {
    let xml = std::fs::read(miwg_dir().join("C.9.0.bpmn")).unwrap();
    let r = report(&xml);
    let ids: Vec<&str> = with_code(&r, "bpmn.unsupported_element")
        .iter()
        .filter_map(|d| d.element_id.as_deref())
        .collect();
    assert!(
        ids.contains(&"Activity_1ke2ixr") && ids.contains(&"Activity_ManualCheck"),
        "{ids:?}"
    );
    // An event subprocess has no incoming flow by design: not "unreachable".
    assert!(
        with_code(&r, "bpmn.unreachable_node").is_empty(),
        "{}",
        dump(&r)
    );
}

#[test]
fn latin1_files_read_their_names() {
    let xml = std::fs::read(miwg_dir().join("A.2.0.bpmn")).unwrap();
    assert!(xml.starts_with(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\""));
    let parsed = parse(&xml, &Limits::default()).unwrap();
    let names: Vec<_> = parsed.definitions.processes[0]
        .nodes
        .iter()
        .filter_map(|n| n.name.clone())
        .collect();
    assert!(
        names.iter().any(|n| n == "Gateway\n(Split Flow)"),
        "{names:?}"
    );
}

#[test]
fn diagrams_are_read() {
    for path in files() {
        let xml = std::fs::read(&path).unwrap();
        let parsed = parse(&xml, &Limits::default()).unwrap();
        assert!(
            !parsed.definitions.diagram.shapes.is_empty(),
            "{}",
            name(&path)
        );
    }
}
