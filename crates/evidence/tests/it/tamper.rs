//! Changing any single byte of a signed pack is detected and named.
//!
//! For each altered file there are three possibilities:
//! - it is no longer JSON: the report must locate the syntax error;
//! - it parses to the same value (a whitespace byte became another
//!   whitespace byte): the meaning is unchanged, so it must still verify;
//! - it parses to a different value: it must fail, and some problem must
//!   name each top-level key whose value changed.

use agentwerke_evidence::{Problem, verify};
use proptest::prelude::*;
use serde_json::Value;

use crate::fixture::{key, signed_value};

fn changed_top_level_keys(original: &Value, altered: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (original.as_object(), altered.as_object()) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    keys
}

fn assert_detected(original: &Value, altered: &[u8], position: usize) {
    let report = verify(altered, Some(&key().verifying_key()));
    let shown = || {
        String::from_utf8_lossy(
            &altered[position.saturating_sub(30)..(position + 30).min(altered.len())],
        )
        .into_owned()
    };
    match serde_json::from_slice::<Value>(altered) {
        Err(_) => assert!(
            matches!(report.problems[..], [Problem::MalformedJson { .. }]),
            "at {position} ({}): {:?}",
            shown(),
            report.problems
        ),
        Ok(value) if value == *original => {
            assert!(
                report.is_valid(),
                "at {position} ({}): {:?}",
                shown(),
                report.problems
            );
        }
        Ok(value) => {
            assert!(
                !report.is_valid(),
                "undetected change at {position}: {}",
                shown()
            );
            let messages: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
            for key in changed_top_level_keys(original, &value) {
                assert!(
                    messages.iter().any(|m| m.contains(&key)),
                    "change of '{key}' at {position} ({}) not named: {messages:?}",
                    shown()
                );
            }
        }
    }
}

/// Flips the lowest bit of bytes `offset, offset + stride, ...`.
fn sweep(offset: usize, stride: usize) {
    let original = signed_value();
    let bytes = serde_json::to_vec_pretty(&original).unwrap();
    for position in (offset..bytes.len()).step_by(stride) {
        let mut altered = bytes.clone();
        // Flipping the lowest bit turns digits into digits, letters into
        // letters and quotes or brackets into other punctuation.
        altered[position] ^= 0x01;
        assert_detected(&original, &altered, position);
    }
}

/// Every byte of the ~9 KB pack (the workspace builds the signature and hash
/// crates optimised even in debug, which keeps this to seconds).
#[test]
fn every_single_byte_change_is_detected_and_named() {
    sweep(0, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_byte_anywhere_is_detected_and_named(fraction in 0.0f64..1.0, byte in any::<u8>()) {
        let original = signed_value();
        let bytes = serde_json::to_vec_pretty(&original).unwrap();
        let position = ((bytes.len() as f64) * fraction) as usize;
        prop_assume!(bytes[position] != byte);
        let mut altered = bytes;
        altered[position] = byte;
        assert_detected(&original, &altered, position);
    }
}
