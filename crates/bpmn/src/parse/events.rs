//! Event definitions inside event elements.

use roxmltree::Node;

use crate::diagnostic::Diagnostic;
use crate::model::EventTrigger;
use crate::timer::{TimerKind, TimerSpec};

use super::{Reader, bpmn_children, local_ref, text_of};

impl<'a, 'input> Reader<'a, 'input> {
    /// The trigger of an event: its single event definition, `None` without
    /// one, `Other` for kinds we do not run or for more than one definition.
    pub(super) fn trigger(&mut self, event: Node<'a, 'input>) -> EventTrigger {
        let definitions: Vec<Node<'a, 'input>> = bpmn_children(event)
            .filter(|c| {
                let name = c.tag_name().name();
                name.ends_with("EventDefinition") || name == "eventDefinitionRef"
            })
            .collect();
        let [definition] = definitions.as_slice() else {
            return if definitions.is_empty() {
                EventTrigger::None
            } else {
                EventTrigger::Other {
                    definitions: definitions
                        .iter()
                        .map(|d| d.tag_name().name().to_owned())
                        .collect(),
                }
            };
        };
        let definition = *definition;
        match definition.tag_name().name() {
            "terminateEventDefinition" => EventTrigger::Terminate,
            "errorEventDefinition" => EventTrigger::Error {
                error_code: self.error_code(event, definition),
            },
            "messageEventDefinition" => EventTrigger::Message {
                message_ref: definition
                    .attribute("messageRef")
                    .map(|r| local_ref(r).to_owned()),
            },
            "timerEventDefinition" => EventTrigger::Timer(self.timer(event, definition)),
            other => EventTrigger::Other {
                definitions: vec![other.to_owned()],
            },
        }
    }

    fn error_code(&mut self, event: Node<'_, '_>, definition: Node<'_, '_>) -> Option<String> {
        let error_ref = local_ref(definition.attribute("errorRef")?);
        match self.errors.get(error_ref) {
            Some(code) => code.clone(),
            None => {
                let id = event.attribute("id");
                self.diagnostics.push(Diagnostic::warning(
                    "bpmn.unresolved_ref",
                    format!("errorRef `{error_ref}` names no `error` element; the event matches any error"),
                    id,
                    self.position(definition),
                ));
                None
            }
        }
    }

    /// The timer's expression. With no `timeDuration`/`timeDate`/`timeCycle`
    /// the expression is empty, which validation reports.
    fn timer(&mut self, event: Node<'_, '_>, definition: Node<'_, '_>) -> TimerSpec {
        let mut found = bpmn_children(definition).filter_map(|c| {
            let kind = match c.tag_name().name() {
                "timeDuration" => TimerKind::Duration,
                "timeDate" => TimerKind::Date,
                "timeCycle" => TimerKind::Cycle,
                _ => return None,
            };
            Some((kind, c))
        });
        let first = found.next();
        if found.next().is_some() {
            self.diagnostics.push(Diagnostic::warning(
                "bpmn.ambiguous_timer",
                "the timer has more than one of timeDuration, timeDate and timeCycle; the first is used",
                event.attribute("id"),
                self.position(definition),
            ));
        }
        match first {
            Some((kind, node)) => TimerSpec {
                kind,
                expression: text_of(node),
                position: self.position(node),
            },
            None => TimerSpec {
                kind: TimerKind::Duration,
                expression: String::new(),
                position: self.position(definition),
            },
        }
    }
}
