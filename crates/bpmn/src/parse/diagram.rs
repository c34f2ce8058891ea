//! BPMNDI geometry: shapes with bounds, edges with waypoints.
//!
//! The diagram is for drawing only, so it is read leniently: a shape without
//! usable bounds or an edge without an element reference is skipped, never
//! reported.

use roxmltree::Node;

use crate::model::{Bounds, Diagram, Edge, Point, Shape};

const BPMN_DI_NS: &str = "http://www.omg.org/spec/BPMN/20100524/DI";
const DC_NS: &str = "http://www.omg.org/spec/DD/20100524/DC";
const DI_NS: &str = "http://www.omg.org/spec/DD/20100524/DI";

/// Every `BPMNShape` and `BPMNEdge` below `root`, in document order.
pub(super) fn read(root: Node<'_, '_>) -> Diagram {
    let mut diagram = Diagram::default();
    for node in root.descendants().filter(|n| n.is_element()) {
        if node.tag_name().namespace() != Some(BPMN_DI_NS) {
            continue;
        }
        match node.tag_name().name() {
            "BPMNShape" => diagram.shapes.extend(shape(node)),
            "BPMNEdge" => diagram.edges.extend(edge(node)),
            _ => {}
        }
    }
    diagram
}

fn shape(node: Node<'_, '_>) -> Option<Shape> {
    let element_id = node.attribute("bpmnElement")?.trim().to_owned();
    let b = child(node, DC_NS, "Bounds")?;
    Some(Shape {
        element_id,
        bounds: Bounds {
            x: number(b, "x")?,
            y: number(b, "y")?,
            width: number(b, "width")?,
            height: number(b, "height")?,
        },
        is_expanded: node.attribute("isExpanded").and_then(|v| match v.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }),
    })
}

fn edge(node: Node<'_, '_>) -> Option<Edge> {
    let element_id = node.attribute("bpmnElement")?.trim().to_owned();
    let waypoints = node
        .children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(DI_NS))
        .filter(|c| c.tag_name().name() == "waypoint")
        .filter_map(|w| {
            Some(Point {
                x: number(w, "x")?,
                y: number(w, "y")?,
            })
        })
        .collect();
    Some(Edge {
        element_id,
        waypoints,
    })
}

fn child<'a, 'input>(node: Node<'a, 'input>, ns: &str, name: &str) -> Option<Node<'a, 'input>> {
    node.children().find(|c| {
        c.is_element() && c.tag_name().namespace() == Some(ns) && c.tag_name().name() == name
    })
}

fn number(node: Node<'_, '_>, name: &str) -> Option<f64> {
    node.attribute(name)?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}
