//! Engine throughput, plain `std::time` (`cargo bench -p agentwerke-engine`).
//!
//! 1. Token moves per second through a gateway-heavy workflow: 1,000 blocks of
//!    parallel fork (4 branches) / join followed by an exclusive split (one
//!    CEL condition, one default) and merge, all run by a single `Start`.
//! 2. `apply_mut` and `apply` events per second for a 200-task sequence.
//! 3. Parse + validate + compile time for the same gateway workflow as BPMN.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use agentwerke_bpmn::{KnownTools, Limits, parse, validate};
use agentwerke_engine::{Definition, Effect, Event, RunState, apply, apply_mut, apply_traced};
use agentwerke_types::Timestamp;
use serde_json::json;

const BLOCKS: usize = 1_000;
const TASKS: usize = 200;

fn main() {
    let xml = gateway_xml(BLOCKS, "input.go");
    let started = Instant::now();
    let parsed = parse(xml.as_bytes(), &Limits::default()).expect("parses");
    let parse_time = started.elapsed();
    let report = validate(&parsed.definitions, &KnownTools::default());
    let validate_time = started.elapsed() - parse_time;
    let def = Definition::from_definitions(&parsed.definitions).expect("compiles");
    let compile_time = started.elapsed() - parse_time - validate_time;
    println!(
        "load   : {} nodes / {} KiB: parse {:.1} ms, validate {:.1} ms, engine compile {:.1} ms ({} diagnostics)",
        def.process().nodes.len(),
        xml.len() / 1024,
        ms(parse_time),
        ms(validate_time),
        ms(compile_time),
        report.diagnostics.len() + parsed.diagnostics.len()
    );

    for (label, condition) in [
        ("no conditions", ""),
        ("legacy conditions", "{{input.go}} == true"),
        ("CEL conditions", "input.go"),
    ] {
        let xml = gateway_xml(BLOCKS, condition);
        let parsed = parse(xml.as_bytes(), &Limits::default()).expect("parses");
        let compiling = Instant::now();
        let def = Definition::from_definitions(&parsed.definitions)
            .expect("compiles")
            .with_move_limit(u32::MAX);
        let compile_time = compiling.elapsed();
        moves_per_second(&def, label);
        println!("         engine compile {:.1} ms", ms(compile_time));
    }

    let def = task_chain(TASKS);
    let (runs, elapsed) = repeat(Duration::from_secs(2), || {
        black_box(drive(&def, false));
    });
    let events = (runs * (TASKS + 1)) as f64;
    println!(
        "events : {:.0} k events/s with apply_mut ({TASKS}-task sequence, {runs} runs)",
        events / elapsed.as_secs_f64() / 1e3
    );
    let (runs, elapsed) = repeat(Duration::from_secs(2), || {
        black_box(drive(&def, true));
    });
    let events = (runs * (TASKS + 1)) as f64;
    println!(
        "events : {:.0} k events/s with apply (clones the state per event; {runs} runs)",
        events / elapsed.as_secs_f64() / 1e3
    );
}

/// Token moves per second for one `Start` that runs the whole workflow.
fn moves_per_second(def: &Definition, label: &str) {
    // Moves per run, counted once with the trace on.
    let mut trace = Vec::new();
    let mut state = RunState::new("bench");
    apply_traced(def, &mut state, start(), Some(&mut trace)).expect("runs");
    assert_eq!(state.status().as_str(), "completed");
    let moves_per_run = trace.len();
    let (runs, elapsed) = repeat(Duration::from_secs(2), || {
        let mut state = RunState::new("bench");
        black_box(apply_mut(def, &mut state, start()).expect("runs"));
    });
    let moves = (runs * moves_per_run) as f64;
    println!(
        "moves  : {:.2} M token moves/s, {label} ({} gateways, {moves_per_run} moves per run, {runs} runs)",
        moves / elapsed.as_secs_f64() / 1e6,
        BLOCKS * 4,
    );
}

fn start() -> Event {
    Event::Start {
        input: json!({"go": true, "amount": 5}),
        at: Timestamp(0),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `f` until `budget` has passed; returns (iterations, elapsed).
fn repeat(budget: Duration, mut f: impl FnMut()) -> (usize, Duration) {
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < budget {
        f();
        n += 1;
    }
    (n, started.elapsed())
}

/// Drives a task chain to completion, answering each `RunAgentTask`.
fn drive(def: &Definition, cloning: bool) -> RunState {
    let mut state = RunState::new("bench");
    let mut pending = step(def, &mut state, start(), cloning);
    let mut at = 0;
    while let Some(work_id) = pending {
        at += 1;
        let done = Event::TaskCompleted {
            work_id,
            output: json!({"ok": true}),
            at: Timestamp(at),
        };
        pending = step(def, &mut state, done, cloning);
    }
    state
}

fn step(
    def: &Definition,
    state: &mut RunState,
    event: Event,
    cloning: bool,
) -> Option<agentwerke_engine::WorkId> {
    let effects = if cloning {
        let t = apply(def, state, event).expect("accepted");
        *state = t.state;
        t.effects
    } else {
        apply_mut(def, state, event).expect("accepted")
    };
    effects.into_iter().find_map(|e| match e {
        Effect::RunAgentTask { work_id, .. } => Some(work_id),
        _ => None,
    })
}

/// The gateway-heavy workflow as BPMN text.
fn gateway_xml(blocks: usize, condition: &str) -> String {
    let mut nodes = String::new();
    let mut flows = String::new();
    let mut flow = |from: &str, to: &str, extra: &str, id: &mut usize| {
        *id += 1;
        if extra.is_empty() {
            let _ = writeln!(
                flows,
                r#"<sequenceFlow id="f{id}" sourceRef="{from}" targetRef="{to}"/>"#
            );
        } else {
            let _ = writeln!(
                flows,
                r#"<sequenceFlow id="f{id}" sourceRef="{from}" targetRef="{to}"><conditionExpression>{extra}</conditionExpression></sequenceFlow>"#
            );
        }
        format!("f{id}")
    };
    let mut id = 0;
    let _ = writeln!(nodes, r#"<startEvent id="Start"/>"#);
    let mut prev = "Start".to_owned();
    for b in 0..blocks {
        let _ = writeln!(
            nodes,
            r#"<parallelGateway id="Fork{b}"/><parallelGateway id="Join{b}"/>"#
        );
        flow(&prev, &format!("Fork{b}"), "", &mut id);
        for k in 0..4 {
            let _ = writeln!(nodes, r#"<intermediateThrowEvent id="B{b}_{k}"/>"#);
            flow(&format!("Fork{b}"), &format!("B{b}_{k}"), "", &mut id);
            flow(&format!("B{b}_{k}"), &format!("Join{b}"), "", &mut id);
        }
        flow(&format!("Join{b}"), &format!("Split{b}"), "", &mut id);
        let default_id = id + 2;
        let _ = writeln!(
            nodes,
            r#"<exclusiveGateway id="Split{b}" default="f{default_id}"/><exclusiveGateway id="Merge{b}"/><intermediateThrowEvent id="Yes{b}"/><intermediateThrowEvent id="No{b}"/>"#
        );
        flow(&format!("Split{b}"), &format!("Yes{b}"), condition, &mut id);
        flow(&format!("Split{b}"), &format!("No{b}"), "", &mut id);
        flow(&format!("Yes{b}"), &format!("Merge{b}"), "", &mut id);
        flow(&format!("No{b}"), &format!("Merge{b}"), "", &mut id);
        prev = format!("Merge{b}");
    }
    let _ = writeln!(nodes, r#"<endEvent id="End"/>"#);
    flow(&prev, "End", "", &mut id);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="bench" targetNamespace="https://agentwerke.de/bench">
<process id="gateways" isExecutable="true">
{nodes}{flows}</process>
</definitions>
"#
    )
}

/// A sequence of agent tasks.
fn task_chain(tasks: usize) -> Definition {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:agentwerke="https://agentwerke.de/bpmn/extensions/v1" id="bench" targetNamespace="https://agentwerke.de/bench">
<process id="tasks" isExecutable="true"><startEvent id="Start"/><endEvent id="End"/>
"#,
    );
    let mut prev = "Start".to_owned();
    for t in 0..tasks {
        let _ = writeln!(
            xml,
            r#"<serviceTask id="T{t}"><extensionElements><agentwerke:agentTask agent="a" purposeType="bench"/></extensionElements></serviceTask><sequenceFlow id="f{t}" sourceRef="{prev}" targetRef="T{t}"/>"#
        );
        prev = format!("T{t}");
    }
    let _ = writeln!(
        xml,
        r#"<sequenceFlow id="fEnd" sourceRef="{prev}" targetRef="End"/></process></definitions>"#
    );
    let parsed = parse(xml.as_bytes(), &Limits::default()).expect("parses");
    Definition::from_definitions(&parsed.definitions).expect("compiles")
}
