use std::fs;
use std::os::unix::ffi::OsStringExt;

use agentwerke_types::ErrorCode;

use super::*;

fn value(resolved: Resolved) -> String {
    match resolved {
        Resolved::Set(value) => value.expose().to_owned(),
        other => panic!("expected a value, got {other:?}"),
    }
}

#[test]
fn parses_and_prints_locations() {
    let env = SecretLocation::parse("env:OPENAI_API_KEY").unwrap();
    assert_eq!(env, SecretLocation::Env("OPENAI_API_KEY".to_owned()));
    assert_eq!(env.source(), SecretSource::Env);
    let file = SecretLocation::parse("file:/var/run/secrets/openai").unwrap();
    assert_eq!(file.source(), SecretSource::File);
    assert_eq!(file.to_string(), "file:/var/run/secrets/openai");
    let json = serde_json::to_string(&env).unwrap();
    assert_eq!(serde_json::from_str::<SecretLocation>(&json).unwrap(), env);
}

#[test]
fn refuses_malformed_locations_without_echoing_them() {
    for text in [
        "env:",
        "env:1X",
        "env:A-B",
        "file:relative/path",
        "sk-value",
        "vault:x",
    ] {
        let error = SecretLocation::parse(text).unwrap_err();
        assert_eq!(error.code(), "secret.invalid_location", "{text}");
        assert!(!error.to_string().contains(text), "{error}");
    }
}

#[test]
fn resolves_environment_variables_at_the_last_moment() {
    let location = SecretLocation::parse("env:MODEL_KEY").unwrap();
    assert_eq!(
        value(location.resolve(&[("MODEL_KEY", "sk-one\n")])),
        "sk-one"
    );
    assert_eq!(
        value(location.resolve(&[("MODEL_KEY", "sk-two")])),
        "sk-two"
    );
    assert_eq!(
        location.resolve(&[("OTHER", "x")]).status(),
        SecretStatus::Missing
    );
    assert_eq!(
        location.resolve(&[("MODEL_KEY", "")]).status(),
        SecretStatus::Missing
    );
}

#[test]
fn reads_the_process_environment() {
    // PATH is set wherever tests run; the point is that the real
    // environment is what ProcessEnvironment reads.
    let location = SecretLocation::parse("env:PATH").unwrap();
    let expected = std::env::var("PATH").unwrap();
    assert_eq!(value(location.resolve(&ProcessEnvironment)), expected);
    let unset = SecretLocation::parse("env:AGENTWERKE_TEST_SURELY_UNSET_7f3a").unwrap();
    assert_eq!(
        unset.resolve(&ProcessEnvironment).status(),
        SecretStatus::Missing
    );
}

#[test]
fn non_utf8_variables_are_unreadable() {
    struct Raw;
    impl Environment for Raw {
        fn var(&self, _: &str) -> Option<OsString> {
            Some(OsString::from_vec(vec![0xff, 0xfe]))
        }
    }
    let location = SecretLocation::parse("env:X").unwrap();
    assert_eq!(location.resolve(&Raw).status(), SecretStatus::Unreadable);
}

#[test]
fn resolves_mounted_files_and_trims_the_line_break() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let location = SecretLocation::File(path.clone());
    assert_eq!(
        location.resolve(&ProcessEnvironment).status(),
        SecretStatus::Missing
    );

    fs::write(&path, "s3cr3t-token\r\n").unwrap();
    assert_eq!(value(location.resolve(&ProcessEnvironment)), "s3cr3t-token");
    // A rotated mount is read again, no restart.
    fs::write(&path, "rotated  \n\n").unwrap();
    assert_eq!(value(location.resolve(&ProcessEnvironment)), "rotated  ");

    fs::write(&path, "\n").unwrap();
    assert_eq!(
        location.resolve(&ProcessEnvironment).status(),
        SecretStatus::Missing
    );
    fs::write(&path, [0xffu8, 0x00]).unwrap();
    assert_eq!(
        location.resolve(&ProcessEnvironment).status(),
        SecretStatus::Unreadable
    );
    fs::write(&path, "x".repeat(MAX_VALUE_BYTES + 10)).unwrap();
    assert_eq!(
        location.resolve(&ProcessEnvironment).status(),
        SecretStatus::Unreadable
    );
    let folder = SecretLocation::File(dir.path().to_owned());
    assert_eq!(
        folder.resolve(&ProcessEnvironment).status(),
        SecretStatus::Unreadable
    );
}

#[test]
fn debug_of_a_resolved_secret_hides_it() {
    let location = SecretLocation::parse("env:K").unwrap();
    let shown = format!("{:?}", location.resolve(&[("K", "hunter2-value")]));
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn keys_load_from_configured_locations() {
    let encoded = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let env = [("ENC_KEY", encoded)];
    let location = SecretLocation::parse("env:ENC_KEY").unwrap();
    let key = location.load(&env).unwrap();
    assert_eq!(key.id(), KeyMaterial::from_bytes([7; 32]).id());

    let missing = SecretLocation::parse("env:NOT_THERE").unwrap();
    let error = missing.load(&env).unwrap_err();
    assert_eq!(error.code(), "secret.key.missing");
    assert!(error.to_string().contains("NOT_THERE"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    fs::write(&path, format!("{encoded}\n")).unwrap();
    let from_file = SecretLocation::File(path).load(&env).unwrap();
    assert_eq!(from_file.id(), key.id());
}
