//! The audit hash chain: each run's audit log is a list of records where
//! every record commits to its own content and to the record before it.
//!
//! `hash = sha256(canonical JSON of the record without "hash")`, and
//! `prevHash` is the previous record's `hash` ([`GENESIS`] for the first).
//! Because `prevHash` is inside the hashed content, editing any record breaks
//! either its own hash or the next record's link, and the chain head
//! (last `seq` and `hash`) stands for the whole log: sign the head, and
//! every record is signed.
//!
//! [`next`] is pure: the shell supplies the time, and the store appends the
//! result in the same transaction as the state change it describes.

use std::fmt;

use agentwerke_types::{Actor, AuditKind, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use sha2::{Digest, Sha256};

use crate::canonical::{digest_hex, digest_value, write_string, write_value};

/// `prevHash` of the first record of every run.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry in a run's audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditRecord {
    /// Position in the run's log, starting at 1 with no gaps.
    pub seq: u64,
    /// The run this record belongs to.
    pub run_id: String,
    /// When it happened: RFC 3339, UTC, millisecond precision.
    pub at: String,
    /// Who caused it: `system`, `user:<sub>` or `agent:<name>`.
    pub actor: String,
    /// What happened, e.g. `run.requested`, `step.completed`, `approval.decided`
    /// (an [`agentwerke_types::AuditKind`] name).
    pub kind: String,
    /// Details; redacted before it gets here.
    pub data: Value,
    /// The previous record's `hash`, or [`GENESIS`].
    pub prev_hash: String,
    /// SHA-256 (hex) of the canonical JSON of this record without `hash`.
    pub hash: String,
    /// Set on the way out, never stored: `data` was redacted after the
    /// record was chained, because a value in it became a known secret
    /// later (see [`AuditRecord::redacted`]). Its hash can then no longer
    /// be recomputed from what is shown; its `hash` is still the one the
    /// next record links to. Not part of the hashed content, and absent
    /// when false, so every other record reads as it always did.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted_after_chaining: bool,
}

impl AuditRecord {
    /// This record as it may be shown now: `data` redacted with what
    /// `redactor` knows. Records are redacted before they are hashed, so
    /// this changes only a record kept before one of its values became a
    /// known secret; such a record is marked
    /// [`redacted_after_chaining`](Self::redacted_after_chaining) rather
    /// than shown with the secret or passed off as intact. The chain in
    /// the store is never rewritten.
    pub fn redacted(mut self, redactor: &crate::redact::Redactor) -> Self {
        let kept = self.data.clone();
        redactor.redact_value(&mut self.data);
        if self.data != kept {
            self.redacted_after_chaining = true;
        }
        self
    }

    /// The hash this record's content commits to. Equal to `self.hash` unless
    /// the record was altered.
    pub fn compute_hash(&self) -> String {
        digest_value(&json!({
            "seq": self.seq,
            "runId": self.run_id,
            "at": self.at,
            "actor": self.actor,
            "kind": self.kind,
            "data": self.data,
            "prevHash": self.prev_hash,
        }))
    }

    /// This record as a chain head.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// What the caller knows about a record before it is chained.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditDraft {
    /// The run.
    pub run_id: String,
    /// RFC 3339 UTC with milliseconds, from the shell's clock.
    pub at: String,
    /// Who caused it.
    pub actor: Actor,
    /// What happened.
    pub kind: AuditKind,
    /// Redacted details.
    pub data: Value,
}

/// A draft with its canonical form written ahead of time.
///
/// Appending is serial: each record needs the hash of the one before. A
/// sealed draft leaves only the bytes that depend on the previous record
/// (`prevHash`, `seq`) to the append, so serialising the data happens
/// wherever the draft was made, not in the store's one writer. [`link`]
/// gives exactly the hash [`next_after`] would.
///
/// [`link`]: SealedDraft::link
#[derive(Debug, Clone)]
pub struct SealedDraft {
    draft: AuditDraft,
    /// The canonical `data`, which is also how the store keeps it.
    data: String,
    /// SHA-256 already fed the canonical record up to the value of
    /// `prevHash` (the members sort as actor, at, data, kind, prevHash,
    /// runId, seq), so the append hashes only the bytes after it.
    before_prev: Sha256,
    /// The canonical record from after `prevHash` up to the value of `seq`.
    before_seq: String,
}

impl SealedDraft {
    /// Writes the canonical form of everything in `draft`.
    pub fn new(draft: AuditDraft) -> Self {
        let mut data = String::new();
        write_value(&mut data, &draft.data);
        let mut before_prev = String::from("{\"actor\":");
        write_string(&mut before_prev, &draft.actor.to_string());
        before_prev.push_str(",\"at\":");
        write_string(&mut before_prev, &draft.at);
        before_prev.push_str(",\"data\":");
        before_prev.push_str(&data);
        before_prev.push_str(",\"kind\":");
        write_string(&mut before_prev, draft.kind.as_str());
        before_prev.push_str(",\"prevHash\":");
        let before_prev = Sha256::new_with_prefix(before_prev.as_bytes());
        let mut before_seq = String::from(",\"runId\":");
        write_string(&mut before_seq, &draft.run_id);
        before_seq.push_str(",\"seq\":");
        Self {
            draft,
            data,
            before_prev,
            before_seq,
        }
    }

    /// The draft as given.
    pub fn draft(&self) -> &AuditDraft {
        &self.draft
    }

    /// The draft's `data` in canonical JSON.
    pub fn data_json(&self) -> &str {
        &self.data
    }

    /// The head of the chain once this draft is appended after `prev`: the
    /// new record's `seq` and `hash`.
    pub fn link(&self, prev: &ChainHead) -> ChainHead {
        let seq = prev.seq + 1;
        let mut prev_hash = String::with_capacity(prev.hash.len() + 2);
        write_string(&mut prev_hash, &prev.hash);
        let mut hasher = self.before_prev.clone();
        hasher.update(prev_hash.as_bytes());
        hasher.update(self.before_seq.as_bytes());
        hasher.update(seq.to_string().as_bytes());
        hasher.update(b"}");
        ChainHead {
            seq,
            hash: digest_hex(hasher.finalize().into()),
        }
    }
}

/// The last record of a chain: enough to detect truncation and to sign the
/// whole log at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainHead {
    /// `seq` of the last record; 0 for an empty log.
    pub seq: u64,
    /// `hash` of the last record; [`GENESIS`] for an empty log.
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty log.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {} ({})", self.seq, short(&self.hash))
    }
}

/// Appends `draft` after `prev` (or starts the chain when `prev` is `None`).
pub fn next(prev: Option<&AuditRecord>, draft: AuditDraft) -> AuditRecord {
    match prev {
        Some(prev) => next_after_parts(prev.seq, prev.hash.clone(), draft),
        None => next_after_parts(0, GENESIS.to_owned(), draft),
    }
}

/// Appends `draft` after the chain head `head` ([`ChainHead::genesis`] for
/// an empty log). The same as [`next`], for a writer that keeps only the
/// heads of the chains it extends rather than their last records.
pub fn next_after(head: &ChainHead, draft: AuditDraft) -> AuditRecord {
    next_after_parts(head.seq, head.hash.clone(), draft)
}

fn next_after_parts(prev_seq: u64, prev_hash: String, draft: AuditDraft) -> AuditRecord {
    let mut record = AuditRecord {
        seq: prev_seq + 1,
        run_id: draft.run_id,
        at: draft.at,
        actor: draft.actor.to_string(),
        kind: draft.kind.as_str().to_owned(),
        data: draft.data,
        prev_hash,
        hash: String::new(),
        redacted_after_chaining: false,
    };
    record.hash = record.compute_hash();
    record
}

/// Why a chain does not verify. Positions are given both as the index in the
/// slice and as the record's `seq`, because after a deletion they differ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The record's content no longer matches its `hash`: it was edited.
    #[error("auditLog[{index}] (seq {seq}) content altered: hash mismatch")]
    ContentAltered {
        /// Index in the slice.
        index: usize,
        /// The record's `seq`.
        seq: u64,
    },
    /// The record's `prevHash` is not the previous record's `hash`. With the
    /// record's own hash intact, the record before it was replaced (and
    /// re-hashed) or removed.
    #[error(
        "auditLog[{index}] (seq {seq}) link broken: prevHash does not match the hash of the record before it"
    )]
    LinkBroken {
        /// Index in the slice.
        index: usize,
        /// The record's `seq`.
        seq: u64,
    },
    /// Records are missing before this one.
    #[error("auditLog[{index}] (seq {found}) follows a gap: expected seq {expected}")]
    SeqGap {
        /// Index in the slice.
        index: usize,
        /// The seq that should be here.
        expected: u64,
        /// The seq that is here.
        found: u64,
    },
    /// The record is earlier than its position says: records were reordered
    /// or duplicated.
    #[error("auditLog[{index}] (seq {found}) is out of order: expected seq {expected}")]
    OutOfOrder {
        /// Index in the slice.
        index: usize,
        /// The seq that should be here.
        expected: u64,
        /// The seq that is here.
        found: u64,
    },
    /// The record belongs to another run.
    #[error("auditLog[{index}] (seq {seq}) belongs to run '{found}', not runId '{expected}'")]
    RunMismatch {
        /// Index in the slice.
        index: usize,
        /// The record's `seq`.
        seq: u64,
        /// The run the log is for.
        expected: String,
        /// The run the record names.
        found: String,
    },
    /// The log ends before the declared head: records were cut off the end.
    #[error(
        "auditLog truncated: ends at seq {last_seq}, but the declared chain head is seq {declared_seq}"
    )]
    Truncated {
        /// The declared head's seq.
        declared_seq: u64,
        /// The last seq present.
        last_seq: u64,
    },
    /// The log's last record is not the declared head.
    #[error("chain head mismatch: the declared head is {declared}, but auditLog ends at {found}")]
    HeadMismatch {
        /// What was declared (and signed).
        declared: ChainHead,
        /// What the log ends with.
        found: ChainHead,
    },
}

impl ErrorCode for ChainError {
    fn code(&self) -> &'static str {
        match self {
            ChainError::ContentAltered { .. } => "evidence.chain.content_altered",
            ChainError::LinkBroken { .. } => "evidence.chain.link_broken",
            ChainError::SeqGap { .. } => "evidence.chain.seq_gap",
            ChainError::OutOfOrder { .. } => "evidence.chain.out_of_order",
            ChainError::RunMismatch { .. } => "evidence.chain.run_mismatch",
            ChainError::Truncated { .. } => "evidence.chain.truncated",
            ChainError::HeadMismatch { .. } => "evidence.chain.head_mismatch",
        }
    }
}

/// Verifies a whole log and returns its head, or the first problem.
pub fn verify_chain(records: &[AuditRecord]) -> Result<ChainHead, ChainError> {
    first(check_chain(records, None, None), records)
}

/// Like [`verify_chain`], and also requires the log to end exactly at
/// `declared`, which catches records cut off the end.
pub fn verify_chain_to(
    records: &[AuditRecord],
    declared: &ChainHead,
) -> Result<ChainHead, ChainError> {
    first(check_chain(records, None, Some(declared)), records)
}

fn first(problems: Vec<ChainError>, records: &[AuditRecord]) -> Result<ChainHead, ChainError> {
    match problems.into_iter().next() {
        Some(problem) => Err(problem),
        None => Ok(records
            .last()
            .map_or_else(ChainHead::genesis, AuditRecord::head)),
    }
}

/// Every problem in `records`, in order: the verifier's full scan.
///
/// `run_id` defaults to the first record's run. After a seq problem the scan
/// resynchronises on the seq it found, so one deleted record yields one
/// [`ChainError::SeqGap`] and one [`ChainError::LinkBroken`], not a cascade.
pub fn check_chain(
    records: &[AuditRecord],
    run_id: Option<&str>,
    declared: Option<&ChainHead>,
) -> Vec<ChainError> {
    let mut problems = Vec::new();
    let run_id = run_id.or_else(|| records.first().map(|r| r.run_id.as_str()));
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS;
    for (index, record) in records.iter().enumerate() {
        let seq = record.seq;
        if seq > expected_seq {
            problems.push(ChainError::SeqGap {
                index,
                expected: expected_seq,
                found: seq,
            });
        } else if seq < expected_seq {
            problems.push(ChainError::OutOfOrder {
                index,
                expected: expected_seq,
                found: seq,
            });
        }
        if let Some(run_id) = run_id.filter(|id| *id != record.run_id) {
            problems.push(ChainError::RunMismatch {
                index,
                seq,
                expected: run_id.to_owned(),
                found: record.run_id.clone(),
            });
        }
        // A record redacted after it was chained cannot be re-hashed from
        // what is shown; its link is still checked, and whoever shows it
        // vouches for it (a pack's signature covers it as shown).
        if !record.redacted_after_chaining && record.compute_hash() != record.hash {
            problems.push(ChainError::ContentAltered { index, seq });
        }
        if record.prev_hash != prev_hash {
            problems.push(ChainError::LinkBroken { index, seq });
        }
        expected_seq = seq.saturating_add(1);
        prev_hash = &record.hash;
    }
    if let Some(declared) = declared {
        let found = records
            .last()
            .map_or_else(ChainHead::genesis, AuditRecord::head);
        if found.seq < declared.seq {
            problems.push(ChainError::Truncated {
                declared_seq: declared.seq,
                last_seq: found.seq,
            });
        } else if found != *declared {
            problems.push(ChainError::HeadMismatch {
                declared: declared.clone(),
                found,
            });
        }
    }
    problems
}

/// The first 12 hex digits: enough to tell hashes apart in a message.
pub(crate) fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
