//! The evidence signing key in the data folder: created once, owner-only.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use agentwerke_evidence::keys::{decode_key_file, encode_key_file, signing_key_from_seed};
use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;

/// Where the evidence signing key lives.
pub fn evidence_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("evidence-signing-key.json")
}

/// Loads the evidence signing key, creating it on first use.
pub fn evidence_key(data_dir: &Path) -> anyhow::Result<SigningKey> {
    let path = evidence_key_path(data_dir);
    if path.exists() {
        let mode = std::fs::metadata(&path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by other users (mode {:o}); run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return decode_key_file(&text)
            .with_context(|| format!("{} is not a key file", path.display()));
    }
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let key = signing_key_from_seed(seed);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(encode_key_file(&key).as_bytes())?;
    file.sync_all()?;
    Ok(key)
}
