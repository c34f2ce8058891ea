//! The `model_usage` table: one row per model turn.

use agentwerke_types::Timestamp;
use rusqlite::{Connection, params};
use sqlx::SqlitePool;

use crate::error::{Error, Result};
use crate::usage::{ModelTurn, Spend, SpendTotals};

/// Keeps one turn of the run's work. `Conflict` when the claim's turn is
/// kept already: a turn is counted once.
pub(super) fn record(
    conn: &Connection,
    run_id: &str,
    turn: &ModelTurn,
    at: Timestamp,
) -> Result<()> {
    let tokens =
        |n: u64| i64::try_from(n).map_err(|_| Error::invalid("a token count does not fit"));
    let inserted = conn.execute(
        "INSERT INTO model_usage (run_id, work_id, claim, turn, node_id, attempt, provider, \
         model, input_tokens, output_tokens, cached_input_tokens, cost_usd, recorded_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
         ON CONFLICT (run_id, work_id, claim, turn) DO NOTHING",
        params![
            run_id,
            turn.work_id.as_str(),
            turn.claim,
            turn.turn,
            turn.node_id,
            turn.attempt,
            turn.provider,
            turn.model,
            tokens(turn.input_tokens)?,
            tokens(turn.output_tokens)?,
            tokens(turn.cached_input_tokens)?,
            turn.cost_usd,
            at.as_millis(),
        ],
    )?;
    if inserted == 0 {
        return Err(Error::conflict(format!(
            "model turn {} of claim {} of work '{}' is recorded already",
            turn.turn,
            turn.claim,
            turn.work_id.as_str()
        )));
    }
    Ok(())
}

/// What the work and the run spent, summed over every kept turn.
pub(super) async fn spend(pool: &SqlitePool, run_id: &str, work_id: &str) -> Result<SpendTotals> {
    let (work_tokens, work_cost, run_tokens, run_cost): (i64, f64, i64, f64) = sqlx::query_as(
        "SELECT \
           COALESCE(SUM(CASE WHEN work_id = ?2 THEN input_tokens + output_tokens END), 0), \
           COALESCE(SUM(CASE WHEN work_id = ?2 THEN cost_usd END), 0.0), \
           COALESCE(SUM(input_tokens + output_tokens), 0), \
           COALESCE(SUM(cost_usd), 0.0) \
         FROM model_usage WHERE run_id = ?1",
    )
    .bind(run_id)
    .bind(work_id)
    .fetch_one(pool)
    .await?;
    let tokens = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(SpendTotals {
        work: Spend {
            tokens: tokens(work_tokens),
            cost_usd: work_cost,
        },
        run: Spend {
            tokens: tokens(run_tokens),
            cost_usd: run_cost,
        },
    })
}
