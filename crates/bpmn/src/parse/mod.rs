//! BPMN 2.0 XML to [`Definitions`].
//!
//! Reading is forgiving and checking is strict: everything that can be put in
//! the model is, and problems that the model cannot hold (a bad enum value in
//! an extension, a `default` naming no flow) come back as [`Diagnostic`]s next
//! to it. Whether the model can *run* is [`crate::validate`]'s business.
//!
//! Hostile input is bounded before it costs anything: size first, then
//! encoding, then any DOCTYPE is refused (no entity expansion, no external
//! entities), then roxmltree parses with a node limit, then element depth is
//! checked iteratively before any recursive walk.
//!
//! Elements are matched by namespace URI, never by prefix, so
//! `bpmn:`/`semantic:`/default-namespace files and `agentwerke:`/`autofac:`
//! extensions all read the same.

mod decode;
mod diagram;
mod events;
mod extensions;
mod positions;
mod process;

use std::collections::BTreeMap;
use std::marker::PhantomData;

use roxmltree::{Document, Node, ParsingOptions};

use agentwerke_types::ErrorCode;

use crate::diagnostic::Diagnostic;
use crate::model::{BPMN_MODEL_NS, Definitions, Position};

/// Bounds applied before and while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document accepted, in bytes. Default 5 MiB.
    pub max_bytes: usize,
    /// Deepest element nesting accepted. Default 64: real models (the MIWG
    /// set included) stay under 20, and the walk over subprocesses recurses.
    pub max_depth: usize,
    /// Most XML nodes (elements, text, comments) accepted. Default 250,000.
    pub max_nodes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 5 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 250_000,
        }
    }
}

/// A document that could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Larger than [`Limits::max_bytes`].
    #[error("the document is {size} bytes; the limit is {max}")]
    TooLarge {
        /// Size found.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not UTF-8 and not declared Latin-1.
    #[error("{0}")]
    Encoding(String),
    /// A DOCTYPE or DTD; refused so that entity tricks (billion laughs,
    /// external entities) never reach the parser.
    #[error("DOCTYPE and DTD declarations are not allowed in BPMN documents")]
    Dtd,
    /// More nodes than [`Limits::max_nodes`].
    #[error("the document has more than {max} XML nodes")]
    TooManyNodes {
        /// The limit.
        max: u32,
    },
    /// Elements nest deeper than [`Limits::max_depth`].
    #[error("elements nest deeper than {max} levels (line {line})")]
    TooDeep {
        /// The limit.
        max: usize,
        /// Line of the first element past the limit.
        line: u32,
        /// Its column.
        column: u32,
    },
    /// Not well-formed XML.
    #[error("not well-formed XML at line {line}, column {column}: {message}")]
    InvalidXml {
        /// What the XML parser said.
        message: String,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
    },
    /// Well-formed, but the root is not a BPMN `definitions` element.
    #[error("the root element is `{found}`, not BPMN 2.0 `definitions` ({BPMN_MODEL_NS})")]
    NotBpmn {
        /// The root's name, with its namespace if any.
        found: String,
    },
}

impl ErrorCode for ParseError {
    fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "bpmn.too_large",
            Self::Encoding(_) => "bpmn.invalid_encoding",
            Self::Dtd => "bpmn.dtd_forbidden",
            Self::TooManyNodes { .. } => "bpmn.too_many_nodes",
            Self::TooDeep { .. } => "bpmn.too_deep",
            Self::InvalidXml { .. } => "bpmn.invalid_xml",
            Self::NotBpmn { .. } => "bpmn.not_bpmn",
        }
    }
}

impl ParseError {
    /// The error as a diagnostic, at its line and column when known (1:1
    /// otherwise), so that a report can carry it with everything else.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let position = match self {
            Self::TooDeep { line, column, .. } | Self::InvalidXml { line, column, .. } => {
                Position {
                    line: *line,
                    column: *column,
                }
            }
            _ => Position { line: 1, column: 1 },
        };
        Diagnostic::error(self.code(), self.to_string(), None, position)
    }
}

/// What parsing produced: the model and the problems found while reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The model.
    pub definitions: Definitions,
    /// Problems the model cannot carry: bad or missing extension attributes,
    /// unresolved `default` flows, duplicate ids. Validation adds the rest.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a BPMN document. Errors only when the bytes cannot be read as a
/// BPMN document at all; everything else is a diagnostic in [`Parsed`].
pub fn parse(xml: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    if xml.len() > limits.max_bytes {
        return Err(ParseError::TooLarge {
            size: xml.len(),
            max: limits.max_bytes,
        });
    }
    let text = decode::decode(xml)?;
    decode::refuse_doctype(&text)?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.max_nodes,
        ..ParsingOptions::default()
    };
    let doc =
        Document::parse_with_options(&text, options).map_err(|e| from_xml_error(e, limits))?;
    check_depth(&doc, limits.max_depth)?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(BPMN_MODEL_NS) || root.tag_name().name() != "definitions"
    {
        let found = match root.tag_name().namespace() {
            Some(ns) => format!("{{{ns}}}{}", root.tag_name().name()),
            None => root.tag_name().name().to_owned(),
        };
        return Err(ParseError::NotBpmn { found });
    }
    let mut reader = Reader {
        positions: positions::Positions::new(&doc),
        nodes: PhantomData,
        diagnostics: Vec::new(),
        errors: BTreeMap::new(),
    };
    let definitions = reader.definitions(root);
    Ok(Parsed {
        definitions,
        diagnostics: reader.diagnostics,
    })
}

fn from_xml_error(e: roxmltree::Error, limits: &Limits) -> ParseError {
    match e {
        roxmltree::Error::DtdDetected => ParseError::Dtd,
        roxmltree::Error::NodesLimitReached => ParseError::TooManyNodes {
            max: limits.max_nodes,
        },
        other => {
            let pos = other.pos();
            ParseError::InvalidXml {
                message: other.to_string(),
                line: pos.row,
                column: pos.col,
            }
        }
    }
}

/// Element depth, found in one pass in document order (parents come before
/// their children), without recursion.
fn check_depth(doc: &Document<'_>, max: usize) -> Result<(), ParseError> {
    let mut depth = vec![0usize; doc.descendants().len()];
    for node in doc.descendants() {
        let d = node.parent().map_or(0, |p| {
            depth[p.id().get_usize()] + usize::from(node.is_element())
        });
        depth[node.id().get_usize()] = d;
        if d > max {
            let pos = doc.text_pos_at(node.range().start);
            return Err(ParseError::TooDeep {
                max,
                line: pos.row,
                column: pos.col,
            });
        }
    }
    Ok(())
}

/// State shared by the readers of one document.
struct Reader<'a, 'input> {
    positions: positions::Positions,
    /// The document's nodes the readers hand around.
    nodes: PhantomData<Node<'a, 'input>>,
    diagnostics: Vec<Diagnostic>,
    /// `error` elements by id, with their `errorCode`, for error events.
    errors: BTreeMap<String, Option<String>>,
}

impl<'a, 'input> Reader<'a, 'input> {
    fn position(&self, node: Node<'_, '_>) -> Position {
        self.positions.of(node)
    }

    fn definitions(&mut self, root: Node<'a, 'input>) -> Definitions {
        let mut messages = BTreeMap::new();
        for child in bpmn_children(root) {
            match child.tag_name().name() {
                "message" => {
                    if let Some(id) = child.attribute("id") {
                        messages.insert(id.to_owned(), child.attribute("name").map(str::to_owned));
                    }
                }
                "error" => {
                    if let Some(id) = child.attribute("id") {
                        self.errors.insert(
                            id.to_owned(),
                            child.attribute("errorCode").map(str::to_owned),
                        );
                    }
                }
                _ => {}
            }
        }
        let processes = bpmn_children(root)
            .filter(|c| c.tag_name().name() == "process")
            .map(|p| self.process(p))
            .collect();
        Definitions {
            id: root.attribute("id").map(str::to_owned),
            name: root.attribute("name").map(str::to_owned),
            processes,
            messages,
            errors: self.errors.clone(),
            diagram: diagram::read(root),
        }
    }
}

/// Element children in the BPMN model namespace.
fn bpmn_children<'a, 'input>(node: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(BPMN_MODEL_NS))
}

/// The first BPMN child named `name`.
fn bpmn_child<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    bpmn_children(node).find(|c| c.tag_name().name() == name)
}

/// All text below `node` (CDATA included), trimmed.
fn text_of(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A reference written as an id or a prefixed QName (`tns:Error_1`).
fn local_ref(value: &str) -> &str {
    value.rsplit(':').next().unwrap_or(value).trim()
}
