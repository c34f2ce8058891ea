//! `human.ask`: the one tool every agent step has that is not a Tool Gateway
//! tool. It acts on nothing; it pauses the step (the run is `waiting_user`)
//! until a person answers, and the answer comes back as the call's result.
//! Use it for missing information; governed decisions are approval tasks.

use serde_json::{Value, json};

use crate::provider::ToolSpec;

/// The tool name the model calls.
pub const HUMAN_ASK: &str = "human.ask";

/// The longest question, in characters, a step may put to a human.
pub const MAX_QUESTION_CHARS: usize = 4_000;

/// How `human.ask` is offered to the model.
pub fn human_ask_spec() -> ToolSpec {
    ToolSpec {
        name: HUMAN_ASK.to_owned(),
        description: "Ask a human a blocking question when information you need is missing. \
                      The step waits until the answer arrives; it is returned as this call's \
                      result. Not for approvals of actions: those are governed elsewhere."
            .to_owned(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "question": {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION_CHARS}
            },
            "required": ["question"],
            "additionalProperties": false
        }),
    }
}

/// The question in a `human.ask` call's arguments, or why there is none the
/// model can fix.
pub fn question_of(arguments: &Value) -> Result<&str, String> {
    let question = arguments
        .get("question")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if question.is_empty() {
        return Err("human.ask needs a non-empty string argument \"question\"".to_owned());
    }
    if question.chars().count() > MAX_QUESTION_CHARS {
        return Err(format!(
            "a question is at most {MAX_QUESTION_CHARS} characters; ask a shorter one"
        ));
    }
    Ok(question)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_is_a_non_empty_bounded_string() {
        assert_eq!(
            question_of(&json!({"question": " Which region? "})),
            Ok("Which region?")
        );
        assert!(question_of(&json!({})).is_err());
        assert!(question_of(&json!({"question": "  "})).is_err());
        assert!(question_of(&json!({"question": 7})).is_err());
        let long = "x".repeat(MAX_QUESTION_CHARS + 1);
        assert!(
            question_of(&json!({ "question": long }))
                .unwrap_err()
                .contains("at most")
        );
    }

    #[test]
    fn the_spec_names_the_tool_and_requires_a_question() {
        let spec = human_ask_spec();
        assert_eq!(spec.name, HUMAN_ASK);
        assert_eq!(spec.input_schema["required"], json!(["question"]));
    }
}
