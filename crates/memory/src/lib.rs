//! # messaging-memory
//!
//! gomessaging in memory, for tests: no broker process, no I/O, only tokio. A [`Broker`]
//! value is the "server": JetStream-like streams that keep every message with durable and
//! transient consumers, and Core-NATS-like request-reply. [`Connection::builder`] takes
//! the same registrations as `messaging_nats::Connection::builder`, validates them with
//! the same `messaging_core::plan`, reports the same topology, publishes the same headers
//! and settles deliveries with the same decision table, so a service's handlers can be
//! tested here and run on NATS unchanged.
//!
//! Everything is timed with `tokio::time`, so under `#[tokio::test(start_paused = true)]`
//! a 30-second backoff or AckWait takes no real time.
//!
//! A unit test of a handler:
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::time::Duration;
//!
//! use messaging_memory::{Broker, Connection};
//! use messaging_spec::{ConsumableEvent, HandlerError};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct OrderCreated { id: u64, cents: u64 }
//!
//! /// The code under test: totals the orders it sees.
//! fn revenue_handler(
//!     total: Arc<AtomicU64>,
//! ) -> impl Fn(ConsumableEvent<OrderCreated>) -> std::future::Ready<Result<(), HandlerError>>
//!        + Send + Sync + 'static {
//!     move |ev| {
//!         total.fetch_add(ev.payload.cents, Ordering::Relaxed);
//!         std::future::ready(Ok(()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), messaging_memory::Error> {
//! let broker = Broker::new();
//! let total = Arc::new(AtomicU64::new(0));
//! let reporting = Connection::builder("reporting")
//!     .broker(&broker)
//!     .event_consumer("Order.Created", revenue_handler(Arc::clone(&total)))
//!     .start()
//!     .await?;
//! let orders = broker.connection("orders").event_publisher().start().await?;
//!
//! let events = orders.event_publisher()?;
//! events.publish("Order.Created", &OrderCreated { id: 1, cents: 1250 }).await?;
//! events.publish("Order.Created", &OrderCreated { id: 2, cents: 750 }).await?;
//!
//! // Bounded wait: a typed error after 5 s (of tokio's clock) instead of a hang.
//! let stats = broker
//!     .wait_for_acked("events", "reporting", 2, Duration::from_secs(5))
//!     .await?;
//! assert_eq!((stats.acked, stats.naked, stats.termed), (2, 0, 0));
//! assert_eq!(total.load(Ordering::Relaxed), 2000);
//!
//! // What went over the "wire": the NATS transport's CloudEvents headers.
//! let sent = broker.published_with_key("Order.Created");
//! assert_eq!(sent[0].header("ce-source"), Some("orders"));
//! assert_eq!(sent[0].header("service"), Some("orders"));
//! assert_eq!(sent[1].sequence, Some(2));
//!
//! reporting.close().await?;
//! orders.close().await
//! # }
//! ```
//!
//! See `docs/testing.md` in this crate for what the memory transport emulates, what it
//! deliberately does not, and when to test against a real server instead.

mod broker;
mod builder;
mod connection;
mod consumer;
mod error;
mod headers;
mod publisher;
mod request;

pub use broker::{Broker, ConsumerStats, DeadLetterMessage, PublishedMessage, StreamInfo};
pub use builder::{ConnectionBuilder, memory_rules};
pub use connection::Connection;
pub use error::{BoxError, Error, RequestFailure, Result};
pub use messaging_core::{
    ConsumerOptions, DEFAULT_DEAD_LETTER_STREAM, DeadLetter, DeadLetterReason, DeadLetterRecord,
    PublishTarget, Replay, Setup, StartAt,
};
pub use publisher::{Call, PendingAck, Publish, PublishReceipt, Publisher};

pub use messaging_core;
pub use messaging_spec;
