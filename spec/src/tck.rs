//! The TCK's data types: setup intents, publisher keys and the JSON-RPC protocol (version 1).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::metadata::{DeliveryInfo, Metadata};
use crate::topology::{EndpointDirection, Pattern, Topology};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a service wants to set up, transport-neutral (the fixtures' `setups`).
///
/// ```
/// use messaging_spec::{SetupIntent, Pattern, EndpointDirection};
/// let i: SetupIntent = serde_json::from_str(
///     r#"{"pattern":"event-stream","direction":"consume","routingKey":"Order.Created"}"#,
/// ).unwrap();
/// assert_eq!(i.pattern, Pattern::EventStream);
/// assert_eq!(i.direction, EndpointDirection::Consume);
/// assert_eq!(serde_json::to_string(&i).unwrap(),
///     r#"{"pattern":"event-stream","direction":"consume","routingKey":"Order.Created"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SetupIntent {
    /// One of the five patterns.
    pub pattern: Pattern,
    /// Publish or consume.
    pub direction: EndpointDirection,
    /// Consumer binding key (AMQP-style wildcards).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub routing_key: String,
    /// Custom stream base name (custom-stream only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub exchange: String,
    /// Target service (service-request / service-response).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_service: String,
    /// Transient consumer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ephemeral: bool,
    /// Extra durable consumer, appended to the name as `-<suffix>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub queue_suffix: String,
    /// Queue-publish destination queue.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination_queue: String,
}

impl SetupIntent {
    /// An intent with only pattern and direction set.
    #[must_use]
    pub fn new(pattern: Pattern, direction: EndpointDirection) -> Self {
        Self {
            pattern,
            direction,
            routing_key: String::new(),
            exchange: String::new(),
            target_service: String::new(),
            ephemeral: false,
            queue_suffix: String::new(),
            destination_queue: String::new(),
        }
    }

    /// The key under which the TCK finds this intent's publisher.
    #[must_use]
    pub fn publisher_key(&self) -> PublisherKey {
        PublisherKey::for_intent(self)
    }
}

/// How the TCK names a publisher (`event-stream`, `custom-stream:<x>`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PublisherKey {
    /// `event-stream`.
    EventStream,
    /// `custom-stream:<exchange>`.
    CustomStream(String),
    /// `service-request:<target>`.
    ServiceRequest(String),
    /// `service-response:<target>` (the target may be empty).
    ServiceResponse(String),
    /// `queue-publish:<queue>`.
    QueuePublish(String),
    /// Any other pattern: the pattern string itself.
    Other(String),
}

impl PublisherKey {
    /// The key for an intent, per the spec's table.
    #[must_use]
    pub fn for_intent(intent: &SetupIntent) -> Self {
        match &intent.pattern {
            Pattern::EventStream => Self::EventStream,
            Pattern::CustomStream => Self::CustomStream(intent.exchange.clone()),
            Pattern::ServiceRequest => Self::ServiceRequest(intent.target_service.clone()),
            Pattern::ServiceResponse => Self::ServiceResponse(intent.target_service.clone()),
            Pattern::QueuePublish => Self::QueuePublish(intent.destination_queue.clone()),
            other => Self::Other(other.as_str().to_owned()),
        }
    }

    /// Parses the textual form.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text.split_once(':') {
            None if text == "event-stream" => Self::EventStream,
            Some(("custom-stream", x)) => Self::CustomStream(x.to_owned()),
            Some(("service-request", x)) => Self::ServiceRequest(x.to_owned()),
            Some(("service-response", x)) => Self::ServiceResponse(x.to_owned()),
            Some(("queue-publish", x)) => Self::QueuePublish(x.to_owned()),
            _ => Self::Other(text.to_owned()),
        }
    }
}

impl fmt::Display for PublisherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EventStream => f.write_str("event-stream"),
            Self::CustomStream(x) => write!(f, "custom-stream:{x}"),
            Self::ServiceRequest(x) => write!(f, "service-request:{x}"),
            Self::ServiceResponse(x) => write!(f, "service-response:{x}"),
            Self::QueuePublish(x) => write!(f, "queue-publish:{x}"),
            Self::Other(x) => f.write_str(x),
        }
    }
}

impl Serialize for PublisherKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublisherKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// A request line from the runner (stdin).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RpcRequest {
    /// Request id, echoed in the response.
    pub id: i64,
    /// Method name.
    pub method: String,
    /// Method parameters (`{}` when there are none).
    #[serde(default)]
    pub params: Option<Box<RawValue>>,
}

/// An error object in a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RpcError {
    /// Error code; the runner treats any code as fatal.
    pub code: i64,
    /// Human-readable message.
    pub message: String,
}

/// A response line to the runner (fd 3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RpcResponse {
    /// The request id.
    pub id: i64,
    /// The result, on success, as raw JSON (written verbatim, so key order is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

impl RpcResponse {
    /// A success response.
    #[must_use]
    pub fn ok(id: i64, result: Box<RawValue>) -> Self {
        Self {
            id,
            result: Some(result),
            error: None,
        }
    }

    /// A failure response with code -1.
    #[must_use]
    pub fn err(id: i64, message: impl Into<String>) -> Self {
        Self {
            id,
            result: None,
            error: Some(RpcError {
                code: -1,
                message: message.into(),
            }),
        }
    }
}

/// `hello` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HelloParams {
    /// Must be [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
}

/// Broker addresses; Go casing (`AMQPURL`, `ManagementURL`, `NATSURL`), any casing read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BrokerConfig {
    /// AMQP URL.
    #[serde(rename = "AMQPURL", alias = "amqpURL", alias = "amqpUrl", default)]
    pub amqp_url: String,
    /// RabbitMQ management URL, with credentials in its userinfo.
    #[serde(
        rename = "ManagementURL",
        alias = "managementURL",
        alias = "managementUrl",
        default
    )]
    pub management_url: String,
    /// NATS URL.
    #[serde(rename = "NATSURL", alias = "natsURL", alias = "natsUrl", default)]
    pub nats_url: String,
}

impl BrokerConfig {
    /// A config naming only a NATS server.
    #[must_use]
    pub fn nats(url: impl Into<String>) -> Self {
        Self {
            nats_url: url.into(),
            ..Self::default()
        }
    }

    /// A config naming a RabbitMQ broker and its management API (credentials in the
    /// management URL's userinfo, no trailing slash).
    #[must_use]
    pub fn amqp(url: impl Into<String>, management_url: impl Into<String>) -> Self {
        Self {
            amqp_url: url.into(),
            management_url: management_url.into(),
            ..Self::default()
        }
    }
}

/// `hello` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HelloResult {
    /// [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// `amqp` or `nats`.
    pub transport_key: String,
    /// Where the runner finds the broker.
    pub broker_config: BrokerConfig,
}

impl HelloResult {
    /// A version-1 hello result.
    #[must_use]
    pub fn new(transport_key: impl Into<String>, broker_config: BrokerConfig) -> Self {
        Self {
            protocol_version: PROTOCOL_VERSION,
            transport_key: transport_key.into(),
            broker_config,
        }
    }
}

/// `start_service` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StartServiceParams {
    /// Runtime (randomised) service name.
    pub service_name: String,
    /// What to set up.
    #[serde(default, deserialize_with = "crate::topology::null_as_empty")]
    pub intents: Vec<SetupIntent>,
}

/// `start_service` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StartServiceResult {
    /// One key per publish intent.
    pub publisher_keys: Vec<String>,
    /// The service's topology.
    pub topology: Topology,
}

impl StartServiceResult {
    /// Bundles keys and topology.
    #[must_use]
    pub fn new(publisher_keys: Vec<String>, topology: Topology) -> Self {
        Self {
            publisher_keys,
            topology,
        }
    }
}

/// `publish` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PublishParams {
    /// Runtime service name.
    pub service_name: String,
    /// Which publisher.
    pub publisher_key: String,
    /// Routing key.
    pub routing_key: String,
    /// JSON payload, sent as the body verbatim.
    pub payload: Box<RawValue>,
    /// Extra headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
}

/// Params naming only a service (`received`, `close_service`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServiceParams {
    /// Runtime service name.
    pub service_name: String,
}

/// One message in a `received` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReceivedMessage {
    /// The routing key it arrived with.
    pub routing_key: String,
    /// The payload as a JSON value (not a string holding JSON).
    pub payload: Box<RawValue>,
    /// CloudEvents metadata.
    pub metadata: Metadata,
    /// Delivery info, Go casing.
    pub delivery_info: DeliveryInfo,
}

impl ReceivedMessage {
    /// Bundles the parts.
    #[must_use]
    pub fn new(
        routing_key: impl Into<String>,
        payload: Box<RawValue>,
        metadata: Metadata,
        delivery_info: DeliveryInfo,
    ) -> Self {
        Self {
            routing_key: routing_key.into(),
            payload,
            metadata,
            delivery_info,
        }
    }
}

/// `received` result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReceivedResult {
    /// Every message so far, in arrival order.
    #[serde(default, deserialize_with = "crate::topology::null_as_empty")]
    pub messages: Vec<ReceivedMessage>,
}

impl ReceivedResult {
    /// Wraps the messages.
    #[must_use]
    pub fn new(messages: Vec<ReceivedMessage>) -> Self {
        Self { messages }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_keys_follow_the_table() {
        let mut i = SetupIntent::new(Pattern::CustomStream, EndpointDirection::Publish);
        i.exchange = "audit".into();
        assert_eq!(i.publisher_key().to_string(), "custom-stream:audit");
        let i = SetupIntent::new(Pattern::ServiceResponse, EndpointDirection::Publish);
        assert_eq!(i.publisher_key().to_string(), "service-response:");
        let i = SetupIntent::new(Pattern::EventStream, EndpointDirection::Publish);
        assert_eq!(i.publisher_key(), PublisherKey::EventStream);
        for text in [
            "event-stream",
            "custom-stream:audit",
            "service-request:email-svc",
            "service-response:",
            "queue-publish:task-queue",
            "weird",
        ] {
            assert_eq!(PublisherKey::parse(text).to_string(), text);
        }
    }

    #[test]
    fn broker_config_uses_go_casing() -> Result<(), serde_json::Error> {
        let c = BrokerConfig::nats("nats://127.0.0.1:4222");
        assert_eq!(
            serde_json::to_string(&c)?,
            r#"{"AMQPURL":"","ManagementURL":"","NATSURL":"nats://127.0.0.1:4222"}"#
        );
        let c: BrokerConfig = serde_json::from_str(r#"{"natsURL":"nats://x"}"#)?;
        assert_eq!(c.nats_url, "nats://x");
        Ok(())
    }

    #[test]
    fn response_omits_absent_parts() -> Result<(), serde_json::Error> {
        assert_eq!(
            serde_json::to_string(&RpcResponse::ok(3, RawValue::from_string("{}".into())?))?,
            r#"{"id":3,"result":{}}"#
        );
        assert_eq!(
            serde_json::to_string(&RpcResponse::err(4, "boom"))?,
            r#"{"id":4,"error":{"code":-1,"message":"boom"}}"#
        );
        Ok(())
    }
}
