//! One Cedar evaluation, and the reading of its answer.
//!
//! Cedar answers Allow or Deny plus the policies that determined it. The
//! gateway needs four outcomes, so it reads the answer like this (in
//! precedence order):
//!
//! 1. any evaluation error, or a request that fails the schema: reject
//!    (`policy_error`). Cedar itself would skip an erroring policy; a
//!    gateway must not, since a skipped `forbid` is an allow;
//! 2. Deny with determining policies: a `forbid` matched, reject
//!    (`forbidden`);
//! 3. Deny without: nothing permits, reject (`no_permit`);
//! 4. Allow, and a matching permit is `@decision("escalate")`: escalate;
//! 5. Allow: allow.

use cedar_policy::{
    Context, Decision as CedarDecision, EntityId, EntityUid, Request, RestrictedExpression,
};

use crate::category::Category;
use crate::decision::{DecisionKind, Reason};
use crate::facts::Facts;
use crate::policy::compile::{Compiled, PolicyMeta};
use crate::policy::schema::PolicySchema;
use crate::request::TaskSurface;
use crate::risk::RiskLevel;

/// Everything the policy stage looks at.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRequest<'a> {
    /// The agent (principal).
    pub agent: &'a str,
    /// The tool (action).
    pub tool: &'a str,
    /// The tool's category.
    pub category: Category,
    /// The task.
    pub task: &'a TaskSurface,
    /// The step attempt, 1-based.
    pub attempt: u32,
    /// Facts derived from the arguments (resource and `context.facts`).
    pub facts: &'a Facts,
    /// The risk score (`context.riskScore`).
    pub risk_score: u8,
}

/// What the policy stage concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVerdict {
    /// Allow, escalate or reject.
    pub kind: DecisionKind,
    /// One of `permitted`, `escalated`, `forbidden`, `no_permit`,
    /// `policy_error`, `policy_set_unusable`.
    pub reason: Reason,
    /// `@id`s of the determining policies, sorted.
    pub determining_policies: Vec<String>,
    /// Their `@rationale`s, or an explanation.
    pub rationale: String,
    /// The first determining policy's `@approver_role`.
    pub approver_role: Option<String>,
    /// The highest `@risk` among the determining policies.
    pub risk: Option<RiskLevel>,
}

impl PolicyVerdict {
    pub(crate) fn reject(reason: Reason, rationale: String, determining: Vec<String>) -> Self {
        Self {
            kind: DecisionKind::Reject,
            reason,
            determining_policies: determining,
            rationale,
            approver_role: None,
            risk: None,
        }
    }
}

pub(crate) fn evaluate(
    compiled: &Compiled,
    schema: &PolicySchema,
    authorizer: &cedar_policy::Authorizer,
    req: &PolicyRequest<'_>,
) -> PolicyVerdict {
    let Some(policies) = compiled.slices.get(req.tool) else {
        return PolicyVerdict::reject(
            Reason::PolicyError,
            format!(
                "tool {} is not declared in the policy schema (fail closed)",
                req.tool
            ),
            Vec::new(),
        );
    };
    let request = match build_request(schema, req, false) {
        Ok(request) => request,
        Err(error) => {
            return PolicyVerdict::reject(
                Reason::PolicyError,
                format!("the policy request is invalid (fail closed): {error}"),
                Vec::new(),
            );
        }
    };
    let response = authorizer.is_authorized(&request, policies, &schema.action_entities);
    let diagnostics = response.diagnostics();
    let errors: Vec<String> = diagnostics.errors().map(ToString::to_string).collect();
    if !errors.is_empty() {
        let mut ids: Vec<String> = diagnostics
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(e) => {
                    e.policy_id().to_string()
                }
            })
            .collect();
        ids.sort();
        ids.dedup();
        return PolicyVerdict::reject(
            Reason::PolicyError,
            format!(
                "policy evaluation failed (fail closed): {}",
                errors.join("; ")
            ),
            ids,
        );
    }
    let mut matched: Vec<&PolicyMeta> = diagnostics
        .reason()
        .filter_map(|id| compiled.meta.get(id))
        .collect();
    matched.sort_by(|a, b| a.id.cmp(&b.id));
    match response.decision() {
        CedarDecision::Deny if matched.is_empty() => PolicyVerdict::reject(
            Reason::NoPermit,
            format!(
                "no policy permits {} to call {} (default deny)",
                req.agent, req.tool
            ),
            Vec::new(),
        ),
        CedarDecision::Deny => verdict(DecisionKind::Reject, Reason::Forbidden, &matched),
        CedarDecision::Allow => {
            let escalating: Vec<&PolicyMeta> =
                matched.iter().copied().filter(|m| m.escalate).collect();
            if escalating.is_empty() {
                verdict(DecisionKind::Allow, Reason::Permitted, &matched)
            } else {
                verdict(DecisionKind::Escalate, Reason::Escalated, &escalating)
            }
        }
    }
}

fn verdict(kind: DecisionKind, reason: Reason, policies: &[&PolicyMeta]) -> PolicyVerdict {
    let ids: Vec<String> = policies.iter().map(|m| m.id.clone()).collect();
    let rationales: Vec<&str> = policies
        .iter()
        .filter_map(|m| m.rationale.as_deref())
        .collect();
    let rationale = if rationales.is_empty() {
        let verb = match reason {
            Reason::Forbidden => "forbidden",
            Reason::Escalated => "escalated",
            _ => "permitted",
        };
        format!("{verb} by policy {}", ids.join(", "))
    } else {
        rationales.join("; ")
    };
    PolicyVerdict {
        kind,
        reason,
        rationale,
        approver_role: policies.iter().find_map(|m| m.approver_role.clone()),
        risk: policies.iter().filter_map(|m| m.risk).max(),
        determining_policies: ids,
    }
}

/// The Cedar request for `req`. Validating it against the schema costs as
/// much as evaluating several policies and can only fail on a bug in this
/// function (the gateway checks at start-up that the schema declares every
/// tool), so the hot path skips it and a test validates every shape.
pub(crate) fn build_request(
    schema: &PolicySchema,
    req: &PolicyRequest<'_>,
    validate: bool,
) -> Result<Request, String> {
    let facts = req.facts;
    let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
    let opt = |v: &Option<String>| s(v.as_deref().unwrap_or(""));
    let facts_record = RestrictedExpression::new_record([
        ("targetKind".to_owned(), s(facts.target.kind.as_str())),
        ("host".to_owned(), opt(&facts.host)),
        ("method".to_owned(), opt(&facts.method)),
        ("path".to_owned(), opt(&facts.path)),
        (
            "hasPath".to_owned(),
            RestrictedExpression::new_bool(facts.path.is_some()),
        ),
        (
            "pathInWorkspace".to_owned(),
            RestrictedExpression::new_bool(facts.path_in_workspace),
        ),
        ("repo".to_owned(), opt(&facts.repo)),
        (
            "destructive".to_owned(),
            RestrictedExpression::new_bool(facts.is_destructive()),
        ),
        (
            "production".to_owned(),
            RestrictedExpression::new_bool(facts.is_production()),
        ),
        (
            "secretMaterial".to_owned(),
            RestrictedExpression::new_bool(facts.secret_material),
        ),
    ])
    .map_err(|e| e.to_string())?;
    let task = req.task;
    let context = Context::from_pairs([
        ("purposeType".to_owned(), s(&task.purpose_type)),
        ("policyTag".to_owned(), opt(&task.policy_tag)),
        (
            "permissionLevel".to_owned(),
            s(task.permission_level.as_str()),
        ),
        (
            "sandboxProfile".to_owned(),
            s(task.sandbox_profile.as_str()),
        ),
        ("environment".to_owned(), opt(&facts.environment)),
        (
            "attempt".to_owned(),
            RestrictedExpression::new_long(i64::from(req.attempt)),
        ),
        ("category".to_owned(), s(req.category.as_str())),
        (
            "riskScore".to_owned(),
            RestrictedExpression::new_long(i64::from(req.risk_score)),
        ),
        ("facts".to_owned(), facts_record),
    ])
    .map_err(|e| e.to_string())?;
    let uid = |ty: &cedar_policy::EntityTypeName, id: &str| {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    };
    Request::new(
        uid(&schema.agent_type, req.agent),
        uid(&schema.action_type, req.tool),
        uid(&schema.target_type, &facts.target.id),
        context,
        validate.then_some(&schema.cedar),
    )
    .map_err(|e| e.to_string())
}
