//! A secret value in memory: zeroed on drop, never printed.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;

/// The largest accepted value, in bytes. Large enough for a PEM private
/// key or a service-account JSON file; a larger "secret" is a document.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A secret value. Its memory is zeroed when dropped, and `Debug` and
/// `Display` print `[REDACTED]`, so a value that slips into a log line or an
/// error message shows nothing. [`SecretValue::expose`] is the one way to
/// the text, and it is meant for the component that sends it.
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl SecretValue {
    /// Checks `value` (non-empty, at most [`MAX_VALUE_BYTES`]) and wraps it.
    pub fn new(value: String) -> Result<Self, Error> {
        let value = SecretString::from(value);
        let len = value.expose_secret().len();
        if len == 0 {
            return Err(Error::ValueEmpty);
        }
        if len > MAX_VALUE_BYTES {
            return Err(Error::ValueTooLarge {
                len,
                max: MAX_VALUE_BYTES,
            });
        }
        Ok(Self(value))
    }

    /// The value itself, for the one component that sends it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.expose().len()
    }

    /// Always false: an empty value is refused by [`SecretValue::new`].
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([REDACTED])")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_types::ErrorCode;

    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let value = SecretValue::new("hunter2-correct-horse".to_owned()).unwrap();
        for shown in [
            format!("{value:?}"),
            format!("{value}"),
            format!("{:?}", Some(&value)),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("[REDACTED]"), "{shown}");
        }
        assert_eq!(value.expose(), "hunter2-correct-horse");
    }

    #[test]
    fn refuses_empty_and_oversized_values() {
        assert_eq!(
            SecretValue::new(String::new()).unwrap_err().code(),
            "secret.value_empty"
        );
        let error = SecretValue::new("x".repeat(MAX_VALUE_BYTES + 1)).unwrap_err();
        assert_eq!(error.code(), "secret.value_too_large");
        assert!(SecretValue::new("x".repeat(MAX_VALUE_BYTES)).is_ok());
    }
}
