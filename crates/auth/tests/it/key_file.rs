//! The development key file: creation, permissions, format.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use agentwerke_types::ErrorCode;

use agentwerke_auth::{DevKey, SetupError};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn created_with_owner_only_modes_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/auth/dev-jwt-key.pem");
    let created = DevKey::load_or_create(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let loaded = DevKey::load_or_create(&path).unwrap();
    assert_eq!(loaded.key_id(), created.key_id());
    assert_eq!(loaded.public_key(), created.public_key());
}

#[test]
fn a_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.pem");
    DevKey::load_or_create(&path).unwrap();
    for loose in [0o644, 0o640, 0o604, 0o620] {
        fs::set_permissions(&path, fs::Permissions::from_mode(loose)).unwrap();
        let err = DevKey::load_or_create(&path).unwrap_err();
        assert!(matches!(err, SetupError::KeyFileInsecure { mode, .. } if mode == loose));
        assert_eq!(err.code(), "auth.key_file_insecure");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    DevKey::load(&path).unwrap();
}

#[test]
fn garbage_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.pem");
    fs::write(&path, "hello").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let err = DevKey::load_or_create(&path).unwrap_err();
    assert_eq!(err.code(), "auth.key_file_invalid");
    assert_eq!(fs::read_to_string(&path).unwrap(), "hello");
}

#[test]
fn an_openssl_generated_key_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.pem");
    fs::write(&path, include_str!("../keys/ed25519.pem")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let key = DevKey::load(&path).unwrap();
    assert!(key.key_id().starts_with("dev-"));
}

#[test]
fn a_directory_is_not_a_key() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let err = DevKey::load_or_create(dir.path()).unwrap_err();
    assert_eq!(err.code(), "auth.key_file_invalid");
}
