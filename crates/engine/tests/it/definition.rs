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
