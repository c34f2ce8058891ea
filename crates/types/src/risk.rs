//! The coarse risk bands of tool calls and runs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A coarse risk band, for dashboards, approvers and `@risk` annotations.
///
/// Persisted (a run's `risk_level`, evidence) under its wire name; never
/// rename one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// 0–24.
    #[default]
    Low,
    /// 25–49.
    Medium,
    /// 50–74.
    High,
    /// 75–100.
    Critical,
}

impl RiskLevel {
    /// Every band, lowest first.
    pub const ALL: [RiskLevel; 4] = [
        RiskLevel::Low,
        RiskLevel::Medium,
        RiskLevel::High,
        RiskLevel::Critical,
    ];

    /// The band a score falls in.
    pub const fn from_score(score: u8) -> Self {
        match score {
            0..25 => RiskLevel::Low,
            25..50 => RiskLevel::Medium,
            50..75 => RiskLevel::High,
            _ => RiskLevel::Critical,
        }
    }

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        }
    }

    /// Parses a wire name (as used by `@risk`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == s)
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persisted_names_never_change() {
        let names: Vec<_> = RiskLevel::ALL.into_iter().map(RiskLevel::as_str).collect();
        assert_eq!(names, ["low", "medium", "high", "critical"]);
        for level in RiskLevel::ALL {
            let json = serde_json::to_string(&level).unwrap();
            assert_eq!(json, format!("\"{level}\""));
            assert_eq!(RiskLevel::parse(level.as_str()), Some(level));
        }
        assert_eq!(RiskLevel::parse("severe"), None);
    }
}
