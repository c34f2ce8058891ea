//! The hash-chained audit log: append inside the caller's transaction, read.
//!
//! The chain head is read inside the same `BEGIN IMMEDIATE` transaction that
//! appends, so two writers can never both extend the same head: the second
//! one waits for the write lock and then sees the first one's record. Only
//! the head's `seq` and `hash` are read; that is all the next link needs.
//!
//! A batch of writes reads the heads of all its streams in one statement
//! ([`heads`]), chains its drafts in order in memory, updating the heads as
//! it goes (so two drafts for one run in the same batch still link), and
//! inserts every record in one statement ([`insert_all`]).

use std::collections::HashMap;

use agentwerke_evidence::chain::{self, AuditDraft, AuditRecord, ChainHead};
use serde_json::{Value, json};
use sqlx::{FromRow, SqliteConnection, SqlitePool};

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
    check_stream(stream, &drafts)?;
    let mut head = last(conn, stream).await?;
    for draft in drafts {
        let record = chain::next_after(&head, draft);
        insert(conn, &record).await?;
        head = record.head();
    }
    Ok(())
}

/// Fails with `store.invalid_input` when a draft names another stream.
pub(super) fn check_stream(stream: &str, drafts: &[AuditDraft]) -> Result<()> {
    match drafts.iter().find(|d| d.run_id != stream) {
        Some(stray) => Err(Error::invalid(format!(
            "an audit record for run '{}' cannot be written with run '{stream}'",
            stray.run_id
        ))),
        None => Ok(()),
    }
}

#[derive(FromRow)]
struct HeadRow {
    run_id: String,
    seq: i64,
    hash: String,
}

impl HeadRow {
    fn into_head(self) -> Result<(String, ChainHead)> {
        let seq = u64::try_from(self.seq).map_err(|_| Error::Corrupt {
            what: format!("audit_log row {}#{}", self.run_id, self.seq),
        })?;
        Ok((
            self.run_id,
            ChainHead {
                seq,
                hash: self.hash,
            },
        ))
    }
}

async fn last(conn: &mut SqliteConnection, stream: &str) -> Result<ChainHead> {
    let row: Option<HeadRow> = sqlx::query_as(
        "SELECT run_id, seq, hash FROM audit_log WHERE run_id = ?1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(stream)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(row) => row.into_head()?.1,
        None => ChainHead::genesis(),
    })
}

/// The chain heads of `streams`, genesis for those without records.
pub(super) async fn heads<'a>(
    conn: &mut SqliteConnection,
    streams: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, ChainHead>> {
    let mut heads: HashMap<String, ChainHead> = streams
        .into_iter()
        .map(|s| (s.to_owned(), ChainHead::genesis()))
        .collect();
    if heads.is_empty() {
        return Ok(heads);
    }
    let wanted = Value::from(heads.keys().map(String::as_str).collect::<Vec<_>>());
    let rows: Vec<HeadRow> = sqlx::query_as(
        "SELECT a.run_id, a.seq, a.hash FROM json_each(?1) j \
         JOIN audit_log a ON a.run_id = j.value \
          AND a.seq = (SELECT MAX(seq) FROM audit_log b WHERE b.run_id = j.value)",
    )
    .bind(json_text(&wanted))
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let (stream, head) = row.into_head()?;
        heads.insert(stream, head);
    }
    Ok(heads)
}

/// Chains `drafts` in order onto `heads` (which must hold every draft's
/// stream, see [`heads`]) and returns the records to insert.
pub(super) fn chain_all(
    heads: &mut HashMap<String, ChainHead>,
    drafts: impl IntoIterator<Item = AuditDraft>,
) -> Vec<AuditRecord> {
    drafts
        .into_iter()
        .map(|draft| {
            let head = heads
                .entry(draft.run_id.clone())
                .or_insert_with(ChainHead::genesis);
            let record = chain::next_after(head, draft);
            *head = record.head();
            record
        })
        .collect()
}

/// Inserts chained records in one statement.
pub(super) async fn insert_all(conn: &mut SqliteConnection, records: &[AuditRecord]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let rows: Vec<Value> = records
        .iter()
        .map(|r| {
            json!([
                r.run_id,
                r.seq,
                r.at,
                r.actor,
                r.kind,
                json_text(&r.data),
                r.prev_hash,
                r.hash
            ])
        })
        .collect();
    sqlx::query(
        "INSERT INTO audit_log (run_id, seq, at, actor, kind, data, prev_hash, hash) \
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
                value ->> 6, value ->> 7 \
           FROM json_each(?1) ORDER BY key",
    )
    .bind(json_text(&Value::Array(rows)))
    .execute(&mut *conn)
    .await?;
    Ok(())
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
