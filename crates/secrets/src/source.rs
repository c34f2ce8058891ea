//! Where a secret's value comes from, and whether it can be had.

use std::fmt;

use serde::{Deserialize, Serialize};

use agentwerke_types::UnknownName;

/// Where a secret's value lives. Persisted and part of the Settings API:
/// the names never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SecretSource {
    /// Encrypted in Agentwerke's own database.
    #[serde(rename = "store")]
    Store,
    /// An environment variable that deployment configuration names.
    #[serde(rename = "env")]
    Env,
    /// A file that deployment configuration names (e.g. a mounted
    /// Kubernetes secret).
    #[serde(rename = "file")]
    File,
}

/// Whether a secret's value can be had right now. Part of the Settings API:
/// the names never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SecretStatus {
    /// A value is there.
    #[serde(rename = "set")]
    Set,
    /// No value: never set, deleted, an unset variable or an absent file.
    #[serde(rename = "missing")]
    Missing,
    /// Something is there but cannot be used: an unreadable or oversized
    /// file, a variable that is not UTF-8, a ciphertext that does not open.
    #[serde(rename = "unreadable")]
    Unreadable,
}

macro_rules! names {
    ($ty:ident, $set:literal, [$($variant:ident = $wire:literal),+]) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            /// Every persisted name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The persisted name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $wire,)+
                }
            }

            /// Parses a persisted name.
            pub fn parse(text: &str) -> Result<Self, UnknownName> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| UnknownName {
                        set: $set,
                        name: text.to_owned(),
                        expected: Self::NAMES,
                    })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(
    SecretSource,
    "secret source",
    [Store = "store", Env = "env", File = "file"]
);
names!(
    SecretStatus,
    "secret status",
    [Set = "set", Missing = "missing", Unreadable = "unreadable"]
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Persisted and served: these names are a contract.
    #[test]
    fn names_are_pinned() {
        assert_eq!(SecretSource::NAMES, ["store", "env", "file"]);
        assert_eq!(SecretStatus::NAMES, ["set", "missing", "unreadable"]);
        for source in SecretSource::ALL {
            let json = serde_json::to_value(source).unwrap();
            assert_eq!(json, source.as_str());
            assert_eq!(SecretSource::parse(source.as_str()).unwrap(), *source);
        }
        for status in SecretStatus::ALL {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
            assert_eq!(
                serde_json::from_value::<SecretStatus>(json).unwrap(),
                *status
            );
        }
        assert!(SecretSource::parse("vault").is_err());
    }
}
