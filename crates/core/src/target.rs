//! [`PublishTarget`]: where a publisher sends.

use std::fmt;

use messaging_spec::{DEFAULT_EVENT_EXCHANGE_NAME, PublisherKey, ServiceName, StreamName};

/// Where a transport's publisher sends its messages.
///
/// `Display` gives the TCK's publisher key (`event-stream`, `custom-stream:<x>`,
/// `service-request:<t>`, `queue-publish:<q>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PublishTarget {
    /// The default `events` stream.
    EventStream,
    /// A custom stream.
    Stream(StreamName),
    /// Requests to a service (Core NATS request-reply, or the service's AMQP request
    /// exchange).
    Service(ServiceName),
    /// AMQP only: sender-selected distribution to a named queue (default exchange, `CC`).
    Queue(String),
}

impl PublishTarget {
    /// The TCK publisher key.
    #[must_use]
    pub fn key(&self) -> PublisherKey {
        match self {
            Self::EventStream => PublisherKey::EventStream,
            Self::Stream(s) => PublisherKey::CustomStream(s.as_str().to_owned()),
            Self::Service(s) => PublisherKey::ServiceRequest(s.as_str().to_owned()),
            Self::Queue(q) => PublisherKey::QueuePublish(q.clone()),
        }
    }

    /// The stream name, for stream targets (`events` for the event stream).
    #[must_use]
    pub fn stream_name(&self) -> Option<&str> {
        match self {
            Self::EventStream => Some(DEFAULT_EVENT_EXCHANGE_NAME),
            Self::Stream(s) => Some(s.as_str()),
            Self::Service(_) | Self::Queue(_) => None,
        }
    }

    /// The destination label used in logs and metrics: the stream, or the target service.
    #[must_use]
    pub fn destination(&self) -> &str {
        match self {
            Self::Service(s) => s.as_str(),
            Self::Queue(q) => q,
            other => other.stream_name().unwrap_or_default(),
        }
    }
}

impl fmt::Display for PublishTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.key().fmt(f)
    }
}
