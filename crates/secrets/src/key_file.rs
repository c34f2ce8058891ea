//! The key files in the data folder: created whole, owner-only, and refused
//! when anyone else may read them.
//!
//! A key file that group or others can read is not fixed silently: a loose
//! mode means the key may already have leaked, and the operator must decide.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::Error;
use crate::key::KeyMaterial;

/// A key file is 45 bytes; anything much larger is not one.
const MAX_KEY_FILE_BYTES: u64 = 1024;

/// Loads the key at `path`, or creates it if there is none.
pub(crate) fn load_or_create(path: &Path) -> Result<KeyMaterial, Error> {
    match fs::symlink_metadata(path) {
        Ok(_) => load(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match create(path) {
            Ok(key) => Ok(key),
            // Another process created it between our two looks.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => load(path),
            Err(source) => Err(io_error(path, source)),
        },
        Err(source) => Err(io_error(path, source)),
    }
}

/// Loads an existing key file, checking the mode on the opened handle so the
/// file checked is the file read.
pub(crate) fn load(path: &Path) -> Result<KeyMaterial, Error> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    let origin = path.display().to_string();
    if !meta.is_file() {
        return Err(Error::KeyInvalid {
            origin,
            reason: "not a regular file",
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::KeyFileInsecure {
            path: path.to_owned(),
            mode,
        });
    }
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|_| Error::KeyInvalid {
            origin: origin.clone(),
            reason: "not UTF-8 text",
        })?;
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(Error::KeyInvalid {
            origin,
            reason: "file is too large",
        });
    }
    KeyMaterial::parse(&text, &origin)
}

/// Writes a fresh key to a private temporary file and links it into place,
/// so `path` either does not exist or holds a whole key, and an existing
/// file is never replaced.
fn create(path: &Path) -> io::Result<KeyMaterial> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let key = KeyMaterial::generate().map_err(io::Error::other)?;
    let temp = temp_path(path)?;
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(key.to_base64().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        // Fails with AlreadyExists when another process won the race.
        fs::hard_link(&temp, path)
    })();
    let _ = fs::remove_file(&temp);
    written?;
    if let Some(dir) = dir {
        File::open(dir)?.sync_all()?;
    }
    Ok(key)
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| io::Error::other(e.to_string()))?;
    let mut name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
        .to_owned();
    name.push(format!(".{}.tmp", hex::encode(suffix)));
    Ok(path.with_file_name(name))
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::KeyFileIo {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::fs::Permissions;

    use agentwerke_types::ErrorCode;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_an_owner_only_key_once_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/secrets-encryption.key");
        let created = load_or_create(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let loaded = load_or_create(&path).unwrap();
        assert_eq!(created.bytes(), loaded.bytes());
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim_end().len(), 44);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn refuses_a_key_file_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        load_or_create(&path).unwrap();
        for loose in [0o640, 0o604, 0o660] {
            fs::set_permissions(&path, Permissions::from_mode(loose)).unwrap();
            let error = load_or_create(&path).unwrap_err();
            assert_eq!(error.code(), "secret.key.file_insecure");
            assert!(error.to_string().contains("chmod 600"), "{error}");
        }
        fs::set_permissions(&path, Permissions::from_mode(0o400)).unwrap();
        assert!(load_or_create(&path).is_ok());
    }

    #[test]
    fn refuses_a_damaged_key_file_instead_of_replacing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        fs::write(&path, "short\n").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            load_or_create(&path).unwrap_err().code(),
            "secret.key.invalid"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "short\n");
    }
}
