//! # messaging-core
//!
//! The transport-neutral core of gomessaging for Rust. Every transport (`messaging-nats`,
//! `messaging-amqp`, the in-memory one) builds on it, so registrations, validation,
//! routing, the ack decision table and notifications behave the same on every broker:
//!
//! - [`Setup`]: one registration (publisher or consumer) as a plain value, usable with
//!   every transport's builder, and [`ConsumerOptions`].
//! - [`plan()`]: validates registrations with no I/O and groups them into consumers, with
//!   the [`Rules`] of the transport.
//! - [`erased`]: handlers with their payload types erased; [`dispatch`]: metadata,
//!   panics caught, outcome classification; [`decide`]: how to settle a delivery.
//! - [`Observer`]: non-blocking success and error notifications.
//! - [`EventPublisher`], [`Requester`]: the traits service code is written against.
//!
//! Handlers themselves ([`messaging_spec::EventHandler`], [`messaging_spec::RequestHandler`])
//! live in `messaging-spec`.

mod api;
mod dead_letter;
mod dedup;
pub mod dispatch;
pub mod erased;
mod error;
mod observe;
mod options;
#[cfg(feature = "otel")]
mod otel;
mod plan;
mod registrations;
pub mod reply;
mod settle;
mod setup;
mod shutdown;
mod target;

pub use api::{EventPublisher, Requester, TransportError};
pub use dead_letter::{
    DEAD_LETTER_HEADER_PREFIX, DEFAULT_DEAD_LETTER_STREAM, DL_CONSUMER, DL_DELIVERIES, DL_ERROR,
    DL_REASON, DL_SEQUENCE, DL_SERVICE, DL_STREAM, DL_SUBJECT, DL_TIME, DeadLetterReason,
    DeadLetterRecord, DeadLetterTarget, is_dead_letter_header,
};
pub use dedup::{Check, DedupFilter, Deduplicate, MAX_REMEMBERED, RUNNING_RETRY};
pub use error::{BoxError, Error, Result};
pub use observe::{DropHook, Observer};
pub use options::{ConsumerOptions, DeadLetter, Replay, StartAt};
#[cfg(feature = "otel")]
pub use otel::{MessageSpan, MessageTracer, SharedPropagator, TracerChoice};
pub use plan::{ConsumerGroup, Plan, RequestRoute, ResponseRoute, Route, Rules, plan};
pub use settle::{Outcome, Settlement, decide, decide_with_limit, exhausted};
pub use setup::{Setup, SetupKind, TargetSpec};
pub use shutdown::drain_tasks;
pub use target::PublishTarget;

pub use messaging_spec;
#[doc(hidden)]
pub use serde as __serde;
