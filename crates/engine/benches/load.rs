//! Load time of long workflows, plain `std::time`
//! (`cargo bench -p agentwerke-engine --bench load`).
//!
//! A chain of agent tasks (start, N tasks, end; each task with its
//! `agentTask` extension) at 1,000, 10,000 and 100,000 tasks: parse,
//! validate and engine compile, each timed on its own. Every step is linear
//! in the size of the document, so ten times the tasks should cost about ten
//! times the time. The 100,000-task document is about 16 MiB, beyond the
//! default 5 MiB and 250,000-XML-node limits, so the limits are raised here.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use agentwerke_bpmn::{KnownTools, Limits, parse, validate};
use agentwerke_engine::Definition;

fn main() {
    let limits = Limits {
        max_bytes: usize::MAX,
        max_nodes: u32::MAX,
        ..Limits::default()
    };
    // Sizes may be given as arguments (`-- 1000 5000`); cargo adds `--bench`.
    let mut sizes: Vec<usize> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![1_000, 10_000, 100_000];
    }
    for (label, task) in [("agent tasks", AGENT_TASK), ("approvals", APPROVAL)] {
        for &tasks in &sizes {
            load(label, &chain_xml(tasks, task), &limits);
        }
    }
}

/// Parses, validates and compiles `xml`, printing the time of each.
fn load(label: &str, xml: &str, limits: &Limits) {
    let started = Instant::now();
    let parsed = parse(xml.as_bytes(), limits).expect("parses");
    let parse_time = started.elapsed();
    let report = validate(&parsed.definitions, &KnownTools::default());
    let validate_time = started.elapsed() - parse_time;
    assert!(report.is_ok(), "the chain is valid");
    let def = Definition::from_definitions(&parsed.definitions).expect("compiles");
    let compile_time = started.elapsed() - parse_time - validate_time;
    println!(
        "load   : {:>7} nodes / {:>6} KiB of {label:<11}: parse {:>7.1} ms, validate {:>6.1} ms, engine compile {:>6.1} ms, total {:>7.1} ms",
        def.process().nodes.len(),
        xml.len() / 1024,
        ms(parse_time),
        ms(validate_time),
        ms(compile_time),
        ms(started.elapsed()),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// An agent task with its extension; `{t}` is its number.
const AGENT_TASK: &str = r#"<serviceTask id="T{t}" name="Task {t}">
  <extensionElements><agentwerke:agentTask agent="a" purposeType="bench"/></extensionElements>
</serviceTask>"#;

/// An approval with its extension.
const APPROVAL: &str = r#"<userTask id="T{t}" name="Approval {t}">
  <extensionElements><agentwerke:approvalTask purposeType="bench" policyTag="bench"/></extensionElements>
</userTask>"#;

/// Start, `tasks` copies of `task` in sequence, end.
fn chain_xml(tasks: usize, task: &str) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:agentwerke="https://agentwerke.de/bpmn/extensions/v1" id="bench" targetNamespace="https://agentwerke.de/bench">
<process id="chain" isExecutable="true">
<startEvent id="Start"/>
"#,
    );
    let mut prev = "Start".to_owned();
    for t in 0..tasks {
        let _ = writeln!(
            xml,
            "{}\n<sequenceFlow id=\"F{t}\" sourceRef=\"{prev}\" targetRef=\"T{t}\"/>",
            task.replace("{t}", &t.to_string())
        );
        prev = format!("T{t}");
    }
    let _ = writeln!(
        xml,
        r#"<endEvent id="End"/>
<sequenceFlow id="FEnd" sourceRef="{prev}" targetRef="End"/>
</process>
</definitions>"#
    );
    xml
}
