use serde_json::json;

use super::*;

fn ctx() -> serde_json::Value {
    json!({
        "input": {"region": "eu", "amount": 120, "tags": ["urgent", "ops"], "flag": true},
        "output": {"Analyze": {"status": "ok", "score": 0.75}},
        "approval": {"Review": {"decision": "approve"}},
        "event": {},
        "run_id": "r-1"
    })
}

fn eval(text: &str) -> Result<bool, ConditionError> {
    Condition::compile_str(text)?.evaluate(&ctx())
}

#[test]
fn detects_language() {
    assert_eq!(
        ConditionLanguage::detect("{{x}} == 1"),
        ConditionLanguage::Legacy
    );
    assert_eq!(
        ConditionLanguage::detect("input.x == 1"),
        ConditionLanguage::Cel
    );
}

#[test]
fn cel_reads_every_context_root() {
    assert_eq!(
        eval(r#"input.region == "eu" && input.amount > 100"#),
        Ok(true)
    );
    assert_eq!(eval(r#"output.Analyze.status == 'ok'"#), Ok(true));
    assert_eq!(eval(r#"approval.Review.decision == "reject""#), Ok(false));
    assert_eq!(eval(r#"run_id == "r-1""#), Ok(true));
    assert_eq!(eval(r#""urgent" in input.tags"#), Ok(true));
    assert_eq!(eval("input.flag"), Ok(true));
}

#[test]
fn cel_fails_closed() {
    let missing_key = eval("input.nope == 1").unwrap_err();
    assert_eq!(missing_key.code(), "engine.condition_eval");
    let missing_var = eval("nothing == 1").unwrap_err();
    assert_eq!(missing_var.code(), "engine.condition_eval");
    let not_bool = eval("input.amount + 1").unwrap_err();
    assert_eq!(not_bool.code(), "engine.condition_not_boolean");
    let c = Condition::compile_str("input.x").unwrap();
    assert_eq!(
        c.evaluate(&json!([1])).unwrap_err().code(),
        "engine.condition_eval"
    );
}

#[test]
fn cel_syntax_errors_are_compile_errors() {
    for bad in ["input.x ==", "(((", "a b c", "", "   ", "}}{{"] {
        let err = Condition::compile_str(bad).unwrap_err();
        assert_eq!(err.code(), "bpmn.condition_syntax", "{bad}");
    }
}

#[test]
fn bounds_are_checked_before_parsing() {
    let long = format!("input.x == \"{}\"", "a".repeat(MAX_CONDITION_BYTES));
    assert_eq!(
        Condition::compile_str(&long).unwrap_err().code(),
        "bpmn.condition_too_long"
    );
    let deep = format!("{}true{}", "(".repeat(200), ")".repeat(200));
    assert_eq!(
        Condition::compile_str(&deep).unwrap_err().code(),
        "bpmn.condition_too_complex"
    );
    let chain = vec!["true"; 300].join(" || ");
    assert_eq!(
        Condition::compile_str(&chain).unwrap_err().code(),
        "bpmn.condition_too_complex"
    );
    // Brackets inside strings do not count.
    let quoted = format!("input.region != \"{}\"", "(".repeat(100));
    assert_eq!(eval(&quoted), Ok(true));
}

#[test]
fn largest_accepted_shapes_compile_and_run() {
    let deep = format!(
        "{}true{}",
        "(".repeat(MAX_CONDITION_NESTING),
        ")".repeat(MAX_CONDITION_NESTING)
    );
    assert_eq!(eval(&deep), Ok(true));
    let chain = vec!["true"; MAX_CONDITION_OPERATORS / 2].join(" && ");
    assert_eq!(eval(&chain), Ok(true));
    let nots = format!("{}true", "!".repeat(MAX_CONDITION_OPERATORS));
    assert_eq!(eval(&nots), Ok(true));
}

#[test]
fn references_name_the_paths_read() {
    let c = Condition::compile_str(
        r#"approval.Review.decision == "approve" && input["region"] == "eu" && input.tags.exists(t, t == "x")"#,
    )
    .unwrap();
    assert_eq!(
        c.references(),
        ["approval.Review.decision", "input.region", "input.tags"]
    );
    assert!(c.reads("approval.Review"));
    assert!(!c.reads("approval.Rev"));
    let legacy = Condition::compile_str("{{region}} == 'eu'").unwrap();
    assert_eq!(legacy.references(), ["input.region"]);
    assert_eq!(legacy.text(), "{{region}} == 'eu'");
}

#[test]
fn legacy_comparisons() {
    assert_eq!(eval(r#"{{region}} == "eu""#), Ok(true));
    assert_eq!(eval(r#"{{input.region}} != 'eu'"#), Ok(false));
    assert_eq!(eval("{{input.amount}} == 120"), Ok(true));
    assert_eq!(eval(r#"{{amount}} == "120""#), Ok(true));
    assert_eq!(eval("{{flag}} == true"), Ok(true));
    assert_eq!(eval(r#"{{output.Analyze.status}} contains "o""#), Ok(true));
    assert_eq!(eval(r#"{{tags}} contains 'ops'"#), Ok(true));
    assert_eq!(eval(r#"{{tags}} contains 'op'"#), Ok(false));
    assert_eq!(
        eval(r#"{{approval.Review.decision}} == "approve""#),
        Ok(true)
    );
}

#[test]
fn legacy_missing_paths_never_error() {
    assert_eq!(eval(r#"{{nope}} == "x""#), Ok(false));
    assert_eq!(eval(r#"{{nope}} != "x""#), Ok(true));
    assert_eq!(eval(r#"{{nope}} contains "x""#), Ok(false));
}

#[test]
fn legacy_syntax_errors() {
    for bad in [
        "{{x}}",
        "{{x}} = 1",
        "{{x}} == ",
        "{{x}} == 'a",
        "{{x y}} == 1",
        "{{x}} == bare",
        "{{x}} containsy 'a'",
        "{{x}} == 'a' && {{y}} == 'b'",
        "{{ == 1",
        "a {{x}} == 1",
    ] {
        let err = Condition::compile_str(bad).unwrap_err();
        assert_eq!(err.code(), "bpmn.condition_syntax", "{bad}");
    }
}

#[test]
fn every_error_code_is_stable() {
    let codes: Vec<_> = [
        ConditionError::TooLong { len: 0, max: 0 },
        ConditionError::TooComplex(String::new()),
        ConditionError::Syntax(String::new()),
        ConditionError::Eval(String::new()),
        ConditionError::NotBoolean(String::new()),
    ]
    .iter()
    .map(ErrorCode::code)
    .collect();
    assert_eq!(
        codes,
        [
            "bpmn.condition_too_long",
            "bpmn.condition_too_complex",
            "bpmn.condition_syntax",
            "engine.condition_eval",
            "engine.condition_not_boolean",
        ]
    );
}
