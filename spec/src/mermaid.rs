//! Mermaid diagrams of topologies, byte-identical to the Go reference at HEAD.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::topology::{EndpointDirection, ExchangeKind, Pattern, Topology};

const INDENT: &str = "    ";
const SUBGRAPH_INDENT: &str = "        ";

/// One exchange node; a later endpoint naming the same exchange overwrites it.
struct ExchangeNode<'a> {
    kind: &'a ExchangeKind,
    transport: &'a str,
}

struct Edge<'a> {
    from: &'a str,
    to: &'a str,
    label: &'a str,
    arrow: &'static str,
    transport: &'a str,
}

/// Renders `topologies` as a Mermaid `graph LR`.
///
/// Services are rectangles; topic exchanges hexagons, headers exchanges circles, other
/// exchanges rectangles. Publishers point at exchanges, exchanges at consumers, labelled
/// with the routing key; service-response edges are dotted. When more than one transport
/// appears, exchanges are grouped in one subgraph per transport and their ids carry the
/// transport as a prefix. Topologies without a service name and endpoints without an
/// exchange name are skipped.
///
/// ```
/// use messaging_spec::{Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology, mermaid};
/// let t = Topology::new(None, "orders").with_endpoint(
///     Endpoint::new(EndpointDirection::Publish, Pattern::EventStream, "events.topic.exchange", ExchangeKind::Topic)
///         .with_routing_key("Order.Created"),
/// );
/// assert_eq!(mermaid(&[t]), concat!(
///     "graph LR\n",
///     "    orders[\"orders\"]\n",
///     "    events_topic_exchange{{\"events.topic.exchange\"}}\n",
///     "    orders -->|\"Order.Created\"| events_topic_exchange\n",
///     "    style orders fill:#f9f,stroke:#333\n",
///     "    style events_topic_exchange fill:#bbf,stroke:#333\n",
/// ));
/// assert_eq!(mermaid(&[]), "graph LR\n");
/// ```
#[must_use]
pub fn mermaid(topologies: &[Topology]) -> String {
    let mut services: BTreeSet<&str> = BTreeSet::new();
    let mut transports: BTreeSet<&str> = BTreeSet::new();
    let mut exchanges: BTreeMap<&str, ExchangeNode<'_>> = BTreeMap::new();
    let mut edges: Vec<Edge<'_>> = Vec::new();

    for t in topologies.iter().filter(|t| !t.service_name.is_empty()) {
        let service = t.service_name.as_str();
        let transport = t.transport.as_ref().map_or("", |tr| tr.as_str());
        services.insert(service);
        if !transport.is_empty() {
            transports.insert(transport);
        }
        for ep in t.endpoints.iter().filter(|ep| !ep.exchange_name.is_empty()) {
            let exchange = ep.exchange_name.as_str();
            exchanges.insert(
                exchange,
                ExchangeNode {
                    kind: &ep.exchange_kind,
                    transport,
                },
            );
            let arrow = if ep.pattern == Pattern::ServiceResponse {
                "-.->"
            } else {
                "-->"
            };
            let (from, to) = match ep.direction {
                EndpointDirection::Publish => (service, exchange),
                EndpointDirection::Consume => (exchange, service),
                _ => continue,
            };
            edges.push(Edge {
                from,
                to,
                label: &ep.routing_key,
                arrow,
                transport,
            });
        }
    }

    let subgraphs = transports.len() > 1;
    let exchange_id = |transport: &str, name: &str| {
        if subgraphs {
            sanitize_id(&format!("{transport}_{name}"))
        } else {
            sanitize_id(name)
        }
    };

    // Writing to a String cannot fail, so the `fmt::Result`s below are ignored.
    let mut out = String::from("graph LR\n");
    for service in &services {
        let _ = writeln!(out, "{INDENT}{}[\"{service}\"]", sanitize_id(service));
    }
    if subgraphs {
        for transport in &transports {
            let _ = writeln!(out, "{INDENT}subgraph {}", transport.to_uppercase());
            for (name, node) in exchanges.iter().filter(|(_, n)| n.transport == *transport) {
                let id = exchange_id(transport, name);
                write_exchange_node(&mut out, SUBGRAPH_INDENT, &id, name, node.kind);
            }
            let _ = writeln!(out, "{INDENT}end");
        }
    } else {
        for (name, node) in &exchanges {
            let id = exchange_id(node.transport, name);
            write_exchange_node(&mut out, INDENT, &id, name, node.kind);
        }
    }

    edges.sort_by(|a, b| (a.from, a.to, a.label).cmp(&(b.from, b.to, b.label)));
    let node_id = |name: &str, transport: &str| {
        if services.contains(name) {
            sanitize_id(name)
        } else {
            exchange_id(transport, name)
        }
    };
    for e in &edges {
        let from = node_id(e.from, e.transport);
        let to = node_id(e.to, e.transport);
        let _ = if e.label.is_empty() {
            writeln!(out, "{INDENT}{from} {} {to}", e.arrow)
        } else {
            writeln!(out, "{INDENT}{from} {}|\"{}\"| {to}", e.arrow, e.label)
        };
    }

    for service in &services {
        let _ = writeln!(
            out,
            "{INDENT}style {} fill:#f9f,stroke:#333",
            sanitize_id(service)
        );
    }
    for (name, node) in &exchanges {
        let _ = writeln!(
            out,
            "{INDENT}style {} fill:#bbf,stroke:#333",
            exchange_id(node.transport, name)
        );
    }
    out
}

fn write_exchange_node(out: &mut String, indent: &str, id: &str, name: &str, kind: &ExchangeKind) {
    let _ = match kind {
        ExchangeKind::Topic => writeln!(out, "{indent}{id}{{{{\"{name}\"}}}}"),
        ExchangeKind::Headers => writeln!(out, "{indent}{id}((\"{name}\"))"),
        _ => writeln!(out, "{indent}{id}[\"{name}\"]"),
    };
}

/// Replaces every character outside `[A-Za-z0-9_]` with one `_`.
fn sanitize_id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_replaces_each_character_once() {
        assert_eq!(sanitize_id("orders"), "orders");
        assert_eq!(
            sanitize_id("events.topic.exchange"),
            "events_topic_exchange"
        );
        assert_eq!(sanitize_id("email-svc"), "email_svc");
        assert_eq!(sanitize_id("a_b c/d"), "a_b_c_d");
        assert_eq!(sanitize_id("ré😀x"), "r__x");
        assert_eq!(sanitize_id(""), "");
    }
}
