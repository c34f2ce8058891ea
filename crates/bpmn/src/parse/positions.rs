//! Line and column of every node, found in one pass over the text.
//!
//! `roxmltree::Document::text_pos_at` counts lines from the start of the
//! document on every call. Asked once per element, that made reading a
//! document quadratic in its size (a 20,000-task chain took minutes), so the
//! reader asks this table instead.

use roxmltree::{Document, Node};

use crate::model::Position;

/// Where each node of one document starts, indexed by node id.
pub(super) struct Positions(Vec<Position>);

impl Positions {
    /// Walks the text once, in order of node start, counting lines and
    /// columns the way roxmltree does: lines at `\n`, columns in characters.
    pub(super) fn new(doc: &Document<'_>) -> Self {
        let mut starts: Vec<(usize, usize)> = doc
            .descendants()
            .map(|n| (n.range().start, n.id().get_usize()))
            .collect();
        starts.sort_unstable();
        let len = starts.iter().map(|(_, id)| id + 1).max().unwrap_or(0);
        let mut table = vec![Position { line: 1, column: 1 }; len];
        let bytes = doc.input_text().as_bytes();
        let (mut at, mut line, mut column) = (0usize, 1u32, 1u32);
        for (start, id) in starts {
            let end = start.min(bytes.len());
            for &b in &bytes[at..end.max(at)] {
                if b == b'\n' {
                    line += 1;
                    column = 1;
                } else if b & 0xC0 != 0x80 {
                    // Not a UTF-8 continuation byte: a new character.
                    column += 1;
                }
            }
            at = at.max(end);
            table[id] = Position { line, column };
        }
        Self(table)
    }

    /// Where `node` starts.
    pub(super) fn of(&self, node: Node<'_, '_>) -> Position {
        self.0
            .get(node.id().get_usize())
            .copied()
            .unwrap_or(Position { line: 1, column: 1 })
    }
}
