//! The fleet picture: services, the streams and exchanges they publish to and consume
//! from, and request paths, laid out and drawn as SVG by `layout-rs`. A page with it
//! inline needs no renderer and no network when it is viewed.
//!
//! Unlike the spec's Mermaid text (§6), a service and an exchange of the same name are
//! different nodes, so a service's request subjects do not collapse into the service.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::render::get_shape_size;
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;
use messaging_spec::{EndpointDirection, Pattern, Topology, Transport};

/// Outlines, edges and their labels: dark grey, opaque (RGBA).
const INK: u32 = 0x333333ff;
const FONT_SIZE: usize = 15;
const SERVICE_FILL: u32 = 0xf9d7f3ff;
const STREAM_FILL: u32 = 0xdde3ffff;
const REQUEST_FILL: u32 = 0xe2f4deff;

/// What a non-service node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    /// A JetStream stream (event or custom stream on NATS).
    Stream,
    /// A service's request subjects (or, on AMQP, its request exchange).
    Requests,
    /// Where responses to a service's requests go.
    Responses,
    /// An AMQP exchange of a stream pattern.
    Exchange,
}

/// A node of the picture.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Service(String),
    Exchange { name: String, role: Role },
}

impl Node {
    fn label(&self) -> String {
        match self {
            Self::Service(name) => name.clone(),
            Self::Exchange { name, role } => {
                let what = match role {
                    Role::Stream => "stream",
                    Role::Requests => "requests",
                    Role::Responses => "responses",
                    Role::Exchange => "exchange",
                };
                format!("{name}\n{what}")
            }
        }
    }
}

/// The nodes and edges of `topologies`: edge `(from, to)` → its routing keys, and whether
/// it carries responses (drawn dashed).
#[derive(Debug, Default, PartialEq, Eq)]
struct Graph {
    nodes: BTreeSet<Node>,
    edges: BTreeMap<(Node, Node), (BTreeSet<String>, bool)>,
}

fn role(pattern: &Pattern, transport: Option<&Transport>) -> Role {
    match pattern {
        Pattern::ServiceRequest => Role::Requests,
        Pattern::ServiceResponse => Role::Responses,
        _ if transport == Some(&Transport::Amqp) => Role::Exchange,
        _ => Role::Stream,
    }
}

fn graph(topologies: &[Topology]) -> Graph {
    let mut g = Graph::default();
    for t in topologies {
        if t.service_name.is_empty() {
            continue;
        }
        let service = Node::Service(t.service_name.clone());
        g.nodes.insert(service.clone());
        for e in &t.endpoints {
            if e.exchange_name.is_empty() {
                continue;
            }
            let exchange = Node::Exchange {
                name: e.exchange_name.clone(),
                role: role(&e.pattern, t.transport.as_ref()),
            };
            g.nodes.insert(exchange.clone());
            let key = match e.direction {
                EndpointDirection::Publish => (service.clone(), exchange),
                EndpointDirection::Consume => (exchange, service.clone()),
                _ => continue,
            };
            let (keys, responses) = g.edges.entry(key).or_default();
            if !e.routing_key.is_empty() {
                keys.insert(e.routing_key.clone());
            }
            *responses |= e.pattern == Pattern::ServiceResponse;
        }
    }
    g
}

fn look(fill: u32) -> StyleAttr {
    StyleAttr::new(Color::new(INK), 1, Some(Color::new(fill)), 4, FONT_SIZE)
}

/// The picture of `topologies` as an SVG document, or `None` when there is nothing to
/// draw (no services) or the layout failed.
pub(crate) fn svg(topologies: &[Topology]) -> Option<String> {
    let g = graph(topologies);
    if g.nodes.is_empty() {
        // layout-rs cannot lay out an empty graph.
        return None;
    }
    // layout-rs asserts on graphs it cannot handle; a picture is not worth a crash.
    catch_unwind(AssertUnwindSafe(|| draw(&g))).ok()
}

fn draw(g: &Graph) -> String {
    let dir = Orientation::LeftToRight;
    let mut vg = VisualGraph::new(dir);
    let mut handles = BTreeMap::new();
    for node in &g.nodes {
        let label = node.label();
        let (shape, fill) = match node {
            Node::Service(_) => (ShapeKind::new_box(&label), SERVICE_FILL),
            Node::Exchange { role, .. } => (
                ShapeKind::new_circle(&label),
                if matches!(role, Role::Requests | Role::Responses) {
                    REQUEST_FILL
                } else {
                    STREAM_FILL
                },
            ),
        };
        // Shapes are sized and drawn across the graph's direction (as layout-rs's own DOT
        // front end does); otherwise edge labels sit on their lines.
        let across = dir.flip();
        let size = get_shape_size(across, &shape, FONT_SIZE, false);
        let handle = vg.add_node(Element::create(shape, look(fill), across, size));
        handles.insert(node.clone(), handle);
    }
    for ((from, to), (keys, responses)) in &g.edges {
        let (Some(&a), Some(&b)) = (handles.get(from), handles.get(to)) else {
            continue;
        };
        let text = keys.iter().cloned().collect::<Vec<_>>().join("\n");
        let line = if *responses {
            LineStyleKind::Dashed
        } else {
            LineStyleKind::Normal
        };
        let arrow = Arrow::new(
            LineEndKind::None,
            LineEndKind::Arrow,
            line,
            &text,
            &StyleAttr::new(Color::new(INK), 1, None, 0, FONT_SIZE - 1),
            &None,
            &None,
        );
        vg.add_edge(arrow, a, b);
    }
    let mut writer = SVGWriter::new();
    vg.do_it(false, false, false, &mut writer);
    writer.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(json: serde_json::Value) -> Topology {
        match serde_json::from_value(json) {
            Ok(t) => t,
            Err(e) => panic!("bad test topology: {e}"),
        }
    }

    fn shop() -> Vec<Topology> {
        vec![
            topology(
                serde_json::json!({"transport": "nats", "serviceName": "orders", "endpoints": [
                    {"direction": "publish", "pattern": "event-stream", "exchangeName": "events", "exchangeKind": "topic"},
                    {"direction": "publish", "pattern": "service-request", "exchangeName": "billing", "exchangeKind": "direct"}
                ]}),
            ),
            topology(
                serde_json::json!({"transport": "nats", "serviceName": "billing", "endpoints": [
                    {"direction": "consume", "pattern": "service-request", "exchangeName": "billing", "exchangeKind": "direct", "queueName": "billing", "routingKey": "Billing.Charge"}
                ]}),
            ),
            topology(
                serde_json::json!({"transport": "nats", "serviceName": "notifications", "endpoints": [
                    {"direction": "consume", "pattern": "event-stream", "exchangeName": "events", "exchangeKind": "topic", "queueName": "notifications", "routingKey": "Order.Placed"},
                    {"direction": "consume", "pattern": "event-stream", "exchangeName": "events", "exchangeKind": "topic", "queueName": "notifications", "routingKey": "Order.Refused"}
                ]}),
            ),
        ]
    }

    #[test]
    fn a_service_and_its_requests_are_two_nodes() {
        let g = graph(&shop());
        let names: Vec<String> = g.nodes.iter().map(Node::label).collect();
        assert_eq!(
            names,
            [
                "billing",
                "notifications",
                "orders",
                "billing\nrequests",
                "events\nstream"
            ]
        );
        let edges: Vec<(String, String, Vec<String>)> = g
            .edges
            .iter()
            .map(|((a, b), (keys, _))| (a.label(), b.label(), keys.iter().cloned().collect()))
            .collect();
        assert_eq!(
            edges,
            [
                (
                    "orders".to_owned(),
                    "billing\nrequests".to_owned(),
                    Vec::<String>::new()
                ),
                ("orders".to_owned(), "events\nstream".to_owned(), vec![]),
                (
                    "billing\nrequests".to_owned(),
                    "billing".to_owned(),
                    vec!["Billing.Charge".to_owned()]
                ),
                (
                    "events\nstream".to_owned(),
                    "notifications".to_owned(),
                    vec!["Order.Placed".to_owned(), "Order.Refused".to_owned()]
                ),
            ]
        );
    }

    #[test]
    fn the_svg_names_every_node_and_key() {
        let Some(svg) = svg(&shop()) else {
            panic!("no picture")
        };
        assert!(svg.contains("<svg"), "{svg}");
        for text in [
            "orders",
            "billing",
            "notifications",
            "events",
            "stream",
            "requests",
            "Billing.Charge",
            "Order.Placed",
            "Order.Refused",
        ] {
            assert!(svg.contains(&format!(">{text}<")), "{text} missing");
        }
        assert!(!svg.contains("<script"), "no script in the picture");
    }

    #[test]
    fn nothing_to_draw_is_no_picture() {
        assert_eq!(svg(&[]), None);
        let nameless = topology(serde_json::json!({"serviceName": "", "endpoints": []}));
        assert_eq!(svg(&[nameless]), None);
    }

    #[test]
    fn names_are_escaped_in_the_svg() {
        let odd = topology(serde_json::json!({"serviceName": "a<b&c", "endpoints": [
            {"direction": "publish", "pattern": "event-stream", "exchangeName": "x\"y", "exchangeKind": "topic", "routingKey": "K<1>"}
        ]}));
        let Some(svg) = svg(&[odd]) else {
            panic!("no picture")
        };
        assert!(svg.contains("a&lt;b&amp;c"), "{svg}");
        assert!(!svg.contains("a<b"), "{svg}");
        assert!(svg.contains("K&lt;1&gt;"), "{svg}");
    }
}
