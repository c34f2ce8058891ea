//! Whole-document checks: can this process run, and what looks wrong?
//!
//! [`validate`] reports every problem at once, each with a stable code, the
//! element id, its line and column, and a sentence. Only the executable
//! process is checked for execution; other processes (pools drawn for
//! documentation) are named but never produce errors by themselves.
//!
//! [`analyse`] runs parsing and validation together and merges their
//! findings; [`load`] is the gate the server uses before publishing.
//!
//! ```
//! use agentwerke_bpmn::{KnownTools, Limits, validate::load};
//! let xml = br#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
//!   <process id="P" isExecutable="true">
//!     <startEvent id="S"/><endEvent id="E"/>
//!     <sequenceFlow id="F" sourceRef="S" targetRef="E"/>
//!   </process></definitions>"#;
//! let loaded = load(xml, &Limits::default(), &KnownTools::default()).unwrap();
//! assert_eq!(loaded.definitions.processes[0].nodes.len(), 2);
//! ```

mod graph;
mod nodes;

use std::collections::HashSet;

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Severity};
use crate::model::{Definitions, Position, Process};
use crate::parse::{Limits, parse};
use crate::tools::KnownTools;

/// Every code a [`Diagnostic`] from this crate can carry. Codes are part of
/// the API: never rename one, add new ones at the end of their group.
pub const CODES: &[&str] = &[
    // Documents that cannot be read (from `ParseError`).
    "bpmn.too_large",
    "bpmn.invalid_encoding",
    "bpmn.dtd_forbidden",
    "bpmn.too_many_nodes",
    "bpmn.too_deep",
    "bpmn.invalid_xml",
    "bpmn.not_bpmn",
    // Errors found while reading.
    "bpmn.duplicate_id",
    "bpmn.unknown_default_flow",
    "bpmn.missing_attribute",
    "bpmn.invalid_attribute",
    "bpmn.invalid_expiry",
    "bpmn.invalid_budget",
    // Errors found by validation.
    "bpmn.no_executable_process",
    "bpmn.missing_id",
    "bpmn.missing_start_event",
    "bpmn.multiple_start_events",
    "bpmn.start_event_incoming",
    "bpmn.unreachable_node",
    "bpmn.unknown_flow_ref",
    "bpmn.flow_crosses_subprocess",
    "bpmn.missing_agent_task",
    "bpmn.missing_approval_task",
    "bpmn.missing_external_event",
    "bpmn.condition_syntax",
    "bpmn.condition_too_long",
    "bpmn.condition_too_complex",
    "bpmn.invalid_timer",
    "bpmn.ambiguous_gateway",
    "bpmn.invalid_default_flow",
    "bpmn.unsupported_element",
    "bpmn.invalid_boundary_attachment",
    "bpmn.boundary_incoming",
    "bpmn.end_event_outgoing",
    "bpmn.unknown_tool",
    // Warnings found while reading.
    "bpmn.unknown_attribute",
    "bpmn.unknown_extension",
    "bpmn.misplaced_extension",
    "bpmn.duplicate_extension",
    "bpmn.unresolved_ref",
    "bpmn.ambiguous_timer",
    // Warnings found by validation.
    "bpmn.multiple_executable_processes",
    "bpmn.dead_end",
    "bpmn.ignored_condition",
    "bpmn.pointless_gateway",
    "bpmn.conditional_default",
    "bpmn.no_default_flow",
    "bpmn.unnamed_task",
    "bpmn.unknown_tool_pattern",
];

/// All findings about a document.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Errors and warnings, ordered by line, then column.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// True when there is no error (warnings allowed).
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// True if some finding has this code.
    pub fn has(&self, code: &str) -> bool {
        self.diagnostics.iter().any(|d| d.code == code)
    }

    fn sort(&mut self) {
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
    }
}

/// A document that passed: its model, and the warnings it still has.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The model; its first executable process is the one to run.
    pub definitions: Definitions,
    /// Warnings only.
    pub report: Report,
}

/// Checks a parsed model for execution, tool names against `tools`. Does
/// not repeat what the parser reports (use [`analyse`] for both).
pub fn validate(defs: &Definitions, tools: &KnownTools) -> Report {
    let mut out = Vec::new();
    let executable: Vec<&Process> = defs.processes.iter().filter(|p| p.is_executable).collect();
    match executable.as_slice() {
        [] => {
            let found = if defs.processes.is_empty() {
                "the document has no process".to_owned()
            } else {
                let names: Vec<String> = defs
                    .processes
                    .iter()
                    .map(|p| match &p.name {
                        Some(n) => format!("`{}` ({n})", p.id),
                        None => format!("`{}`", p.id),
                    })
                    .collect();
                format!("processes found: {}", names.join(", "))
            };
            let position = defs
                .processes
                .first()
                .map_or(Position { line: 1, column: 1 }, |p| p.position);
            out.push(Diagnostic::error(
                "bpmn.no_executable_process",
                format!("no process is marked isExecutable=\"true\"; {found}"),
                defs.processes.first().map(|p| p.id.as_str()),
                position,
            ));
            for process in &defs.processes {
                nodes::check_subset(process, &mut out);
            }
        }
        [first, rest @ ..] => {
            for other in rest {
                out.push(Diagnostic::warning(
                    "bpmn.multiple_executable_processes",
                    format!(
                        "process `{}` is also marked executable, but only the first executable process (`{}`) runs",
                        other.id, first.id
                    ),
                    Some(&other.id),
                    other.position,
                ));
            }
            nodes::check(defs, first, tools, &mut out);
            graph::check(first, &mut out);
        }
    }
    let mut report = Report { diagnostics: out };
    report.sort();
    report
}

/// Parses and validates, merging all findings. The model is `None` only when
/// the bytes could not be read as BPMN at all; the report then holds that one
/// error. Where the parser already reported a broken extension on an
/// element, validation does not add "extension missing" for it too.
pub fn analyse(xml: &[u8], limits: &Limits, tools: &KnownTools) -> (Option<Definitions>, Report) {
    let parsed = match parse(xml, limits) {
        Ok(parsed) => parsed,
        Err(e) => {
            return (
                None,
                Report {
                    diagnostics: vec![e.to_diagnostic()],
                },
            );
        }
    };
    let mut diagnostics = parsed.diagnostics;
    let broken: HashSet<Option<String>> = diagnostics
        .iter()
        .filter(|d| {
            matches!(
                d.code,
                "bpmn.missing_attribute"
                    | "bpmn.invalid_attribute"
                    | "bpmn.invalid_expiry"
                    | "bpmn.invalid_budget"
            )
        })
        .map(|d| d.element_id.clone())
        .collect();
    let validated = validate(&parsed.definitions, tools);
    diagnostics.extend(validated.diagnostics.into_iter().filter(|d| {
        let missing_ext = matches!(
            d.code,
            "bpmn.missing_agent_task"
                | "bpmn.missing_approval_task"
                | "bpmn.missing_external_event"
        );
        !(missing_ext && broken.contains(&d.element_id))
    }));
    let mut report = Report { diagnostics };
    report.sort();
    (Some(parsed.definitions), report)
}

/// Parses and validates; `Err` with every finding if there is any error,
/// `Ok` with the model and its warnings otherwise.
pub fn load(xml: &[u8], limits: &Limits, tools: &KnownTools) -> Result<Loaded, Report> {
    match analyse(xml, limits, tools) {
        (Some(definitions), report) if report.is_ok() => Ok(Loaded {
            definitions,
            report,
        }),
        (_, report) => Err(report),
    }
}
