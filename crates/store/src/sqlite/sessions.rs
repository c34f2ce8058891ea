//! The `ui_sessions` table.

use agentwerke_types::Timestamp;
use rusqlite::{Connection, params};
use sqlx::{FromRow, SqlitePool};

use crate::error::Result;
use crate::sessions::SessionRow;

#[derive(FromRow)]
struct SessionDbRow {
    id_hash: String,
    principal: String,
    csrf: String,
    expires_at: i64,
}

/// Keeps `session`, removing every session ended at `now`.
pub(super) fn open(conn: &Connection, session: &SessionRow, now: Timestamp) -> Result<()> {
    conn.execute(
        "DELETE FROM ui_sessions WHERE expires_at <= ?1",
        params![now.as_millis()],
    )?;
    conn.execute(
        "INSERT INTO ui_sessions (id_hash, principal, csrf, expires_at) \
         VALUES (?1, ?2, ?3, ?4)",
        params![
            session.id_hash,
            session.principal,
            session.csrf,
            session.expires_at.as_millis()
        ],
    )?;
    Ok(())
}

/// Ends the session `id_hash` names.
pub(super) fn close(conn: &Connection, id_hash: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM ui_sessions WHERE id_hash = ?1",
        params![id_hash],
    )?;
    Ok(())
}

/// The session `id_hash` names, if it is live at `now`.
pub(super) async fn get(
    pool: &SqlitePool,
    id_hash: &str,
    now: Timestamp,
) -> Result<Option<SessionRow>> {
    let row: Option<SessionDbRow> = sqlx::query_as(
        "SELECT id_hash, principal, csrf, expires_at FROM ui_sessions \
         WHERE id_hash = ?1 AND expires_at > ?2",
    )
    .bind(id_hash)
    .bind(now.as_millis())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| SessionRow {
        id_hash: r.id_hash,
        principal: r.principal,
        csrf: r.csrf,
        expires_at: Timestamp::from_millis(r.expires_at),
    }))
}
