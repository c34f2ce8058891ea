//! Secrets that deployment configuration keeps outside Agentwerke: an
//! environment variable (`env:VARIABLE`) or a file (`file:/path`, e.g. a
//! mounted Kubernetes secret).
//!
//! Such a secret is read at the last moment, each time it is needed, so a
//! rotated Kubernetes secret is picked up without a restart. Reading never
//! fails loudly: the answer is a [`Resolved`] whose status says `missing` or
//! `unreadable`, and nothing about it carries the value except
//! [`Resolved::Set`].

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::key::KeyMaterial;
use crate::source::{SecretSource, SecretStatus};
use crate::value::{MAX_VALUE_BYTES, SecretValue};

/// Where environment variables come from. The process environment in
/// production ([`ProcessEnvironment`]); a fixed table where a test needs
/// variables it cannot set (changing the process environment is `unsafe`).
pub trait Environment: Send + Sync {
    /// The variable's value, if it is set.
    fn var(&self, name: &str) -> Option<OsString>;
}

/// The process's environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }
}

impl<const N: usize> Environment for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<OsString> {
        self.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| OsString::from(value))
    }
}

/// `env:VARIABLE` or `file:/absolute/path`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretLocation {
    /// An environment variable.
    Env(String),
    /// A file, read whole; trailing line breaks are dropped.
    File(PathBuf),
}

/// A secret looked up in its [`SecretLocation`].
pub enum Resolved {
    /// The value.
    Set(SecretValue),
    /// Nothing there: an unset or empty variable, an absent file.
    Missing,
    /// Something there that cannot be used; the reason never quotes it.
    Unreadable(&'static str),
}

impl Resolved {
    /// The status to report.
    pub fn status(&self) -> SecretStatus {
        match self {
            Resolved::Set(_) => SecretStatus::Set,
            Resolved::Missing => SecretStatus::Missing,
            Resolved::Unreadable(_) => SecretStatus::Unreadable,
        }
    }

    /// The value, if there is one.
    pub fn value(self) -> Option<SecretValue> {
        match self {
            Resolved::Set(value) => Some(value),
            Resolved::Missing | Resolved::Unreadable(_) => None,
        }
    }
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolved::Set(value) => f.debug_tuple("Set").field(value).finish(),
            Resolved::Missing => f.write_str("Missing"),
            Resolved::Unreadable(reason) => f.debug_tuple("Unreadable").field(reason).finish(),
        }
    }
}

impl SecretLocation {
    /// Parses `env:VARIABLE` (letters, digits and `_`, not starting with a
    /// digit) or `file:/absolute/path`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidLocation { reason };
        if let Some(var) = text.strip_prefix("env:") {
            let valid = var
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return if valid {
                Ok(Self::Env(var.to_owned()))
            } else {
                Err(invalid(
                    "an environment variable name is letters, digits and '_'",
                ))
            };
        }
        if let Some(path) = text.strip_prefix("file:") {
            let path = Path::new(path);
            return if path.is_absolute() && !text.contains('\0') {
                Ok(Self::File(path.to_owned()))
            } else {
                Err(invalid("a file location needs an absolute path"))
            };
        }
        Err(invalid("expected env:VARIABLE or file:/absolute/path"))
    }

    /// Which source this is.
    pub fn source(&self) -> SecretSource {
        match self {
            SecretLocation::Env(_) => SecretSource::Env,
            SecretLocation::File(_) => SecretSource::File,
        }
    }

    /// Reads the secret now.
    pub fn resolve(&self, env: &dyn Environment) -> Resolved {
        let text = match self {
            SecretLocation::Env(var) => match env.var(var) {
                None => return Resolved::Missing,
                Some(value) => match value.into_string() {
                    Ok(text) => Zeroizing::new(text),
                    Err(raw) => {
                        drop(Zeroizing::new(raw.into_encoded_bytes()));
                        return Resolved::Unreadable("the variable is not UTF-8");
                    }
                },
            },
            SecretLocation::File(path) => match read_file(path) {
                Ok(text) => text,
                Err(FileProblem::Missing) => return Resolved::Missing,
                Err(FileProblem::Unreadable(reason)) => return Resolved::Unreadable(reason),
            },
        };
        let trimmed = text.trim_end_matches(['\n', '\r']);
        match SecretValue::new(trimmed.to_owned()) {
            Ok(value) => Resolved::Set(value),
            Err(Error::ValueEmpty) => Resolved::Missing,
            Err(_) => Resolved::Unreadable("the value is too large"),
        }
    }

    /// Reads a key from here (see [`crate::LocalKeys::from_locations`]).
    pub(crate) fn load(&self, env: &dyn Environment) -> Result<KeyMaterial, Error> {
        let origin = match self {
            SecretLocation::Env(var) => format!("environment variable {var}"),
            SecretLocation::File(path) => path.display().to_string(),
        };
        match self.resolve(env) {
            Resolved::Set(value) => KeyMaterial::parse(value.expose(), &origin),
            Resolved::Missing => Err(Error::KeyMissing { origin }),
            Resolved::Unreadable(reason) => Err(Error::KeyInvalid { origin, reason }),
        }
    }
}

impl fmt::Display for SecretLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretLocation::Env(var) => write!(f, "env:{var}"),
            SecretLocation::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl FromStr for SecretLocation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for SecretLocation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

enum FileProblem {
    Missing,
    Unreadable(&'static str),
}

fn read_file(path: &Path) -> Result<Zeroizing<String>, FileProblem> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => FileProblem::Missing,
        _ => FileProblem::Unreadable("the file cannot be opened"),
    })?;
    let meta = file
        .metadata()
        .map_err(|_| FileProblem::Unreadable("the file cannot be opened"))?;
    if !meta.is_file() {
        return Err(FileProblem::Unreadable("not a regular file"));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    // Two line breaks may follow a value of the largest size.
    let limit = MAX_VALUE_BYTES as u64 + 3;
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|_| FileProblem::Unreadable("the file cannot be read"))?;
    if bytes.len() as u64 >= limit {
        return Err(FileProblem::Unreadable("the value is too large"));
    }
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(FileProblem::Unreadable("the file is not UTF-8 text"))
        }
    }
}

#[cfg(test)]
#[path = "location_tests.rs"]
mod tests;
