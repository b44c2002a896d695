//! The NATS transport's error type.

use std::time::Duration;

/// A boxed error from a lower layer (async-nats, serde).
pub use messaging_core::BoxError;

/// Why a Core NATS request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestFailure {
    /// Nobody subscribes to the request subject.
    NoResponders,
    /// No reply arrived within the timeout.
    TimedOut,
    /// Anything else (connection closed, invalid subject…).
    Other,
}

/// Why a JetStream publish failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishFailure {
    /// No ack arrived within `publish_timeout`.
    TimedOut,
    /// No stream listens on the subject (no responders, or the stream was deleted).
    NoStream,
    /// `max_ack_inflight` acks were outstanding for all of `publish_timeout`: await the
    /// pending acks before sending more.
    Backpressure,
    /// Anything else (connection closed, payload too large, server error…).
    Other,
}

/// Everything that can go wrong in `messaging-nats`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting to NATS failed.
    #[error("failed to connect to NATS: {0}")]
    Connect(#[source] BoxError),
    /// Creating or updating a stream failed.
    #[error("failed to ensure stream {stream}: {source}")]
    Stream {
        /// The stream.
        stream: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Creating a consumer failed.
    #[error("failed to create consumer {consumer} on stream {stream}: {source}")]
    Consumer {
        /// The stream.
        stream: String,
        /// The durable name, or `(ephemeral)`.
        consumer: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Subscribing to a Core NATS subject failed.
    #[error("failed to subscribe to {subject}: {source}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// No publisher was registered for this target.
    #[error("no publisher registered for {0}")]
    PublisherNotRegistered(String),
    /// A header key is empty or not a valid NATS header name.
    #[error("invalid header key {0:?}")]
    InvalidHeader(String),
    /// A header value contains CR or LF.
    #[error("invalid value for header {0:?}")]
    InvalidHeaderValue(String),
    /// The caller tried to set a header the library owns.
    #[error("header {0:?} is reserved; use another key")]
    ReservedHeader(String),
    /// The payload could not be encoded as JSON.
    #[error("failed to encode payload: {0}")]
    Encode(#[source] serde_json::Error),
    /// A reply could not be decoded into the requested type.
    #[error("failed to decode reply from {subject}: {source}")]
    DecodeReply {
        /// The request subject.
        subject: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Publishing to JetStream failed after all retries.
    #[error("publish to {subject} failed after {attempts} attempt(s) ({kind:?}): {source}")]
    Publish {
        /// The subject.
        subject: String,
        /// How many attempts were made (same message id each time).
        attempts: u32,
        /// Why the last attempt failed.
        kind: PublishFailure,
        /// The last cause.
        #[source]
        source: BoxError,
    },
    /// `request()` was called on a publisher whose target is a stream, not a service.
    #[error("request() needs a service publisher, not {target}")]
    NotAServicePublisher {
        /// The publisher's target.
        target: String,
    },
    /// A Core NATS request failed.
    #[error("request to {subject} failed ({kind:?}): {source}")]
    Request {
        /// The subject.
        subject: String,
        /// The kind of failure.
        kind: RequestFailure,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Shutdown did not finish within the timeout.
    #[error("shutdown timed out after {0:?} with handlers still running")]
    ShutdownTimeout(Duration),
    /// The connection was closed.
    #[error("connection closed")]
    Closed,
    /// Registering metrics failed, e.g. the names are already registered on that registry.
    #[error("failed to register metrics: {0}")]
    Metrics(#[source] BoxError),
    /// A name or routing key was invalid.
    #[error(transparent)]
    Spec(#[from] messaging_spec::Error),
    /// Transport-neutral: an invalid registration or setting, a handler outcome, or a
    /// remote error (the same on every transport).
    #[error(transparent)]
    Core(messaging_core::Error),
}

impl From<messaging_core::Error> for Error {
    /// Name errors stay [`Error::Spec`], wherever they were found.
    fn from(e: messaging_core::Error) -> Self {
        match e {
            messaging_core::Error::Spec(s) => Self::Spec(s),
            other => Self::Core(other),
        }
    }
}

impl Error {
    /// An invalid connection setting.
    pub(crate) fn invalid_config(reason: impl Into<String>) -> Self {
        Self::Core(messaging_core::Error::InvalidConfig(reason.into()))
    }
}

impl messaging_core::TransportError for Error {
    fn core(&self) -> Option<&messaging_core::Error> {
        match self {
            Self::Core(e) => Some(e),
            _ => None,
        }
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
