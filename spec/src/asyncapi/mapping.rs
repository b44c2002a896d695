//! One endpoint → the channel it uses, the operation it performs and the message it
//! carries, per transport, with the spec's naming rules.

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::naming::{
    REQUEST_EXCHANGE_SUFFIX, RESPONSE_EXCHANGE_SUFFIX, TOPIC_EXCHANGE_SUFFIX, nats_filter_subject,
    nats_request_subject, nats_stream_name, nats_stream_subjects, nats_subject,
    service_response_exchange_name,
};
use crate::topology::{Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology, Transport};

/// Version of the AsyncAPI NATS bindings written.
pub(super) const NATS_BINDING_VERSION: &str = "0.1.0";
/// Version of the AsyncAPI AMQP 0-9-1 bindings written.
pub(super) const AMQP_BINDING_VERSION: &str = "0.3.0";

/// The transport a topology's names follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Wire {
    Amqp,
    Nats,
}

impl Wire {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Amqp => "amqp",
            Self::Nats => "nats",
        }
    }

    /// The topology's transport; without one, the names tell (only AMQP names carry the
    /// spec's exchange suffixes or the `(default)` exchange).
    pub(super) fn of(topology: &Topology) -> Result<Self> {
        match &topology.transport {
            Some(Transport::Amqp) => Ok(Self::Amqp),
            Some(Transport::Nats) => Ok(Self::Nats),
            Some(_) => Err(export_error(topology, None, "unsupported transport")),
            None => {
                let amqp = topology.endpoints.iter().any(|ep| {
                    let name = ep.exchange_name.as_str();
                    name == "(default)"
                        || [
                            TOPIC_EXCHANGE_SUFFIX,
                            REQUEST_EXCHANGE_SUFFIX,
                            RESPONSE_EXCHANGE_SUFFIX,
                        ]
                        .iter()
                        .any(|sfx| name.ends_with(sfx))
                });
                Ok(if amqp { Self::Amqp } else { Self::Nats })
            }
        }
    }
}

pub(super) fn export_error(
    topology: &Topology,
    index: Option<usize>,
    reason: &'static str,
) -> Error {
    let subject = match index {
        Some(i) => format!("service {:?}, endpoint {i}", topology.service_name),
        None => format!("service {:?}", topology.service_name),
    };
    Error::AsyncApiExport { subject, reason }
}

/// A channel, identified by what it is on the broker (not by its document id).
#[derive(Debug, Clone)]
pub(super) struct ChannelSpec {
    /// Identity within one transport: equal identities are one channel.
    pub(super) identity: String,
    /// Readable base for the document id.
    pub(super) id_base: String,
    /// `None`: not known up front (a reply inbox, or "any routing key").
    pub(super) address: Option<String>,
    pub(super) description: String,
    pub(super) bindings: Option<Value>,
}

/// A message a channel carries.
#[derive(Debug, Clone)]
pub(super) struct MessageSpec {
    /// Document id base, and the key schemas are looked up by first.
    pub(super) id_base: String,
    /// The routing key (the CloudEvents `type`), when exact.
    pub(super) routing_key: String,
    pub(super) message_type: String,
    /// Replies on Core NATS carry no CloudEvents headers.
    pub(super) cloud_events: bool,
    pub(super) reply: bool,
}

/// What one endpoint becomes.
#[derive(Debug, Clone)]
pub(super) struct Mapped {
    pub(super) channel: ChannelSpec,
    pub(super) message: MessageSpec,
    pub(super) action: &'static str,
    pub(super) summary: String,
    pub(super) bindings: Option<Value>,
    /// The channel the reply travels on, for request operations.
    pub(super) reply: Option<ChannelSpec>,
}

/// Maps endpoint `index` of `topology`.
pub(super) fn map_endpoint(
    topology: &Topology,
    wire: Wire,
    index: usize,
    ep: &Endpoint,
) -> Result<Mapped> {
    let err = |reason| export_error(topology, Some(index), reason);
    let action = match ep.direction {
        EndpointDirection::Publish => "send",
        EndpointDirection::Consume => "receive",
        _ => return Err(err("direction must be publish or consume")),
    };
    if !matches!(
        ep.pattern,
        Pattern::EventStream
            | Pattern::CustomStream
            | Pattern::ServiceRequest
            | Pattern::ServiceResponse
            | Pattern::QueuePublish
    ) {
        return Err(err("unknown pattern"));
    }
    let destination = if ep.pattern == Pattern::QueuePublish && !ep.queue_name.is_empty() {
        &ep.queue_name
    } else {
        &ep.exchange_name
    };
    if destination.is_empty() {
        return Err(err("exchange name must not be empty"));
    }
    let (channel, reply) = match wire {
        Wire::Nats => nats_channels(ep),
        Wire::Amqp => amqp_channels(ep),
    };
    let reply_message = ep.pattern == Pattern::ServiceResponse;
    let message = MessageSpec {
        id_base: message_id_base(ep, reply_message),
        routing_key: ep.routing_key.clone(),
        message_type: ep.message_type.clone(),
        cloud_events: !(reply_message && wire == Wire::Nats),
        reply: reply_message,
    };
    Ok(Mapped {
        summary: summary(&topology.service_name, wire, ep),
        bindings: operation_bindings(wire, ep),
        channel,
        message,
        action,
        reply,
    })
}

/// The message a reply channel carries when no response endpoint names one.
pub(super) fn default_reply_message(routing_key: &str, wire: Wire) -> MessageSpec {
    MessageSpec {
        id_base: reply_id(routing_key),
        routing_key: routing_key.to_owned(),
        message_type: String::new(),
        cloud_events: wire == Wire::Amqp,
        reply: true,
    }
}

fn reply_id(routing_key: &str) -> String {
    if routing_key.is_empty() {
        "reply".to_owned()
    } else {
        format!("{routing_key}.reply")
    }
}

fn message_id_base(ep: &Endpoint, reply: bool) -> String {
    if !ep.message_type.is_empty() {
        ep.message_type.clone()
    } else if reply {
        reply_id(&ep.routing_key)
    } else if ep.routing_key.is_empty() {
        "any".to_owned()
    } else {
        ep.routing_key.clone()
    }
}

fn summary(service: &str, wire: Wire, ep: &Endpoint) -> String {
    let verb = if ep.direction == EndpointDirection::Publish {
        "publishes"
    } else {
        "consumes"
    };
    let what = if ep.pattern == Pattern::QueuePublish {
        format!("to queue `{}`", ep.queue_name)
    } else if ep.routing_key.is_empty() {
        "any routing key".to_owned()
    } else {
        format!("`{}`", ep.routing_key)
    };
    let queue = match (ep.direction == EndpointDirection::Consume, ep.ephemeral) {
        (true, true) => " with a transient consumer".to_owned(),
        (true, false) if !ep.queue_name.is_empty() && has_queue(wire, ep) => {
            format!(" from `{}`", ep.queue_name)
        }
        _ => String::new(),
    };
    format!("{service} {verb} {what} ({}){queue}", ep.pattern)
}

/// Whether the endpoint's queue name names something on the broker: on NATS, replies
/// arrive on the request's inbox, whatever the topology calls the consumer.
fn has_queue(wire: Wire, ep: &Endpoint) -> bool {
    wire == Wire::Amqp || ep.pattern != Pattern::ServiceResponse
}

fn nats_channels(ep: &Endpoint) -> (ChannelSpec, Option<ChannelSpec>) {
    let rk = ep.routing_key.as_str();
    match ep.pattern {
        Pattern::ServiceRequest => {
            let target = ep.exchange_name.as_str();
            let address = if rk.is_empty() {
                format!("{target}.request.>")
            } else {
                nats_request_subject(target, rk)
            };
            let channel = nats_channel(
                address,
                format!("Core NATS request subject of service `{target}`"),
            );
            (channel, Some(nats_reply_channel(target, rk)))
        }
        Pattern::ServiceResponse => (nats_reply_channel(&ep.exchange_name, rk), None),
        Pattern::QueuePublish => {
            let queue = if ep.queue_name.is_empty() {
                &ep.exchange_name
            } else {
                &ep.queue_name
            };
            let channel = nats_channel(queue.clone(), "Core NATS subject of a queue".to_owned());
            (channel, None)
        }
        // Event and custom streams; anything else was rejected by the caller.
        _ => {
            let stream = nats_stream_name(&ep.exchange_name);
            let address = match (rk.is_empty(), &ep.direction) {
                (true, _) => nats_stream_subjects(&stream),
                (false, EndpointDirection::Consume) => nats_filter_subject(&stream, rk),
                (false, _) => nats_subject(&stream, rk),
            };
            let channel = nats_channel(address, format!("JetStream stream `{stream}`"));
            (channel, None)
        }
    }
}

fn nats_channel(address: String, description: String) -> ChannelSpec {
    ChannelSpec {
        identity: address.clone(),
        id_base: address.clone(),
        address: Some(address),
        description,
        bindings: None,
    }
}

fn nats_reply_channel(target: &str, rk: &str) -> ChannelSpec {
    let id_base = if rk.is_empty() {
        format!("{target}.reply")
    } else {
        format!("{target}.reply.{rk}")
    };
    ChannelSpec {
        identity: format!("reply {target} {rk}"),
        id_base,
        address: None,
        description: format!(
            "Core NATS reply to requests for service `{target}`: the requester's inbox, chosen per request"
        ),
        bindings: None,
    }
}

fn amqp_channels(ep: &Endpoint) -> (ChannelSpec, Option<ChannelSpec>) {
    let rk = ep.routing_key.as_str();
    match ep.pattern {
        Pattern::QueuePublish => {
            let queue = ep.queue_name.as_str();
            let channel = ChannelSpec {
                identity: format!("queue {queue}"),
                id_base: queue.to_owned(),
                address: Some(queue.to_owned()),
                description: format!("AMQP queue `{queue}`, sent through the default exchange"),
                bindings: Some(json!({"amqp": {
                    "is": "queue",
                    "queue": {"name": queue, "durable": true, "exclusive": false, "autoDelete": false, "vhost": "/"},
                    "bindingVersion": AMQP_BINDING_VERSION,
                }})),
            };
            (channel, None)
        }
        Pattern::ServiceRequest => {
            let exchange = ep.exchange_name.as_str();
            let target = exchange
                .strip_suffix(REQUEST_EXCHANGE_SUFFIX)
                .unwrap_or(exchange);
            let reply = amqp_exchange_channel(
                &service_response_exchange_name(target),
                &ExchangeKind::Headers,
                rk,
            );
            let channel = amqp_exchange_channel(exchange, &kind_or(ep, ExchangeKind::Direct), rk);
            (channel, Some(reply))
        }
        Pattern::ServiceResponse => {
            let channel =
                amqp_exchange_channel(&ep.exchange_name, &kind_or(ep, ExchangeKind::Headers), rk);
            (channel, None)
        }
        _ => {
            let channel =
                amqp_exchange_channel(&ep.exchange_name, &kind_or(ep, ExchangeKind::Topic), rk);
            (channel, None)
        }
    }
}

fn kind_or(ep: &Endpoint, default: ExchangeKind) -> ExchangeKind {
    match ep.exchange_kind {
        ExchangeKind::Topic | ExchangeKind::Direct | ExchangeKind::Headers => {
            ep.exchange_kind.clone()
        }
        _ => default,
    }
}

/// A routing key on an exchange; the address is the key, `None` for "any key".
fn amqp_exchange_channel(exchange: &str, kind: &ExchangeKind, rk: &str) -> ChannelSpec {
    let id_base = if rk.is_empty() {
        exchange.to_owned()
    } else {
        format!("{exchange}.{rk}")
    };
    ChannelSpec {
        identity: format!("exchange {exchange} {rk}"),
        id_base,
        address: (!rk.is_empty()).then(|| rk.to_owned()),
        description: format!("AMQP {} exchange `{exchange}`", kind.as_str()),
        bindings: Some(json!({"amqp": {
            "is": "routingKey",
            "exchange": {"name": exchange, "type": kind.as_str(), "durable": true, "autoDelete": false, "vhost": "/"},
            "bindingVersion": AMQP_BINDING_VERSION,
        }})),
    }
}

fn operation_bindings(wire: Wire, ep: &Endpoint) -> Option<Value> {
    let consume = ep.direction == EndpointDirection::Consume;
    match wire {
        // The NATS binding's `queue` is a queue group: request handlers join one named
        // after the service, and a durable JetStream consumer is shared the same way.
        Wire::Nats => (consume && !ep.ephemeral && !ep.queue_name.is_empty()).then(
            || json!({"nats": {"queue": ep.queue_name, "bindingVersion": NATS_BINDING_VERSION}}),
        ),
        Wire::Amqp if consume => {
            Some(json!({"amqp": {"ack": true, "bindingVersion": AMQP_BINDING_VERSION}}))
        }
        Wire::Amqp => {
            Some(json!({"amqp": {"deliveryMode": 2, "bindingVersion": AMQP_BINDING_VERSION}}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(direction: EndpointDirection, pattern: Pattern, exchange: &str, rk: &str) -> Endpoint {
        Endpoint::new(direction, pattern, exchange, ExchangeKind::Topic).with_routing_key(rk)
    }

    #[test]
    fn nats_consumer_uses_the_filter_subject() {
        let e = ep(
            EndpointDirection::Consume,
            Pattern::EventStream,
            "events",
            "Order.#",
        );
        let (ch, reply) = nats_channels(&e);
        assert_eq!(ch.address.as_deref(), Some("events.Order.>"));
        assert!(reply.is_none());
    }

    #[test]
    fn amqp_request_replies_on_the_response_exchange() {
        let e = ep(
            EndpointDirection::Publish,
            Pattern::ServiceRequest,
            "email-svc.direct.exchange.request",
            "",
        );
        let (ch, reply) = amqp_channels(&e);
        assert_eq!(ch.address, None);
        assert_eq!(ch.id_base, "email-svc.direct.exchange.request");
        let reply = reply.expect("request has a reply channel");
        assert_eq!(reply.id_base, "email-svc.headers.exchange.response");
    }

    #[test]
    fn transport_is_inferred_from_amqp_suffixes() {
        let t = Topology::new(None, "a").with_endpoint(ep(
            EndpointDirection::Publish,
            Pattern::EventStream,
            "events.topic.exchange",
            "A",
        ));
        assert_eq!(Wire::of(&t).ok(), Some(Wire::Amqp));
        let t = Topology::new(None, "a");
        assert_eq!(Wire::of(&t).ok(), Some(Wire::Nats));
    }
}
