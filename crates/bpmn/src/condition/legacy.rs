//! The legacy form: `{{path}} == "literal"`, `!=`, `contains`.
//!
//! One comparison, no boolean operators. `path` is dotted into the context; a
//! bare name (no dot) means `input.<name>`. Values compare by text: a string
//! by its contents, any other JSON value by its JSON text, so `{{n}} == 3`
//! matches the number 3 and the string "3" alike.
//!
//! A missing path never errors (the form predates fail-closed CEL and old
//! workflows rely on it): `==` is false, `!=` is true, `contains` is false.

use super::ConditionError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Contains,
}

/// A parsed legacy comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Legacy {
    path: String,
    op: Op,
    literal: String,
}

impl Legacy {
    pub(super) fn parse(text: &str) -> Result<Self, ConditionError> {
        let syntax = |why: &str| {
            ConditionError::Syntax(format!(
                "{why}; the legacy form is {{{{path}}}} == \"value\", != or contains"
            ))
        };
        let rest = text
            .trim()
            .strip_prefix("{{")
            .ok_or_else(|| syntax("it must start with {{path}}"))?;
        let (path, rest) = rest
            .split_once("}}")
            .ok_or_else(|| syntax("the {{ is not closed"))?;
        let path = normalise_path(path.trim()).ok_or_else(|| {
            syntax("the path must be dotted names of letters, digits, '_' or '-'")
        })?;
        let rest = rest.trim_start();
        let (op, rest) = if let Some(r) = rest.strip_prefix("==") {
            (Op::Eq, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (Op::Ne, r)
        } else if let Some(r) = rest.strip_prefix("contains") {
            if !r.starts_with(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
                return Err(syntax("expected an operator after the path"));
            }
            (Op::Contains, r)
        } else {
            return Err(syntax("expected ==, != or contains after the path"));
        };
        let literal = parse_literal(rest.trim())
            .ok_or_else(|| syntax("the value must be quoted, a number, true, false or null"))?;
        Ok(Self { path, op, literal })
    }

    /// The resolved dotted path, e.g. `input.region`.
    pub(super) fn path(&self) -> &str {
        &self.path
    }

    pub(super) fn evaluate(&self, context: &serde_json::Value) -> bool {
        let Some(value) = lookup(context, &self.path) else {
            return self.op == Op::Ne;
        };
        match self.op {
            Op::Eq => text_of(value) == self.literal,
            Op::Ne => text_of(value) != self.literal,
            Op::Contains => match value {
                serde_json::Value::String(s) => s.contains(self.literal.as_str()),
                serde_json::Value::Array(items) => {
                    items.iter().any(|item| text_of(item) == self.literal)
                }
                _ => false,
            },
        }
    }
}

fn normalise_path(path: &str) -> Option<String> {
    let valid = !path.is_empty()
        && path.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if !valid {
        return None;
    }
    Some(if path.contains('.') {
        path.to_owned()
    } else {
        format!("input.{path}")
    })
}

fn parse_literal(text: &str) -> Option<String> {
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote) {
            let inner = inner.strip_suffix(quote)?;
            return (!inner.contains(quote)).then(|| inner.to_owned());
        }
    }
    let bare = matches!(text, "true" | "false" | "null")
        || (!text.is_empty() && text.parse::<f64>().is_ok_and(f64::is_finite));
    bare.then(|| text.to_owned())
}

fn lookup<'a>(context: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.')
        .try_fold(context, |value, segment| match value {
            serde_json::Value::Object(map) => map.get(segment),
            serde_json::Value::Array(items) => {
                segment.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            _ => None,
        })
}

fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
