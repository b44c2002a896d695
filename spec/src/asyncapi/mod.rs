//! AsyncAPI 3.0 documents of topologies: one service's, or a whole fleet's.
//!
//! See `docs/asyncapi.md` for the mapping; in short:
//! - a **channel** per broker address: a NATS subject (`<stream>.<routing key>`, the
//!   consumer's filter subject, `<service>.request.<routing key>`, or a reply inbox with
//!   `address: null`), or an AMQP routing key on an exchange (`is: routingKey`) or a queue
//!   (`is: queue`, for queue-publish). Services that use the same address share the
//!   channel, which is what links publishers to consumers in a fleet document;
//! - an **operation** per endpoint: `send` for publish, `receive` for consume, tagged with
//!   the service, with NATS (`queue`) or AMQP operation bindings, a `reply` for requests,
//!   and the endpoint itself under `x-messaging-endpoint`;
//! - a **message** per routing key (or message type), with the CloudEvents headers of its
//!   transport as a message trait and an open payload schema unless one is provided.

mod headers;
mod mapping;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::cloudevents::CONTENT_TYPE_JSON;
use crate::error::{Error, Result};
use crate::topology::Topology;

use self::headers::{cloud_events_trait, trait_id};
use self::mapping::{ChannelSpec, MessageSpec, Wire, default_reply_message, map_endpoint};

/// The AsyncAPI version of the documents written (`asyncapi: "3.0.0"`).
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// `info.version` when none is set: topologies carry no API version.
pub const DEFAULT_API_VERSION: &str = "0.0.0";

/// Builds AsyncAPI 3.0 documents from topologies. No I/O.
///
/// One topology gives that service's document; several give a fleet document in which
/// services that use the same broker address share one channel, and every operation is
/// tagged with (and its id starts with) the service that performs it.
///
/// Payload schemas are looked up by the endpoint's message type, then by its routing key;
/// a message without one gets an open schema (any JSON).
///
/// ```
/// use messaging_spec::{AsyncApi, Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology, Transport};
/// use serde_json::json;
///
/// let orders = Topology::new(Some(Transport::Nats), "orders").with_endpoint(
///     Endpoint::new(EndpointDirection::Publish, Pattern::EventStream, "events", ExchangeKind::Topic)
///         .with_routing_key("Order.Created"),
/// );
/// let doc = AsyncApi::new()
///     .version("1.2.0")
///     .schema("Order.Created", json!({"type": "object", "required": ["id"]}))
///     .document(&[orders])?;
/// assert_eq!(doc["asyncapi"], "3.0.0");
/// assert_eq!(doc["channels"]["events.Order.Created"]["address"], "events.Order.Created");
/// let op = &doc["operations"]["orders.send.events.Order.Created"];
/// assert_eq!(op["action"], "send");
/// assert_eq!(op["channel"]["$ref"], "#/channels/events.Order.Created");
/// assert_eq!(doc["components"]["messages"]["Order.Created"]["payload"]["required"][0], "id");
/// # Ok::<(), messaging_spec::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct AsyncApi {
    title: Option<String>,
    version: Option<String>,
    description: Option<String>,
    schemas: BTreeMap<String, Value>,
}

impl AsyncApi {
    /// A builder with generated title and description, version [`DEFAULT_API_VERSION`] and
    /// no payload schemas.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `info.title` (default: the service name, or `Messaging fleet`).
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets `info.version`, the version of the described API.
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Sets `info.description` (default: which services, on which transports).
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Uses `schema` (a JSON Schema: an object or a boolean) as the payload of the messages
    /// whose message type, or else routing key, is `message`.
    #[must_use]
    pub fn schema(mut self, message: impl Into<String>, schema: Value) -> Self {
        self.schemas.insert(message.into(), schema);
        self
    }

    /// The AsyncAPI 3.0 document of `topologies`, keys sorted, ready to serialise.
    ///
    /// # Errors
    /// [`Error::AsyncApiExport`] when a topology has no service name or an unsupported
    /// transport, an endpoint has a direction other than publish/consume, an unknown
    /// pattern or no exchange name, or a payload schema is neither an object nor a boolean.
    pub fn document(&self, topologies: &[Topology]) -> Result<Value> {
        if let Some((name, _)) = self
            .schemas
            .iter()
            .find(|(_, s)| !(s.is_object() || s.is_boolean()))
        {
            return Err(Error::AsyncApiExport {
                subject: format!("schema {name:?}"),
                reason: "a payload schema must be a JSON object or boolean",
            });
        }
        let mut wires = Vec::with_capacity(topologies.len());
        for t in topologies {
            if t.service_name.is_empty() {
                return Err(mapping::export_error(t, None, "service name is empty"));
            }
            wires.push(Wire::of(t)?);
        }
        let distinct: BTreeSet<Wire> = wires.iter().copied().collect();
        let mut doc = Document::new(&self.schemas, distinct.len() > 1);
        for (t, wire) in topologies.iter().zip(wires) {
            doc.add_topology(t, wire)?;
        }
        Ok(doc.finish(&self.info(topologies, &distinct)))
    }

    fn info(&self, topologies: &[Topology], wires: &BTreeSet<Wire>) -> Value {
        let services: Vec<String> = topologies
            .iter()
            .map(|t| format!("`{}`", t.service_name))
            .collect();
        let title = self.title.clone().unwrap_or_else(|| match topologies {
            [one] => one.service_name.clone(),
            _ => "Messaging fleet".to_owned(),
        });
        let transports: Vec<&str> = wires.iter().map(|w| w.as_str()).collect();
        let description = self.description.clone().unwrap_or_else(|| {
            format!(
                "Channels and operations of {} {} on {}, generated from gomessaging topologies.",
                if services.len() == 1 {
                    "service"
                } else {
                    "services"
                },
                services.join(", "),
                if transports.is_empty() {
                    "no transport".to_owned()
                } else {
                    transports.join(" and ")
                },
            )
        });
        json!({
            "title": title,
            "version": self.version.as_deref().unwrap_or(DEFAULT_API_VERSION),
            "description": description,
        })
    }
}

/// The document of `topologies` with the default options: `AsyncApi::new().document(..)`.
///
/// # Errors
/// As [`AsyncApi::document`].
pub fn asyncapi(topologies: &[Topology]) -> Result<Value> {
    AsyncApi::new().document(topologies)
}

#[derive(Debug)]
struct ChannelEntry {
    id: String,
    spec: ChannelSpec,
    messages: BTreeSet<String>,
    /// For reply channels: the routing key of the request, for a default reply message.
    reply_key: Option<String>,
}

#[derive(Debug)]
struct Document<'a> {
    schemas: &'a BTreeMap<String, Value>,
    prefix_ids: bool,
    channels: BTreeMap<(Wire, String), ChannelEntry>,
    channel_ids: BTreeSet<String>,
    message_keys: BTreeMap<(Wire, String, String, bool), String>,
    messages: Map<String, Value>,
    operations: Map<String, Value>,
    traits: BTreeSet<Wire>,
}

impl<'a> Document<'a> {
    fn new(schemas: &'a BTreeMap<String, Value>, prefix_ids: bool) -> Self {
        Self {
            schemas,
            prefix_ids,
            channels: BTreeMap::new(),
            channel_ids: BTreeSet::new(),
            message_keys: BTreeMap::new(),
            messages: Map::new(),
            operations: Map::new(),
            traits: BTreeSet::new(),
        }
    }

    fn add_topology(&mut self, topology: &Topology, wire: Wire) -> Result<()> {
        let service = topology.service_name.as_str();
        for (index, ep) in topology.endpoints.iter().enumerate() {
            let mapped = map_endpoint(topology, wire, index, ep)?;
            let cid = self.channel(wire, &mapped.channel, None);
            let mid = self.message(wire, &mapped.message);
            self.attach(wire, &mapped.channel.identity, &mid);
            let mut op = Map::new();
            op.insert("action".into(), mapped.action.into());
            op.insert(
                "channel".into(),
                json!({"$ref": format!("#/channels/{cid}")}),
            );
            op.insert(
                "messages".into(),
                json!([{"$ref": format!("#/channels/{cid}/messages/{mid}")}]),
            );
            op.insert("summary".into(), mapped.summary.into());
            op.insert("tags".into(), json!([{"name": service}]));
            if let Some(bindings) = mapped.bindings {
                op.insert("bindings".into(), bindings);
            }
            if let Some(reply) = &mapped.reply {
                let rcid = self.channel(wire, reply, Some(&ep.routing_key));
                op.insert(
                    "reply".into(),
                    json!({"channel": {"$ref": format!("#/channels/{rcid}")}}),
                );
            }
            // An endpoint is strings and a bool: serialising it cannot fail.
            op.insert(
                "x-messaging-endpoint".into(),
                serde_json::to_value(ep).unwrap_or_default(),
            );
            let oid = unique(
                &mut self.operations.keys().cloned().collect(),
                format!("{service}.{}.{cid}", mapped.action),
            );
            self.operations.insert(oid, Value::Object(op));
        }
        Ok(())
    }

    /// The id of the channel `spec` describes, added on first use.
    fn channel(&mut self, wire: Wire, spec: &ChannelSpec, reply_key: Option<&str>) -> String {
        let key = (wire, spec.identity.clone());
        if let Some(entry) = self.channels.get(&key) {
            return entry.id.clone();
        }
        let base = self.id(wire, &spec.id_base);
        let id = unique(&mut self.channel_ids, base);
        self.channels.insert(
            key,
            ChannelEntry {
                id: id.clone(),
                spec: spec.clone(),
                messages: BTreeSet::new(),
                reply_key: reply_key.map(str::to_owned),
            },
        );
        id
    }

    fn attach(&mut self, wire: Wire, identity: &str, mid: &str) {
        if let Some(entry) = self.channels.get_mut(&(wire, identity.to_owned())) {
            entry.messages.insert(mid.to_owned());
        }
    }

    /// The component id of the message `spec` describes, added on first use.
    fn message(&mut self, wire: Wire, spec: &MessageSpec) -> String {
        let key = (
            wire,
            spec.id_base.clone(),
            spec.routing_key.clone(),
            spec.reply,
        );
        if let Some(id) = self.message_keys.get(&key) {
            return id.clone();
        }
        let id = unique(
            &mut self.messages.keys().cloned().collect(),
            self.id(wire, &spec.id_base),
        );
        let value = self.message_value(wire, spec);
        self.messages.insert(id.clone(), value);
        self.message_keys.insert(key, id.clone());
        id
    }

    fn message_value(&mut self, wire: Wire, spec: &MessageSpec) -> Value {
        let rk = spec.routing_key.as_str();
        let mut m = Map::new();
        m.insert("name".into(), spec.id_base.clone().into());
        if !spec.message_type.is_empty() {
            m.insert("title".into(), spec.message_type.clone().into());
        }
        let summary = match (spec.reply, rk.is_empty()) {
            (true, true) => "The reply to a request".to_owned(),
            (true, false) => format!("The reply to a `{rk}` request"),
            (false, true) => "A message of any type (ce-type is its routing key)".to_owned(),
            (false, false) => format!("CloudEvent of type `{rk}` (its routing key)"),
        };
        m.insert("summary".into(), summary.into());
        m.insert("contentType".into(), CONTENT_TYPE_JSON.into());
        if spec.cloud_events {
            self.traits.insert(wire);
            m.insert(
                "traits".into(),
                json!([{"$ref": format!("#/components/messageTraits/{}", trait_id(wire))}]),
            );
        }
        // A request's routing key does not name its reply, so replies match by type only.
        let schema = self
            .schemas
            .get(&spec.message_type)
            .filter(|_| !spec.message_type.is_empty())
            .or_else(|| (!spec.reply).then(|| self.schemas.get(rk)).flatten())
            .cloned()
            .unwrap_or_else(open_schema);
        m.insert("payload".into(), schema);
        Value::Object(m)
    }

    fn id(&self, wire: Wire, base: &str) -> String {
        let id = sanitize_id(base);
        if self.prefix_ids {
            format!("{}.{id}", wire.as_str())
        } else {
            id
        }
    }

    fn finish(mut self, info: &Value) -> Value {
        // A handler's reply channel names no message of its own; give it a generic one.
        let pending: Vec<(Wire, String, String)> = self
            .channels
            .iter()
            .filter(|(_, e)| e.messages.is_empty())
            .filter_map(|((wire, identity), e)| {
                e.reply_key.clone().map(|rk| (*wire, identity.clone(), rk))
            })
            .collect();
        for (wire, identity, rk) in pending {
            let mid = self.message(wire, &default_reply_message(&rk, wire));
            self.attach(wire, &identity, &mid);
        }

        let mut channels = Map::new();
        for entry in self.channels.values() {
            let mut c = Map::new();
            c.insert(
                "address".into(),
                entry.spec.address.clone().map_or(Value::Null, Value::from),
            );
            c.insert("description".into(), entry.spec.description.clone().into());
            let messages: Map<String, Value> = entry
                .messages
                .iter()
                .map(|mid| {
                    (
                        mid.clone(),
                        json!({"$ref": format!("#/components/messages/{mid}")}),
                    )
                })
                .collect();
            c.insert("messages".into(), Value::Object(messages));
            if let Some(bindings) = &entry.spec.bindings {
                c.insert("bindings".into(), bindings.clone());
            }
            channels.insert(entry.id.clone(), Value::Object(c));
        }
        let traits: Map<String, Value> = self
            .traits
            .iter()
            .map(|w| (trait_id(*w).to_owned(), cloud_events_trait(*w)))
            .collect();
        json!({
            "asyncapi": ASYNCAPI_VERSION,
            "info": info,
            "defaultContentType": CONTENT_TYPE_JSON,
            "channels": channels,
            "operations": self.operations,
            "components": {"messages": self.messages, "messageTraits": traits},
        })
    }
}

/// `base`, or `base-2`, `base-3`, … : the first not in `taken` (which then holds it).
fn unique(taken: &mut BTreeSet<String>, base: String) -> String {
    if taken.insert(base.clone()) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| taken.insert(candidate.clone()))
        .unwrap_or(base)
}

/// Ids end up in `$ref` fragments and component keys (`^[\w\d.\-_]+$`), so wildcards are
/// spelt out and anything else outside `[A-Za-z0-9._-]` becomes `_`.
fn sanitize_id(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => out.push(c),
            '*' => out.push_str("star"),
            '>' | '#' => out.push_str("all"),
            _ => out.push('_'),
        }
    }
    out
}

fn open_schema() -> Value {
    json!({"description": "No schema was provided for this message: any JSON value."})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_spell_out_wildcards() {
        assert_eq!(sanitize_id("events.Order.*"), "events.Order.star");
        assert_eq!(sanitize_id("events.>"), "events.all");
        assert_eq!(sanitize_id("a b/c"), "a_b_c");
    }

    #[test]
    fn unique_appends_a_counter() {
        let mut taken = BTreeSet::new();
        assert_eq!(unique(&mut taken, "a".into()), "a");
        assert_eq!(unique(&mut taken, "a".into()), "a-2");
        assert_eq!(unique(&mut taken, "a".into()), "a-3");
    }
}
