//! # messaging-amqp
//!
//! gomessaging over RabbitMQ (AMQP 0-9-1, on lapin): domain events on topic exchanges with
//! quorum queues (durable and transient consumers, wildcard routing, fan-out),
//! request-response between services (the reference's asynchronous headers-exchange
//! pattern, plus typed requests over direct reply-to), and sender-selected queue
//! publishing. Exchange and queue names, queue arguments, bindings, properties and
//! CloudEvents headers are the Go reference's (`go-messaging-amqp`), so Rust services
//! share queues with Go and Node instances. The API is the NATS transport's
//! (`messaging-nats`): the same builder, registrations ([`Setup`]) and handlers.
//!
//! ```no_run
//! use messaging_amqp::Connection;
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
//! # async fn demo() -> Result<(), messaging_amqp::Error> {
//! let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
//! let orders = Connection::builder("orders").url(url)
//!     .event_publisher()
//!     .start().await?;
//! let notifications = Connection::builder("notifications").url(url)
//!     .event_consumer("Order.Created", on_order)
//!     .start().await?;
//! orders.event_publisher()?.publish("Order.Created", &OrderCreated { id: 1 }).await?;
//! notifications.close().await?;
//! orders.close().await
//! # }
//! ```
//!
//! See `docs/amqp.md` in the repository for every setting, the wire mapping, the ack
//! table and how we differ from the Go reference.
//!
//! | Module | Job |
//! |---|---|
//! | `builder` | [`ConnectionBuilder`]: settings, registrations, `topology()`, `start()` |
//! | `plan` | registrations (validated by `messaging-core`) → exchanges, queues, bindings |
//! | `declare` | exchange / queue / binding declarations with the reference's flags and arguments |
//! | `connect` | URL parsing and redaction, connection name, heartbeat |
//! | `link` | the current connection, and a new one (backoff, exchanges re-declared) when it is lost |
//! | `connection` | [`Connection`]: publishers, responses, health, graceful close |
//! | `publisher` | [`Publisher`], [`Publish`], [`PendingConfirm`], [`Call`]: headers, confirms, retries, typed requests |
//! | `publish` | publisher channels: confirm mode, the confirm window, reopening closed channels |
//! | `reply` | direct reply-to: the requests channel and its correlation map |
//! | `respond` | responses (headers exchange), direct replies, replies to response handlers |
//! | `consume` | one channel and consumer per queue, dispatch, recovery |
//! | `routing` | handler lookup with the broker's topic semantics (`Order.#` also takes `Order`) |
//! | `settle` | the ack table: core settlement → `basic.ack` / `nack` / `reject` |
//! | `headers` | AMQP header tables ⇄ spec headers |
//! | `health` | [`Health`] |
//! | `metrics` / `otel` | Prometheus (`amqp_events_*`) and OpenTelemetry (`messaging.system=rabbitmq`) |

mod builder;
mod connect;
mod connection;
mod consume;
mod declare;
mod error;
mod headers;
mod health;
mod link;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(not(feature = "metrics"))]
#[path = "metrics_off.rs"]
mod metrics;
mod options;
#[cfg(feature = "otel")]
mod otel;
#[cfg(not(feature = "otel"))]
#[path = "otel_off.rs"]
mod otel;
mod plan;
mod publish;
mod publisher;
mod reply;
mod respond;
mod routing;
mod settle;

pub use builder::ConnectionBuilder;
pub use connection::Connection;
pub use error::{BoxError, Error, PublishFailure, RequestFailure, Result};
pub use health::Health;
pub use messaging_core::{
    ConsumerOptions, DeadLetter, DeadLetterReason, PublishTarget, Replay, Setup, StartAt,
};
#[cfg(feature = "metrics")]
pub use metrics::{
    Metrics, MetricsBuilder, PROCESSED_BUCKETS_MS, PUBLISH_BUCKETS_MS, UNKNOWN_ROUTING_KEY,
};
#[cfg(feature = "otel")]
pub use otel::{INSTRUMENTATION_NAME, OtelTracing};
pub use publisher::{Call, PendingConfirm, Publish, PublishReceipt, Publisher};

pub use lapin;
pub use messaging_core;
pub use messaging_spec;
#[cfg(feature = "otel")]
pub use opentelemetry;
#[cfg(feature = "metrics")]
pub use prometheus;
