//! # messaging-spec
//!
//! The gomessaging specification in Rust: the types every transport shares, with the exact
//! JSON shapes of the Go and TypeScript implementations; the naming rules; CloudEvents
//! header handling; routing-key matching; topology validation; Mermaid diagrams; AsyncAPI
//! 3.0 documents; handler contracts; and the TCK protocol types.
//!
//! This crate is pure: no I/O, no async runtime. Transports (`messaging-nats`) build on it.

mod asyncapi;
mod cloudevents;
mod error;
mod handler;
mod headers;
mod intent;
mod mermaid;
mod metadata;
mod name;
pub mod naming;
mod quote;
mod routing;
pub mod tck;
mod topology;
mod validate;

pub use asyncapi::{ASYNCAPI_VERSION, AsyncApi, DEFAULT_API_VERSION, asyncapi};
pub use cloudevents::{
    AMQP_CE_PREFIX, ATTR_CORRELATIONID, ATTR_DATACONTENTTYPE, ATTR_DATASCHEMA, ATTR_ID,
    ATTR_SOURCE, ATTR_SPECVERSION, ATTR_SUBJECT, ATTR_TIME, ATTR_TYPE, CE_CORRELATIONID,
    CE_DATACONTENTTYPE, CE_DATASCHEMA, CE_ID, CE_PREFIX, CE_SOURCE, CE_SPECVERSION, CE_SUBJECT,
    CE_TIME, CE_TYPE, CONTENT_TYPE_JSON, CeWarning, JMS_CE_PREFIX, REQUIRED_HEADERS,
    SERVICE_HEADER, SPEC_VERSION, amqp_ce_header_key, enrich_legacy_metadata, format_ce_time,
    has_ce_headers, metadata_from_headers, new_event_id, normalize_ce_headers, publish_headers,
    publish_headers_now, validate_ce_headers,
};
pub use error::{Error, NameKind, Result};
pub use handler::{BoxError, Disposition, EventHandler, HandlerError, RequestHandler};
pub use headers::{Headers, HeadersIntoIter};
pub use intent::{
    endpoints_for_intent, endpoints_for_intent_with_unique, ephemeral_queue_prefix,
    topology_for_intents,
};
pub use mermaid::mermaid;
pub use metadata::{
    ConsumableEvent, DeliveryInfo, ErrorNotification, Metadata, Notification, SharedError,
};
pub use name::{ConsumerSuffix, RoutingKey, RoutingPattern, ServiceName, StreamName};
pub use routing::{RoutingTable, match_routing_key, routing_key_overlaps};
pub use tck::{PublisherKey, SetupIntent};
pub use topology::{
    DEFAULT_EVENT_EXCHANGE_NAME, Endpoint, EndpointDirection, ExchangeKind, NotificationSource,
    Pattern, Topology, Transport,
};
pub use validate::{
    ValidationError, ValidationErrors, validate, validate_for_export, validate_topologies,
    validate_topologies_for_export,
};
