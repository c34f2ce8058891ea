//! Opaque keyset cursors for paginated lists.
//!
//! A cursor names a position in a list's sort order `(timestamp, id)`: the
//! last row of the page before. It is hex text so that clients treat it as a
//! token, not as a query they could edit. Every string of the documented
//! shape ([`PATTERN`]) decodes to some position, so a well-formed cursor is
//! never refused, only read from where it points; anything else is refused,
//! never guessed at.

use agentwerke_types::Timestamp;

use crate::error::{Error, Result};

/// Format version.
const PREFIX: &str = "c1";

/// The shape of every cursor, as a regular expression (for API documents):
/// the version, 16 hex digits of the timestamp, then the id's bytes in hex.
pub const CURSOR_PATTERN: &str = "^c1[0-9a-f]{16}([0-9a-f]{2}){0,256}$";

/// The sort key of the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) at: Timestamp,
    pub(crate) id: String,
}

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        let mut token = format!("{PREFIX}{:016x}", self.at.as_millis().cast_unsigned());
        for byte in self.id.bytes() {
            token.push_str(&format!("{byte:02x}"));
        }
        token
    }

    pub(crate) fn decode(token: &str) -> Result<Self> {
        let bad = || Error::InvalidCursor;
        let hex = token.strip_prefix(PREFIX).ok_or_else(bad)?;
        let lower_hex = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lower_hex || hex.len() < 16 || !hex.len().is_multiple_of(2) || hex.len() > 16 + 512 {
            return Err(bad());
        }
        let (millis, id) = hex.split_at(16);
        let millis = u64::from_str_radix(millis, 16).map_err(|_| bad())?;
        let id = (0..id.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&id[i..i + 2], 16).map_err(|_| bad()))
            .collect::<Result<Vec<u8>>>()?;
        Ok(Self {
            at: Timestamp::from_millis(millis.cast_signed()),
            id: String::from_utf8_lossy(&id).into_owned(),
        })
    }

    /// Decodes an optional cursor into the bounds a query binds: a list read
    /// from the start gets the smallest key, before every row.
    pub(crate) fn after(token: Option<&str>) -> Result<(i64, String)> {
        Ok(match token.map(Self::decode).transpose()? {
            Some(c) => (c.at.as_millis(), c.id),
            None => (i64::MIN, String::new()),
        })
    }
}

/// Cuts a page fetched with `limit + 1` rows to `limit` and names the cursor
/// of the next page (none when this is the last).
pub(crate) fn page<T>(
    mut items: Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> (Timestamp, String),
) -> crate::Page<T> {
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| {
            let (at, id) = key(last);
            Cursor { at, id }.encode()
        })
    } else {
        None
    };
    crate::Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        for (millis, id) in [(1_700_000_000_123, "0190-ab:cd"), (-5, ""), (i64::MIN, "ü")] {
            let cursor = Cursor {
                at: Timestamp::from_millis(millis),
                id: id.to_owned(),
            };
            assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        }
        for bad in [
            "",
            "zz",
            "c1",
            "c1abc",
            "c10000000000000000a",
            "C10000000000000000",
            "c1000000000000000G",
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    /// The pattern the API documents and the decoder agree: what matches it
    /// decodes.
    #[test]
    fn every_cursor_of_the_documented_shape_decodes() {
        for token in [
            "c10000000000000000",
            "c1ffffffffffffffffff00",
            "c1123456789abcdef0e282ac",
        ] {
            assert!(Cursor::decode(token).is_ok(), "{token}");
        }
        assert!(Cursor::decode(&format!("c1{}", "0".repeat(16 + 514))).is_err());
        assert_eq!(CURSOR_PATTERN, "^c1[0-9a-f]{16}([0-9a-f]{2}){0,256}$");
    }
}
