//! Redaction of secrets from values before they are persisted or returned.
//!
//! Three layers, applied to every string and object key in a JSON value:
//!
//! 1. **Known secrets.** Values the caller knows are secret (from the secret
//!    store, the model API key ...) are replaced wherever they occur. Values
//!    shorter than [`MIN_SECRET_LEN`] are skipped: a two-letter "secret"
//!    matches everywhere and would shred the evidence without hiding anything.
//!    A [`Redactor`] holds them for a running server (one prebuilt automaton,
//!    updated when a secret is set or rotated); the functions taking
//!    `&[&str]` serve callers with a fixed list.
//! 2. **Token shapes.** Strings that look like credentials are replaced even
//!    when nobody told us about them:
//!    - `Bearer`/`Basic` credentials;
//!    - PEM private keys, the whole block from `-----BEGIN … PRIVATE KEY-----`
//!      to its `-----END … PRIVATE KEY-----` (PKCS#1, PKCS#8, encrypted,
//!      EC, OpenSSH, PGP), or to the end of the text when the end is missing;
//!    - the password of a URL with credentials (`postgres://user:pass@host`,
//!      `mysql://`, `mongodb+srv://`, `redis://`, `amqp://`, any scheme);
//!    - prefixed keys: `sk-...` API keys, AWS access key ids
//!      (`AKIA`/`ASIA` and 16 more), GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`,
//!      `github_pat_`), Google API keys (`AIza` and 35 more), Slack tokens
//!      (`xoxa-`, `xoxb-`, `xoxp-`, `xoxr-`), Stripe keys (`sk_live_`,
//!      `rk_live_`, `sk_test_`, `rk_test_`);
//!    - JWT-looking `eyJ...` triples;
//!    - the value of `password=...`-style assignments (`password`, `passwd`,
//!      `secret`, `token`, `api_key`, `apikey`, `access_key`, `accesskey`,
//!      `accountkey`, `private_key`, followed by `=` or `:`), which covers
//!      `aws_secret_access_key = ...`, `"SecretAccessKey": "..."` and Azure
//!      storage `AccountKey=...;`.
//! 3. **Secret-looking keys.** An object member whose key, lowercased and
//!    without `_`/`-`, ends with `password`, `passwd`, `passphrase`,
//!    `secret`, `secrets`, `token`, `apikey`, `authorization`, `privatekey`,
//!    `accesskey`, `accountkey`, `credential`, `credentials`,
//!    `connectionstring` or `cookie` has its whole (non-null) value
//!    replaced. Matching the end keeps `inputTokens`, `secretName` and
//!    `credentialName` readable.
//!
//! Redaction is idempotent and errs towards hiding: a false positive costs a
//! word of evidence, a false negative leaks a credential into an audit
//! record that is kept for years.

use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use serde_json::Value;

pub use redactor::Redactor;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Known secrets shorter than this are not searched for.
pub const MIN_SECRET_LEN: usize = 4;

const SECRET_KEY_SUFFIXES: [&str; 15] = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "apikey",
    "authorization",
    "privatekey",
    "accesskey",
    "accountkey",
    "credential",
    "credentials",
    "connectionstring",
    "cookie",
];

const ASSIGNMENT_NAMES: [&str; 10] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "accesskey",
    "accountkey",
    "private_key",
];

/// A credential that starts with a fixed prefix: (prefix, allowed body
/// character, minimum body length).
type PrefixedToken = (&'static str, fn(u8) -> bool, usize);

const PREFIXED_TOKENS: [PrefixedToken; 18] = [
    ("sk-", is_key_char, 16),
    ("sk_live_", is_alnum, 16),
    ("rk_live_", is_alnum, 16),
    ("sk_test_", is_alnum, 16),
    ("rk_test_", is_alnum, 16),
    ("AIza", is_key_char, 35),
    ("xoxa-", is_key_char, 10),
    ("xoxb-", is_key_char, 10),
    ("xoxp-", is_key_char, 10),
    ("xoxr-", is_key_char, 10),
    ("AKIA", is_upper_alnum, 16),
    ("ASIA", is_upper_alnum, 16),
    ("ghp_", is_alnum, 20),
    ("gho_", is_alnum, 20),
    ("ghu_", is_alnum, 20),
    ("ghs_", is_alnum, 20),
    ("ghr_", is_alnum, 20),
    ("github_pat_", is_key_char, 20),
];

/// Redacts `value` in place (see the module docs for what is replaced).
pub fn redact_value(value: &mut Value, secrets: &[&str]) {
    redact_value_with(value, &secrets)
}

/// Redacts one string (known secrets and token shapes).
pub fn redact_str(text: &str, secrets: &[&str]) -> String {
    redact_changed(text, &secrets).unwrap_or_else(|| text.to_owned())
}

/// Whether an object key names a secret.
pub fn is_secret_key(key: &str) -> bool {
    let normalized: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEY_SUFFIXES.iter().any(|s| normalized.ends_with(s))
}

/// Whether `text` holds a PEM private key (or the start of one).
pub fn has_private_key(text: &str) -> bool {
    let mut ranges = Vec::new();
    shapes::private_keys(text, &mut ranges);
    !ranges.is_empty()
}

/// Whether any string or object key in `value` holds a PEM private key.
pub fn value_has_private_key(value: &Value) -> bool {
    any_text(value, &mut has_private_key)
}

/// Whether `found` holds for any string or object key in `value`.
pub(crate) fn any_text(value: &Value, found: &mut impl FnMut(&str) -> bool) -> bool {
    match value {
        Value::String(s) => found(s),
        Value::Array(items) => items.iter().any(|v| any_text(v, found)),
        Value::Object(map) => map.iter().any(|(k, v)| found(k) || any_text(v, found)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Secret values to replace, however they are held.
pub(crate) trait Known {
    /// `text` with every known value replaced, or `None` if none occurs.
    fn replace(&self, text: &str) -> Option<String>;
}

impl Known for &[&str] {
    fn replace(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for secret in self.iter().filter(|s| is_searchable(s)) {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(secret) {
                out = Some(current.replace(secret, REDACTED));
            }
        }
        out
    }
}

/// Whether a known value is worth searching for: long enough to mean
/// something, and not part of the marker (which would make redaction grow
/// the text on every pass).
pub(crate) fn is_searchable(secret: &str) -> bool {
    secret.len() >= MIN_SECRET_LEN && !REDACTED.contains(secret)
}

pub(crate) fn redact_value_with(value: &mut Value, known: &dyn Known) {
    match value {
        Value::String(s) => {
            if let Some(redacted) = redact_changed(s, known) {
                *s = redacted;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value_with(v, known)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                if is_secret_key(&key) && !v.is_null() {
                    v = Value::String(REDACTED.to_owned());
                } else {
                    redact_value_with(&mut v, known);
                }
                let key = redact_changed(&key, known).unwrap_or(key);
                map.insert(key, v);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

pub(crate) fn redact_changed(text: &str, known: &dyn Known) -> Option<String> {
    let replaced = known.replace(text);
    let out = replaced.as_deref().unwrap_or(text);
    let ranges = token_ranges(out);
    if ranges.is_empty() {
        return replaced;
    }
    let mut redacted = String::with_capacity(out.len());
    let mut last = 0;
    for range in ranges {
        redacted.push_str(&out[last..range.start]);
        redacted.push_str(REDACTED);
        last = range.end;
    }
    redacted.push_str(&out[last..]);
    (redacted != text).then_some(redacted)
}

/// The case-sensitive shapes, found in one pass: the prefixes of
/// [`PREFIXED_TOKENS`] by index, then `eyJ` (a JWT's header).
static CASED: LazyLock<AhoCorasick> = LazyLock::new(|| {
    let patterns = PREFIXED_TOKENS
        .iter()
        .map(|(prefix, ..)| *prefix)
        .chain(["eyJ"]);
    AhoCorasick::new(patterns).expect("fixed patterns build")
});

/// The case-insensitive shapes, found in one pass: the two schemes, then
/// [`ASSIGNMENT_NAMES`] by index.
static FOLDED: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(SCHEMES.iter().chain(&ASSIGNMENT_NAMES))
        .expect("fixed patterns build")
});

const SCHEMES: [&str; 2] = ["bearer", "basic"];

/// Byte ranges to replace, sorted and merged. All matched bytes are ASCII,
/// so every range boundary is a char boundary.
fn token_ranges(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    shapes::private_keys(text, &mut ranges);
    shapes::url_passwords(text, &mut ranges);
    for found in CASED.find_overlapping_iter(text) {
        let start = found.start();
        match PREFIXED_TOKENS.get(found.pattern().as_usize()) {
            Some((prefix, allowed, min)) => {
                if at_word_start(bytes, start) {
                    let end = run_end(bytes, start + prefix.len(), allowed);
                    if end - start - prefix.len() >= *min {
                        ranges.push(start..end);
                    }
                }
            }
            None => {
                if at_word_start(bytes, start)
                    && let Some(end) = jwt_end(bytes, start)
                {
                    ranges.push(start..end);
                }
            }
        }
    }
    for found in FOLDED.find_overlapping_iter(text) {
        let (start, after) = (found.start(), found.end());
        if found.pattern().as_usize() < SCHEMES.len() {
            let value_start = skip(bytes, after, |b| b == b' ');
            if at_word_start(bytes, start) && value_start > after {
                let end = run_end(bytes, value_start, is_credential_char);
                if end - value_start >= 8 {
                    ranges.push(value_start..end);
                }
            }
        } else if let Some(value) = assignment_value(bytes, after) {
            ranges.push(value);
        }
    }
    merge(ranges)
}

/// After a name: optional closing quote, spaces, `=` or `:`, spaces, then
/// a quoted value (up to the closing quote) or a bare one (up to a
/// separator).
fn assignment_value(bytes: &[u8], mut i: usize) -> Option<Range<usize>> {
    if matches!(bytes.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    i = skip(bytes, i, |b| b == b' ');
    if !matches!(bytes.get(i), Some(b'=' | b':')) {
        return None;
    }
    i = skip(bytes, i + 1, |b| b == b' ');
    let (start, end) = match bytes.get(i) {
        Some(&quote @ (b'"' | b'\'')) => (i + 1, run_end(bytes, i + 1, |b| b != quote)),
        Some(_) => (
            i,
            run_end(bytes, i, |b| {
                !b.is_ascii_whitespace() && !b"&;,\"')}]".contains(&b)
            }),
        ),
        None => return None,
    };
    let already = bytes[start..].starts_with(REDACTED.as_bytes());
    (end > start && !already).then_some(start..end)
}

/// `eyJ<b64url>.<b64url>.<b64url>`; the signature part may be empty.
fn jwt_end(bytes: &[u8], start: usize) -> Option<usize> {
    let header_end = run_end(bytes, start, is_b64url);
    if header_end - start < 10 || bytes.get(header_end) != Some(&b'.') {
        return None;
    }
    let payload_end = run_end(bytes, header_end + 1, is_b64url);
    if payload_end == header_end + 1 || bytes.get(payload_end) != Some(&b'.') {
        return None;
    }
    Some(run_end(bytes, payload_end + 1, is_b64url))
}

fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

fn at_word_start(bytes: &[u8], i: usize) -> bool {
    i == 0 || !is_key_char(bytes[i - 1])
}

fn run_end(bytes: &[u8], from: usize, allowed: impl Fn(u8) -> bool) -> usize {
    from + bytes
        .get(from..)
        .map_or(0, |rest| rest.iter().take_while(|b| allowed(**b)).count())
}

fn skip(bytes: &[u8], from: usize, allowed: impl Fn(u8) -> bool) -> usize {
    run_end(bytes, from, allowed)
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn is_b64url(b: u8) -> bool {
    is_key_char(b) || b == b'='
}

fn is_credential_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

#[path = "redact_shapes.rs"]
mod shapes;

#[path = "redactor.rs"]
mod redactor;

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
