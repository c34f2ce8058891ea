//! The known secret values of a running server, for redaction on hot paths.
//!
//! Every answer, record and log line passes through redaction, and the set
//! of known values changes while the server runs (a secret is set, rotated
//! or deleted). So the values live in one prebuilt Aho-Corasick automaton
//! behind an [`ArcSwap`]: a read is a lock-free pointer load and one pass
//! over the text whatever the number of secrets, and an update builds a new
//! automaton and swaps it in.
//!
//! Values are only ever added. A rotated-out or deleted value may still sit
//! in a log, a model's context or an old record that is exported later, so
//! it stays redacted for the life of the process.

use std::fmt;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use arc_swap::ArcSwap;
use serde_json::Value;
use zeroize::Zeroizing;

use super::{Known, REDACTED, any_text, is_searchable, redact_changed, redact_value_with};

/// Known secret values plus the credential shapes of [`crate::redact`].
/// Cheap to clone: clones share the values, so an update made through one
/// is seen by all.
#[derive(Clone, Default)]
pub struct Redactor {
    known: Arc<ArcSwap<KnownSet>>,
}

#[derive(Default)]
struct KnownSet {
    /// Sorted, without duplicates; zeroed when a newer set replaces this one.
    values: Vec<Zeroizing<String>>,
    automaton: Option<AhoCorasick>,
}

impl KnownSet {
    fn with(&self, added: &[&str]) -> Option<Self> {
        let mut values: Vec<Zeroizing<String>> = self.values.clone();
        for value in added.iter().filter(|v| is_searchable(v)) {
            if let Err(at) = values.binary_search_by(|v| v.as_str().cmp(value)) {
                values.insert(at, Zeroizing::new((*value).to_owned()));
            }
        }
        if values.len() == self.values.len() {
            return None;
        }
        // Longest first at each position, so a value that contains another
        // is replaced whole.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(values.iter().map(|v| v.as_bytes()))
            .expect("an automaton over a few thousand values builds");
        Some(Self {
            values,
            automaton: Some(automaton),
        })
    }
}

impl Known for KnownSet {
    fn replace(&self, text: &str) -> Option<String> {
        let automaton = self.automaton.as_ref()?;
        let mut matches = automaton.find_iter(text).peekable();
        matches.peek()?;
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for found in matches {
            out.push_str(&text[last..found.start()]);
            out.push_str(REDACTED);
            last = found.end();
        }
        out.push_str(&text[last..]);
        Some(out)
    }
}

impl Redactor {
    /// A redactor knowing `values` (values shorter than
    /// [`super::MIN_SECRET_LEN`] are ignored).
    pub fn new<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Self {
        let redactor = Self::default();
        redactor.add(values);
        redactor
    }

    /// Adds `values` to the known ones, for every clone of this redactor.
    /// A rotation adds the new value; the old one stays known.
    pub fn add<S: AsRef<str>>(&self, values: impl IntoIterator<Item = S>) {
        let values: Vec<S> = values.into_iter().collect();
        let added: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
        if added.is_empty() {
            return;
        }
        self.known.rcu(|current| match current.with(&added) {
            Some(next) => Arc::new(next),
            None => Arc::clone(current),
        });
    }

    /// How many values are known.
    pub fn len(&self) -> usize {
        self.known.load().values.len()
    }

    /// Whether no value is known (shapes are still redacted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `text` with known values and credential shapes replaced.
    pub fn redact_str(&self, text: &str) -> String {
        redact_changed(text, &*self.known.load_full()).unwrap_or_else(|| text.to_owned())
    }

    /// Redacts `value` in place: strings, object keys, and whole values
    /// under secret-looking keys.
    pub fn redact_value(&self, value: &mut Value) {
        redact_value_with(value, &*self.known.load_full());
    }

    /// Whether `text` holds a known value.
    pub fn contains_known(&self, text: &str) -> bool {
        self.known
            .load()
            .automaton
            .as_ref()
            .is_some_and(|a| a.is_match(text))
    }

    /// Whether any string or object key in `value` holds a known value.
    pub fn value_contains_known(&self, value: &Value) -> bool {
        let known = self.known.load();
        let Some(automaton) = known.automaton.as_ref() else {
            return false;
        };
        any_text(value, &mut |text| automaton.is_match(text))
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor(<{} known values hidden>)", self.len())
    }
}
