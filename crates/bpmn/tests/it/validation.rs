//! One small document per finding, asserting code, element id and line.
//!
//! `doc` puts the body on line 3 onwards: line 1 opens `definitions`, line 2
//! opens the executable process.

use agentwerke_bpmn::validate::CODES;
use agentwerke_bpmn::{KnownTools, Limits, Report, Severity, analyse, load};

use super::common::{assert_finding, dump, report, with_code};

fn doc(body: &str) -> Vec<u8> {
    format!(
        "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" xmlns:aw=\"https://agentwerke.de/bpmn/extensions/v1\">\n<process id=\"P\" isExecutable=\"true\">\n{body}\n</process>\n</definitions>"
    )
    .into_bytes()
}

const AGENT: &str =
    r#"<extensionElements><aw:agentTask agent="a" purposeType="p"/></extensionElements>"#;

/// S -> T -> E, then `extra` lines (from line 6 on).
fn simple(extra: &str) -> Vec<u8> {
    doc(&format!(
        "<startEvent id=\"S\"/>\n<serviceTask id=\"T\" name=\"T\">{AGENT}</serviceTask>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"T\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"T\" targetRef=\"E\"/>\n{extra}"
    ))
}

#[test]
fn the_baseline_is_clean() {
    let r = report(&simple(""));
    assert!(r.diagnostics.is_empty(), "{}", dump(&r));
    assert!(load(&simple(""), &Limits::default(), &KnownTools::default()).is_ok());
}

#[test]
fn no_executable_process() {
    let xml = b"<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">\n<process id=\"A\" name=\"Pool A\"/>\n<process id=\"B\" isExecutable=\"false\"><task id=\"X\"/></process>\n</definitions>";
    let r = report(xml);
    assert_finding(&r, "bpmn.no_executable_process", "A", 2);
    let d = with_code(&r, "bpmn.no_executable_process")[0];
    assert!(
        d.message.contains("`A` (Pool A)") && d.message.contains("`B`"),
        "{}",
        d.message
    );
    assert_finding(&r, "bpmn.unsupported_element", "X", 3);
}

#[test]
fn multiple_executable_processes_warn() {
    let xml = b"<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">\n<process id=\"A\" isExecutable=\"true\"><startEvent id=\"S\"/><endEvent id=\"E\"/><sequenceFlow id=\"F\" sourceRef=\"S\" targetRef=\"E\"/></process>\n<process id=\"B\" isExecutable=\"true\"/>\n</definitions>";
    let r = report(xml);
    assert_finding(&r, "bpmn.multiple_executable_processes", "B", 3);
    assert!(r.is_ok(), "{}", dump(&r));
}

#[test]
fn start_events() {
    let r = report(&doc("<endEvent id=\"E\"/>"));
    assert_finding(&r, "bpmn.missing_start_event", "P", 2);
    let r = report(&simple(
        "<startEvent id=\"S2\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"S2\" targetRef=\"T\"/>",
    ));
    assert_finding(&r, "bpmn.multiple_start_events", "S2", 8);
    let r = report(&simple(
        "<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"S\"/>",
    ));
    assert_finding(&r, "bpmn.start_event_incoming", "S", 3);
    let r = report(&simple(
        "<startEvent id=\"M\"><messageEventDefinition/></startEvent>",
    ));
    assert_finding(&r, "bpmn.unsupported_element", "M", 8);
}

#[test]
fn subprocess_needs_its_own_start() {
    let r = report(&doc(
        "<startEvent id=\"S\"/>\n<subProcess id=\"Sub\">\n<endEvent id=\"SubEnd\"/>\n</subProcess>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"Sub\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"Sub\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.missing_start_event", "Sub", 4);
    // Nodes of a scope without start are not also "unreachable".
    assert!(
        with_code(&r, "bpmn.unreachable_node").is_empty(),
        "{}",
        dump(&r)
    );
}

#[test]
fn unreachable_and_dead_end() {
    let r = report(&simple(&format!(
        "<serviceTask id=\"Lost\" name=\"Lost\">{AGENT}</serviceTask>\n<sequenceFlow id=\"F3\" sourceRef=\"Lost\" targetRef=\"E\"/>\n<serviceTask id=\"Stuck\" name=\"Stuck\">{AGENT}</serviceTask>\n<sequenceFlow id=\"F4\" sourceRef=\"T\" targetRef=\"Stuck\"/>"
    )));
    assert_finding(&r, "bpmn.unreachable_node", "Lost", 8);
    assert_finding(&r, "bpmn.dead_end", "Stuck", 10);
    let dead = with_code(&r, "bpmn.dead_end")[0];
    assert_eq!(dead.severity, Severity::Warning);
}

#[test]
fn subprocess_children_and_boundaries_are_reachable() {
    let r = report(&doc(&format!(
        "<startEvent id=\"S\"/>\n<subProcess id=\"Sub\" name=\"Sub\">\n<startEvent id=\"SS\"/>\n<serviceTask id=\"ST\" name=\"ST\">{AGENT}</serviceTask>\n<endEvent id=\"SE\"/>\n<sequenceFlow id=\"SF1\" sourceRef=\"SS\" targetRef=\"ST\"/>\n<sequenceFlow id=\"SF2\" sourceRef=\"ST\" targetRef=\"SE\"/>\n</subProcess>\n<boundaryEvent id=\"B\" attachedToRef=\"Sub\"><timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition></boundaryEvent>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"Sub\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"Sub\" targetRef=\"E\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"B\" targetRef=\"E\"/>"
    )));
    assert!(r.diagnostics.is_empty(), "{}", dump(&r));
}

#[test]
fn flows_to_unknown_nodes_and_across_subprocesses() {
    let r = report(&simple(
        "<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"Nowhere\"/>",
    ));
    assert_finding(&r, "bpmn.unknown_flow_ref", "F3", 8);
    let r = report(&doc(
        "<startEvent id=\"S\"/>\n<subProcess id=\"Sub\">\n<startEvent id=\"SS\"/>\n<endEvent id=\"SE\"/>\n<sequenceFlow id=\"Cross\" sourceRef=\"SS\" targetRef=\"E\"/>\n</subProcess>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"Sub\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"Sub\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.flow_crosses_subprocess", "Cross", 7);
}

#[test]
fn tasks_need_their_extensions() {
    let r = report(&doc(
        "<startEvent id=\"S\"/>\n<serviceTask id=\"A\" name=\"A\"/>\n<userTask id=\"U\" name=\"U\"/>\n<receiveTask id=\"R\" name=\"R\"/>\n<intermediateCatchEvent id=\"C\"><messageEventDefinition messageRef=\"nope\"/></intermediateCatchEvent>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"A\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"A\" targetRef=\"U\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"U\" targetRef=\"R\"/>\n<sequenceFlow id=\"F4\" sourceRef=\"R\" targetRef=\"C\"/>\n<sequenceFlow id=\"F5\" sourceRef=\"C\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.missing_agent_task", "A", 4);
    assert_finding(&r, "bpmn.missing_approval_task", "U", 5);
    assert_finding(&r, "bpmn.missing_external_event", "R", 6);
    assert_finding(&r, "bpmn.missing_external_event", "C", 7);
}

#[test]
fn message_catch_may_name_a_defined_message() {
    let xml = b"<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">\n<message id=\"M\" name=\"paid\"/>\n<process id=\"P\" isExecutable=\"true\"><startEvent id=\"S\"/><intermediateCatchEvent id=\"C\"><messageEventDefinition messageRef=\"M\"/></intermediateCatchEvent><endEvent id=\"E\"/><sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"C\"/><sequenceFlow id=\"F2\" sourceRef=\"C\" targetRef=\"E\"/></process></definitions>";
    let r = report(xml);
    assert!(r.is_ok(), "{}", dump(&r));
}

#[test]
fn extension_attributes() {
    let r = report(&doc(
        "<startEvent id=\"S\"/>\n<serviceTask id=\"A\" name=\"A\"><extensionElements>\n<aw:agentTask purposeType=\"p\" executionMode=\"remote\" maxRetries=\"many\" requiresEvidence=\"yes\" colour=\"red\"/>\n</extensionElements></serviceTask>\n<userTask id=\"U\" name=\"U\"><extensionElements>\n<aw:approvalTask purposeType=\"p\"/>\n</extensionElements></userTask>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"A\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"A\" targetRef=\"U\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"U\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.missing_attribute", "A", 5);
    assert_finding(&r, "bpmn.invalid_attribute", "A", 5);
    assert_finding(&r, "bpmn.unknown_attribute", "A", 5);
    assert_finding(&r, "bpmn.missing_attribute", "U", 8);
    let messages: Vec<&str> = r.errors().map(|d| d.message.as_str()).collect();
    assert!(
        messages.iter().any(|m| m.contains("`agent`")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("`policyTag`")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("executionMode=\"remote\"")
                && m.contains("local, tool_sandboxed, agent_sandboxed")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("maxRetries")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("requiresEvidence")),
        "{messages:?}"
    );
    // The broken extension is reported once, not also as missing.
    assert!(
        with_code(&r, "bpmn.missing_agent_task").is_empty(),
        "{}",
        dump(&r)
    );
    assert!(
        with_code(&r, "bpmn.missing_approval_task").is_empty(),
        "{}",
        dump(&r)
    );
}

#[test]
fn extension_placement() {
    let r = report(&simple(
        "<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"G\"/>\n<exclusiveGateway id=\"G\"><extensionElements><aw:approvalTask purposeType=\"p\" policyTag=\"t\"/><aw:gizmo/></extensionElements></exclusiveGateway>\n<sequenceFlow id=\"F4\" sourceRef=\"G\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.misplaced_extension", "G", 9);
    assert_finding(&r, "bpmn.unknown_extension", "G", 9);
}

#[test]
fn conditions() {
    let long = "x".repeat(5000);
    let r = report(&simple(&format!(
        "<exclusiveGateway id=\"G\" default=\"F4\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"G\"/>\n<sequenceFlow id=\"Bad\" sourceRef=\"G\" targetRef=\"E\"><conditionExpression>input.x ==</conditionExpression></sequenceFlow>\n<sequenceFlow id=\"Long\" sourceRef=\"G\" targetRef=\"E\"><conditionExpression>{long}</conditionExpression></sequenceFlow>\n<sequenceFlow id=\"F4\" sourceRef=\"G\" targetRef=\"E\"/>"
    )));
    assert_finding(&r, "bpmn.condition_syntax", "Bad", 10);
    assert_finding(&r, "bpmn.condition_too_long", "Long", 11);
}

#[test]
fn ignored_and_default_conditions() {
    let r = report(&doc(&format!(
        "<startEvent id=\"S\"/>\n<serviceTask id=\"T\" name=\"T\">{AGENT}</serviceTask>\n<exclusiveGateway id=\"G\" default=\"D\"/>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"T\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"T\" targetRef=\"G\"><conditionExpression>true</conditionExpression></sequenceFlow>\n<sequenceFlow id=\"D\" sourceRef=\"G\" targetRef=\"E\"><conditionExpression>true</conditionExpression></sequenceFlow>\n<sequenceFlow id=\"C\" sourceRef=\"G\" targetRef=\"E\"><conditionExpression>input.a</conditionExpression></sequenceFlow>"
    )));
    assert_finding(&r, "bpmn.ignored_condition", "F2", 8);
    assert_finding(&r, "bpmn.conditional_default", "D", 9);
    assert!(r.is_ok(), "{}", dump(&r));
}

#[test]
fn gateways() {
    let r = report(&simple(
        "<exclusiveGateway id=\"G\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"G\"/>\n<sequenceFlow id=\"F4\" sourceRef=\"G\" targetRef=\"E\"/>\n<sequenceFlow id=\"F5\" sourceRef=\"G\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.ambiguous_gateway", "G", 8);
    let r = report(&simple(
        "<exclusiveGateway id=\"G\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"G\"/>\n<sequenceFlow id=\"F4\" sourceRef=\"G\" targetRef=\"E\"><conditionExpression>input.a</conditionExpression></sequenceFlow>\n<sequenceFlow id=\"F5\" sourceRef=\"G\" targetRef=\"E\"><conditionExpression>!input.a</conditionExpression></sequenceFlow>",
    ));
    assert_finding(&r, "bpmn.no_default_flow", "G", 8);
    let r = report(&simple(
        "<parallelGateway id=\"G\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"G\"/>\n<sequenceFlow id=\"F4\" sourceRef=\"G\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.pointless_gateway", "G", 8);
}

#[test]
fn default_flows() {
    let r = report(&simple(
        "<exclusiveGateway id=\"G\" default=\"Ghost\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"G\"/>\n<sequenceFlow id=\"F4\" sourceRef=\"G\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.unknown_default_flow", "G", 8);
    let r = report(&simple(
        "<exclusiveGateway id=\"G\" default=\"F1\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"G\"/>\n<sequenceFlow id=\"F4\" sourceRef=\"G\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.invalid_default_flow", "G", 8);
}

#[test]
fn timers() {
    let r = report(&simple(
        "<intermediateCatchEvent id=\"Bad\"><timerEventDefinition>\n<timeCycle>R0/PT1M</timeCycle></timerEventDefinition></intermediateCatchEvent>\n<intermediateCatchEvent id=\"Empty\"><timerEventDefinition/></intermediateCatchEvent>\n<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"Bad\"/>\n<sequenceFlow id=\"F4\" sourceRef=\"Bad\" targetRef=\"Empty\"/>\n<sequenceFlow id=\"F5\" sourceRef=\"Empty\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.invalid_timer", "Bad", 9);
    assert_finding(&r, "bpmn.invalid_timer", "Empty", 10);
    let r = report(&simple(
        "<intermediateCatchEvent id=\"Two\"><timerEventDefinition><timeDuration>PT1M</timeDuration><timeDate>2026-01-01T00:00:00Z</timeDate></timerEventDefinition></intermediateCatchEvent>\n<sequenceFlow id=\"F3\" sourceRef=\"T\" targetRef=\"Two\"/>\n<sequenceFlow id=\"F4\" sourceRef=\"Two\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.ambiguous_timer", "Two", 8);
}

#[test]
fn unsupported_elements() {
    let r = report(&doc(
        "<startEvent id=\"S\"/>\n<task id=\"Plain\"/>\n<callActivity id=\"Call\"/>\n<intermediateThrowEvent id=\"Sig\"><signalEventDefinition/></intermediateThrowEvent>\n<subProcess id=\"Ev\" triggeredByEvent=\"true\"/>\n<boundaryEvent id=\"NonInt\" attachedToRef=\"Call\" cancelActivity=\"false\"><errorEventDefinition/></boundaryEvent>\n<endEvent id=\"E\"><messageEventDefinition/></endEvent>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"Plain\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"Plain\" targetRef=\"Call\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"Call\" targetRef=\"Sig\"/>\n<sequenceFlow id=\"F4\" sourceRef=\"Sig\" targetRef=\"E\"/>\n<sequenceFlow id=\"F5\" sourceRef=\"NonInt\" targetRef=\"E\"/>",
    ));
    for (id, line) in [
        ("Plain", 4),
        ("Call", 5),
        ("Sig", 6),
        ("Ev", 7),
        ("NonInt", 8),
        ("E", 9),
    ] {
        assert_finding(&r, "bpmn.unsupported_element", id, line);
    }
    assert!(
        with_code(&r, "bpmn.unsupported_element")
            .iter()
            .all(|d| d.message.contains("outside the executable subset"))
    );
    // A boundary on an unsupported activity is still correctly attached.
    assert!(
        with_code(&r, "bpmn.invalid_boundary_attachment").is_empty(),
        "{}",
        dump(&r)
    );
}

#[test]
fn boundary_events() {
    let r = report(&simple(
        "<boundaryEvent id=\"OnEnd\" attachedToRef=\"E\"><timerEventDefinition><timeDuration>PT1M</timeDuration></timerEventDefinition></boundaryEvent>\n<boundaryEvent id=\"OnNothing\" attachedToRef=\"Ghost\"><errorEventDefinition/></boundaryEvent>\n<boundaryEvent id=\"Fed\" attachedToRef=\"T\"><errorEventDefinition errorRef=\"Nope\"/></boundaryEvent>\n<sequenceFlow id=\"F3\" sourceRef=\"S\" targetRef=\"Fed\"/>\n<sequenceFlow id=\"F4\" sourceRef=\"Fed\" targetRef=\"E\"/>",
    ));
    assert_finding(&r, "bpmn.invalid_boundary_attachment", "OnEnd", 8);
    assert_finding(&r, "bpmn.invalid_boundary_attachment", "OnNothing", 9);
    assert_finding(&r, "bpmn.boundary_incoming", "Fed", 10);
    assert_finding(&r, "bpmn.unresolved_ref", "Fed", 10);
}

#[test]
fn end_event_with_outgoing_flow() {
    let r = report(&simple(
        "<endEvent id=\"E2\"/>\n<sequenceFlow id=\"F3\" sourceRef=\"E\" targetRef=\"E2\"/>",
    ));
    assert_finding(&r, "bpmn.end_event_outgoing", "E", 5);
}

#[test]
fn ids() {
    let r = report(&simple(&format!(
        "<serviceTask id=\"T\" name=\"again\">{AGENT}</serviceTask>"
    )));
    assert_finding(&r, "bpmn.duplicate_id", "T", 8);
    let r = report(&simple("<task/>"));
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.code == "bpmn.missing_id" && d.line == 8),
        "{}",
        dump(&r)
    );
}

#[test]
fn unnamed_task() {
    let r = report(&doc(&format!(
        "<startEvent id=\"S\"/>\n<serviceTask id=\"T\">{AGENT}</serviceTask>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"T\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"T\" targetRef=\"E\"/>"
    )));
    assert_finding(&r, "bpmn.unnamed_task", "T", 4);
    assert!(r.is_ok());
}

#[test]
fn invalid_xml_is_a_located_finding() {
    let err = load(b"<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">\n<process id=\"P\">\n</definitions>", &Limits::default(), &KnownTools::default()).unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!((d.code, d.line), ("bpmn.invalid_xml", 3));
}

#[test]
fn findings_are_sorted_and_all_at_once() {
    let r = report(&doc(
        "<startEvent id=\"S\"/>\n<serviceTask id=\"A\"/>\n<userTask id=\"U\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"A\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"A\" targetRef=\"Nope\"/>",
    ));
    let lines: Vec<u32> = r.diagnostics.iter().map(|d| d.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
    assert!(r.errors().count() >= 4, "{}", dump(&r));
}

#[test]
fn every_emitted_code_is_listed() {
    // Every test document above only produces listed codes; this checks a
    // busy one and the MIWG set.
    let mut seen = Vec::new();
    for path in std::fs::read_dir(super::common::miwg_dir()).unwrap() {
        let path = path.unwrap().path();
        if path.extension().is_none_or(|e| e != "bpmn") {
            continue;
        }
        let xml = std::fs::read(path).unwrap();
        seen.extend(report(&xml).diagnostics.into_iter().map(|d| d.code));
    }
    for code in seen {
        assert!(CODES.contains(&code), "{code} is not in CODES");
    }
}

#[test]
fn codes_are_stable() {
    assert_eq!(
        CODES,
        [
            "bpmn.too_large",
            "bpmn.invalid_encoding",
            "bpmn.dtd_forbidden",
            "bpmn.too_many_nodes",
            "bpmn.too_deep",
            "bpmn.invalid_xml",
            "bpmn.not_bpmn",
            "bpmn.duplicate_id",
            "bpmn.unknown_default_flow",
            "bpmn.missing_attribute",
            "bpmn.invalid_attribute",
            "bpmn.invalid_expiry",
            "bpmn.invalid_budget",
            "bpmn.no_executable_process",
            "bpmn.missing_id",
            "bpmn.missing_start_event",
            "bpmn.multiple_start_events",
            "bpmn.start_event_incoming",
            "bpmn.unreachable_node",
            "bpmn.unknown_flow_ref",
            "bpmn.flow_crosses_subprocess",
            "bpmn.missing_agent_task",
            "bpmn.missing_approval_task",
            "bpmn.missing_external_event",
            "bpmn.condition_syntax",
            "bpmn.condition_too_long",
            "bpmn.condition_too_complex",
            "bpmn.invalid_timer",
            "bpmn.ambiguous_gateway",
            "bpmn.invalid_default_flow",
            "bpmn.unsupported_element",
            "bpmn.invalid_boundary_attachment",
            "bpmn.boundary_incoming",
            "bpmn.end_event_outgoing",
            "bpmn.unknown_tool",
            "bpmn.unknown_attribute",
            "bpmn.unknown_extension",
            "bpmn.misplaced_extension",
            "bpmn.duplicate_extension",
            "bpmn.unresolved_ref",
            "bpmn.ambiguous_timer",
            "bpmn.multiple_executable_processes",
            "bpmn.dead_end",
            "bpmn.ignored_condition",
            "bpmn.pointless_gateway",
            "bpmn.conditional_default",
            "bpmn.no_default_flow",
            "bpmn.unnamed_task",
            "bpmn.unknown_tool_pattern",
        ]
    );
}

/// S -> T -> E where T's `agentTask` carries `attrs` (T on line 4).
fn agent_with(attrs: &str) -> Vec<u8> {
    doc(&format!(
        "<startEvent id=\"S\"/>\n<serviceTask id=\"T\" name=\"T\"><extensionElements><aw:agentTask agent=\"a\" purposeType=\"p\" {attrs}/></extensionElements></serviceTask>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"T\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"T\" targetRef=\"E\"/>"
    ))
}

fn against(xml: &[u8], tools: &[&str]) -> Report {
    analyse(
        xml,
        &Limits::default(),
        &KnownTools::new(tools.iter().copied()),
    )
    .1
}

#[test]
fn an_action_shaped_like_a_tool_must_name_a_known_tool() {
    let tools = ["artifact.write", "human.ask"];
    let r = against(&agent_with(r#"action="exec.run""#), &tools);
    assert_finding(&r, "bpmn.unknown_tool", "T", 4);
    let d = with_code(&r, "bpmn.unknown_tool")[0];
    assert_eq!(d.severity, Severity::Error);
    assert!(
        d.message.contains("`exec.run`") && d.message.contains("artifact.write, human.ask"),
        "{}",
        d.message
    );
    for fine in [
        "artifact.write",
        "human.ask",
        "analyze",
        "Summarise the incident.",
    ] {
        let r = against(&agent_with(&format!("action=\"{fine}\"")), &tools);
        assert!(r.diagnostics.is_empty(), "{fine}: {}", dump(&r));
    }
    // Knowing no tool refuses every tool-shaped action.
    let r = against(&agent_with(r#"action="artifact.write""#), &[]);
    assert_finding(&r, "bpmn.unknown_tool", "T", 4);
    assert!(
        load(
            &agent_with(r#"action="exec.run""#),
            &Limits::default(),
            &KnownTools::new(tools)
        )
        .is_err()
    );
}

#[test]
fn tool_list_entries_matching_no_tool_warn() {
    let r = against(
        &agent_with(r#"allowedTools="artifact.*, vault.read *" deniedTools="exec.run human.ask""#),
        &["artifact.read", "artifact.write", "human.ask"],
    );
    let warned: Vec<&str> = with_code(&r, "bpmn.unknown_tool_pattern")
        .iter()
        .map(|d| {
            assert_eq!(d.severity, Severity::Warning);
            assert_eq!(d.element_id.as_deref(), Some("T"));
            if d.message.contains("`vault.read` in allowedTools") {
                "vault.read"
            } else if d.message.contains("`exec.run` in deniedTools") {
                "exec.run"
            } else {
                panic!("unexpected: {}", d.message)
            }
        })
        .collect();
    assert_eq!(warned, ["vault.read", "exec.run"], "{}", dump(&r));
    assert!(r.is_ok(), "{}", dump(&r));
}

#[test]
fn columns_count_characters_not_bytes() {
    let xml = doc(&format!(
        "<startEvent id=\"S\"/>\n<!--äöü--><serviceTask id=\"T\">{AGENT}</serviceTask>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"T\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"T\" targetRef=\"E\"/>"
    ));
    let r = report(&xml);
    let d = with_code(&r, "bpmn.unnamed_task")[0];
    assert_eq!((d.line, d.column), (4, 11), "{}", dump(&r));
}

/// S -> U -> E where U's `approvalTask` carries `attrs` (U on line 4).
fn gate_with(attrs: &str) -> Vec<u8> {
    doc(&format!(
        "<startEvent id=\"S\"/>\n<userTask id=\"U\" name=\"U\"><extensionElements><aw:approvalTask purposeType=\"p\" policyTag=\"t\" {attrs}/></extensionElements></userTask>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"U\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"U\" targetRef=\"E\"/>"
    ))
}

fn gate_spec(xml: &[u8]) -> agentwerke_bpmn::model::ApprovalSpec {
    let defs = load(xml, &Limits::default(), &KnownTools::new(["human.ask"]))
        .unwrap_or_else(|r| panic!("{}", dump(&r)))
        .definitions;
    let process = &defs.processes[0];
    let node = process.nodes.iter().find(|n| n.id == "U").expect("U");
    match &node.kind {
        agentwerke_bpmn::model::NodeKind::UserTask { approval } => {
            approval.clone().expect("the approval task")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_gate_may_expire_with_a_modelled_or_default_outcome() {
    use agentwerke_bpmn::model::ExpiryOutcome;
    assert_eq!(gate_spec(&gate_with("")).expiry, None);
    let expiry = gate_spec(&gate_with(r#"expiresAfter="PT4H""#))
        .expiry
        .expect("an expiry");
    assert_eq!(expiry.expires_after, "PT4H");
    assert_eq!(expiry.duration.hours, 4);
    assert_eq!(expiry.on_expiry, ExpiryOutcome::Reject, "the default");
    for (text, outcome) in [
        ("reject", ExpiryOutcome::Reject),
        ("approve", ExpiryOutcome::Approve),
        ("requestChanges", ExpiryOutcome::RequestChanges),
    ] {
        let xml = gate_with(&format!(r#"expiresAfter="P2D" onExpiry="{text}""#));
        let expiry = gate_spec(&xml).expiry.expect("an expiry");
        assert_eq!((expiry.on_expiry, expiry.duration.days), (outcome, 2));
        assert_eq!(expiry.on_expiry.as_str(), text);
    }
}

#[test]
fn an_invalid_expiry_is_an_error_at_import() {
    for (attrs, code) in [
        (r#"expiresAfter="4 hours""#, "bpmn.invalid_expiry"),
        (r#"expiresAfter="PT0S""#, "bpmn.invalid_expiry"),
        (r#"expiresAfter="-PT4H""#, "bpmn.invalid_expiry"),
        (r#"onExpiry="approve""#, "bpmn.invalid_expiry"),
        (
            r#"expiresAfter="PT4H" onExpiry="escalate""#,
            "bpmn.invalid_attribute",
        ),
    ] {
        let r = report(&gate_with(attrs));
        assert_finding(&r, code, "U", 4);
        assert_eq!(r.errors().count(), 1, "{attrs}: {}", dump(&r));
        assert!(
            load(
                &gate_with(attrs),
                &Limits::default(),
                &KnownTools::default()
            )
            .is_err(),
            "{attrs}"
        );
    }
}

/// S -> T -> E where T's `agentTask` carries `attrs` (T on line 4).
fn task_with(attrs: &str) -> Vec<u8> {
    doc(&format!(
        "<startEvent id=\"S\"/>\n<serviceTask id=\"T\" name=\"T\"><extensionElements><aw:agentTask agent=\"a\" purposeType=\"p\" {attrs}/></extensionElements></serviceTask>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"T\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"T\" targetRef=\"E\"/>"
    ))
}

fn task_budgets(xml: &[u8]) -> agentwerke_bpmn::model::TaskBudgets {
    let defs = load(xml, &Limits::default(), &KnownTools::default())
        .unwrap_or_else(|r| panic!("{}", dump(&r)))
        .definitions;
    let node = defs.processes[0]
        .nodes
        .iter()
        .find(|n| n.id == "T")
        .expect("T");
    match &node.kind {
        agentwerke_bpmn::model::NodeKind::AgentTask { spec, .. } => {
            *spec.as_ref().expect("the agent task").budgets
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_task_sets_its_budgets() {
    use agentwerke_bpmn::model::{BudgetExceeded, TaskBudgets};
    assert_eq!(task_budgets(&task_with("")), TaskBudgets::default());
    let set = task_budgets(&task_with(
        r#"stepTokenBudget="4000" stepCostBudget="0.05" runTokenBudget="20000" runCostBudget="1.5" onBudgetExceeded="escalate""#,
    ));
    assert_eq!(
        set,
        TaskBudgets {
            step_tokens: Some(4000),
            step_cost_usd: Some(0.05),
            run_tokens: Some(20000),
            run_cost_usd: Some(1.5),
            on_exceed: Some(BudgetExceeded::Escalate),
        }
    );
    let fail = task_budgets(&task_with(r#"runTokenBudget="10" onBudgetExceeded="fail""#));
    assert_eq!(fail.on_exceed, Some(BudgetExceeded::Fail));
}

#[test]
fn an_invalid_budget_is_an_error_at_import() {
    for (attrs, code) in [
        (r#"stepTokenBudget="0""#, "bpmn.invalid_budget"),
        (r#"stepTokenBudget="1.5""#, "bpmn.invalid_budget"),
        (r#"runTokenBudget="-3""#, "bpmn.invalid_budget"),
        (r#"stepCostBudget="0""#, "bpmn.invalid_budget"),
        (r#"runCostBudget="$2""#, "bpmn.invalid_budget"),
        (r#"runCostBudget="inf""#, "bpmn.invalid_budget"),
        (r#"onBudgetExceeded="ignore""#, "bpmn.invalid_attribute"),
    ] {
        let r = report(&task_with(attrs));
        assert_finding(&r, code, "T", 4);
        assert_eq!(r.errors().count(), 1, "{attrs}: {}", dump(&r));
        assert!(
            load(
                &task_with(attrs),
                &Limits::default(),
                &KnownTools::default()
            )
            .is_err(),
            "{attrs}"
        );
    }
}

/// The egress allow-lists: a task's and its workflow's `egressHosts` are
/// read lowercased; an entry that is not a host name, or a list on an
/// `offline` task (which has no network), is an error at its element.
#[test]
fn egress_hosts_are_host_names_for_a_networked_profile() {
    let task = |attrs: &str| {
        format!(
            "<startEvent id=\"S\"/>\n<serviceTask id=\"T\" name=\"T\"><extensionElements><aw:agentTask agent=\"a\" purposeType=\"p\" {attrs}/></extensionElements></serviceTask>\n<endEvent id=\"E\"/>\n<sequenceFlow id=\"F1\" sourceRef=\"S\" targetRef=\"T\"/>\n<sequenceFlow id=\"F2\" sourceRef=\"T\" targetRef=\"E\"/>"
        )
    };
    let good = format!(
        "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" xmlns:aw=\"https://agentwerke.de/bpmn/extensions/v1\">\n<process id=\"P\" isExecutable=\"true\" aw:egressHosts=\"PyPI.org *.pythonhosted.org\">\n{}\n</process>\n</definitions>",
        task(r#"sandboxProfile="repo-read" egressHosts="api.GitHub.com, *.githubusercontent.com""#)
    );
    let r = report(good.as_bytes());
    assert!(r.diagnostics.is_empty(), "{}", dump(&r));
    let loaded = load(good.as_bytes(), &Limits::default(), &KnownTools::default()).unwrap();
    let process = loaded.definitions.executable_process().unwrap();
    assert_eq!(process.egress_hosts, ["pypi.org", "*.pythonhosted.org"]);
    let spec = process
        .nodes
        .iter()
        .find_map(|n| match &n.kind {
            agentwerke_bpmn::model::NodeKind::AgentTask { spec, .. } => spec.clone(),
            _ => None,
        })
        .unwrap();
    // The task's own, then its workflow's.
    assert_eq!(
        spec.egress_hosts,
        [
            "api.github.com",
            "*.githubusercontent.com",
            "pypi.org",
            "*.pythonhosted.org"
        ]
    );

    let r = report(&doc(&task(
        r#"sandboxProfile="repo-read" egressHosts="https://api.github.com""#,
    )));
    assert_finding(&r, "bpmn.invalid_attribute", "T", 4);
    assert!(dump(&r).contains("no scheme, port or path"), "{}", dump(&r));

    let r = report(&doc(&task(r#"egressHosts="api.github.com""#)));
    assert_finding(&r, "bpmn.invalid_attribute", "T", 4);
    assert!(dump(&r).contains("offline"), "{}", dump(&r));

    let bad_process = "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" xmlns:aw=\"https://agentwerke.de/bpmn/extensions/v1\">\n<process id=\"P\" isExecutable=\"true\" aw:egressHosts=\"10.0.0.1\">\n<startEvent id=\"S\"/><endEvent id=\"E\"/><sequenceFlow id=\"F\" sourceRef=\"S\" targetRef=\"E\"/>\n</process>\n</definitions>";
    let r = report(bad_process.as_bytes());
    assert_finding(&r, "bpmn.invalid_attribute", "P", 2);
}
