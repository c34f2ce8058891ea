//! Bytes to text, and the prolog check that refuses any DOCTYPE.
//!
//! BPMN tools write UTF-8, and a few (the MIWG reference files among them)
//! declare ISO-8859-1. We accept UTF-8 (with or without BOM) and transcode
//! Latin-1 only when the declaration names it and the bytes are not UTF-8
//! already; everything else is refused rather than guessed at.

use std::borrow::Cow;

use super::ParseError;

/// The document as text.
pub(super) fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(ParseError::Encoding(
            "UTF-16 documents are not supported; save the file as UTF-8".to_owned(),
        ));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(Cow::Borrowed(text));
    }
    match declared_encoding(bytes) {
        Some(enc) if is_latin1(&enc) => {
            Ok(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()))
        }
        Some(enc) => Err(ParseError::Encoding(format!(
            "the document declares encoding `{enc}` and is not valid UTF-8; only UTF-8 and ISO-8859-1 are supported"
        ))),
        None => Err(ParseError::Encoding(
            "the document is not valid UTF-8".to_owned(),
        )),
    }
}

fn is_latin1(encoding: &str) -> bool {
    matches!(
        encoding.to_ascii_lowercase().as_str(),
        "iso-8859-1" | "iso_8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1"
    )
}

/// The `encoding` pseudo-attribute of a leading `<?xml ...?>`, if any.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let decl = bytes.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&decl[..end]).ok()?;
    let after = &decl[decl.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &after[1..];
    Some(value[..value.find(quote)?].to_owned())
}

/// Refuses a DOCTYPE anywhere in the prolog. roxmltree already refuses a DTD
/// with an internal subset, but lets `<!DOCTYPE x>` through; we refuse both,
/// since a BPMN file never needs one.
pub(super) fn refuse_doctype(text: &str) -> Result<(), ParseError> {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("<?") {
            rest = after.split_once("?>").map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.split_once("-->").map_or("", |(_, r)| r);
        } else if rest
            .get(..9)
            .is_some_and(|head| head.eq_ignore_ascii_case("<!DOCTYPE"))
        {
            return Err(ParseError::Dtd);
        } else {
            return Ok(());
        }
    }
}
