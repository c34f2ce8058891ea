//! Opaque keyset cursors for run lists.
//!
//! A cursor names the last row of a page by its sort key `(created_at, id)`.
//! It is hex text so that clients treat it as a token, not as a query they
//! could edit; a cursor that does not decode is refused, never guessed at.

use agentwerke_types::Timestamp;

use crate::error::{Error, Result};

/// The sort key of the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunCursor {
    pub(crate) created_at: Timestamp,
    pub(crate) id: String,
}

/// Format version, so a later layout can be told apart.
const PREFIX: &str = "r1:";

impl RunCursor {
    pub(crate) fn encode(&self) -> String {
        let plain = format!("{PREFIX}{}:{}", self.created_at.as_millis(), self.id);
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn decode(token: &str) -> Result<Self> {
        let bad = || Error::invalid("the cursor is not one this server issued");
        if !token.len().is_multiple_of(2) || token.len() > 1024 {
            return Err(bad());
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(token.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())
            })
            .collect::<Result<Vec<u8>>>()?;
        let plain = String::from_utf8(bytes).map_err(|_| bad())?;
        let rest = plain.strip_prefix(PREFIX).ok_or_else(bad)?;
        let (millis, id) = rest.split_once(':').ok_or_else(bad)?;
        let millis = millis.parse::<i64>().map_err(|_| bad())?;
        Ok(Self {
            created_at: Timestamp::from_millis(millis),
            id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = RunCursor {
            created_at: Timestamp::from_millis(1_700_000_000_123),
            id: "0190-ab:cd".to_owned(),
        };
        assert_eq!(RunCursor::decode(&cursor.encode()).unwrap(), cursor);
        for bad in ["", "zz", "abc", "72313a", "72313a78783a79"] {
            assert!(RunCursor::decode(bad).is_err(), "{bad}");
        }
    }
}
