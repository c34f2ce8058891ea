//! `{{path}}` substitution for correlation keys.
//!
//! Deliberately tiny: dotted paths into the run context (`{{input.orderId}}`,
//! `{{output.Node.x}}`, `{{run_id}}`) and nothing else. A path that does not
//! resolve is an error, not an empty string: a key rendered from missing data
//! could correlate the wrong message.

use serde_json::Value;

/// Renders `template` against `context`; `Err` names the first path that
/// does not resolve (or a `{{` without its `}}`).
pub(crate) fn render(template: &str, context: &Value) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("unclosed `{{{{` in `{template}`"))?;
        let path = after[..close].trim();
        let value = lookup(context, path).ok_or_else(|| path.to_owned())?;
        match value {
            Value::String(s) => out.push_str(s),
            Value::Null => return Err(path.to_owned()),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Follows a dotted path; array elements are addressed by index.
pub(crate) fn lookup<'a>(context: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return None;
    }
    path.split('.')
        .try_fold(context, |value, segment| match value {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_paths_and_refuses_missing_ones() {
        let ctx = json!({"input": {"order": "A-1", "n": 3}, "run_id": "r9", "output": {"T": {"x": [true]}}});
        assert_eq!(
            render("{{input.order}}/{{ run_id }}/{{input.n}}", &ctx).unwrap(),
            "A-1/r9/3"
        );
        assert_eq!(render("{{output.T.x.0}}", &ctx).unwrap(), "true");
        assert_eq!(render("plain", &ctx).unwrap(), "plain");
        assert_eq!(
            render("{{input.missing}}", &ctx),
            Err("input.missing".to_owned())
        );
        assert!(render("{{input.order", &ctx).is_err());
    }
}
