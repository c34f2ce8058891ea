//! The credential shapes that span more than one token: PEM private-key
//! blocks and passwords inside URLs. Both push byte ranges to replace; every
//! boundary is at an ASCII byte, so at a char boundary.

use std::ops::Range;

use super::REDACTED;

const PEM_BEGIN: &str = "-----BEGIN ";
const PEM_END: &str = "-----END ";
const PEM_DASHES: &str = "-----";
/// No PEM label is longer (`ENCRYPTED PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`).
const MAX_PEM_LABEL: usize = 64;

/// Every PEM private-key block, header to footer. A block without its
/// footer (a key cut off mid-way) is redacted to the end of the text: what
/// is there of it is still key material.
pub(super) fn private_keys(text: &str, ranges: &mut Vec<Range<usize>>) {
    let mut from = 0;
    while let Some(offset) = text[from..].find(PEM_BEGIN) {
        let start = from + offset;
        let after_begin = start + PEM_BEGIN.len();
        match pem_label(text, after_begin) {
            Some((label, header_end)) if label.contains("PRIVATE KEY") => {
                let end = pem_footer_end(text, header_end).unwrap_or(text.len());
                ranges.push(start..end);
                from = end;
            }
            _ => from = after_begin,
        }
    }
}

/// The label after `-----BEGIN ` / `-----END ` and the index after its
/// closing dashes, if the label is short and on one line.
fn pem_label(text: &str, from: usize) -> Option<(&str, usize)> {
    let rest = &text[from..];
    let close = rest.find(PEM_DASHES)?;
    let label = &rest[..close];
    (close <= MAX_PEM_LABEL && !label.contains(['\n', '\r']))
        .then_some((label, from + close + PEM_DASHES.len()))
}

fn pem_footer_end(text: &str, mut from: usize) -> Option<usize> {
    while let Some(offset) = text[from..].find(PEM_END) {
        let after_end = from + offset + PEM_END.len();
        match pem_label(text, after_end) {
            Some((label, end)) if label.contains("PRIVATE KEY") => return Some(end),
            _ => from = after_end,
        }
    }
    None
}

/// The password of every `scheme://user:password@host`: the user and the
/// host stay readable (they say where a call went), the password goes.
pub(super) fn url_passwords(text: &str, ranges: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices("://") {
        let scheme_start = bytes[..at]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || b"+.-".contains(b)))
            .map_or(0, |i| i + 1);
        if at - scheme_start < 2 || !bytes[scheme_start].is_ascii_alphabetic() {
            continue;
        }
        let authority_start = at + 3;
        let authority_end = bytes[authority_start..]
            .iter()
            .position(|b| b.is_ascii_whitespace() || b"/?#\"'<>`\\".contains(b))
            .map_or(bytes.len(), |i| authority_start + i);
        let authority = &text[authority_start..authority_end];
        let Some(user_end) = authority.rfind('@') else {
            continue;
        };
        let Some(colon) = authority[..user_end].find(':') else {
            continue;
        };
        let password = &authority[colon + 1..user_end];
        if !password.is_empty() && password != REDACTED {
            ranges.push(authority_start + colon + 1..authority_start + user_end);
        }
    }
}
