//! # messaging-spec
//!
//! The gomessaging specification in Rust: the types every transport shares, with the exact
//! JSON shapes of the Go and TypeScript implementations; the naming rules; CloudEvents
//! header handling; routing-key matching; topology validation; Mermaid diagrams; handler
//! contracts; and the TCK protocol types.
//!
//! This crate is pure: no I/O, no async runtime. Transports (`messaging-nats`) build on it.

mod cloudevents;
mod error;
mod handler;
mod intent;
mod mermaid;
mod metadata;
mod name;
pub mod naming;
mod routing;
pub mod tck;
mod topology;
mod validate;

pub use error::{Error, NameKind, Result};
pub use metadata::{
    ConsumableEvent, DeliveryInfo, ErrorNotification, Headers, Metadata, Notification,
    SharedError,
};
pub use name::{ConsumerSuffix, RoutingKey, RoutingPattern, ServiceName, StreamName};
pub use routing::{RoutingTable, match_routing_key, routing_key_overlaps};
pub use tck::{PublisherKey, SetupIntent};
pub use topology::{
    DEFAULT_EVENT_EXCHANGE_NAME, Endpoint, EndpointDirection, ExchangeKind, NotificationSource,
    Pattern, Topology, Transport,
};
pub use validate::{ValidationError, ValidationErrors};
