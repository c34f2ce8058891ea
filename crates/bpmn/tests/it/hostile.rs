//! Hostile input: each is refused with its own code, and nothing panics.

use agentwerke_bpmn::{Limits, ParseError, parse};
use agentwerke_types::ErrorCode;

use super::common::fixture;

fn code(xml: &[u8]) -> &'static str {
    match parse(xml, &Limits::default()) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

const MINIMAL: &str = r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="P"/></definitions>"#;

#[test]
fn billion_laughs() {
    let xml = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol3;</definitions>"#;
    assert_eq!(code(xml.as_bytes()), "bpmn.dtd_forbidden");
}

#[test]
fn external_entity() {
    let xml = r#"<?xml version="1.0"?><!-- hi --><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</definitions>"#;
    assert_eq!(code(xml.as_bytes()), "bpmn.dtd_forbidden");
}

#[test]
fn bare_doctype() {
    let xml = format!("<!DOCTYPE definitions>{MINIMAL}");
    assert_eq!(code(xml.as_bytes()), "bpmn.dtd_forbidden");
}

#[test]
fn undeclared_entity_is_invalid_xml() {
    let xml = MINIMAL.replace("<process id=\"P\"/>", "&xxe;");
    assert_eq!(code(xml.as_bytes()), "bpmn.invalid_xml");
}

#[test]
fn deep_nesting() {
    let depth = 100_000;
    let xml = format!(
        "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">{}{}</definitions>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    // On a small stack, to prove no step recurses per level.
    let result = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || code(xml.as_bytes()))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(result, "bpmn.too_deep");
}

#[test]
fn deep_subprocess_nesting_within_limits_parses() {
    let depth = 30;
    let mut xml = String::from(
        "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"><process id=\"P\" isExecutable=\"true\">",
    );
    for i in 0..depth {
        xml.push_str(&format!("<subProcess id=\"S{i}\">"));
    }
    xml.push_str(&"</subProcess>".repeat(depth));
    xml.push_str("</process></definitions>");
    let parsed = parse(xml.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(parsed.definitions.processes[0].nodes.len(), depth);
}

#[test]
fn oversized() {
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let err = parse(&[b' '; 101], &limits).unwrap_err();
    assert_eq!(
        err,
        ParseError::TooLarge {
            size: 101,
            max: 100
        }
    );
    assert_eq!(err.code(), "bpmn.too_large");
    let big = vec![b' '; Limits::default().max_bytes + 1];
    assert_eq!(code(&big), "bpmn.too_large");
}

#[test]
fn too_many_nodes() {
    let limits = Limits {
        max_nodes: 50,
        ..Limits::default()
    };
    let xml = format!(
        "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">{}</definitions>",
        "<a/>".repeat(100)
    );
    assert_eq!(
        parse(xml.as_bytes(), &limits).unwrap_err().code(),
        "bpmn.too_many_nodes"
    );
}

#[test]
fn binary_garbage() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(code(&garbage), "bpmn.invalid_encoding");
    assert_eq!(code(b"\x00\x01\x02not xml"), "bpmn.invalid_xml");
    assert_eq!(code(b"\xFF\xFE<\x00d\x00"), "bpmn.invalid_encoding");
    assert_eq!(code(b""), "bpmn.invalid_xml");
}

#[test]
fn truncated() {
    let xml = fixture("good_autofac.bpmn");
    for cut in [10, 200, xml.len() / 2, xml.len() - 5] {
        let err = parse(&xml[..cut], &Limits::default()).unwrap_err();
        assert_eq!(err.code(), "bpmn.invalid_xml", "cut at {cut}");
        let d = err.to_diagnostic();
        assert!(d.line >= 1 && d.column >= 1);
    }
}

#[test]
fn not_bpmn() {
    assert_eq!(code(b"<html><body/></html>"), "bpmn.not_bpmn");
    assert_eq!(code(b"<definitions xmlns=\"urn:other\"/>"), "bpmn.not_bpmn");
}

#[test]
fn encodings() {
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(MINIMAL.as_bytes());
    assert_eq!(code(&bom), "ok");
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"><process id=\"P\" name=\"Pr\xFCfung\"/></definitions>";
    let parsed = parse(latin1, &Limits::default()).unwrap();
    assert_eq!(
        parsed.definitions.processes[0].name.as_deref(),
        Some("Pr\u{fc}fung")
    );
    let other = b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" name=\"\x82\xa0\"/>";
    assert_eq!(code(other), "bpmn.invalid_encoding");
}

#[test]
fn every_parse_error_code_is_stable() {
    let codes: Vec<&str> = [
        ParseError::TooLarge { size: 0, max: 0 },
        ParseError::Encoding(String::new()),
        ParseError::Dtd,
        ParseError::TooManyNodes { max: 0 },
        ParseError::TooDeep {
            max: 0,
            line: 1,
            column: 1,
        },
        ParseError::InvalidXml {
            message: String::new(),
            line: 1,
            column: 1,
        },
        ParseError::NotBpmn {
            found: String::new(),
        },
    ]
    .iter()
    .map(ErrorCode::code)
    .collect();
    assert_eq!(
        codes,
        [
            "bpmn.too_large",
            "bpmn.invalid_encoding",
            "bpmn.dtd_forbidden",
            "bpmn.too_many_nodes",
            "bpmn.too_deep",
            "bpmn.invalid_xml",
            "bpmn.not_bpmn",
        ]
    );
}
