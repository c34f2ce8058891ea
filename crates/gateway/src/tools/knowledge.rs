//! `knowledge.search`: lexical search over configured documents.
//!
//! Deliberately simple and deterministic, so a run replays with the same
//! results: words are lowercased alphanumeric runs, each query word scores
//! `(1 + ln tf) × idf` per document (title words count twice), ties break
//! by document id. The index is built once, when the tool is created.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::category::Category;
use crate::error::ToolError;
use crate::tool::{Idempotency, Tool, ToolContext};

/// Results returned when the call does not say.
pub(crate) const DEFAULT_LIMIT: usize = 5;

/// Characters of context on each side of a snippet's first hit.
const SNIPPET_RADIUS: usize = 80;

const STOPWORDS: [&str; 16] = [
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "in", "is", "of", "on", "or", "the",
    "to",
];

/// A document the search covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Stable id, returned with each hit.
    pub id: String,
    /// Title; its words weigh double.
    pub title: String,
    /// Body text.
    pub text: String,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The document's id.
    pub id: String,
    /// The document's title.
    pub title: String,
    /// Relevance, rounded to 4 decimals; higher is better.
    pub score: f64,
    /// Text around the first matching word.
    pub snippet: String,
}

/// `knowledge.search` over a fixed set of documents.
#[derive(Debug)]
pub struct KnowledgeSearch {
    docs: Vec<Indexed>,
    /// Documents containing each term.
    doc_freq: HashMap<String, usize>,
}

#[derive(Debug)]
struct Indexed {
    doc: Document,
    term_freq: HashMap<String, u32>,
}

impl KnowledgeSearch {
    /// Indexes `documents`.
    pub fn new(documents: Vec<Document>) -> Self {
        let mut doc_freq: HashMap<String, usize> = HashMap::new();
        let docs: Vec<Indexed> = documents
            .into_iter()
            .map(|doc| {
                let mut term_freq: HashMap<String, u32> = HashMap::new();
                for (_, term) in words(&doc.title) {
                    *term_freq.entry(term).or_default() += 2;
                }
                for (_, term) in words(&doc.text) {
                    *term_freq.entry(term).or_default() += 1;
                }
                for term in term_freq.keys() {
                    *doc_freq.entry(term.clone()).or_default() += 1;
                }
                Indexed { doc, term_freq }
            })
            .collect();
        Self { docs, doc_freq }
    }

    /// The best `limit` documents for `query`, best first. Documents that
    /// match no query word are not returned.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        let terms: HashSet<String> = words(query).map(|(_, t)| t).collect();
        let n = self.docs.len() as f64;
        let mut hits: Vec<(f64, &Indexed)> = self
            .docs
            .iter()
            .filter_map(|indexed| {
                let score: f64 = terms
                    .iter()
                    .filter_map(|term| {
                        let tf = *indexed.term_freq.get(term)?;
                        let df = *self.doc_freq.get(term)? as f64;
                        Some((1.0 + f64::from(tf).ln()) * (1.0 + n / df).ln())
                    })
                    .sum();
                (score > 0.0).then_some((score, indexed))
            })
            .collect();
        hits.sort_by(|(a, x), (b, y)| b.total_cmp(a).then_with(|| x.doc.id.cmp(&y.doc.id)));
        hits.into_iter()
            .take(limit)
            .map(|(score, indexed)| Hit {
                id: indexed.doc.id.clone(),
                title: indexed.doc.title.clone(),
                score: (score * 10_000.0).round() / 10_000.0,
                snippet: snippet(&indexed.doc.text, &terms),
            })
            .collect()
    }
}

#[async_trait]
impl Tool for KnowledgeSearch {
    fn name(&self) -> &str {
        "knowledge.search"
    }

    fn description(&self) -> &str {
        "Search the configured knowledge documents by keywords. Returns the best matches with a snippet."
    }

    fn category(&self) -> Category {
        Category::Read
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["query"],
            "additionalProperties": false,
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 1000},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50}
            }
        })
    }

    /// A search changes nothing.
    fn idempotency(&self, _args: &Value) -> Idempotency {
        Idempotency::Idempotent
    }

    async fn execute(&self, args: &Value, _ctx: &ToolContext) -> Result<Value, ToolError> {
        let query = args
            .get("query")
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError::InvalidInput("'query' must be a string".to_owned()))?;
        let limit = args
            .get("limit")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_LIMIT, |l| {
                usize::try_from(l).unwrap_or(DEFAULT_LIMIT)
            });
        Ok(json!({"results": self.search(query, limit)}))
    }
}

/// Lowercased alphanumeric words (not stopwords, at least two characters)
/// with their byte offsets in `text`.
fn words(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    let mut start = None;
    let boundaries = text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')));
    boundaries
        .filter_map(move |(i, c)| match (c.is_alphanumeric(), start) {
            (true, None) => {
                start = Some(i);
                None
            }
            (false, Some(s)) => {
                start = None;
                Some((s, &text[s..i]))
            }
            _ => None,
        })
        .filter(|(_, w)| w.chars().nth(1).is_some())
        .map(|(offset, w)| (offset, w.to_lowercase()))
        .filter(|(_, w)| !STOPWORDS.contains(&w.as_str()))
}

fn snippet(text: &str, terms: &HashSet<String>) -> String {
    let hit = words(text)
        .find(|(_, w)| terms.contains(w))
        .map_or(0, |(offset, _)| offset);
    let start = text[..hit]
        .char_indices()
        .rev()
        .nth(SNIPPET_RADIUS - 1)
        .map_or(0, |(i, _)| i);
    let end = text[hit..]
        .char_indices()
        .nth(SNIPPET_RADIUS)
        .map_or(text.len(), |(i, _)| hit + i);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(text[start..end].trim());
    if end < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, title: &str, text: &str) -> Document {
        Document {
            id: id.to_owned(),
            title: title.to_owned(),
            text: text.to_owned(),
        }
    }

    fn corpus() -> KnowledgeSearch {
        KnowledgeSearch::new(vec![
            doc(
                "deploy",
                "Deployment runbook",
                "How to deploy the payments service. Deploy to staging first, then deploy to production.",
            ),
            doc(
                "rotate",
                "Rotating credentials",
                "Credentials are rotated every 90 days. Rotation of the database password needs a deploy.",
            ),
            doc("lunch", "Canteen", "The canteen serves lunch from noon."),
        ])
    }

    #[test]
    fn ranking_follows_term_frequency_and_title_weight() {
        let hits = corpus().search("how do we deploy?", 10);
        let ids: Vec<_> = hits.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["deploy", "rotate"]);
        assert!(hits[0].score > hits[1].score);

        let hits = corpus().search("credentials rotation", 10);
        assert_eq!(hits[0].id, "rotate");
        assert_eq!(hits.len(), 1);
    }

    #[test]
    fn no_match_no_stopwords_and_limit() {
        assert!(corpus().search("kubernetes", 10).is_empty());
        assert!(corpus().search("the of and", 10).is_empty());
        assert_eq!(corpus().search("deploy", 1).len(), 1);
    }

    #[test]
    fn ties_break_by_id_and_snippets_point_at_the_hit() {
        let search = KnowledgeSearch::new(vec![
            doc("b", "x", "alpha"),
            doc("a", "y", "alpha"),
            doc("c", "z", &format!("{} alpha tail", "pad ".repeat(60))),
        ]);
        let hits = search.search("ALPHA", 10);
        let ids: Vec<_> = hits.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(hits[0].snippet, "alpha");
        assert!(hits[2].snippet.starts_with('…'));
        assert!(hits[2].snippet.contains("alpha tail"));
    }

    #[tokio::test]
    async fn tool_returns_results_as_json() {
        let ctx = ToolContext {
            run_id: "r".to_owned(),
            node_id: "n".to_owned(),
            agent: "a".to_owned(),
            attempt: 1,
            call_id: None,
            secrets: crate::InjectedSecrets::none(),
            sandbox: crate::StepSandbox::new(
                crate::SandboxProfile::Offline,
                crate::ExecutionMode::Local,
            ),
        };
        let out = corpus()
            .execute(&json!({"query": "lunch", "limit": 3}), &ctx)
            .await
            .unwrap();
        assert_eq!(
            corpus().idempotency(&json!({"query": "lunch"})),
            crate::tool::Idempotency::Idempotent
        );
        assert_eq!(out["results"][0]["id"], "lunch");
        assert_eq!(out["results"].as_array().unwrap().len(), 1);
    }
}
