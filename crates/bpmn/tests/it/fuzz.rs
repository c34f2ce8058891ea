//! Property tests: no input makes parsing or validation panic.

use proptest::prelude::*;

use agentwerke_bpmn::{KnownTools, Limits, analyse};

use super::common::fixture;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = analyse(&bytes, &Limits::default(), &KnownTools::default());
    }

    #[test]
    fn mutated_fixture_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)
    ) {
        let mut xml = fixture("good_autofac.bpmn");
        for (at, byte, op) in edits {
            if xml.is_empty() { break; }
            let i = at.index(xml.len());
            match op {
                0 => xml[i] = byte,
                1 => { xml.remove(i); }
                _ => xml.insert(i, byte),
            }
        }
        let _ = analyse(&xml, &Limits::default(), &KnownTools::default());
    }

    #[test]
    fn mutated_text_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), "[<>/=\"'{}a-z:!?&;# ]{0,6}"), 1..6)
    ) {
        let mut xml = String::from_utf8(fixture("good_agentwerke.bpmn")).unwrap();
        for (at, text) in edits {
            let mut i = at.index(xml.len() + 1);
            while !xml.is_char_boundary(i) { i -= 1; }
            xml.insert_str(i, &text);
        }
        let _ = analyse(xml.as_bytes(), &Limits::default(), &KnownTools::default());
    }
}
