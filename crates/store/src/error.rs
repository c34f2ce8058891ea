//! The store's one error type and its stable codes.
//!
//! Messages name the thing that was missing or contested and never carry row
//! data. Database and migration failures keep the driver error as their
//! source for the operator's log; the server shows users only the code.

use agentwerke_types::ErrorCode;

/// Everything a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The row the call names does not exist.
    #[error("{what} '{id}' does not exist")]
    NotFound {
        /// What was looked for, e.g. `run` or `approval`.
        what: &'static str,
        /// Its id as the caller gave it.
        id: String,
    },
    /// The row changed under the caller: a stale `state_version`, an inbox
    /// event that is already processed, or a write that contradicts a row.
    #[error("conflict: {reason}")]
    Conflict {
        /// What contradicted the write.
        reason: String,
    },
    /// The caller no longer holds the run's lease: another owner claimed it.
    #[error("the lease on run '{run_id}' is held by another owner")]
    LeaseLost {
        /// The run whose lease moved on.
        run_id: String,
    },
    /// The approval was decided (or closed) before this decision arrived.
    #[error("approval '{id}' is already {status}")]
    AlreadyDecided {
        /// The approval.
        id: String,
        /// Its status now.
        status: String,
    },
    /// The approval's time ran out before this decision arrived: it is
    /// marked expired, or its `expires_at` has passed.
    #[error("approval '{id}' has expired")]
    Expired {
        /// The approval.
        id: String,
    },
    /// The question was answered (or closed) before this answer arrived.
    #[error("question '{id}' is already {status}")]
    AlreadyAnswered {
        /// The question.
        id: String,
        /// Its status now.
        status: String,
    },
    /// Something tried to change a published workflow version.
    #[error("workflow '{workflow_id}' version {version} is published and cannot change")]
    ImmutableVersion {
        /// The workflow.
        workflow_id: String,
        /// The published version.
        version: i64,
    },
    /// The caller passed something the store refuses to write or read, such
    /// as an unknown decision, a malformed cursor or an audit draft for
    /// another run.
    #[error("invalid input: {reason}")]
    Invalid {
        /// Why it is refused.
        reason: String,
    },
    /// A page cursor that this store did not issue (or issued for another
    /// list).
    #[error("the cursor is not one this server issued for this list")]
    InvalidCursor,
    /// A stored JSON column no longer parses; the database was edited by hand
    /// or by an incompatible version.
    #[error("stored data is corrupt: {what}")]
    Corrupt {
        /// Which column of which row.
        what: String,
    },
    /// The database file or its folder cannot be opened or created.
    #[error("cannot open the database: {reason}")]
    Open {
        /// Why, without credentials (URLs are never echoed).
        reason: String,
    },
    /// The embedded migrations failed to apply.
    #[error("database migration failed: {0}")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// The database driver failed (the pool's or the writer's), or a write
    /// was not committed.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A step's end arrived for work that is no longer pending: it was
    /// completed already (a second execution after a reclaim; the first
    /// completion stands) or, for a hold, cancelled.
    #[error("work '{id}' is already {status}")]
    WorkClosed {
        /// The work, as `run/work`.
        id: String,
        /// Its status now.
        status: String,
    },
}

impl Error {
    /// Every code this enum can produce, for docs and the rename guard test.
    pub const CODES: [&'static str; 14] = [
        "store.not_found",
        "store.conflict",
        "store.lease_lost",
        "store.already_decided",
        "store.expired",
        "store.already_answered",
        "store.immutable_version",
        "store.invalid_input",
        "store.invalid_cursor",
        "store.corrupt",
        "store.open",
        "store.migration",
        "store.database",
        "store.work_closed",
    ];

    pub(crate) fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid {
            reason: reason.into(),
        }
    }

    pub(crate) fn conflict(reason: impl Into<String>) -> Self {
        Self::Conflict {
            reason: reason.into(),
        }
    }
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "store.not_found",
            Error::Conflict { .. } => "store.conflict",
            Error::LeaseLost { .. } => "store.lease_lost",
            Error::AlreadyDecided { .. } => "store.already_decided",
            Error::Expired { .. } => "store.expired",
            Error::AlreadyAnswered { .. } => "store.already_answered",
            Error::ImmutableVersion { .. } => "store.immutable_version",
            Error::Invalid { .. } => "store.invalid_input",
            Error::InvalidCursor => "store.invalid_cursor",
            Error::Corrupt { .. } => "store.corrupt",
            Error::Open { .. } => "store.open",
            Error::Migration(_) => "store.migration",
            Error::Database(_) => "store.database",
            Error::WorkClosed { .. } => "store.work_closed",
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Database(Box::new(error))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        Error::Database(Box::new(error))
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Error::Migration(error)
    }
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are a published contract: this list changes only on purpose.
    #[test]
    fn every_variant_has_its_stable_code() {
        let all = [
            Error::not_found("run", "r"),
            Error::conflict("c"),
            Error::LeaseLost {
                run_id: "r".to_owned(),
            },
            Error::AlreadyDecided {
                id: "a".to_owned(),
                status: "approved".to_owned(),
            },
            Error::Expired { id: "a".to_owned() },
            Error::AlreadyAnswered {
                id: "q".to_owned(),
                status: "answered".to_owned(),
            },
            Error::ImmutableVersion {
                workflow_id: "w".to_owned(),
                version: 1,
            },
            Error::invalid("i"),
            Error::InvalidCursor,
            Error::Corrupt {
                what: "x".to_owned(),
            },
            Error::Open {
                reason: "o".to_owned(),
            },
            Error::Migration(sqlx::migrate::MigrateError::VersionMissing(1)),
            Error::from(sqlx::Error::PoolClosed),
            Error::WorkClosed {
                id: "r/w".to_owned(),
                status: "done".to_owned(),
            },
        ];
        let codes: Vec<_> = all.iter().map(ErrorCode::code).collect();
        assert_eq!(codes, Error::CODES);
        assert_eq!(
            Error::CODES,
            [
                "store.not_found",
                "store.conflict",
                "store.lease_lost",
                "store.already_decided",
                "store.expired",
                "store.already_answered",
                "store.immutable_version",
                "store.invalid_input",
                "store.invalid_cursor",
                "store.corrupt",
                "store.open",
                "store.migration",
                "store.database",
                "store.work_closed",
            ]
        );
    }
}
