//! BPMN 2.0 XML to a validated Agentwerke model.
//!
//! Pure: bytes in, model and diagnostics out. No IO, no clock. The engine
//! builds on the [`model`], and the server shows [`Diagnostic`]s to authors
//! exactly as they come out of [`validate`].
//!
//! Reading is forgiving and checking is strict: [`parse`] puts everything it
//! can into the model and returns what it could not as diagnostics;
//! [`validate`] decides whether the executable process can run and reports
//! every problem at once; [`load`] is both, as the gate before publishing.
//!
//! ```
//! use agentwerke_bpmn::{KnownTools, Limits, load};
//! let xml = br#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
//!   <process id="P" isExecutable="true"><task id="T"/></process></definitions>"#;
//! let report = load(xml, &Limits::default(), &KnownTools::default()).unwrap_err();
//! assert!(report.errors().any(|d| d.code == "bpmn.unsupported_element"
//!     && d.element_id.as_deref() == Some("T") && d.line == 2));
//! ```

pub mod condition;
pub mod diagnostic;
pub mod model;
pub mod parse;
pub mod timer;
pub mod tools;
pub mod validate;

pub use diagnostic::{Diagnostic, Severity};
pub use model::Definitions;
pub use parse::{Limits, ParseError, parse};
pub use tools::KnownTools;
pub use validate::{Loaded, Report, analyse, load, validate};
