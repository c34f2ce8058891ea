//! Where each BPMN node of a run stands: one row per node, written by the
//! engine step that moved a token ([`Op::TrackNode`](crate::Op::TrackNode)).

use agentwerke_types::{NodeState, Timestamp};
use rusqlite::{Connection, params};
use sqlx::FromRow;
use sqlx::SqlitePool;

use super::rows::named;
use crate::error::{Error, Result};
use crate::model::NodeRow;

/// Upserts the node's row: its state and last arrival and departure are
/// the step's, its arrivals add up. A state that is not one a token leaves
/// behind (`skipped`) is refused: readers derive it, nothing records it.
pub(super) fn track(
    conn: &Connection,
    run_id: &str,
    node_id: &str,
    state: NodeState,
    entered: u32,
    at: Timestamp,
) -> Result<()> {
    if state == NodeState::Skipped {
        return Err(Error::invalid(format!(
            "node '{node_id}' cannot be recorded as skipped: that is derived, not recorded"
        )));
    }
    conn.prepare_cached(
        "INSERT INTO run_nodes (run_id, node_id, state, visits, first_entered_at, entered_at, \
           left_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, CASE WHEN ?6 THEN NULL ELSE ?5 END) \
         ON CONFLICT (run_id, node_id) DO UPDATE SET \
           state = excluded.state, \
           visits = visits + excluded.visits, \
           entered_at = CASE WHEN excluded.visits > 0 THEN excluded.entered_at \
             ELSE entered_at END, \
           left_at = excluded.left_at",
    )?
    .execute(params![
        run_id,
        node_id,
        state.as_str(),
        entered,
        at.as_millis(),
        state.is_live(),
    ])?;
    Ok(())
}

#[derive(FromRow)]
struct NodeDbRow {
    node_id: String,
    state: String,
    visits: i64,
    first_entered_at: i64,
    entered_at: i64,
    left_at: Option<i64>,
}

/// The run's nodes in the order they were first reached (node id within
/// one step).
pub(super) async fn for_run(pool: &SqlitePool, run_id: &str) -> Result<Vec<NodeRow>> {
    let rows: Vec<NodeDbRow> = sqlx::query_as(
        "SELECT node_id, state, visits, first_entered_at, entered_at, left_at FROM run_nodes \
         WHERE run_id = ?1 ORDER BY first_entered_at, node_id",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(NodeRow {
                state: named(&row.state, || {
                    format!("run_nodes.state of {run_id}/{}", row.node_id)
                })?,
                visits: u32::try_from(row.visits).unwrap_or(u32::MAX),
                first_entered_at: Timestamp::from_millis(row.first_entered_at),
                entered_at: Timestamp::from_millis(row.entered_at),
                left_at: row.left_at.map(Timestamp::from_millis),
                node_id: row.node_id,
            })
        })
        .collect()
}
