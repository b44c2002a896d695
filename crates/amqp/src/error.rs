//! The AMQP transport's error type. Every message says what went wrong and, where there
//! is one, what to do about it. URLs in messages are redacted (no passwords).

use std::time::Duration;

/// A boxed error from a lower layer (lapin, serde).
pub use messaging_core::BoxError;

/// Why a publish failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishFailure {
    /// The broker answered the publish with `basic.nack`: it could not take the message
    /// (for example a queue's `reject-publish` overflow, or an internal error).
    Nacked,
    /// No confirm arrived within `publish_timeout`.
    TimedOut,
    /// `max_in_flight_confirms` confirms were outstanding for all of `publish_timeout`:
    /// await the pending confirms before sending more.
    Backpressure,
    /// The channel or connection closed before the broker confirmed (the message may or
    /// may not have been stored).
    ChannelClosed,
    /// Anything else (the frame could not be written, a name too long for AMQP…).
    Other,
}

/// Why a typed request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestFailure {
    /// The request exchange routed the request to no queue: nobody serves it.
    NoResponders,
    /// No reply arrived within the request timeout.
    TimedOut,
    /// The request went out, then the channel its reply would arrive on was lost (the
    /// connection dropped or was closed): the call fails at once instead of waiting for
    /// the timeout. The request may or may not have been handled.
    ReplyLost,
    /// Anything else (connection closed, the broker refused the publish…).
    Other,
}

/// Everything that can go wrong in `messaging-amqp`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting to RabbitMQ failed.
    #[error(
        "failed to connect to RabbitMQ at {url}: {source}; check that the broker runs and the URL, user and password are right"
    )]
    Connect {
        /// The URL, with the password removed.
        url: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Declaring an exchange, a queue or a binding failed (for example a queue that
    /// already exists with other arguments: every instance of a service must use the same
    /// consumer options).
    #[error("failed to declare {what}: {source}")]
    Declare {
        /// What was declared, e.g. `queue events.topic.exchange.queue.orders`.
        what: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Opening a channel, setting its QoS or starting a consumer failed.
    #[error("failed to {action}: {source}")]
    Channel {
        /// What was attempted, e.g. `start consumer on queue x`.
        action: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// No publisher was registered for this target.
    #[error("no publisher registered for {0}; register it on the builder before start()")]
    PublisherNotRegistered(String),
    /// A header key is empty or longer than AMQP allows (255 bytes).
    #[error("invalid header key {0:?}: keys must be 1 to 255 bytes")]
    InvalidHeader(String),
    /// The caller tried to set a header the library owns.
    #[error("header {0:?} is reserved; use another key")]
    ReservedHeader(String),
    /// A name or routing key is longer than AMQP allows (255 bytes).
    #[error("{what} {value:?} is {len} bytes; AMQP allows at most 255")]
    NameTooLong {
        /// What the name is for (`routing key`, `queue`, …).
        what: &'static str,
        /// The name.
        value: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The payload could not be encoded as JSON.
    #[error("failed to encode payload: {0}")]
    Encode(#[source] serde_json::Error),
    /// A reply could not be decoded into the requested type.
    #[error("failed to decode reply from {service} to {routing_key}: {source}")]
    DecodeReply {
        /// The service that answered.
        service: String,
        /// The request's routing key.
        routing_key: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A publish was not confirmed by the broker.
    #[error(
        "publish to exchange {exchange:?} with routing key {routing_key:?} failed after {attempts} attempt(s) ({kind:?}): {source}"
    )]
    Publish {
        /// The exchange (`""` for the default exchange).
        exchange: String,
        /// The routing key.
        routing_key: String,
        /// How many attempts were made (same CloudEvents id each time).
        attempts: u32,
        /// Why the last attempt failed.
        kind: PublishFailure,
        /// The last cause.
        #[source]
        source: BoxError,
    },
    /// `request()` was called on a publisher whose target is not a service.
    #[error("request() needs a service publisher, not {target}")]
    NotAServicePublisher {
        /// The publisher's target.
        target: String,
    },
    /// A typed request failed.
    #[error("request to {service} ({routing_key}) failed ({kind:?}): {source}")]
    Request {
        /// The target service.
        service: String,
        /// The request's routing key.
        routing_key: String,
        /// The kind of failure.
        kind: RequestFailure,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// A request handler succeeded but its response could not be sent back.
    #[error("failed to send the response for {routing_key} to {recipient}: {source}")]
    Respond {
        /// The request's routing key.
        routing_key: String,
        /// Who the response was for (a service name, or a reply-to address).
        recipient: String,
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
    Core(#[from] messaging_core::Error),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An invalid connection setting.
    pub(crate) fn invalid_config(reason: impl Into<String>) -> Self {
        Self::Core(messaging_core::Error::InvalidConfig(reason.into()))
    }

    pub(crate) fn declare(what: impl Into<String>, e: lapin::Error) -> Self {
        Self::Declare {
            what: what.into(),
            source: Box::new(e),
        }
    }

    pub(crate) fn channel(action: impl Into<String>, e: lapin::Error) -> Self {
        Self::Channel {
            action: action.into(),
            source: Box::new(e),
        }
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
