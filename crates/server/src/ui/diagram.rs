//! A run's BPMN diagram as inline SVG, from the workflow's own BPMNDI.
//!
//! Pure: the parsed document and each node's state in, shapes and edges to
//! draw out. Every node the run's tokens passed has a state, events and
//! gateways included (the run view's `nodes`), and so has every node the
//! run can no longer reach (`skipped`); a node without one is not reached
//! yet. Each shape says its state in words too (an accessible name and a
//! tooltip), not only by its colour.

use std::collections::BTreeMap;

use agentwerke_bpmn::Definitions;
use agentwerke_bpmn::model::{Bounds, NodeKind};
use agentwerke_types::NodeState;

use crate::routes::node_views::NodeView;

/// Each node's state, by node id, from the run view's `nodes`.
pub(crate) fn node_states(nodes: &[NodeView]) -> BTreeMap<String, NodeState> {
    nodes
        .iter()
        .map(|node| (node.node_id.clone(), node.state))
        .collect()
}

/// The drawing: its view box and what to draw, in drawing order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Drawing {
    /// `min-x min-y width height`.
    pub(crate) view_box: String,
    /// The natural size, so a small process is not blown up to the page's
    /// width (CSS still shrinks a wide one to fit).
    pub(crate) width: String,
    pub(crate) height: String,
    /// Sequence flows, drawn first (under the shapes).
    pub(crate) edges: Vec<EdgeView>,
    /// Flow nodes.
    pub(crate) shapes: Vec<ShapeView>,
}

/// One sequence flow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EdgeView {
    /// `x,y x,y ...`.
    pub(crate) points: String,
}

/// How a shape is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Figure {
    /// A circle (events); `end` draws it thick.
    Event {
        /// An end event.
        end: bool,
    },
    /// A diamond (gateways).
    Gateway,
    /// A rounded rectangle (tasks, subprocesses, anything else).
    Activity,
}

/// One flow node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapeView {
    /// The BPMN id.
    pub(crate) id: String,
    /// Its name, else its id.
    pub(crate) label: String,
    /// How it is drawn.
    pub(crate) figure: Figure,
    /// What kind of node it is, in words (`start event`, `exclusive
    /// gateway`, `task` ...).
    pub(crate) kind: &'static str,
    /// Its state; `None` while no token reached it and one still may.
    pub(crate) state: Option<NodeState>,
    /// Left, top, width, height.
    pub(crate) x: String,
    pub(crate) y: String,
    pub(crate) width: String,
    pub(crate) height: String,
    /// Centre and radius, for events.
    pub(crate) cx: String,
    pub(crate) cy: String,
    pub(crate) r: String,
    /// The diamond's corners, for gateways.
    pub(crate) diamond: String,
    /// The label's centre line.
    pub(crate) label_x: String,
    /// The label, wrapped: inside an activity, under anything else.
    pub(crate) lines: Vec<LabelLine>,
}

/// One line of a label.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LabelLine {
    /// Its baseline.
    pub(crate) y: String,
    /// Its words.
    pub(crate) text: String,
}

/// The average width of a label character at the stylesheet's 12px, and
/// the distance between label lines.
const CHAR_WIDTH: f64 = 6.5;
const LINE_HEIGHT: f64 = 14.0;

/// Breaks `label` into lines of at most `room` pixels (a word longer than
/// a line gets a line of its own).
fn wrap(label: &str, room: f64) -> Vec<String> {
    let per_line = ((room / CHAR_WIDTH).floor() as usize).max(4);
    let mut lines: Vec<String> = Vec::new();
    for word in label.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= per_line => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

impl ShapeView {
    /// The state's class, or `pending` (not reached yet).
    pub(crate) fn state_class(&self) -> &'static str {
        self.state.map_or("pending", NodeState::as_str)
    }

    /// The state in words, as the shape's accessible name and tooltip say
    /// it.
    pub(crate) fn state_words(&self) -> &'static str {
        self.state.map_or("not reached yet", NodeState::as_str)
    }

    /// Whether it is drawn as an event.
    pub(crate) fn is_event(&self) -> bool {
        matches!(self.figure, Figure::Event { .. })
    }

    /// Whether it is drawn as an end event.
    pub(crate) fn is_end(&self) -> bool {
        matches!(self.figure, Figure::Event { end: true })
    }

    /// Whether it is drawn as a gateway.
    pub(crate) fn is_gateway(&self) -> bool {
        self.figure == Figure::Gateway
    }
}

/// Room around the drawing, and under shapes for their labels.
const MARGIN: f64 = 24.0;

/// The drawing of `defs`'s BPMNDI with `states`; `None` when the document
/// has no diagram to draw.
pub(crate) fn draw(defs: &Definitions, states: &BTreeMap<String, NodeState>) -> Option<Drawing> {
    if defs.diagram.shapes.is_empty() {
        return None;
    }
    let nodes: BTreeMap<&str, (&NodeKind, Option<&str>)> = defs
        .processes
        .iter()
        .flat_map(|p| p.nodes.iter())
        .map(|n| (n.id.as_str(), (&n.kind, n.name.as_deref())))
        .collect();
    let (mut min_x, mut min_y) = (f64::INFINITY, f64::INFINITY);
    let (mut max_x, mut max_y) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let mut grow = |x: f64, y: f64| {
        min_x = min_x.min(x);
        min_y = min_y.min(y);
        max_x = max_x.max(x);
        max_y = max_y.max(y);
    };
    let mut shapes = Vec::new();
    for shape in &defs.diagram.shapes {
        // Only flow nodes: pools, lanes and annotations are not drawn.
        let Some((kind, name)) = nodes.get(shape.element_id.as_str()) else {
            continue;
        };
        let b = shape.bounds;
        grow(b.x, b.y);
        grow(b.x + b.width, b.y + b.height + MARGIN);
        shapes.push(shape_view(&shape.element_id, kind, *name, b, states));
    }
    let mut edges = Vec::new();
    for edge in &defs.diagram.edges {
        if edge.waypoints.len() < 2 {
            continue;
        }
        for p in &edge.waypoints {
            grow(p.x, p.y);
        }
        let points = edge
            .waypoints
            .iter()
            .map(|p| format!("{},{}", num(p.x), num(p.y)))
            .collect::<Vec<_>>()
            .join(" ");
        edges.push(EdgeView { points });
    }
    if shapes.is_empty() {
        return None;
    }
    let (width, height) = (
        num(max_x - min_x + 2.0 * MARGIN),
        num(max_y - min_y + 2.0 * MARGIN),
    );
    Some(Drawing {
        view_box: format!(
            "{} {} {width} {height}",
            num(min_x - MARGIN),
            num(min_y - MARGIN)
        ),
        width,
        height,
        edges,
        shapes,
    })
}

fn shape_view(
    id: &str,
    kind: &NodeKind,
    name: Option<&str>,
    b: Bounds,
    states: &BTreeMap<String, NodeState>,
) -> ShapeView {
    let figure = match kind {
        NodeKind::StartEvent { .. }
        | NodeKind::IntermediateCatchEvent { .. }
        | NodeKind::IntermediateThrowEvent { .. }
        | NodeKind::BoundaryEvent { .. } => Figure::Event { end: false },
        NodeKind::EndEvent { .. } => Figure::Event { end: true },
        NodeKind::ExclusiveGateway { .. }
        | NodeKind::ParallelGateway
        | NodeKind::InclusiveGateway { .. } => Figure::Gateway,
        NodeKind::AgentTask { .. }
        | NodeKind::UserTask { .. }
        | NodeKind::ReceiveTask { .. }
        | NodeKind::SubProcess
        | NodeKind::Unsupported { .. } => Figure::Activity,
    };
    let kind_words = match kind {
        NodeKind::StartEvent { .. } => "start event",
        NodeKind::IntermediateCatchEvent { .. } => "intermediate catch event",
        NodeKind::IntermediateThrowEvent { .. } => "intermediate throw event",
        NodeKind::BoundaryEvent { .. } => "boundary event",
        NodeKind::EndEvent { .. } => "end event",
        NodeKind::ExclusiveGateway { .. } => "exclusive gateway",
        NodeKind::ParallelGateway => "parallel gateway",
        NodeKind::InclusiveGateway { .. } => "inclusive gateway",
        NodeKind::AgentTask { .. } => "agent task",
        NodeKind::UserTask { .. } => "approval task",
        NodeKind::ReceiveTask { .. } => "receive task",
        NodeKind::SubProcess => "subprocess",
        NodeKind::Unsupported { .. } => "activity",
    };
    let (cx, cy) = (b.x + b.width / 2.0, b.y + b.height / 2.0);
    let label = name.unwrap_or(id).to_owned();
    let (wrapped, first_y) = match figure {
        Figure::Activity => {
            let wrapped = wrap(&label, b.width - 8.0);
            let first = cy + 4.0 - (wrapped.len().saturating_sub(1) as f64) * LINE_HEIGHT / 2.0;
            (wrapped, first)
        }
        Figure::Event { .. } | Figure::Gateway => {
            (wrap(&label, b.width.max(90.0)), b.y + b.height + 16.0)
        }
    };
    let lines = wrapped
        .into_iter()
        .enumerate()
        .map(|(i, text)| LabelLine {
            y: num(first_y + i as f64 * LINE_HEIGHT),
            text,
        })
        .collect();
    ShapeView {
        id: id.to_owned(),
        label,
        figure,
        kind: kind_words,
        state: states.get(id).copied(),
        x: num(b.x),
        y: num(b.y),
        width: num(b.width),
        height: num(b.height),
        cx: num(cx),
        cy: num(cy),
        r: num(b.width.min(b.height) / 2.0),
        diamond: format!(
            "{},{} {},{} {},{} {},{}",
            num(cx),
            num(b.y),
            num(b.x + b.width),
            num(cy),
            num(cx),
            num(b.y + b.height),
            num(b.x),
            num(cy)
        ),
        label_x: num(cx),
        lines,
    }
}

/// A coordinate as SVG takes it: at most one decimal.
fn num(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_bpmn::{Limits, parse};

    #[test]
    fn labels_wrap_at_words_to_fit() {
        assert_eq!(
            super::wrap("Clarify and summarise", 92.0),
            ["Clarify and", "summarise"]
        );
        assert_eq!(super::wrap("Go", 92.0), ["Go"]);
        assert_eq!(
            super::wrap("Averyveryverylongwordindeed x", 40.0),
            ["Averyveryverylongwordindeed", "x"]
        );
        assert!(super::wrap("  ", 92.0).is_empty());
    }
    use super::*;

    const WITH_DI: &str = r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
      xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
      xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
      xmlns:di="http://www.omg.org/spec/DD/20100524/DI">
      <process id="P" isExecutable="true">
        <startEvent id="Start"/>
        <sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
        <userTask id="Review" name="Review &amp; sign"/>
        <sequenceFlow id="f2" sourceRef="Review" targetRef="G"/>
        <exclusiveGateway id="G"/>
        <sequenceFlow id="f3" sourceRef="G" targetRef="End"/>
        <endEvent id="End"/>
      </process>
      <bpmndi:BPMNDiagram><bpmndi:BPMNPlane bpmnElement="P">
        <bpmndi:BPMNShape bpmnElement="Start"><dc:Bounds x="100" y="100" width="36" height="36"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape bpmnElement="Review"><dc:Bounds x="200" y="78" width="100" height="80"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape bpmnElement="G"><dc:Bounds x="350" y="93" width="50" height="50"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape bpmnElement="End"><dc:Bounds x="450" y="100" width="36" height="36"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape bpmnElement="Lane"><dc:Bounds x="0" y="0" width="900" height="900"/></bpmndi:BPMNShape>
        <bpmndi:BPMNEdge bpmnElement="f1"><di:waypoint x="136" y="118"/><di:waypoint x="200" y="118.25"/></bpmndi:BPMNEdge>
      </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
    </definitions>"#;

    fn defs(xml: &str) -> Definitions {
        parse(xml.as_bytes(), &Limits::default())
            .expect("parses")
            .definitions
    }

    #[test]
    fn shapes_and_edges_come_from_the_bpmndi_with_their_states() {
        let states = BTreeMap::from([
            ("Review".to_owned(), NodeState::Waiting),
            ("Start".to_owned(), NodeState::Done),
        ]);
        let drawing = draw(&defs(WITH_DI), &states).expect("a drawing");
        let ids: Vec<&str> = drawing.shapes.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["Start", "Review", "G", "End"], "the lane is no node");
        let review = &drawing.shapes[1];
        assert_eq!(review.label, "Review & sign");
        assert_eq!(review.state_class(), "waiting");
        assert_eq!((review.x.as_str(), review.width.as_str()), ("200", "100"));
        assert!(drawing.shapes[0].is_event() && !drawing.shapes[0].is_end());
        assert!(drawing.shapes[3].is_end());
        assert_eq!(drawing.shapes[2].diamond, "375,93 400,118 375,143 350,118");
        assert_eq!(drawing.shapes[2].state_class(), "pending");
        assert_eq!(drawing.shapes[2].state_words(), "not reached yet");
        assert_eq!(drawing.shapes[2].kind, "exclusive gateway");
        assert_eq!(
            (drawing.shapes[0].kind, drawing.shapes[0].state_words()),
            ("start event", "done")
        );
        assert_eq!(drawing.edges[0].points, "136,118 200,118.3");
        // A label sits centred in its task; an event's goes under it.
        let lines: Vec<(&str, &str)> = review
            .lines
            .iter()
            .map(|l| (l.y.as_str(), l.text.as_str()))
            .collect();
        assert_eq!(lines, [("122", "Review & sign")]);
        assert_eq!(drawing.shapes[0].lines[0].y, "152");
        // From the leftmost shape to the end event's right, with margins.
        assert_eq!(drawing.view_box, "76 54 434 152");
        assert_eq!(
            (drawing.width.as_str(), drawing.height.as_str()),
            ("434", "152")
        );
    }

    #[test]
    fn a_document_without_bpmndi_has_no_drawing() {
        let xml = r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
          <process id="P" isExecutable="true"><startEvent id="S"/></process></definitions>"#;
        assert_eq!(draw(&defs(xml), &BTreeMap::new()), None);
    }

    #[test]
    fn every_node_of_the_run_view_has_its_state() {
        let view = |id: &str, state| NodeView {
            node_id: id.to_owned(),
            state,
            visits: 1,
            first_entered_at: None,
            entered_at: None,
            left_at: None,
        };
        let states = node_states(&[
            view("Start", NodeState::Done),
            view("G", NodeState::Done),
            view("Review", NodeState::Waiting),
            view("Other", NodeState::Skipped),
        ]);
        let drawing = draw(&defs(WITH_DI), &states).expect("a drawing");
        let got: Vec<(&str, &str)> = drawing
            .shapes
            .iter()
            .map(|s| (s.id.as_str(), s.state_class()))
            .collect();
        assert_eq!(
            got,
            [
                ("Start", "done"),
                ("Review", "waiting"),
                ("G", "done"),
                ("End", "pending")
            ]
        );
    }
}
