//! Topology types: what a service publishes and consumes, in the spec's exact JSON shape.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a string enum that is open on the wire: known values get variants, anything
/// else is kept verbatim in `Other`, because the fixtures carry values outside the lists.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value outside the spec's list, kept verbatim (it may be empty).
            Other(String),
        }

        impl $name {
            /// The wire string.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(s) => s,
                }
            }

            /// Every value the spec defines, in declaration order.
            pub const KNOWN: &'static [Self] = &[$( Self::$variant ),+];
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(match s {
                    $( $text => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                })
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s.parse() {
                    Ok(v) => v,
                    Err(never) => match never {},
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

open_enum! {
    /// The broker family a topology belongs to.
    Transport {
        /// RabbitMQ / AMQP 0-9-1.
        Amqp => "amqp",
        /// NATS (JetStream and Core).
        Nats => "nats",
    }
}

open_enum! {
    /// Whether an endpoint sends or receives.
    EndpointDirection {
        /// The service sends messages here.
        Publish => "publish",
        /// The service receives messages from here.
        Consume => "consume",
    }
}

open_enum! {
    /// The AMQP exchange kind an endpoint maps to (NATS reuses the names).
    ///
    /// Queue-publish endpoints carry an empty kind, which reads as `Other("")`;
    /// [`ExchangeKind::none`] builds it.
    ExchangeKind {
        /// Topic exchange / JetStream stream.
        Topic => "topic",
        /// Direct exchange / Core NATS request subject.
        Direct => "direct",
        /// Headers exchange / Core NATS reply.
        Headers => "headers",
    }
}

impl ExchangeKind {
    /// The empty kind used by queue-publish endpoints.
    #[must_use]
    pub fn none() -> Self {
        Self::Other(String::new())
    }
}

open_enum! {
    /// The messaging pattern of an endpoint or intent.
    Pattern {
        /// Domain events on the default `events` stream.
        EventStream => "event-stream",
        /// Events on a named custom stream.
        CustomStream => "custom-stream",
        /// Requests sent to (or handled by) a service.
        ServiceRequest => "service-request",
        /// Responses to requests.
        ServiceResponse => "service-response",
        /// Sender-selected delivery straight to a named queue.
        QueuePublish => "queue-publish",
    }
}

open_enum! {
    /// Who produced a [`crate::Notification`]. The spec defines only `CONSUMER`.
    NotificationSource {
        /// A consumer handled (or failed to handle) a message.
        Consumer => "CONSUMER",
    }
}

/// The name of the default event exchange (`events`).
pub const DEFAULT_EVENT_EXCHANGE_NAME: &str = "events";

fn is_false(b: &bool) -> bool {
    !*b
}

/// One publish or consume point of a service.
///
/// ```
/// use messaging_spec::{Endpoint, EndpointDirection, ExchangeKind, Pattern};
/// let ep = Endpoint::new(EndpointDirection::Consume, Pattern::EventStream, "events", ExchangeKind::Topic)
///     .with_queue_name("orders")
///     .with_routing_key("Order.Created");
/// let json = serde_json::to_string(&ep).unwrap();
/// assert_eq!(json, r#"{"direction":"consume","pattern":"event-stream","exchangeName":"events","exchangeKind":"topic","queueName":"orders","routingKey":"Order.Created"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Endpoint {
    /// Publish or consume.
    #[serde(default = "empty_direction")]
    pub direction: EndpointDirection,
    /// The messaging pattern.
    #[serde(default = "empty_pattern")]
    pub pattern: Pattern,
    /// AMQP exchange name, or NATS stream / target service name.
    #[serde(default)]
    pub exchange_name: String,
    /// Exchange kind; empty for queue-publish.
    #[serde(default = "ExchangeKind::none")]
    pub exchange_kind: ExchangeKind,
    /// AMQP queue or NATS durable consumer name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub queue_name: String,
    /// Binding key (AMQP wildcard style, never `>`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub routing_key: String,
    /// Informational payload type name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message_type: String,
    /// True for transient consumers.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ephemeral: bool,
}

fn empty_direction() -> EndpointDirection {
    EndpointDirection::Other(String::new())
}

fn empty_pattern() -> Pattern {
    Pattern::Other(String::new())
}

impl Default for Endpoint {
    fn default() -> Self {
        Self {
            direction: empty_direction(),
            pattern: empty_pattern(),
            exchange_name: String::new(),
            exchange_kind: ExchangeKind::none(),
            queue_name: String::new(),
            routing_key: String::new(),
            message_type: String::new(),
            ephemeral: false,
        }
    }
}

impl Endpoint {
    /// An endpoint with the four always-present fields set and the rest empty.
    #[must_use]
    pub fn new(
        direction: EndpointDirection,
        pattern: Pattern,
        exchange_name: impl Into<String>,
        exchange_kind: ExchangeKind,
    ) -> Self {
        Self {
            direction,
            pattern,
            exchange_name: exchange_name.into(),
            exchange_kind,
            ..Self::default()
        }
    }

    /// Sets the queue (or durable consumer) name.
    #[must_use]
    pub fn with_queue_name(mut self, queue: impl Into<String>) -> Self {
        self.queue_name = queue.into();
        self
    }

    /// Sets the routing key.
    #[must_use]
    pub fn with_routing_key(mut self, key: impl Into<String>) -> Self {
        self.routing_key = key.into();
        self
    }

    /// Marks the endpoint as a transient consumer.
    #[must_use]
    pub fn with_ephemeral(mut self, ephemeral: bool) -> Self {
        self.ephemeral = ephemeral;
        self
    }

    /// Sets the informational message type.
    #[must_use]
    pub fn with_message_type(mut self, ty: impl Into<String>) -> Self {
        self.message_type = ty.into();
        self
    }
}

/// Everything one service publishes and consumes.
///
/// `transport` is omitted from JSON when unset; `endpoints` reads `null` as empty and
/// writes `[]`.
///
/// ```
/// use messaging_spec::{Topology, Transport};
/// let t: Topology = serde_json::from_str(r#"{"serviceName":"orders","endpoints":null}"#).unwrap();
/// assert_eq!(t.service_name, "orders");
/// assert!(t.transport.is_none());
/// assert!(t.endpoints.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Topology {
    /// The transport, when known. An empty string reads as `None`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "transport_or_none"
    )]
    pub transport: Option<Transport>,
    /// The service that owns the endpoints.
    #[serde(default)]
    pub service_name: String,
    /// The endpoints, in registration order.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub endpoints: Vec<Endpoint>,
}

impl Topology {
    /// An empty topology for `service_name` on `transport`.
    #[must_use]
    pub fn new(transport: Option<Transport>, service_name: impl Into<String>) -> Self {
        Self {
            transport,
            service_name: service_name.into(),
            endpoints: Vec::new(),
        }
    }

    /// Appends an endpoint.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }
}

fn transport_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Transport>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.filter(|s| !s.is_empty())
        .map(|s| Transport::from(s.as_str())))
}

pub(crate) fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_enums_keep_unknown_values() {
        assert_eq!(Pattern::from(""), Pattern::Other(String::new()));
        assert_eq!(Pattern::from("event-stream"), Pattern::EventStream);
        assert_eq!(ExchangeKind::from("fanout").as_str(), "fanout");
        assert_eq!(NotificationSource::Consumer.to_string(), "CONSUMER");
    }

    #[test]
    fn endpoint_round_trips_with_empty_enums() -> Result<(), serde_json::Error> {
        let raw = r#"{"direction":"publish","pattern":"queue-publish","exchangeName":"(default)","exchangeKind":"","queueName":"task-queue"}"#;
        let ep: Endpoint = serde_json::from_str(raw)?;
        assert_eq!(ep.exchange_kind, ExchangeKind::none());
        assert_eq!(serde_json::to_string(&ep)?, raw);
        Ok(())
    }

    #[test]
    fn ephemeral_written_only_when_true() -> Result<(), serde_json::Error> {
        let ep = Endpoint::new(
            EndpointDirection::Consume,
            Pattern::EventStream,
            "events",
            ExchangeKind::Topic,
        )
        .with_routing_key("Order.Created")
        .with_ephemeral(true);
        let json = serde_json::to_string(&ep)?;
        assert_eq!(
            json,
            r#"{"direction":"consume","pattern":"event-stream","exchangeName":"events","exchangeKind":"topic","routingKey":"Order.Created","ephemeral":true}"#
        );
        assert_eq!(serde_json::from_str::<Endpoint>(&json)?, ep);
        Ok(())
    }

    #[test]
    fn topology_transport_omitted_when_none() -> Result<(), serde_json::Error> {
        let t = Topology::new(None, "svc");
        assert_eq!(
            serde_json::to_string(&t)?,
            r#"{"serviceName":"svc","endpoints":[]}"#
        );
        let t: Topology =
            serde_json::from_str(r#"{"transport":"","serviceName":"a","endpoints":[]}"#)?;
        assert_eq!(t.transport, None);
        let t = Topology::new(Some(Transport::Nats), "svc");
        assert_eq!(
            serde_json::to_string(&t)?,
            r#"{"transport":"nats","serviceName":"svc","endpoints":[]}"#
        );
        Ok(())
    }
}
