//! # messaging-nats
//!
//! gomessaging over NATS: domain events on JetStream streams (durable and transient
//! consumers, wildcard routing, fan-out) and request-reply on Core NATS. Subjects, stream
//! and consumer names, and CloudEvents headers are byte-compatible with the Go
//! (`go-messaging-nats`) and TypeScript implementations, so Rust services join a fleet of
//! Go and Node services on one broker.
//!
//! ```no_run
//! use messaging_nats::Connection;
//! use messaging_spec::{ConsumableEvent, HandlerError};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct OrderCreated { id: u64 }
//!
//! async fn on_order(ev: ConsumableEvent<OrderCreated>) -> Result<(), HandlerError> {
//!     println!("order {} from {}", ev.payload.id, ev.metadata.source);
//!     Ok(())
//! }
//!
//! # async fn demo() -> Result<(), messaging_nats::Error> {
//! let orders = Connection::builder("orders").url("nats://127.0.0.1:4222")
//!     .event_publisher()
//!     .start().await?;
//! let notifications = Connection::builder("notifications").url("nats://127.0.0.1:4222")
//!     .event_consumer("Order.Created", on_order)
//!     .start().await?;
//! orders.event_publisher()?.publish("Order.Created", &OrderCreated { id: 1 }).await?;
//! # Ok(()) }
//! ```
//!
//! See `docs/nats.md` in the repository for every option and how we differ from the Go
//! reference.

mod builder;
mod config;
mod connection;
mod consumer;
mod dead_letters;
mod error;
mod events;
mod headers;
mod health;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(not(feature = "metrics"))]
#[path = "metrics_off.rs"]
mod metrics;
mod micro;
mod options;
#[cfg(feature = "otel")]
mod otel;
#[cfg(not(feature = "otel"))]
#[path = "otel_off.rs"]
mod otel;
mod permissions;
mod plan;
mod publisher;
mod request;
mod response;
mod stream;

pub use builder::{ConnectionBuilder, redact_url};
pub use config::{Config, ENV_PREFIX};
pub use connection::Connection;
pub use dead_letters::{DeadLetterMessage, Replayed};
pub use error::{
    BoxError, ConnectFailure, ConsumerSetting, Error, PublishFailure, RequestFailure, Result,
};
pub use health::{ConsumerHealth, Health, HealthProblem, HealthStatus};
pub use messaging_core::{
    ConsumerOptions, DEFAULT_DEAD_LETTER_STREAM, DeadLetter, DeadLetterReason, DeadLetterRecord,
    PublishTarget, Replay, Setup, StartAt,
};
#[cfg(feature = "metrics")]
#[doc(hidden)]
pub use metrics::bench_record_consumed;
#[cfg(feature = "metrics")]
pub use metrics::{
    Metrics, MetricsBuilder, PROCESSED_BUCKETS_MS, PUBLISH_BUCKETS_MS, REQUEST_BUCKETS_MS,
    UNKNOWN_ROUTING_KEY,
};
pub use options::{Storage, StreamConfig};
#[cfg(feature = "otel")]
#[doc(hidden)]
pub use otel::bench_consumer_spans;
#[cfg(feature = "otel")]
pub use otel::{INSTRUMENTATION_NAME, OtelTracing};
pub use permissions::Permission;
pub use publisher::{Call, PendingAck, Publish, PublishReceipt, Publisher};

pub use async_nats;
pub use messaging_core;
pub use messaging_spec;
#[cfg(feature = "otel")]
pub use opentelemetry;
#[cfg(feature = "metrics")]
pub use prometheus;
