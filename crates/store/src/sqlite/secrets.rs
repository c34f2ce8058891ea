//! The `secrets` table: sealed envelopes by name.

use agentwerke_types::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{FromRow, SqlitePool};

use super::rows::from_sqlite;
use crate::error::{Error, Result};
use crate::secrets::{SealedSecretRow, SecretRow};

#[derive(FromRow)]
struct SecretDbRow {
    name: String,
    fingerprint: String,
    created_by: String,
    created_at: i64,
    updated_by: String,
    updated_at: i64,
}

from_sqlite!(SecretDbRow {
    name,
    fingerprint,
    created_by,
    created_at,
    updated_by,
    updated_at,
});

impl From<SecretDbRow> for SecretRow {
    fn from(r: SecretDbRow) -> Self {
        Self {
            name: r.name,
            fingerprint: r.fingerprint,
            created_by: r.created_by,
            created_at: Timestamp::from_millis(r.created_at),
            updated_by: r.updated_by,
            updated_at: Timestamp::from_millis(r.updated_at),
        }
    }
}

macro_rules! columns {
    () => {
        "name, fingerprint, created_by, created_at, updated_by, updated_at"
    };
}

/// One secret's description, inside the writer's transaction.
fn read(conn: &Connection, name: &str) -> Result<Option<SecretRow>> {
    let row = conn
        .query_row(
            concat!("SELECT ", columns!(), " FROM secrets WHERE name = ?1"),
            params![name],
            SecretDbRow::from_sqlite,
        )
        .optional()?;
    Ok(row.map(SecretRow::from))
}

/// A secret to store, as a [`crate::Row::PutSecret`] names it.
pub(super) struct PutSecret<'a> {
    pub(super) name: &'a str,
    pub(super) sealed: &'a str,
    pub(super) fingerprint: &'a str,
    pub(super) previous: Option<&'a str>,
    pub(super) by: &'a str,
}

/// Creates or rotates a secret when its fingerprint is still `previous`
/// (none: it did not exist); the secret as stored and the fingerprint it
/// replaced. `Conflict`, nothing written, when another change came first.
pub(super) fn put(
    conn: &Connection,
    put: &PutSecret<'_>,
    at: Timestamp,
) -> Result<(SecretRow, Option<String>)> {
    let current = read(conn, put.name)?.map(|row| row.fingerprint);
    if current.as_deref() != put.previous {
        return Err(Error::conflict(format!(
            "secret '{}' was changed since it was read",
            put.name
        )));
    }
    conn.execute(
        "INSERT INTO secrets (name, sealed, fingerprint, created_by, created_at, \
         updated_by, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?5) \
         ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, \
           fingerprint = excluded.fingerprint, updated_by = excluded.updated_by, \
           updated_at = excluded.updated_at",
        params![
            put.name,
            put.sealed,
            put.fingerprint,
            put.by,
            at.as_millis()
        ],
    )?;
    let stored = read(conn, put.name)?.ok_or_else(|| Error::Corrupt {
        what: format!("secret '{}' after it was stored", put.name),
    })?;
    Ok((stored, current))
}

/// Deletes a secret whose fingerprint is still `fingerprint`; the secret as
/// it was. `NotFound` when there is none, `Conflict` when it was rotated
/// since it was read.
pub(super) fn delete(conn: &Connection, name: &str, fingerprint: &str) -> Result<SecretRow> {
    let current = read(conn, name)?.ok_or_else(|| Error::not_found("secret", name))?;
    if current.fingerprint != fingerprint {
        return Err(Error::conflict(format!(
            "secret '{name}' was changed since it was read"
        )));
    }
    conn.execute("DELETE FROM secrets WHERE name = ?1", params![name])?;
    Ok(current)
}

pub(super) async fn list(pool: &SqlitePool) -> Result<Vec<SecretRow>> {
    let rows: Vec<SecretDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM secrets ORDER BY name"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(SecretRow::from).collect())
}

pub(super) async fn get(pool: &SqlitePool, name: &str) -> Result<Option<SecretRow>> {
    let row: Option<SecretDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM secrets WHERE name = ?1"
    ))
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(SecretRow::from))
}

pub(super) async fn sealed(pool: &SqlitePool) -> Result<Vec<SealedSecretRow>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, sealed FROM secrets ORDER BY name")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(name, sealed)| SealedSecretRow { name, sealed })
        .collect())
}
