//! The in-memory transport's error type, shaped like `messaging_nats::Error`.

use std::time::Duration;

/// A boxed error from a lower layer.
pub use messaging_core::BoxError;

/// Why a request failed (as `messaging_nats::RequestFailure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestFailure {
    /// No instance of the target service handles the key (Core NATS "no responders").
    NoResponders,
    /// No reply arrived within the request timeout.
    TimedOut,
}

/// Everything that can go wrong in `messaging-memory`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Creating or updating a consumer failed, e.g. an existing durable was started with a
    /// different `start_at` (the server refuses to change a durable's deliver policy).
    #[error("failed to create consumer {consumer} on stream {stream}: {reason}")]
    Consumer {
        /// The stream.
        stream: String,
        /// The durable name.
        consumer: String,
        /// What the broker refused.
        reason: String,
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
    /// `request()` was called on a publisher whose target is not a service.
    #[error("request() needs a service publisher, not {target}")]
    NotAServicePublisher {
        /// The publisher's target.
        target: String,
    },
    /// A request failed.
    #[error("request to {subject} failed ({kind:?})")]
    Request {
        /// The subject (`<target>.request.<key>`).
        subject: String,
        /// The kind of failure.
        kind: RequestFailure,
    },
    /// Shutdown did not finish within the timeout.
    #[error("shutdown timed out after {0:?} with handlers still running")]
    ShutdownTimeout(Duration),
    /// The connection was closed.
    #[error("connection closed")]
    Closed,
    /// A [`Broker::wait_until`](crate::Broker::wait_until) condition did not hold in time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    WaitTimeout {
        /// How long it waited.
        timeout: Duration,
        /// What it waited for.
        what: String,
    },
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
