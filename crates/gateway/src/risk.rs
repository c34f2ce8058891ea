//! Risk: a 0–100 score made of named, weighted factors.
//!
//! The score is additive on purpose: an approver can read each factor's
//! weight and detail and see exactly why a call scored 65, and policies can
//! key on `context.riskScore`. Weights are constants here, not
//! configuration, so that the same call scores the same in every
//! deployment and every evidence pack.

use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::facts::Facts;

/// Purposes that only look at things. A purpose counts as read-oriented
/// when one of its words (split on non-letters) is in this list, so
/// `code-review` and `incident analysis` both count.
pub(crate) const READ_PURPOSES: [&str; 11] = [
    "analysis",
    "analyze",
    "audit",
    "classification",
    "investigation",
    "monitoring",
    "reporting",
    "research",
    "review",
    "summarization",
    "triage",
];

/// Purposes under which changing production is expected.
pub(crate) const PRODUCTION_PURPOSES: [&str; 5] =
    ["deployment", "deploy", "release", "operations", "incident"];

/// Weight of `purpose_misaligned`.
pub(crate) const W_PURPOSE: u8 = 20;
/// Weight of `production_target`.
pub(crate) const W_PRODUCTION: u8 = 25;
/// Weight of `destructive_arguments`.
pub(crate) const W_DESTRUCTIVE: u8 = 30;
/// Weight of `secret_material`.
pub(crate) const W_SECRET: u8 = 30;
/// Weight of `path_outside_workspace`.
pub(crate) const W_OUTSIDE_WORKSPACE: u8 = 15;
/// Weight of `repeated_attempt`, per attempt after the first.
pub(crate) const W_ATTEMPT: u8 = 5;
/// The most `repeated_attempt` adds.
pub(crate) const W_ATTEMPT_MAX: u8 = 15;

/// Risk of one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RiskAssessment {
    /// Sum of the factors' weights, capped at 100.
    pub score: u8,
    /// What contributed, in a fixed order.
    pub factors: Vec<RiskFactor>,
}

/// One contribution to a risk score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskFactor {
    /// Stable name, e.g. `production_target`.
    pub name: String,
    /// Points added to the score.
    pub weight: u8,
    /// What in the call triggered it.
    pub detail: String,
}

/// A coarse risk band; shared with the store and the runtime, so it lives
/// in the vocabulary crate.
pub use agentwerke_types::RiskLevel;

impl RiskAssessment {
    /// The band of [`Self::score`].
    pub fn level(&self) -> RiskLevel {
        RiskLevel::from_score(self.score)
    }

    /// Assesses a call to a `category` tool with `facts`, under a task with
    /// `purpose_type`, at `attempt` (1-based).
    pub fn assess(category: Category, facts: &Facts, purpose_type: &str, attempt: u32) -> Self {
        let mut factors = Vec::new();
        let mut add = |name: &str, weight: u8, detail: String| {
            factors.push(RiskFactor {
                name: name.to_owned(),
                weight,
                detail,
            });
        };
        let category_weight = category_weight(category);
        if category_weight > 0 {
            add("tool_category", category_weight, format!("{category} tool"));
        }
        if let Some(detail) = purpose_misalignment(category, facts, purpose_type) {
            add("purpose_misaligned", W_PURPOSE, detail);
        }
        if let Some(reason) = &facts.production {
            add("production_target", W_PRODUCTION, reason.clone());
        }
        if facts.is_destructive() {
            add(
                "destructive_arguments",
                W_DESTRUCTIVE,
                facts.destructive.join(", "),
            );
        }
        if facts.secret_material {
            add(
                "secret_material",
                W_SECRET,
                "arguments carry credentials or known secrets".to_owned(),
            );
        }
        if let (Some(path), false) = (&facts.path, facts.path_in_workspace) {
            add("path_outside_workspace", W_OUTSIDE_WORKSPACE, path.clone());
        }
        if attempt > 1 {
            let extra = u8::try_from(attempt - 1).unwrap_or(u8::MAX);
            add(
                "repeated_attempt",
                extra.saturating_mul(W_ATTEMPT).min(W_ATTEMPT_MAX),
                format!("attempt {attempt}"),
            );
        }
        let score = factors
            .iter()
            .fold(0u8, |sum, f| sum.saturating_add(f.weight))
            .min(100);
        RiskAssessment { score, factors }
    }
}

/// Base weight of a tool category: what the tool can do at worst.
pub(crate) const fn category_weight(category: Category) -> u8 {
    match category {
        Category::Read => 0,
        Category::Write => 10,
        Category::Integration | Category::Network => 15,
        Category::Exec => 20,
        Category::Secret => 30,
    }
}

fn purpose_misalignment(category: Category, facts: &Facts, purpose_type: &str) -> Option<String> {
    let words: Vec<String> = purpose_type
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    if category != Category::Read && has(&READ_PURPOSES) {
        return Some(format!(
            "purpose '{purpose_type}' only reads, but the tool's category is {category}"
        ));
    }
    if category != Category::Read && facts.is_production() && !has(&PRODUCTION_PURPOSES) {
        return Some(format!(
            "purpose '{purpose_type}' is not a deployment or operations purpose, but the call changes production"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn facts(args: serde_json::Value, env: Option<&str>) -> Facts {
        Facts::derive(&args, env, "/workspace", &crate::Redactor::default()).0
    }

    #[test]
    fn harmless_read_scores_zero() {
        let risk = RiskAssessment::assess(
            Category::Read,
            &facts(json!({"query": "x"}), None),
            "analysis",
            1,
        );
        assert_eq!(risk, RiskAssessment::default());
        assert_eq!(risk.level(), RiskLevel::Low);
    }

    #[test]
    fn factors_add_up_and_cap_at_100() {
        let facts = facts(
            json!({"command": "rm -rf /srv", "path": "/etc", "token": "abcdefgh"}),
            Some("production"),
        );
        let risk = RiskAssessment::assess(Category::Exec, &facts, "analysis", 4);
        let names: Vec<_> = risk.factors.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "tool_category",
                "purpose_misaligned",
                "production_target",
                "destructive_arguments",
                "secret_material",
                "path_outside_workspace",
                "repeated_attempt",
            ]
        );
        assert_eq!(risk.factors.last().unwrap().weight, W_ATTEMPT_MAX);
        assert_eq!(risk.score, 100);
        assert_eq!(risk.level(), RiskLevel::Critical);
    }

    #[test]
    fn purpose_alignment() {
        let staging = facts(json!({}), Some("staging"));
        let prod = facts(json!({}), Some("production"));
        let misaligned = |cat, f: &Facts, p| {
            RiskAssessment::assess(cat, f, p, 1)
                .factors
                .iter()
                .any(|f| f.name == "purpose_misaligned")
        };
        assert!(misaligned(Category::Write, &staging, "analysis"));
        assert!(misaligned(Category::Write, &staging, "code-review"));
        assert!(!misaligned(Category::Read, &staging, "analysis"));
        assert!(!misaligned(Category::Write, &staging, "drafting"));
        assert!(misaligned(Category::Write, &prod, "drafting"));
        assert!(!misaligned(Category::Write, &prod, "deployment"));
    }

    #[test]
    fn levels_have_documented_bounds() {
        let cases = [
            (0, RiskLevel::Low),
            (24, RiskLevel::Low),
            (25, RiskLevel::Medium),
            (49, RiskLevel::Medium),
            (50, RiskLevel::High),
            (74, RiskLevel::High),
            (75, RiskLevel::Critical),
            (100, RiskLevel::Critical),
        ];
        for (score, level) in cases {
            assert_eq!(RiskLevel::from_score(score), level, "{score}");
            assert_eq!(RiskLevel::parse(level.as_str()), Some(level));
        }
    }
}
