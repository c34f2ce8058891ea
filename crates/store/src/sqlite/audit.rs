//! The hash-chained audit log: append inside the caller's transaction, read.
//!
//! The chain head is read inside the same `BEGIN IMMEDIATE` transaction that
//! appends, so two writers can never both extend the same head: the second
//! one waits for the write lock and then sees the first one's record.

use agentwerke_evidence::chain::{self, AuditDraft, AuditRecord};
use sqlx::{SqliteConnection, SqlitePool};

use super::json_text;
use super::rows::{AuditRow, convert};
use crate::error::{Error, Result};

/// Appends `drafts` to the chain of `stream` (a run id, or the global stream)
/// in order. Refuses drafts that name another stream.
pub(super) async fn append(
    conn: &mut SqliteConnection,
    stream: &str,
    drafts: Vec<AuditDraft>,
) -> Result<()> {
    if drafts.is_empty() {
        return Ok(());
    }
    if let Some(stray) = drafts.iter().find(|d| d.run_id != stream) {
        return Err(Error::invalid(format!(
            "an audit record for run '{}' cannot be written with run '{stream}'",
            stray.run_id
        )));
    }
    let mut head = last(conn, stream).await?;
    for draft in drafts {
        let record = chain::next(head.as_ref(), draft);
        insert(conn, &record).await?;
        head = Some(record);
    }
    Ok(())
}

async fn last(conn: &mut SqliteConnection, stream: &str) -> Result<Option<AuditRecord>> {
    let row: Option<AuditRow> =
        sqlx::query_as("SELECT * FROM audit_log WHERE run_id = ?1 ORDER BY seq DESC LIMIT 1")
            .bind(stream)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(AuditRecord::try_from).transpose()
}

async fn insert(conn: &mut SqliteConnection, record: &AuditRecord) -> Result<()> {
    let seq = i64::try_from(record.seq)
        .map_err(|_| Error::invalid("audit sequence number out of range"))?;
    sqlx::query(
        "INSERT INTO audit_log (run_id, seq, at, actor, kind, data, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(&record.run_id)
    .bind(seq)
    .bind(&record.at)
    .bind(&record.actor)
    .bind(&record.kind)
    .bind(json_text(&record.data))
    .bind(&record.prev_hash)
    .bind(&record.hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The records of `stream`, oldest first.
pub(super) async fn log(pool: &SqlitePool, stream: &str) -> Result<Vec<AuditRecord>> {
    let rows: Vec<AuditRow> =
        sqlx::query_as("SELECT * FROM audit_log WHERE run_id = ?1 ORDER BY seq")
            .bind(stream)
            .fetch_all(pool)
            .await?;
    convert(rows)
}
