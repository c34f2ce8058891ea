use serde_json::json;

use super::*;
use crate::budget::OnExceed;
use crate::provider::ToolCallRequest;

fn budgets(step: Budget, run: Budget) -> Budgets {
    Budgets {
        step,
        run,
        on_exceed: OnExceed::Fail,
    }
}

fn tokens(limit: u64) -> Budget {
    Budget {
        tokens: Some(limit),
        cost_usd: None,
    }
}

fn spending(step: u64, run: u64) -> Spending {
    Spending {
        step: Spent {
            tokens: step,
            cost_usd: 0.0,
        },
        run: Spent {
            tokens: run,
            cost_usd: 0.0,
        },
    }
}

fn spent(tokens: u64, cost_usd: f64) -> Spent {
    Spent { tokens, cost_usd }
}

/// A limit allows exactly its figure; one more passes it.
#[test]
fn a_limit_is_passed_only_above_it() {
    let limits = budgets(tokens(100), Budget::default());
    assert_eq!(
        check(&limits, &spending(60, 60), spent(40, 0.0), Moment::After, 2),
        None
    );
    let over = check(&limits, &spending(60, 60), spent(41, 0.0), Moment::After, 2).unwrap();
    assert_eq!(over.scope, Scope::Step);
    assert_eq!(over.measure, Measure::Tokens);
    assert_eq!((over.limit, over.spent, over.turn), (100.0, 60.0, 41.0));
    assert_eq!(
        over.to_string(),
        "the step token budget of 100 tokens was passed by model turn 2: 101 tokens spent (60 tokens before the turn, 41 tokens in it)"
    );
}

/// The run counts what other steps spent; the step's own budget is
/// checked first.
#[test]
fn the_run_budget_counts_the_whole_run() {
    let limits = budgets(tokens(1000), tokens(500));
    let over = check(
        &limits,
        &spending(10, 480),
        spent(30, 0.0),
        Moment::Before,
        1,
    )
    .unwrap();
    assert_eq!(over.scope, Scope::Run);
    assert!(
        over.to_string()
            .starts_with("the run token budget of 500 tokens would be passed by model turn 1"),
        "{over}"
    );
    let both = budgets(tokens(20), tokens(500));
    let over = check(&both, &spending(10, 480), spent(30, 0.0), Moment::Before, 1).unwrap();
    assert_eq!(over.scope, Scope::Step);
}

#[test]
fn cost_limits_are_in_dollars() {
    let limits = budgets(
        Budget::default(),
        Budget {
            tokens: None,
            cost_usd: Some(0.01),
        },
    );
    let before = Spending {
        step: spent(0, 0.0),
        run: spent(0, 0.009),
    };
    assert_eq!(
        check(&limits, &before, spent(1, 0.001), Moment::After, 1),
        None
    );
    let over = check(&limits, &before, spent(1, 0.002), Moment::After, 1).unwrap();
    assert_eq!(over.measure, Measure::Cost);
    assert!(over.to_string().contains("$0.010000"), "{over}");
    assert!(limits_cost(&limits));
    assert!(!limits_cost(&budgets(tokens(1), tokens(1))));
    assert!(!limits_anything(&Budgets::default()));
}

/// Every character of messages, tool calls and tool schemas counts, a
/// quarter token each, rounded up.
#[test]
fn the_estimate_is_a_quarter_of_the_characters() {
    assert_eq!(estimate_prompt_tokens(&[], &[]), 0);
    let messages = [
        Message::system("12345678"),
        Message::assistant(
            "1",
            vec![ToolCallRequest {
                id: "c1".into(),
                name: "ab".into(),
                arguments: json!({}),
            }],
        ),
    ];
    // 8 + 1 + 2 + 2 ("{}") = 13 characters: 4 tokens.
    assert_eq!(estimate_prompt_tokens(&messages, &[]), 4);
    let tool = ToolSpec {
        name: "abcd".into(),
        description: "abcd".into(),
        input_schema: json!("ab"),
    };
    // + 4 + 4 + 4 ("\"ab\"") = 25 characters: 7 tokens.
    assert_eq!(estimate_prompt_tokens(&messages, &[tool]), 7);
}

#[tokio::test]
async fn a_tally_counts_what_it_keeps() {
    let tally = Tally::starting_at(spending(0, 50));
    let turn = TurnUsage {
        turn: 1,
        provider: "p".into(),
        model: "m".into(),
        usage: Usage {
            input_tokens: 7,
            output_tokens: 3,
            cached_input_tokens: 0,
            cost_usd: 0.5,
        },
        call: Default::default(),
    };
    tally.record(&turn).await.unwrap();
    let now = tally.spent().await.unwrap();
    assert_eq!(now.step, spent(10, 0.5));
    assert_eq!(now.run, spent(60, 0.5));
}
