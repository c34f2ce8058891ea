//! Closed sets of names that are persisted or cross the API.
//!
//! Each enum here replaces a `String` whose values were a fixed list written
//! out by hand wherever it was compared. The name of each variant is a
//! persisted contract: rows, audit records and evidence packs written today
//! must read the same tomorrow, so a name is never changed once published
//! (the tests pin every one). A new variant gets a new name.

use std::fmt;

/// Text that is not one of a closed set's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// The set, e.g. `approval status`.
    pub set: &'static str,
    /// The text offered.
    pub name: String,
    /// The names the set accepts, in order.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} '{}'; expected one of: {}",
            self.set,
            self.name,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

/// Declares a closed set: the enum, its `ALL` and `NAMES` constants,
/// `as_str`, `parse`, `Display` and `FromStr`, with serde using exactly the
/// given names.
macro_rules! closed {
    (
        $(#[$doc:meta])*
        $name:ident, $set:literal {
            $( $(#[$vdoc:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $( $(#[$vdoc])* #[serde(rename = $wire)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Every persisted name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The persisted name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// Parses a persisted name.
            pub fn parse(text: &str) -> Result<Self, $crate::closed::UnknownName> {
                match text {
                    $($wire => Ok($name::$variant),)+
                    _ => Err($crate::closed::UnknownName {
                        set: $set,
                        name: text.to_owned(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::closed::UnknownName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use closed;
