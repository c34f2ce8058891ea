//! Policy text to a validated Cedar policy set, or every problem in it.
//!
//! An operator fixing a policy file wants the whole list at once, each with
//! a code and a position, not one error per save. So nothing here stops at
//! the first problem except a syntax error (after which nothing is known).

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Effect, EntityId, EntityUid, PolicyId, ValidationMode, Validator,
};
use miette::Diagnostic;

use crate::error::PolicyIssue;
use crate::policy::schema::PolicySchema;
use crate::risk::RiskLevel;

/// What the gateway reads from a policy's annotations.
#[derive(Debug, Clone)]
pub(crate) struct PolicyMeta {
    pub(crate) id: String,
    pub(crate) escalate: bool,
    pub(crate) rationale: Option<String>,
    pub(crate) risk: Option<RiskLevel>,
    pub(crate) approver_role: Option<String>,
}

/// A parsed, validated policy set with its annotations indexed by id.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// The whole set, as written (re-ided), for the test that slices
    /// answer like it.
    #[cfg(test)]
    pub(crate) full: cedar_policy::PolicySet,
    /// Per tool: only the policies whose action scope admits it, with that
    /// scope rewritten to `action` (see [`slice`]).
    pub(crate) slices: HashMap<String, cedar_policy::PolicySet>,
    pub(crate) meta: HashMap<PolicyId, PolicyMeta>,
}

/// Parses `text`, re-ids each policy by its `@id`, checks annotations,
/// validates strictly against `schema` and slices the set per tool.
pub(crate) fn compile(text: &str, schema: &PolicySchema) -> Result<Compiled, Vec<PolicyIssue>> {
    let parsed = cedar_policy::PolicySet::from_str(text).map_err(|errors| {
        errors
            .iter()
            .map(|e| issue(PolicyIssue::PARSE, None, e.to_string(), text, e))
            .collect::<Vec<_>>()
    })?;
    let mut issues = Vec::new();
    for template in parsed.templates() {
        let start = text.find(&template.to_cedar());
        issues.push(placed(
            plain(
                PolicyIssue::TEMPLATE,
                template.annotation("id").map(str::to_owned),
                "templates (?principal, ?resource) are not supported; write the entity out"
                    .to_owned(),
            ),
            text,
            start,
        ));
    }

    // Cedar numbers policies policy0, policy1 ... in text order.
    let mut policies: Vec<_> = parsed.policies().collect();
    policies.sort_by_key(|p| {
        p.id()
            .to_string()
            .trim_start_matches("policy")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });

    let mut cedar = cedar_policy::PolicySet::new();
    let mut meta = HashMap::new();
    let mut seen = BTreeSet::new();
    // Where the policy being read starts: Cedar keeps each policy's own
    // text, found in turn after the previous one, so a problem that Cedar
    // gives no position for stands at its policy.
    let mut from = 0;
    for (index, policy) in policies.into_iter().enumerate() {
        let start = policy.to_cedar().and_then(|own| {
            let at = from + text.get(from..)?.find(&own)?;
            from = at + own.len();
            Some(at)
        });
        let Some(id) = policy.annotation("id").filter(|id| !id.trim().is_empty()) else {
            issues.push(placed(
                plain(
                    PolicyIssue::MISSING_ID,
                    None,
                    format!("policy #{} has no @id(\"...\") annotation", index + 1),
                ),
                text,
                start,
            ));
            continue;
        };
        if !seen.insert(id.to_owned()) {
            issues.push(placed(
                plain(
                    PolicyIssue::DUPLICATE_ID,
                    Some(id.to_owned()),
                    format!("@id(\"{id}\") is used by more than one policy"),
                ),
                text,
                start,
            ));
            continue;
        }
        match read_meta(id, policy) {
            Ok(m) => {
                let pid = PolicyId::new(id);
                meta.insert(pid.clone(), m);
                if let Err(e) = cedar.add(policy.new_id(pid)) {
                    issues.push(placed(
                        plain(
                            PolicyIssue::DUPLICATE_ID,
                            Some(id.to_owned()),
                            e.to_string(),
                        ),
                        text,
                        start,
                    ));
                }
            }
            Err(annotation_issues) => issues.extend(
                annotation_issues
                    .into_iter()
                    .map(|issue| placed(issue, text, start)),
            ),
        }
    }

    {
        let result = Validator::new(schema.cedar.clone()).validate(&cedar, ValidationMode::Strict);
        let mut found: Vec<PolicyIssue> = result
            .validation_errors()
            .map(|error| {
                issue(
                    PolicyIssue::VALIDATION,
                    Some(error.policy_id().to_string()),
                    error.to_string(),
                    text,
                    error,
                )
            })
            .collect();
        // Cedar reports a problem once per action the policy applies to;
        // one per policy and position is what a reader wants.
        found.sort_by(|a, b| {
            (&a.policy_id, a.line, a.column, &a.message).cmp(&(
                &b.policy_id,
                b.line,
                b.column,
                &b.message,
            ))
        });
        found.dedup_by(|a, b| (&a.policy_id, a.line, a.column) == (&b.policy_id, b.line, b.column));
        issues.append(&mut found);
    }
    if issues.is_empty() {
        Ok(Compiled {
            slices: slice(&cedar, schema),
            #[cfg(test)]
            full: cedar,
            meta,
        })
    } else {
        Err(issues)
    }
}

/// Cedar evaluates every policy of a set on every request, scope included,
/// and an `action in [...]` scope costs as much as a condition. The action
/// of a request is known up front (the tool) and so is its one parent (the
/// category group), so which scopes admit a tool is decided once, here: the
/// tool's slice holds exactly those policies, each with its action scope
/// replaced by `action`. Evaluating a slice is therefore equivalent to
/// evaluating the whole set, at a fraction of the cost.
fn slice(
    full: &cedar_policy::PolicySet,
    schema: &PolicySchema,
) -> HashMap<String, cedar_policy::PolicySet> {
    let policies: Vec<(ActionConstraint, cedar_policy::Policy)> = full
        .policies()
        .map(|p| (p.action_constraint(), erase_action_scope(p)))
        .collect();
    let uid = |name: &str| {
        EntityUid::from_type_name_and_id(schema.action_type.clone(), EntityId::new(name))
    };
    let mut slices = HashMap::new();
    for (tool, category) in schema.tools() {
        let (tool_uid, group_uid) = (uid(tool), uid(category.action_group()));
        let mut set = cedar_policy::PolicySet::new();
        for (constraint, policy) in &policies {
            let admits = match constraint {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(u) => *u == tool_uid,
                ActionConstraint::In(us) => us.iter().any(|u| *u == tool_uid || *u == group_uid),
            };
            // Ids are unique in `full`, so adding cannot fail.
            if admits && set.add(policy.clone()).is_err() {
                continue;
            }
        }
        slices.insert(tool.clone(), set);
    }
    slices
}

/// The policy with `action` as its action scope; the policy itself if the
/// rewrite fails (still correct in a slice, only slower).
fn erase_action_scope(policy: &cedar_policy::Policy) -> cedar_policy::Policy {
    let rewritten = policy.to_json().ok().and_then(|mut json| {
        json["action"] = serde_json::json!({"op": "All"});
        cedar_policy::Policy::from_json(Some(policy.id().clone()), json).ok()
    });
    rewritten.unwrap_or_else(|| policy.clone())
}

fn read_meta(id: &str, policy: &cedar_policy::Policy) -> Result<PolicyMeta, Vec<PolicyIssue>> {
    let mut issues = Vec::new();
    let mut bad = |message: String| {
        issues.push(plain(PolicyIssue::ANNOTATION, Some(id.to_owned()), message));
    };
    let escalate = match policy.annotation("decision") {
        None | Some("allow") => false,
        Some("escalate") => true,
        Some(other) => {
            bad(format!(
                "@decision(\"{other}\") must be \"allow\" or \"escalate\""
            ));
            false
        }
    };
    if policy.annotation("decision").is_some() && policy.effect() == Effect::Forbid {
        bad("@decision only applies to permit policies; a forbid always rejects".to_owned());
    }
    let risk = match policy.annotation("risk") {
        None => None,
        Some(value) => {
            let level = RiskLevel::parse(value);
            if level.is_none() {
                bad(format!(
                    "@risk(\"{value}\") must be low, medium, high or critical"
                ));
            }
            level
        }
    };
    let non_empty = |key: &str| {
        policy
            .annotation(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if policy.annotation("approver_role").is_some() && non_empty("approver_role").is_none() {
        bad("@approver_role must name a role".to_owned());
    }
    if issues.is_empty() {
        Ok(PolicyMeta {
            id: id.to_owned(),
            escalate,
            rationale: non_empty("rationale"),
            risk,
            approver_role: non_empty("approver_role"),
        })
    } else {
        Err(issues)
    }
}

fn plain(code: &'static str, policy_id: Option<String>, message: String) -> PolicyIssue {
    PolicyIssue {
        code,
        policy_id,
        message,
        line: None,
        column: None,
    }
}

/// `issue` positioned at byte `start` of `text` (where its policy begins),
/// unless it has a position already or the start is unknown.
fn placed(mut issue: PolicyIssue, text: &str, start: Option<usize>) -> PolicyIssue {
    if issue.line.is_none()
        && let Some(start) = start
    {
        let (line, column) = line_column(text, start);
        issue.line = Some(line);
        issue.column = Some(column);
    }
    issue
}

/// An issue positioned at the diagnostic's first label, if it has one.
fn issue(
    code: &'static str,
    policy_id: Option<String>,
    message: String,
    text: &str,
    diagnostic: &dyn Diagnostic,
) -> PolicyIssue {
    let offset = diagnostic
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset());
    let (line, column) = match offset {
        Some(offset) => {
            let (line, column) = line_column(text, offset);
            (Some(line), Some(column))
        }
        None => (None, None),
    };
    PolicyIssue {
        code,
        policy_id,
        message,
        line,
        column,
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (u32, u32) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}
