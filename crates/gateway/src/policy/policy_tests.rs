use serde_json::json;

use super::*;
use crate::category::Category;
use crate::decision::DecisionKind;
use crate::facts::Facts;
use crate::request::TaskSurface;
use crate::risk::RiskLevel;

fn schema() -> Arc<PolicySchema> {
    Arc::new(
        PolicySchema::for_tools([
            ("t.read", Category::Read),
            ("t.write", Category::Write),
            ("t.secret", Category::Secret),
        ])
        .unwrap(),
    )
}

fn codes(text: &str) -> Vec<(&'static str, Option<u32>)> {
    match PolicySet::parse("v", text, schema()) {
        Ok(_) => Vec::new(),
        Err(Error::InvalidPolicySet(issues)) => issues.iter().map(|i| (i.code, i.line)).collect(),
        Err(other) => panic!("unexpected {other}"),
    }
}

fn evaluate(
    set: &PolicySet,
    tool: &str,
    category: Category,
    args: serde_json::Value,
    attempt: u32,
) -> PolicyVerdict {
    let task = TaskSurface {
        purpose_type: "analysis".to_owned(),
        ..TaskSurface::default()
    };
    let (facts, _) = Facts::derive(
        &args,
        Some("staging"),
        "/workspace",
        &crate::Redactor::default(),
    );
    set.evaluate(&PolicyRequest {
        agent: "a",
        tool,
        category,
        task: &task,
        attempt,
        facts: &facts,
        risk_score: 0,
    })
}

#[test]
fn the_default_set_and_base_schema_are_valid() {
    let set = PolicySet::default_set(schema()).unwrap();
    assert_eq!(set.version(), DEFAULT_POLICIES_VERSION);
    assert_eq!(set.hash(), sha256_hex(DEFAULT_POLICIES.as_bytes()));
    assert!(set.issues().is_empty());
    assert!(set.policy_ids().contains(&"permit-reads".to_owned()));
    assert!(
        set.schema()
            .text()
            .contains("action \"t.write\" in [Action::\"category:write\"]")
    );
}

#[test]
fn every_problem_is_reported_with_its_code_and_position() {
    assert_eq!(
        codes("@id(\"a\")\npermit(principal, action, resource)\nwhen { context.nope };"),
        [(PolicyIssue::VALIDATION, Some(3))]
    );
    assert_eq!(
        codes("permit(principal, action, resource"),
        [(PolicyIssue::PARSE, Some(1))]
    );
    let many = r#"
        permit(principal, action, resource);
        @id("x") permit(principal, action, resource);
        @id("x") permit(principal, action, resource);
        @id("y") @decision("maybe") permit(principal, action, resource);
        @id("z") @decision("escalate") forbid(principal, action, resource);
        @id("r") @risk("extreme") permit(principal, action, resource);
        @id("t") permit(principal == ?principal, action, resource);
        @id("u") permit(principal, action == Action::"no.such.tool", resource);
    "#;
    // Every problem stands at its policy's line, also those Cedar itself
    // gives no position for (a missing or repeated @id, an annotation).
    assert_eq!(
        codes(many),
        [
            (PolicyIssue::TEMPLATE, Some(8)),
            (PolicyIssue::MISSING_ID, Some(2)),
            (PolicyIssue::DUPLICATE_ID, Some(4)),
            (PolicyIssue::ANNOTATION, Some(5)),
            (PolicyIssue::ANNOTATION, Some(6)),
            (PolicyIssue::ANNOTATION, Some(7)),
            (PolicyIssue::VALIDATION, Some(9)),
        ]
    );
}

#[test]
fn an_unusable_set_rejects_everything_but_keeps_its_identity() {
    let set = PolicySet::load("v9", "permit(", schema());
    assert_eq!(set.version(), "v9");
    assert_eq!(set.hash(), sha256_hex(b"permit("));
    assert_eq!(set.issues()[0].code, PolicyIssue::PARSE);
    let verdict = evaluate(&set, "t.read", Category::Read, json!({}), 1);
    assert_eq!(verdict.kind, DecisionKind::Reject);
    assert_eq!(verdict.reason, Reason::PolicySetUnusable);
}

#[test]
fn forbid_beats_escalate_beats_permit_and_nothing_is_no() {
    let text = r#"
        @id("allow-all") @rationale("everything goes") permit(principal, action, resource);
        @id("esc-write") @decision("escalate") @approver_role("lead") @risk("high")
        permit(principal, action in Action::"category:write", resource);
        @id("no-secrets") forbid(principal, action in Action::"category:secret", resource);
    "#;
    let set = PolicySet::parse("v", text, schema()).unwrap();
    let read = evaluate(&set, "t.read", Category::Read, json!({}), 1);
    assert_eq!(
        (read.kind, read.reason, read.rationale.as_str()),
        (DecisionKind::Allow, Reason::Permitted, "everything goes")
    );
    let write = evaluate(&set, "t.write", Category::Write, json!({}), 1);
    assert_eq!(write.kind, DecisionKind::Escalate);
    assert_eq!(write.determining_policies, ["esc-write"]);
    assert_eq!(write.approver_role.as_deref(), Some("lead"));
    assert_eq!(write.risk, Some(RiskLevel::High));
    let secret = evaluate(&set, "t.secret", Category::Secret, json!({}), 1);
    assert_eq!(
        (secret.kind, secret.reason),
        (DecisionKind::Reject, Reason::Forbidden)
    );
    assert_eq!(secret.determining_policies, ["no-secrets"]);

    let empty = PolicySet::parse("v", "", schema()).unwrap();
    let none = evaluate(&empty, "t.read", Category::Read, json!({}), 1);
    assert_eq!(
        (none.kind, none.reason),
        (DecisionKind::Reject, Reason::NoPermit)
    );
}

/// Cedar skips a policy that errors; the gateway rejects instead, because a
/// skipped forbid is an allow.
#[test]
fn an_evaluation_error_rejects() {
    let text = r#"
        @id("allow-all") permit(principal, action, resource);
        @id("overflow") forbid(principal, action, resource)
        when { context.attempt * 9223372036854775807 > 0 };
    "#;
    let set = PolicySet::parse("v", text, schema()).unwrap();
    let ok = evaluate(&set, "t.read", Category::Read, json!({}), 0);
    assert_eq!(ok.kind, DecisionKind::Allow);
    let err = evaluate(&set, "t.read", Category::Read, json!({}), 2);
    assert_eq!(
        (err.kind, err.reason),
        (DecisionKind::Reject, Reason::PolicyError)
    );
    assert_eq!(err.determining_policies, ["overflow"]);
    assert!(err.rationale.contains("overflow"), "{}", err.rationale);
}

#[test]
fn resource_and_facts_reach_cedar() {
    let text = r#"
        @id("only-example") permit(principal, action, resource == Target::"api.example.com")
        when { context.facts.targetKind == "host" && context.facts.method == "GET" };
    "#;
    let set = PolicySet::parse("v", text, schema()).unwrap();
    let hit = evaluate(
        &set,
        "t.read",
        Category::Read,
        json!({"url": "https://api.example.com/x", "method": "get"}),
        1,
    );
    assert_eq!(hit.kind, DecisionKind::Allow);
    let miss = evaluate(
        &set,
        "t.read",
        Category::Read,
        json!({"url": "https://evil.example/x"}),
        1,
    );
    assert_eq!(miss.reason, Reason::NoPermit);
}

/// The hot path skips request validation; this is the check it relies on.
#[test]
fn requests_built_by_the_gateway_validate_against_the_schema() {
    let schema = schema();
    let task = TaskSurface {
        purpose_type: "p".to_owned(),
        policy_tag: Some("t".to_owned()),
        ..TaskSurface::default()
    };
    let args = [
        json!({}),
        json!({"url": "https://a.example/", "method": "post", "path": "x", "repo": "r", "command": "rm -rf /", "token": "abcdefghijkl"}),
    ];
    for (tool, category) in schema.tools() {
        for args in &args {
            let (facts, _) =
                Facts::derive(args, Some("production"), "/w", &crate::Redactor::default());
            let req = PolicyRequest {
                agent: "a",
                tool,
                category: *category,
                task: &task,
                attempt: 3,
                facts: &facts,
                risk_score: 100,
            };
            eval::build_request(&schema, &req, true).unwrap();
        }
    }
}

/// Slicing the set per tool (and erasing the action scope) must not change
/// a single Cedar answer.
#[test]
fn slices_decide_exactly_like_the_whole_set() {
    let extra = r#"
        @id("eq-write") permit(principal, action == Action::"t.write", resource) when { context.attempt > 1 };
        @id("in-read") forbid(principal, action in Action::"category:read", resource) when { context.facts.production };
        @id("in-list") @decision("escalate") permit(principal, action in [Action::"t.read", Action::"category:secret"], resource);
        @id("cond-action") forbid(principal, action, resource) when { action in Action::"category:write" && context.facts.destructive };
        @id("agent") permit(principal == Agent::"a", action, resource == Target::"x.example");
    "#;
    let schema = schema();
    for text in [DEFAULT_POLICIES, extra] {
        let set = PolicySet::parse("v", text, Arc::clone(&schema)).unwrap();
        let compiled = set.inner.compiled.as_ref().unwrap();
        for (tool, category) in schema.tools() {
            assert!(
                compiled.slices[tool]
                    .policies()
                    .all(|p| p.action_constraint() == cedar_policy::ActionConstraint::Any)
            );
            for (args, env, attempt) in [
                (json!({}), "staging", 1),
                (json!({"url": "https://x.example/"}), "production", 2),
                (json!({"command": "rm -rf /", "path": "/etc"}), "staging", 3),
                (json!({"token": "abcdefghijkl"}), "production", 1),
            ] {
                let task = TaskSurface {
                    purpose_type: "p".to_owned(),
                    ..TaskSurface::default()
                };
                let (facts, _) = Facts::derive(&args, Some(env), "/w", &crate::Redactor::default());
                let req = PolicyRequest {
                    agent: "a",
                    tool,
                    category: *category,
                    task: &task,
                    attempt,
                    facts: &facts,
                    risk_score: 80,
                };
                let request = eval::build_request(&schema, &req, true).unwrap();
                let answer = |policies| {
                    let r = set.inner.authorizer.is_authorized(
                        &request,
                        policies,
                        &schema.action_entities,
                    );
                    let mut reasons: Vec<String> =
                        r.diagnostics().reason().map(ToString::to_string).collect();
                    reasons.sort();
                    (r.decision(), reasons, r.diagnostics().errors().count())
                };
                assert_eq!(
                    answer(&compiled.slices[tool]),
                    answer(&compiled.full),
                    "{tool} {args}"
                );
            }
        }
    }
}
