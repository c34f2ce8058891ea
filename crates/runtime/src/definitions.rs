//! Compiled workflow definitions, loaded once per published version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agentwerke_bpmn::{KnownTools, Limits, parse};
use agentwerke_engine::Definition;
use agentwerke_evidence::redact::Redactor;
use agentwerke_store::{Store, WorkflowVersion};
use agentwerke_types::WorkflowStatus;

use crate::Error;

/// Published versions are immutable, so a compiled definition never goes stale
/// and can be cached for the life of the process.
pub struct DefinitionCache {
    store: Arc<dyn Store>,
    compiled: Mutex<HashMap<(String, i64), Arc<Definition>>>,
    /// Published versions as stored, for starting runs on them by number
    /// without a read per run.
    published: Mutex<HashMap<(String, i64), WorkflowVersion>>,
}

impl DefinitionCache {
    /// An empty cache over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            compiled: Mutex::new(HashMap::new()),
            published: Mutex::new(HashMap::new()),
        }
    }

    /// `workflow_id` at `version` with its compiled definition, if that
    /// version is published; read from the store once, since a published
    /// version never changes. A version that is not published (yet) is
    /// read again next time.
    pub async fn published(
        &self,
        workflow_id: &str,
        version: i64,
    ) -> Result<Option<(WorkflowVersion, Arc<Definition>)>, Error> {
        let key = (workflow_id.to_owned(), version);
        let known = lock(&self.published).get(&key).cloned();
        let stored = match known {
            Some(stored) => stored,
            None => match self.store.get_version(workflow_id, version).await? {
                Some(stored) if stored.status == WorkflowStatus::Published => {
                    lock(&self.published).insert(key, stored.clone());
                    stored
                }
                _ => return Ok(None),
            },
        };
        let definition = self.get(workflow_id, version).await?;
        Ok(Some((stored, definition)))
    }

    /// The compiled definition of `workflow_id` at `version`.
    pub async fn get(&self, workflow_id: &str, version: i64) -> Result<Arc<Definition>, Error> {
        let key = (workflow_id.to_owned(), version);
        if let Some(found) = self.lock().get(&key) {
            return Ok(found.clone());
        }
        let stored = self
            .store
            .get_version(workflow_id, version)
            .await?
            .ok_or_else(|| Error::DefinitionMissing {
                workflow_id: workflow_id.to_owned(),
                version,
            })?;
        let definition = Arc::new(compile(stored.bpmn_xml.as_bytes())?);
        self.lock().insert(key, definition.clone());
        Ok(definition)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i64), Arc<Definition>>> {
        lock(&self.compiled)
    }
}

/// A map of the cache, also after a panic elsewhere: entries are only ever
/// inserted whole.
fn lock<T>(map: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    map.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Parses and compiles BPMN for execution.
pub fn compile(xml: &[u8]) -> Result<Definition, Error> {
    let parsed = parse(xml, &Limits::default()).map_err(|e| Error::Definition(e.to_string()))?;
    Definition::from_definitions(&parsed.definitions).map_err(|e| Error::Definition(e.to_string()))
}

/// The verdict on a BPMN document: every finding at once, and the model when
/// the document is executable.
#[derive(Debug)]
pub struct Checked {
    /// The parsed model; `None` when the XML could not be read at all.
    pub definitions: Option<agentwerke_bpmn::Definitions>,
    /// Errors and warnings, in document order within each kind.
    pub diagnostics: Vec<agentwerke_bpmn::Diagnostic>,
}

impl Checked {
    /// True when nothing refuses the workflow.
    pub fn is_executable(&self) -> bool {
        self.definitions.is_some() && !self.diagnostics.iter().any(|d| d.is_error())
    }
}

/// Parses, validates and compiles `xml`, collecting every finding; the one
/// check the API, the CLI and the runtime share. A tool-shaped `action`
/// must be one of `tools` (see [`agentwerke_bpmn::tools`]).
pub fn check(xml: &[u8], limits: &Limits, tools: &KnownTools) -> Checked {
    use agentwerke_bpmn::{Diagnostic, model::Position};
    use agentwerke_types::ErrorCode;

    let (definitions, report) = agentwerke_bpmn::analyse(xml, limits, tools);
    let mut diagnostics = report.diagnostics;
    if let Some(definitions) = &definitions
        && !diagnostics.iter().any(Diagnostic::is_error)
        && let Err(error) = Definition::from_definitions(definitions)
    {
        diagnostics.push(Diagnostic::error(
            error.code(),
            error.to_string(),
            None,
            Position::default(),
        ));
    }
    diagnostics.sort_by_key(|d| std::cmp::Reverse(d.severity));
    Checked {
        definitions,
        diagnostics,
    }
}

/// `xml` as it may be kept: every known secret value and credential shape
/// replaced, and the replaced text read back to prove that it is still the
/// document it was and that what the engine reads from it holds nothing
/// more to redact.
///
/// Redaction works on the text, so it cannot see a value written with XML
/// escapes (`&amp;`, `&#115;k-…`), and a value in an id, a tool name, an
/// expression or a number cannot be replaced without changing what the
/// document means. Either is refused with
/// [`Error::SecretInDocument`](crate::command::Error::SecretInDocument):
/// the stored definition is always exactly the one that runs, never one
/// quietly broken by redaction. A document that does not read either way
/// is returned redacted, for the caller's check to say why.
pub fn redact_document(xml: &str, redactor: &Redactor) -> Result<String, crate::command::Error> {
    let redacted = redact_parts(xml, redactor);
    let limits = Limits {
        max_bytes: Limits::default().max_bytes.max(xml.len()),
        ..Limits::default()
    };
    let read = |text: &str| {
        parse(text.as_bytes(), &limits)
            .ok()
            .filter(|parsed| Definition::from_definitions(&parsed.definitions).is_ok())
    };
    match read(&redacted) {
        Some(parsed) if !holds_more(&parsed.definitions, redactor) => Ok(redacted),
        Some(_) => Err(crate::command::Error::SecretInDocument),
        None if redacted != xml && read(xml).is_some() => {
            Err(crate::command::Error::SecretInDocument)
        }
        None => Ok(redacted),
    }
}

/// `xml` with each run of character data, each comment, CDATA section and
/// processing instruction's content and each quoted attribute value
/// redacted on its own, never across markup: a bare shape such as
/// `password=x` ends where its text ends, not at the next space after the
/// closing tag, so redaction cannot take markup with it.
fn redact_parts(xml: &str, redactor: &Redactor) -> String {
    const SPECIAL: [(&str, &str); 3] = [("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")];
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        out.push_str(&redactor.redact_str(&rest[..open]));
        rest = &rest[open..];
        if let Some((start, end)) = SPECIAL.iter().find(|(start, _)| rest.starts_with(start)) {
            let body = &rest[start.len()..];
            let close = body.find(end).unwrap_or(body.len());
            out.push_str(start);
            out.push_str(&redactor.redact_str(&body[..close]));
            rest = &body[close..];
            continue;
        }
        // A tag: names and `=` as written, quoted values redacted.
        loop {
            let Some(next) = rest.find(['"', '\'', '>']) else {
                // An unclosed tag: what follows is redacted as text.
                out.push_str(&redactor.redact_str(rest));
                rest = "";
                break;
            };
            let mark = char::from(rest.as_bytes()[next]);
            out.push_str(&rest[..=next]);
            rest = &rest[next + 1..];
            if mark == '>' {
                break;
            }
            let close = rest.find(mark).unwrap_or(rest.len());
            out.push_str(&redactor.redact_str(&rest[..close]));
            rest = &rest[close..];
            if let Some(after) = rest.strip_prefix(mark) {
                out.push(mark);
                rest = after;
            }
        }
    }
    out.push_str(&redactor.redact_str(rest));
    out
}

/// Whether any text the engine reads from `definitions` (ids, names,
/// prompts, metadata, expressions) would still change under redaction.
/// Object keys are judged as text only: a message or element id named like
/// a credential (`deploy_token`) is a name, not a value to hide.
fn holds_more(definitions: &agentwerke_bpmn::Definitions, redactor: &Redactor) -> bool {
    fn any(value: &serde_json::Value, redactor: &Redactor) -> bool {
        use serde_json::Value;
        let changes = |text: &str| redactor.redact_str(text) != text;
        match value {
            Value::String(text) => changes(text),
            Value::Array(items) => items.iter().any(|v| any(v, redactor)),
            Value::Object(map) => map.iter().any(|(k, v)| changes(k) || any(v, redactor)),
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
    // The model is plain data and always serializes; if it did not, what
    // it holds could not be judged, so it counts as holding more.
    serde_json::to_value(definitions).map_or(true, |value| any(&value, redactor))
}

#[cfg(test)]
mod tests {
    use agentwerke_store::SqliteStore;
    use agentwerke_types::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::command::{Ctx, ImportWorkflow, PublishWorkflow, global};

    /// A draft is not a version to start on, and is looked up again once
    /// it is published; a published one comes with its definition.
    #[tokio::test]
    async fn only_published_versions_are_handed_out_and_a_draft_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("defs.db").display().to_string();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let cache = DefinitionCache::new(store.clone());
        assert!(cache.published("hello-sdlc", 1).await.unwrap().is_none());
        let ctx = Ctx {
            at: Timestamp::from_millis(0),
            redactor: crate::command::no_secrets(),
        };
        let import = ImportWorkflow {
            workflow_id: "hello-sdlc".to_owned(),
            name: "Hello SDLC".to_owned(),
            bpmn_xml: include_str!("../../../examples/hello-sdlc.bpmn").to_owned(),
            diagnostics: json!([]),
            by: "admin".to_owned(),
        };
        global::import_workflow(store.as_ref(), import, &ctx)
            .await
            .unwrap();
        assert!(cache.published("hello-sdlc", 1).await.unwrap().is_none());
        let publish = PublishWorkflow {
            workflow_id: "hello-sdlc".to_owned(),
            version: 1,
            by: "admin".to_owned(),
        };
        let published = global::publish_workflow(store.as_ref(), publish, &ctx)
            .await
            .unwrap()
            .committed
            .workflow_version()
            .cloned()
            .unwrap();
        let (version, definition) = cache
            .published("hello-sdlc", 1)
            .await
            .unwrap()
            .expect("published now");
        assert_eq!(version, published);
        assert!(Arc::ptr_eq(
            &definition,
            &cache.get("hello-sdlc", 1).await.unwrap()
        ));
        let (again, _) = cache.published("hello-sdlc", 1).await.unwrap().unwrap();
        assert_eq!(again, published);
    }
}
