//! Canonical JSON: one byte sequence per JSON value, so that hashes and
//! signatures survive pretty-printing, key reordering and re-serialisation.
//!
//! The rules follow RFC 8785 (JCS):
//!
//! - no insignificant whitespace;
//! - object members sorted by the UTF-16 code units of their keys (what
//!   JavaScript's default sort does, so a verifier in another language can
//!   reproduce the bytes);
//! - strings escaped minimally: `"` and `\` get a backslash, the control
//!   characters U+0000..U+001F use `\b \t \n \f \r` or `\u00xx` (lowercase
//!   hex), everything else is written as literal UTF-8;
//! - integers (`i64`/`u64`) are written exactly, in decimal. For values beyond
//!   2^53 this is stricter than JCS, which would round them through a double;
//!   evidence never relies on such values;
//! - floats are written the way ECMAScript's `Number.prototype.toString`
//!   writes them (shortest round-trip digits, `1` not `1.0`, `1e+21`,
//!   `1e-7`), which is what JCS specifies. Consequently `1.0` and `1` in a
//!   source document canonicalise to the same bytes. `serde_json::Value`
//!   cannot hold NaN or infinities, so every value has a canonical form.

use std::cmp::Ordering;
use std::fmt::Write;

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

/// The canonical bytes of `value`.
pub fn to_canonical_vec(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_value(&mut out, value);
    out.into_bytes()
}

/// SHA-256 of `value`'s canonical bytes, as lowercase hex.
pub fn digest_value(value: &Value) -> String {
    sha256_hex(&to_canonical_vec(value))
}

/// SHA-256 of `bytes`, as 64 lowercase hex characters.
pub fn sha256_hex(bytes: &[u8]) -> String {
    digest_hex(Sha256::digest(bytes).into())
}

/// A SHA-256 digest as 64 lowercase hex characters. Written into a fixed
/// buffer: every audit record's hash goes through here on the store's one
/// writer thread, where `hex::encode`'s char-by-char collect showed up.
pub fn digest_hex(digest: [u8; 32]) -> String {
    let mut out = [0u8; 64];
    // Cannot fail: the buffer holds exactly twice the digest's length.
    let _ = hex::encode_to_slice(digest, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends the canonical form of `value` to `out`.
pub(crate) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|(a, _), (b, _)| utf16_cmp(a, b));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

/// Orders keys by UTF-16 code units. It differs from Rust's byte order only
/// for characters above U+FFFF against U+E000..U+FFFF, but the difference is
/// exactly what makes JCS portable.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Appends the canonical form of the string `s` to `out`.
///
/// Copies the runs between escapes whole. Every byte that needs escaping is
/// ASCII, so it never splits a multi-byte character.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut copied = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0C => "\\f",
            b'\r' => "\\r",
            0x00..=0x1F => {
                out.push_str(&s[copied..i]);
                let _ = write!(out, "\\u{byte:04x}");
                copied = i + 1;
                continue;
            }
            _ => continue,
        };
        out.push_str(&s[copied..i]);
        out.push_str(escape);
        copied = i + 1;
    }
    out.push_str(&s[copied..]);
    out.push('"');
}

fn write_number(out: &mut String, number: &Number) {
    if let Some(i) = number.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = number.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = number.as_f64() {
        write_float(out, f);
    } else {
        // Only reachable with serde_json's `arbitrary_precision`; keep its
        // textual form rather than invent one.
        out.push_str(&number.to_string());
    }
}

/// ECMAScript `Number::toString` for finite doubles.
fn write_float(out: &mut String, f: f64) {
    if f == 0.0 {
        // Both +0 and -0 print as "0".
        out.push('0');
        return;
    }
    if f < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` yields the shortest round-trip digits: "d.ddde±x".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    // ECMAScript's n: the value is 0.digits × 10^n.
    let n = exponent + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn canon(value: Value) -> String {
        String::from_utf8(to_canonical_vec(&value)).unwrap()
    }

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let value: Value =
            serde_json::from_str(r#"{ "b": 1, "a": [ true, null ], "A": {} }"#).unwrap();
        assert_eq!(canon(value), r#"{"A":{},"a":[true,null],"b":1}"#);
    }

    #[test]
    fn sorts_keys_by_utf16_code_units_not_bytes() {
        // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB01
        // in UTF-16 even though its UTF-8 bytes sort after.
        let value = json!({"\u{FB01}": 1, "\u{1F600}": 2});
        assert_eq!(canon(value), "{\"\u{1F600}\":2,\"\u{FB01}\":1}");
    }

    #[test]
    fn escapes_strings_minimally() {
        let value = json!("q\"b\\n\n t\t c\u{1} e\u{e9} \u{2028} /");
        assert_eq!(
            canon(value),
            "\"q\\\"b\\\\n\\n t\\t c\\u0001 e\u{e9} \u{2028} /\""
        );
    }

    #[test]
    fn writes_numbers_like_jcs() {
        let cases: [(Value, &str); 14] = [
            (json!(0), "0"),
            (json!(-12), "-12"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(1.0), "1"),
            (json!(-0.0), "0"),
            (json!(0.5), "0.5"),
            (json!(0.1 + 0.2), "0.30000000000000004"),
            (json!(123.456), "123.456"),
            (json!(1e21), "1e+21"),
            (json!(1e20), "100000000000000000000"),
            (json!(1.5e-7), "1.5e-7"),
            (json!(0.000001), "0.000001"),
            (json!(-2.5e300), "-2.5e+300"),
            (json!(0.0123), "0.0123"),
        ];
        for (value, expected) in cases {
            assert_eq!(canon(value.clone()), expected, "{value}");
        }
    }

    #[test]
    fn integral_floats_and_integers_canonicalise_alike() {
        let a: Value = serde_json::from_str(r#"{"x": 2.0}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"x": 2}"#).unwrap();
        assert_eq!(to_canonical_vec(&a), to_canonical_vec(&b));
    }

    #[test]
    fn hashes_as_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(digest_value(&json!({})), sha256_hex(b"{}"));
    }
}
