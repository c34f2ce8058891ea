//! What a model turn costs: the configured price table.
//!
//! Prices are per million tokens, as providers publish them, and apart for
//! prompt tokens served from the provider's prompt cache (usually cheaper).
//! The cost of a turn is computed here from its token counts rather than
//! taken from the provider, so every provider (and the scripted one) is
//! priced the same way and an operator can check the figure by hand.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::provider::Usage;

/// USD per million tokens for one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Price {
    /// Prompt tokens not served from the cache.
    pub input: f64,
    /// Completion tokens.
    pub output: f64,
    /// Prompt tokens served from the provider's prompt cache; the input
    /// price when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
}

impl Price {
    /// The cost of `usage` in US dollars: cached prompt tokens at the
    /// cached price, the rest of the prompt at the input price, the
    /// completion at the output price.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_input_tokens.min(usage.input_tokens);
        let fresh = usage.input_tokens - cached;
        let cached_price = self.cached_input.unwrap_or(self.input);
        (fresh as f64 * self.input
            + cached as f64 * cached_price
            + usage.output_tokens as f64 * self.output)
            / 1_000_000.0
    }

    /// What an estimated prompt of `tokens` costs, at the input price (the
    /// cache discount is not counted on: the estimate errs high).
    pub fn prompt_cost(&self, tokens: u64) -> f64 {
        tokens as f64 * self.input / 1_000_000.0
    }

    /// Why the price cannot be used, if it cannot: each figure must be a
    /// finite number of 0 or more.
    pub fn problem(&self) -> Option<String> {
        let figures = [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cached-input", self.cached_input),
        ];
        figures.iter().find_map(|(name, value)| {
            value.filter(|v| !v.is_finite() || *v < 0.0).map(|v| {
                format!(
                    "`{name}` is {v}; a price is a number of 0 or more (USD per million tokens)"
                )
            })
        })
    }
}

/// The price table, by model name as the provider reports it. Cheap to
/// clone: every step carries it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prices(Arc<BTreeMap<String, Price>>);

impl Prices {
    /// A table of `prices` by model name.
    pub fn new(prices: BTreeMap<String, Price>) -> Self {
        Self(Arc::new(prices))
    }

    /// The price of `model`, if the table has one.
    pub fn get(&self, model: &str) -> Option<&Price> {
        self.0.get(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, cached: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cached_input_tokens: cached,
            cost_usd: 0.0,
        }
    }

    /// gpt-4o's published prices: 2.50 in, 1.25 cached, 10 out.
    #[test]
    fn cached_prompt_tokens_are_priced_apart() {
        let price = Price {
            input: 2.5,
            output: 10.0,
            cached_input: Some(1.25),
        };
        // 600k fresh at 2.5 + 400k cached at 1.25 + 100k out at 10.
        let cost = price.cost(&usage(1_000_000, 400_000, 100_000));
        assert!((cost - (1.5 + 0.5 + 1.0)).abs() < 1e-9, "{cost}");
        // Without a cached price the cache is priced as input.
        let plain = Price {
            cached_input: None,
            ..price
        };
        let cost = plain.cost(&usage(1_000_000, 400_000, 0));
        assert!((cost - 2.5).abs() < 1e-9, "{cost}");
        // More cached than prompt tokens (a provider's miscount) is capped.
        let cost = price.cost(&usage(10, 50, 0));
        assert!((cost - 10.0 * 1.25 / 1e6).abs() < 1e-12, "{cost}");
    }

    #[test]
    fn negative_and_infinite_prices_are_refused() {
        let good = Price {
            input: 1.0,
            output: 0.0,
            cached_input: None,
        };
        assert_eq!(good.problem(), None);
        let negative = Price {
            output: -1.0,
            ..good
        };
        assert!(negative.problem().unwrap().contains("`output`"));
        let infinite = Price {
            cached_input: Some(f64::INFINITY),
            ..good
        };
        assert!(infinite.problem().unwrap().contains("`cached-input`"));
    }
}
