//! The hash-chained audit log: append inside the caller's transaction, read.
//!
//! The chain head is read inside the same `BEGIN IMMEDIATE` transaction that
//! appends, so two writers can never both extend the same head: the second
//! one waits for the write lock and then sees the first one's record. Only
//! the head's `seq` and `hash` are read; that is all the next link needs.

use agentwerke_evidence::chain::{AuditDraft, AuditRecord, ChainHead, SealedDraft};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;

use super::rows::{AuditRow, convert};
use crate::MAX_PAGE;
use crate::error::{Error, Result};
use crate::model::Page;

/// Seals drafts for [`append`]: done by the caller of a hot write before it
/// is queued, so the writer only hashes.
pub(super) fn seal(drafts: Vec<AuditDraft>) -> Vec<SealedDraft> {
    drafts.into_iter().map(SealedDraft::new).collect()
}

/// Appends `drafts` as they are: for the writes that make their drafts
/// inside the transaction.
pub(super) fn append_drafts(conn: &Connection, stream: &str, drafts: &[AuditDraft]) -> Result<()> {
    append(conn, stream, &seal(drafts.to_vec()))
}

/// Appends `drafts` to the chain of `stream` (a run id, or the global stream)
/// in order. Refuses drafts that name another stream.
pub(super) fn append(conn: &Connection, stream: &str, drafts: &[SealedDraft]) -> Result<()> {
    Chain::new(conn, stream).append(drafts)
}

/// One stream's chain, for the appends of one write: its head is read at
/// the first append and then carried along, not read again for each.
pub(super) struct Chain<'c> {
    conn: &'c Connection,
    stream: &'c str,
    head: Option<ChainHead>,
}

impl<'c> Chain<'c> {
    /// The chain of `stream` as stored.
    pub(super) fn new(conn: &'c Connection, stream: &'c str) -> Self {
        Self {
            conn,
            stream,
            head: None,
        }
    }

    /// The chain of a run this write creates, which has no records yet. Were
    /// there any, the first append would collide with their sequence numbers
    /// and fail: a chain is never forked.
    pub(super) fn fresh(conn: &'c Connection, stream: &'c str) -> Self {
        Self {
            conn,
            stream,
            head: Some(ChainHead::genesis()),
        }
    }

    /// The head after this write's appends; `None` when it appended
    /// nothing to a chain it did not create.
    pub(super) fn into_head(self) -> Option<ChainHead> {
        self.head
    }

    /// The stream this chain belongs to.
    pub(super) fn stream(&self) -> &'c str {
        self.stream
    }

    /// Appends `drafts` in order. Refuses drafts that name another stream.
    pub(super) fn append(&mut self, drafts: &[SealedDraft]) -> Result<()> {
        if drafts.is_empty() {
            return Ok(());
        }
        if let Some(stray) = drafts
            .iter()
            .map(SealedDraft::draft)
            .find(|d| d.run_id != self.stream)
        {
            return Err(Error::invalid(format!(
                "an audit record for run '{}' cannot be written with run '{}'",
                stray.run_id, self.stream
            )));
        }
        let mut head = match self.head.take() {
            Some(head) => head,
            None => last(self.conn, self.stream)?,
        };
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO audit_log (run_id, seq, at, actor, kind, data, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for sealed in drafts {
            let next = sealed.link(&head);
            let seq = i64::try_from(next.seq)
                .map_err(|_| Error::invalid("audit sequence number out of range"))?;
            let draft = sealed.draft();
            insert.execute(params![
                draft.run_id,
                seq,
                draft.at,
                draft.actor.to_string(),
                draft.kind.as_str(),
                sealed.data_json(),
                head.hash,
                next.hash,
            ])?;
            head = next;
        }
        self.head = Some(head);
        Ok(())
    }
}

/// The head of `stream`'s chain: its last record's `seq` and `hash`.
pub(super) fn last(conn: &Connection, stream: &str) -> Result<ChainHead> {
    let row: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, hash FROM audit_log WHERE run_id = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([stream], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match row {
        None => Ok(ChainHead::genesis()),
        Some((seq, hash)) => Ok(ChainHead {
            seq: u64::try_from(seq).map_err(|_| Error::Corrupt {
                what: format!("audit_log row {stream}#{seq}"),
            })?,
            hash,
        }),
    }
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

/// Up to `limit` records of `stream` after `seq` `after`, oldest first. One
/// more row than asked for is read to learn whether another page follows;
/// the cursor is the last returned `seq`, which is also where a reader who
/// keeps its own position would resume.
pub(super) async fn page(
    pool: &SqlitePool,
    stream: &str,
    after: u64,
    limit: u32,
) -> Result<Page<AuditRecord>> {
    let limit = limit.clamp(1, MAX_PAGE);
    let after = i64::try_from(after).map_err(|_| Error::invalid("audit cursor out of range"))?;
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT * FROM audit_log WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )
    .bind(stream)
    .bind(after)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let mut items: Vec<AuditRecord> = convert(rows)?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|r| r.seq.to_string()))
        .flatten();
    Ok(Page { items, next_cursor })
}

/// The seq of the stream's newest audit record; 0 when it has none.
pub(super) async fn head_seq(pool: &SqlitePool, stream: &str) -> Result<u64> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log WHERE run_id = ?1")
        .bind(stream)
        .fetch_one(pool)
        .await?;
    Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
}
