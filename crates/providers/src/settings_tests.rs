use super::*;

fn entry(name: &str, kind: ProviderKind) -> ProviderSettings {
    ProviderSettings {
        name: name.into(),
        kind,
        base_url: None,
        api_key: None,
        api_key_env: None,
        api_key_header: None,
        model: Some("m".into()),
        timeout_secs: None,
        max_retries: None,
        default: false,
        stream: None,
        max_tokens: None,
        anthropic_version: None,
    }
}

#[test]
fn a_written_entry_reads_with_kebab_case_keys_and_defaults() {
    let text = r#"
name = "local"
kind = "openai"
base-url = "http://localhost:11434/v1"
model = "llama3.2"
api-key = "secret:OLLAMA_KEY"
timeout-secs = 30
max-retries = 1
default = true
"#;
    let written: ProviderSettings = toml::from_str(text).unwrap();
    let spec = written.check().unwrap();
    assert_eq!(spec.base_url.as_str(), "http://localhost:11434/v1");
    assert_eq!(
        spec.key,
        KeySource::Secret(SecretRef::parse("secret:OLLAMA_KEY").unwrap())
    );
    assert_eq!(spec.timeout, Duration::from_secs(30));
    assert_eq!(spec.max_retries, 1);
    assert!(spec.default && spec.stream);
    assert_eq!(spec.max_tokens, None);

    let anthropic = entry("claude", ProviderKind::Anthropic).check().unwrap();
    assert_eq!(anthropic.base_url.as_str(), "https://api.anthropic.com/");
    assert_eq!(anthropic.max_tokens, Some(DEFAULT_MAX_TOKENS));
    assert_eq!(anthropic.anthropic_version, DEFAULT_ANTHROPIC_VERSION);
    assert_eq!(anthropic.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));
    assert_eq!(anthropic.max_retries, DEFAULT_MAX_RETRIES);
    assert_eq!(anthropic.key, KeySource::None);
}

#[test]
fn an_unknown_kind_or_key_is_refused_when_read() {
    let error = toml::from_str::<ProviderSettings>("name = \"x\"\nkind = \"gemini\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("gemini") && error.contains("openai"),
        "{error}"
    );
    let error = toml::from_str::<ProviderSettings>(
        "name = \"x\"\nkind = \"openai\"\nbase_url = \"http://a\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("base_url"), "{error}");
}

#[test]
fn every_problem_is_reported_with_its_code() {
    let mut bad_url = entry("a", ProviderKind::Openai);
    bad_url.base_url = Some("localhost:11434".into());
    let mut literal_key = entry("b", ProviderKind::Openai);
    literal_key.api_key = Some("sk-live-abcdef".into());
    let mut two_keys = entry("c", ProviderKind::Openai);
    two_keys.api_key = Some("secret:K".into());
    two_keys.api_key_env = Some("K".into());
    let mut no_model = entry("d", ProviderKind::Anthropic);
    no_model.model = None;
    let mut first_default = entry("e", ProviderKind::Scripted);
    first_default.default = true;
    let mut second_default = entry("f", ProviderKind::Scripted);
    second_default.default = true;
    let duplicate = entry("e", ProviderKind::Scripted);
    let bad_name = entry("has space", ProviderKind::Scripted);
    let mut zero = entry("g", ProviderKind::Openai);
    zero.timeout_secs = Some(0);
    let errors = check_all(&[
        bad_url,
        literal_key,
        two_keys,
        no_model,
        first_default,
        second_default,
        duplicate,
        bad_name,
        zero,
    ])
    .unwrap_err();
    let codes: Vec<_> = errors.iter().map(ErrorCode::code).collect();
    assert_eq!(
        codes,
        [
            "providers.bad_url",
            "providers.bad_key_reference",
            "providers.key_twice",
            "providers.missing_model",
            "providers.two_defaults",
            "providers.duplicate_name",
            "providers.bad_name",
            "providers.zero_timeout",
        ]
    );
    // A literal key is never repeated in the error.
    assert!(errors.iter().all(|e| !e.to_string().contains("sk-live")));
    // A scripted entry needs no model.
    let mut scripted = entry("s", ProviderKind::Scripted);
    scripted.model = None;
    assert!(check_all(&[scripted]).is_ok());
}
