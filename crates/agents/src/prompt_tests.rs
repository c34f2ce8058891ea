use serde_json::{Value, json};

use agentwerke_evidence::redact::Redactor;
use agentwerke_types::ErrorCode;

use super::*;

fn context() -> Value {
    json!({
        "input": {
            "name": "Ada",
            "n": 3,
            "flag": true,
            "nothing": null,
            "customer": {"address": {"city": "Berlin"}},
            "items": ["first", {"sku": "X-1"}],
            "sneaky": "{{run_id}}",
        },
        "output": {
            "Review": {"verdict": "ok", "score": 0.5},
            "Summary": "short text",
        },
        "approval": {"comment": "ship it"},
        "run_id": "ignored-from-context",
    })
}

fn vars<'a>(ctx: &'a Value, feedback: Option<&'a str>) -> PromptVars<'a> {
    PromptVars {
        context: ctx,
        run_id: "run-42",
        node_name: "Draft reply",
        feedback,
    }
}

#[test]
fn renders_every_variable_kind() {
    let ctx = context();
    let cases: &[(&str, &str)] = &[
        ("Hello {{input.name}}", "Hello Ada"),
        ("{{input.n}}", "3"),
        ("{{input.flag}}", "true"),
        ("{{input.nothing}}", "null"),
        ("{{input.customer.address.city}}", "Berlin"),
        ("{{input.items.0}}", "first"),
        ("{{input.items.1.sku}}", "X-1"),
        ("{{input.items.1}}", r#"{"sku":"X-1"}"#),
        ("{{input.customer}}", r#"{"address":{"city":"Berlin"}}"#),
        ("{{output.Summary}}", "short text"),
        ("{{output.Review}}", r#"{"score":0.5,"verdict":"ok"}"#),
        ("{{output.Review.verdict}}", "ok"),
        ("{{approval.comment}}", "ship it"),
        ("{{run_id}}", "run-42"),
        ("{{node_name}}", "Draft reply"),
        ("[{{feedback}}]", "[]"),
        ("{{ input.name }} / {{\tinput.n\t}}", "Ada / 3"),
        ("no variables at all", "no variables at all"),
        ("unclosed {{input.name", "unclosed {{input.name"),
        ("{{ {{input.name}}", "{{ Ada"),
        // Inserted text is never rendered again.
        ("{{input.sneaky}}", "{{run_id}}"),
        ("", ""),
    ];
    for (template, expected) in cases {
        let rendered = render(template, &vars(&ctx, None)).unwrap();
        // Objects render as JSON; their key order depends on serde_json's
        // features in the build, so they are compared as values.
        match serde_json::from_str::<serde_json::Value>(expected) {
            Ok(value) if value.is_object() => {
                let got: serde_json::Value = serde_json::from_str(&rendered.text).unwrap();
                assert_eq!(got, value, "template {template:?}");
            }
            _ => assert_eq!(rendered.text, *expected, "template {template:?}"),
        }
        assert!(rendered.unresolved.is_empty(), "template {template:?}");
    }
}

#[test]
fn feedback_is_the_approvers_comment() {
    let ctx = context();
    let rendered = render("Fix: {{feedback}}", &vars(&ctx, Some("add tests"))).unwrap();
    assert_eq!(rendered.text, "Fix: add tests");
}

#[test]
fn unresolved_variables_stay_visible_and_are_listed_once() {
    let ctx = context();
    let template = "a {{input.missing}} b {{ output.Nope.x }} c {{input.items.9}} \
                    d {{input.name.deeper}} e {{input.missing}} f {{secret}} g {{#if x}}";
    let rendered = render(template, &vars(&ctx, None)).unwrap();
    assert_eq!(rendered.text, template);
    assert_eq!(
        rendered.unresolved,
        [
            "input.missing",
            "output.Nope.x",
            "input.items.9",
            "input.name.deeper",
            "secret",
            "#if x"
        ]
    );
}

#[test]
fn malformed_paths_do_not_resolve() {
    let ctx = context();
    for name in [
        "input.",
        ".input",
        "input..name",
        "input.na me",
        "",
        "Input.name",
    ] {
        let template = format!("{{{{{name}}}}}");
        let rendered = render(&template, &vars(&ctx, None)).unwrap();
        assert_eq!(rendered.text, template);
        assert_eq!(rendered.unresolved, [name.trim()], "name {name:?}");
    }
}

#[test]
fn strict_turns_unresolved_into_an_error_naming_them() {
    let ctx = context();
    let rendered = render("{{input.a}} {{input.name}} {{input.b}}", &vars(&ctx, None)).unwrap();
    let err = rendered.strict().unwrap_err();
    assert_eq!(err.code(), "agents.unresolved_variable");
    assert_eq!(
        err,
        Error::UnresolvedVariable {
            names: vec!["input.a".into(), "input.b".into()]
        }
    );
    assert!(err.to_string().contains("input.a, input.b"));

    let ok = render("{{input.name}}", &vars(&ctx, None)).unwrap();
    assert_eq!(ok.strict().unwrap(), "Ada");
}

#[test]
fn oversized_templates_and_outputs_are_refused() {
    let ctx = context();
    let at_limit = "x".repeat(MAX_TEMPLATE_BYTES);
    assert!(render(&at_limit, &vars(&ctx, None)).is_ok());
    let err = render(&format!("{at_limit}x"), &vars(&ctx, None)).unwrap_err();
    assert_eq!(err.code(), "agents.template_too_large");

    let big = json!({"input": {"blob": "y".repeat(100 * 1024)}});
    let template = "{{input.blob}}".repeat(11);
    let err = render(&template, &vars(&big, None)).unwrap_err();
    assert_eq!(err.code(), "agents.prompt_too_large");
    assert!(render(&"{{input.blob}}".repeat(10), &vars(&big, None)).is_ok());
}

fn task(template: Option<&str>) -> TaskPromptSpec {
    TaskPromptSpec {
        agent: "writer".into(),
        node_id: "Draft".into(),
        node_name: "Draft reply".into(),
        prompt_template: template.map(str::to_owned),
        strict: false,
        feedback: None,
        ..TaskPromptSpec::default()
    }
}

#[test]
fn assemble_names_the_agent_and_task_and_renders_the_prompt() {
    let ctx = context();
    let prompt = assemble(&task(Some("Write to {{input.name}}")), &ctx, "run-42").unwrap();
    assert!(prompt.system.contains("\"writer\""));
    assert!(prompt.system.contains("Draft reply"));
    assert!(prompt.system.contains("run-42"));
    assert_eq!(prompt.user, "Write to Ada");
    assert!(prompt.unresolved.is_empty());
    // Same inputs, same bytes.
    let again = assemble(&task(Some("Write to {{input.name}}")), &ctx, "run-42").unwrap();
    assert_eq!(prompt, again);
}

#[test]
fn assemble_defaults_to_the_node_name_and_the_input() {
    let ctx = json!({"input": {"ticket": "T-1"}});
    let prompt = assemble(&task(None), &ctx, "run-1").unwrap();
    assert!(prompt.user.starts_with("Draft reply\n"));
    assert!(prompt.user.contains("\"ticket\": \"T-1\""));

    let unnamed = TaskPromptSpec {
        node_name: String::new(),
        ..task(None)
    };
    let prompt = assemble(&unnamed, &ctx, "run-1").unwrap();
    assert!(prompt.user.starts_with("Draft\n"));
}

#[test]
fn assemble_keeps_unresolved_visible_unless_strict() {
    let ctx = context();
    let lenient = assemble(&task(Some("Use {{input.gone}}")), &ctx, "r").unwrap();
    assert_eq!(lenient.user, "Use {{input.gone}}");
    assert_eq!(lenient.unresolved, ["input.gone"]);

    let strict = TaskPromptSpec {
        strict: true,
        ..task(Some("Use {{input.gone}} and {{output.X}}"))
    };
    let err = assemble(&strict, &ctx, "r").unwrap_err();
    assert_eq!(
        err,
        Error::UnresolvedVariable {
            names: vec!["input.gone".into(), "output.X".into()]
        }
    );
}

#[test]
fn assemble_places_feedback_once() {
    let ctx = context();
    let placed = TaskPromptSpec {
        feedback: Some("shorter please".into()),
        ..task(Some("Rework ({{feedback}})"))
    };
    let prompt = assemble(&placed, &ctx, "r").unwrap();
    assert_eq!(prompt.user, "Rework (shorter please)");

    let appended = TaskPromptSpec {
        feedback: Some("shorter please".into()),
        ..task(Some("Write"))
    };
    let prompt = assemble(&appended, &ctx, "r").unwrap();
    assert!(prompt.user.starts_with("Write\n\n"));
    assert!(prompt.user.ends_with("shorter please"));

    let blank = TaskPromptSpec {
        feedback: Some("  ".into()),
        ..task(Some("Write"))
    };
    assert_eq!(assemble(&blank, &ctx, "r").unwrap().user, "Write");
}

#[test]
fn the_snapshot_is_redacted_but_the_prompt_is_not() {
    let ctx = json!({"input": {
        "db": "hunter2-prod-password",
        "key": "sk-abcdefghijklmnopqrstuvwx",
    }});
    let template = "Connect with {{input.db}} and call the API with {{input.key}}.";
    let prompt = assemble(&task(Some(template)), &ctx, "r").unwrap();
    assert!(prompt.user.contains("hunter2-prod-password"));
    assert!(prompt.user.contains("sk-abcdefghijklmnopqrstuvwx"));
    let snapshot = prompt.snapshot(&[], &Redactor::new(["hunter2-prod-password"]));
    assert!(!snapshot.text.contains("hunter2"));
    assert!(!snapshot.text.contains("sk-abc"));
    assert!(
        snapshot
            .text
            .contains("Connect with [REDACTED] and call the API with [REDACTED].")
    );
    assert_eq!(
        snapshot.sha256,
        agentwerke_evidence::canonical::sha256_hex(snapshot.text.as_bytes())
    );
}

/// The system message is the agent's own prompt, then the task framing,
/// then each listed skill with its name, description and instructions.
#[test]
fn the_agent_prompt_and_its_skills_make_the_system_message() {
    let spec = TaskPromptSpec {
        agent_prompt: "You are the team's careful reviewer.\n".into(),
        skills: vec![
            SkillPrompt {
                name: "style-guide".into(),
                description: "Writing rules; use for prose.".into(),
                body: "Use short sentences.".into(),
            },
            SkillPrompt {
                name: "changelog".into(),
                description: "How entries are written.".into(),
                body: "One line per change.".into(),
            },
        ],
        ..task(Some("Review"))
    };
    let prompt = assemble(&spec, &context(), "run-1").unwrap();
    let system = &prompt.system;
    assert!(
        system.starts_with("You are the team's careful reviewer.\n\nYou are the agent \"writer\""),
        "{system}"
    );
    let at = |needle: &str| {
        system
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in {system}"))
    };
    assert!(at("## Skill: style-guide") < at("Writing rules; use for prose."));
    assert!(at("Writing rules; use for prose.") < at("Use short sentences."));
    assert!(at("Use short sentences.") < at("## Skill: changelog"));
    assert!(at("## Skill: changelog") < at("One line per change."));
    // Without a profile prompt or skills the system message is the framing alone.
    let plain = assemble(&task(Some("Review")), &context(), "run-1").unwrap();
    assert!(plain.system.starts_with("You are the agent"));
    assert!(!plain.system.contains("# Skills"));
}

/// The snapshot holds the system message (with the skills), the user
/// message and the offered tools' schemas, and is hashed as stored.
#[test]
fn the_snapshot_is_everything_that_was_sent() {
    let spec = TaskPromptSpec {
        agent_prompt: "Reviewer prompt".into(),
        skills: vec![SkillPrompt {
            name: "style-guide".into(),
            description: "Rules".into(),
            body: "Short sentences.".into(),
        }],
        ..task(Some("Write to {{input.name}}"))
    };
    let prompt = assemble(&spec, &context(), "run-1").unwrap();
    let tools = [crate::provider::ToolSpec {
        name: "artifact.read".into(),
        description: "Reads an artifact".into(),
        input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    }];
    let snapshot = prompt.snapshot(&tools, &Redactor::default());
    let expected = format!(
        "[system]\n{}\n\n[user]\nWrite to Ada\n\n[tools]\n{}",
        prompt.system,
        serde_json::to_string_pretty(&tools).unwrap()
    );
    assert_eq!(snapshot.text, expected);
    assert!(snapshot.text.contains("Reviewer prompt"));
    assert!(snapshot.text.contains("## Skill: style-guide"));
    assert!(snapshot.text.contains("\"input_schema\""));
    assert_eq!(
        snapshot.sha256,
        agentwerke_evidence::canonical::sha256_hex(snapshot.text.as_bytes())
    );
    assert_ne!(
        snapshot,
        prompt.snapshot(&[], &Redactor::default()),
        "the tools are part of it"
    );
}
