//! What `Definition::new` refuses, and the graph facts it computes.

use agentwerke_bpmn::Definitions;
use agentwerke_bpmn::model::{Diagram, NodeKind};
use agentwerke_bpmn::timer::TimerKind;
use agentwerke_engine::{ApprovalDecision, Definition, Error};
use agentwerke_types::{ErrorCode, RunStatus};
use serde_json::json;

use super::support::{B, Run};

fn code(b: B) -> &'static str {
    Definition::new(&b.process()).unwrap_err().code()
}

#[test]
fn refuses_what_it_cannot_run() {
    let mut b = B::new();
    let s = b.start("Start");
    let x = b.add(
        "Call",
        NodeKind::Unsupported {
            element: "callActivity".into(),
        },
    );
    b.flow(s, x);
    assert_eq!(code(b), "engine.unsupported_element");

    let mut b = B::new();
    let s = b.start("Start");
    let t = b.add(
        "T",
        NodeKind::AgentTask {
            element: "serviceTask".into(),
            spec: None,
        },
    );
    b.flow(s, t);
    assert_eq!(code(b), "engine.missing_extension");

    let mut b = B::new();
    let s = b.start("Start");
    let e = b.end("End");
    b.flow_if(s, e, "input.x >");
    assert_eq!(code(b), "engine.invalid_condition");

    let mut b = B::new();
    let s = b.start("Start");
    let t = b.timer_catch("T", TimerKind::Duration, "ten minutes");
    b.flow(s, t);
    assert_eq!(code(b), "engine.invalid_timer");

    let mut b = B::new();
    b.end("End");
    assert_eq!(code(b), "engine.no_start_event");

    let mut b = B::new();
    b.start("S1");
    b.start("S2");
    assert_eq!(code(b), "engine.invalid_model");

    let mut b = B::new();
    let s = b.start("Start");
    let sub = b.sub("Sub");
    b.flow(s, sub);
    assert_eq!(
        code(b),
        "engine.no_start_event",
        "a subprocess needs its own start"
    );

    let mut b = B::new();
    let s = b.start("Start");
    let sub = b.sub("Sub");
    let saved = b.set_parent(Some(sub));
    b.start("In");
    let inner = b.end("InnerEnd");
    b.set_parent(saved);
    b.flow(s, inner);
    assert_eq!(
        code(b),
        "engine.invalid_model",
        "flows cannot cross a subprocess border"
    );

    let mut b = B::new();
    let s = b.start("Start");
    let g = b.xor("G");
    let e = b.end("E");
    b.flow(s, g);
    b.flow(g, e);
    let elsewhere = b.flow(s, e);
    b.set_default(g, elsewhere);
    assert_eq!(
        code(b),
        "engine.invalid_model",
        "default must leave the gateway"
    );

    let mut b = B::new();
    let s = b.start("Start");
    let g = b.xor("G");
    b.flow(s, g);
    b.boundary_error("OnG", g, None);
    assert_eq!(
        code(b),
        "engine.invalid_model",
        "boundaries attach to activities"
    );

    let defs = Definitions {
        id: None,
        name: None,
        processes: vec![],
        messages: Default::default(),
        errors: Default::default(),
        diagram: Diagram::default(),
    };
    assert_eq!(
        Definition::from_definitions(&defs).unwrap_err(),
        Error::NoExecutableProcess
    );
}

#[test]
fn node_lookups() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent("A");
    b.chain(&[s, a]);
    let def = b.build();
    assert_eq!(def.node_index("A"), Some(1));
    assert_eq!(def.node_by_id("A").unwrap().id, "A");
    assert!(def.node(99).is_none());
    assert!(def.node_by_id("nope").is_none());
}

#[test]
fn request_changes_never_reaches_back_across_a_parallel_gateway() {
    // Draft precedes the fork; sending the token back there would duplicate
    // the other branch, so the decision counts as a reject.
    let mut b = B::new();
    let s = b.start("Start");
    let draft = b.agent("Draft");
    let f = b.and("Fork");
    let review = b.approval("Review");
    let other = b.agent("Other");
    let j = b.and("Join");
    let e = b.end("End");
    b.chain(&[s, draft, f, review, j, e]);
    b.chain(&[f, other, j]);
    let def = b.build();
    assert_eq!(def.rework_target(def.node_index("Review").unwrap()), None);
    let mut r = Run::new(def);
    r.start(json!({})).complete("Draft", json!(1));
    r.decide("Review", ApprovalDecision::RequestChanges, "again");
    assert_eq!(r.status(), RunStatus::Rejected);
}

#[test]
fn request_changes_walks_back_through_exclusive_merges_and_events() {
    let mut b = B::new();
    let s = b.start("Start");
    let draft = b.agent("Draft");
    let m = b.xor("Merge");
    let note = b.throw("Noted");
    let review = b.approval("Review");
    let e = b.end("End");
    b.chain(&[s, draft, m, note, review, e]);
    let def = b.build();
    assert_eq!(
        def.rework_target(def.node_index("Review").unwrap()),
        def.node_index("Draft")
    );
}

#[test]
fn errors_propagate_through_nested_subprocesses() {
    let mut b = B::new();
    let s = b.start("Start");
    let outer = b.sub("Outer");
    let e = b.end("End");
    let saved = b.set_parent(Some(outer));
    let os = b.start("OuterStart");
    let inner = b.sub("Inner");
    let oe = b.end("OuterEnd");
    b.chain(&[os, inner, oe]);
    b.set_parent(Some(inner));
    let is = b.start("InnerStart");
    let boom = b.error_end("Boom", Some("E9"));
    b.chain(&[is, boom]);
    b.set_parent(saved);
    b.chain(&[s, outer, e]);
    let catch = b.boundary_error("Catch", outer, Some("E9"));
    let h = b.end("Handled");
    b.flow(catch, h);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.visited.last().unwrap(), "Handled");
}

#[test]
fn long_chains_of_approvals_find_their_agent_task() {
    // Draft, then 20,000 approvals (every 1,000th an agent task) and a loop
    // back into the first approval: each approval's rework target is the
    // nearest agent task before it, found once per stretch.
    let mut b = B::new();
    let s = b.start("Start");
    let draft = b.agent("Draft");
    let mut chain = vec![s, draft];
    for i in 0..20_000 {
        chain.push(if i % 1_000 == 999 {
            b.agent(&format!("A{i}"))
        } else {
            b.approval(&format!("R{i}"))
        });
    }
    let e = b.end("End");
    chain.push(e);
    b.chain(&chain);
    let def = b.build();
    let target = |id: &str| {
        def.rework_target(def.node_index(id).unwrap())
            .map(|t| def.node(t).unwrap().id.clone())
    };
    assert_eq!(target("R0").as_deref(), Some("Draft"));
    assert_eq!(target("R998").as_deref(), Some("Draft"));
    assert_eq!(target("R1000").as_deref(), Some("A999"));
    assert_eq!(target("R19998").as_deref(), Some("A18999"));

    // A cycle of approvals with no agent task anywhere on it: nothing to
    // send the work back to.
    let mut b = B::new();
    let s = b.start("Start");
    let m = b.xor("Merge");
    let r1 = b.approval("R1");
    let r2 = b.approval("R2");
    let split = b.xor("Split");
    let e = b.end("End");
    b.chain(&[s, m, r1, r2, split, e]);
    b.flow_if(split, m, "input.again");
    let def = b.build();
    assert_eq!(def.rework_target(def.node_index("R2").unwrap()), None);
}

#[test]
fn a_model_too_costly_to_analyse_is_refused() {
    // Blocks of approval, exclusive split into two events, exclusive merge,
    // with no agent task anywhere: the walk back from every merge covers the
    // whole model before it. Refused instead of analysed for minutes.
    let mut b = B::new();
    let mut prev = b.start("Start");
    for i in 0..1_000 {
        let review = b.approval(&format!("R{i}"));
        let split = b.xor(&format!("S{i}"));
        let yes = b.throw(&format!("Y{i}"));
        let no = b.throw(&format!("N{i}"));
        let merge = b.xor(&format!("M{i}"));
        b.chain(&[prev, review, split]);
        b.flow_if(split, yes, "input.go");
        let default = b.flow(split, no);
        b.set_default(split, default);
        b.chain(&[yes, merge]);
        b.chain(&[no, merge]);
        prev = merge;
    }
    let e = b.end("End");
    b.flow(prev, e);
    let error = Definition::new(&b.process()).unwrap_err();
    assert_eq!(error.code(), "engine.too_complex", "{error}");
}
