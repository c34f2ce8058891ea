//! Secret names and the `secret:NAME` references that configuration uses.
//!
//! A name ends up in URLs (`/api/settings/secrets/{name}`), audit records
//! and log lines, and may one day name a file, so it is a closed shape:
//! an ASCII letter, then up to 127 letters, digits, `_`, `.` or `-`. No
//! `/`, `\`, spaces, or a leading dot, so it can never walk out of a folder.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, shorten};

/// The longest accepted name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// What a configuration string starts with when it points at a secret.
pub const REFERENCE_PREFIX: &str = "secret:";

/// A validated secret name, e.g. `openai_api_key`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// Validates `name`.
    pub fn parse(name: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidName {
            name: shorten(name),
            reason,
        };
        let mut bytes = name.bytes();
        match bytes.next() {
            None => return Err(invalid("it is empty")),
            Some(first) if !first.is_ascii_alphabetic() => {
                return Err(invalid("it must start with an ASCII letter"));
            }
            Some(_) => {}
        }
        if name.len() > MAX_NAME_LEN {
            return Err(invalid("it is longer than 128 characters"));
        }
        if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            return Err(invalid(
                "only ASCII letters, digits, '_', '.' and '-' are allowed",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SecretName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for SecretName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A pointer at a secret from configuration: `secret:NAME`.
///
/// Configuration holds references, never values, so that a configuration
/// file, a BPMN document or a connector definition can be shown, logged and
/// versioned without leaking anything.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretRef(SecretName);

impl SecretRef {
    /// A reference to `name`.
    pub fn new(name: SecretName) -> Self {
        Self(name)
    }

    /// Parses `secret:NAME`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let name = text
            .strip_prefix(REFERENCE_PREFIX)
            .ok_or(Error::InvalidReference {
                reason: "expected secret:NAME",
            })?;
        Ok(Self(SecretName::parse(name)?))
    }

    /// Whether configuration text is meant as a reference (starts with
    /// `secret:`), valid or not: a malformed reference must be reported,
    /// not taken as a literal value.
    pub fn is_reference(text: &str) -> bool {
        text.starts_with(REFERENCE_PREFIX)
    }

    /// The secret referred to.
    pub fn name(&self) -> &SecretName {
        &self.0
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{REFERENCE_PREFIX}{}", self.0)
    }
}

impl FromStr for SecretRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_types::ErrorCode;

    use super::*;

    #[test]
    fn accepts_plain_names() {
        for name in ["a", "openai_api_key", "GitHub.token-2", &"x".repeat(128)] {
            assert_eq!(SecretName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn refuses_path_characters_and_odd_shapes() {
        let long = "x".repeat(129);
        for name in [
            "",
            "../etc/passwd",
            "a/b",
            "a\\b",
            ".hidden",
            "1password",
            "_x",
            "has space",
            "tab\t",
            "ünï",
            "a:b",
            long.as_str(),
        ] {
            let error = SecretName::parse(name).unwrap_err();
            assert_eq!(error.code(), "secret.invalid_name", "{name:?}");
        }
    }

    #[test]
    fn references_round_trip() {
        let reference = SecretRef::parse("secret:openai_api_key").unwrap();
        assert_eq!(reference.name().as_str(), "openai_api_key");
        assert_eq!(reference.to_string(), "secret:openai_api_key");
        let json = serde_json::to_string(&reference).unwrap();
        assert_eq!(json, r#""secret:openai_api_key""#);
        assert_eq!(serde_json::from_str::<SecretRef>(&json).unwrap(), reference);
    }

    #[test]
    fn malformed_references_do_not_echo_the_text() {
        let error = SecretRef::parse("sk-live-value-pasted-here").unwrap_err();
        assert_eq!(error.code(), "secret.invalid_reference");
        assert!(!error.to_string().contains("sk-live"));
        assert!(SecretRef::is_reference("secret:../x"));
        assert_eq!(
            SecretRef::parse("secret:../x").unwrap_err().code(),
            "secret.invalid_name"
        );
        assert!(serde_json::from_str::<SecretName>(r#""a/b""#).is_err());
    }
}
