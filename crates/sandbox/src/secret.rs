//! Secrets granted to one execution, as files.
//!
//! The sandbox's process is started by `std::process::Command`, which can
//! hand a child no descriptor but its standard streams (and this workspace
//! allows no `unsafe` to do more). So the values travel to the helper over
//! its standard input, framed here, and the helper writes each file into
//! the execution's secrets folder before it confines the command: under
//! namespaces a tmpfs inside the sandbox's own mount namespace (memory, gone
//! with the sandbox, never the host's disk); degraded, the execution's
//! private temporary folder, deleted afterwards.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use crate::SandboxError;

/// Where the secret files of an execution appear under namespaces.
pub(crate) const NAMESPACE_SECRETS_DIR: &str = "/run/secrets";

/// The secrets folder's name inside the private temporary folder of a
/// degraded execution.
pub(crate) const DEGRADED_SECRETS_DIR: &str = "secrets";

/// One secret granted to one execution: it appears as the read-only file
/// `$SECRETS_DIR/<name>` for that execution only. Its value is wiped from
/// memory when dropped and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// The file name: letters, digits, `_`, `.` and `-`, without `..`.
    pub name: String,
    /// The contents.
    pub value: Zeroizing<Vec<u8>>,
}

impl SecretFile {
    /// A secret file named `name` holding `value`.
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        SecretFile {
            name: name.into(),
            value: Zeroizing::new(value.into()),
        }
    }
}

impl fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFile")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Refuses a name that is not a plain file name, and the same name twice.
pub(crate) fn validate(files: &[SecretFile]) -> Result<(), SandboxError> {
    for (i, file) in files.iter().enumerate() {
        let name = &file.name;
        let plain = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !plain || name == "." || name.contains("..") {
            return Err(SandboxError::InvalidRequest(format!(
                "secret file name {name:?}: use letters, digits, '_', '.' and '-', without '..'"
            )));
        }
        if files[..i].iter().any(|other| &other.name == name) {
            return Err(SandboxError::InvalidRequest(format!(
                "secret file {name:?} given twice"
            )));
        }
    }
    Ok(())
}

/// The values, each as its length (8 bytes, little-endian) and its bytes,
/// in the order of the names the helper is given.
pub(crate) fn frames(files: &[SecretFile]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    for file in files {
        out.extend_from_slice(&(file.value.len() as u64).to_le_bytes());
        out.extend_from_slice(&file.value);
    }
    out
}

/// The helper's side: reads one value per name from `input` and writes each
/// as a `0400` file into a new `0500` folder `dir`.
pub(crate) fn write_files(
    dir: &Path,
    names: &[String],
    mut input: impl Read,
) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("secrets folder {}: {e}", dir.display()))?;
    for name in names {
        let mut len = [0u8; 8];
        input
            .read_exact(&mut len)
            .map_err(|e| format!("secret {name}: {e}"))?;
        let len = usize::try_from(u64::from_le_bytes(len))
            .map_err(|_| format!("secret {name}: too large"))?;
        let mut value = Zeroizing::new(vec![0u8; len]);
        input
            .read_exact(&mut value)
            .map_err(|e| format!("secret {name}: {e}"))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(dir.join(name))
            .and_then(|mut file| file.write_all(&value))
            .map_err(|e| format!("secret {name}: {e}"))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500))
        .map_err(|e| format!("secrets folder {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use agentwerke_types::ErrorCode;

    use super::*;

    #[test]
    fn names_are_plain_file_names_and_distinct() {
        for good in ["token", "id_ed25519", "ca.pem", "a-b.c_d"] {
            assert!(validate(&[SecretFile::new(good, "v")]).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a..b", "x y", "tökén", "/etc"] {
            let err = validate(&[SecretFile::new(bad, "v")]).unwrap_err();
            assert_eq!(err.code(), "sandbox.invalid_request", "{bad}");
        }
        let twice = [SecretFile::new("t", "1"), SecretFile::new("t", "2")];
        assert_eq!(
            validate(&twice).unwrap_err().code(),
            "sandbox.invalid_request"
        );
    }

    #[test]
    fn debug_never_shows_the_value() {
        let file = SecretFile::new("token", "hunter2-value");
        let shown = format!("{file:?}");
        assert!(
            shown.contains("token") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn framed_values_come_back_as_read_only_files() {
        let files = [
            SecretFile::new("a", "first"),
            SecretFile::new("b", vec![0u8, 255, 10]),
        ];
        let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("secrets");
        write_files(&dir, &names, &frames(&files)[..]).unwrap();
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"first");
        assert_eq!(std::fs::read(dir.join("b")).unwrap(), [0u8, 255, 10]);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("a")), 0o400);
        assert_eq!(mode(&dir), 0o500);
        // A short stream is an error, not a truncated file.
        let other = parent.path().join("other");
        let short = &frames(&files)[..10];
        assert!(write_files(&other, &names, short).is_err());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}
