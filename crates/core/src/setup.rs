//! [`Setup`]: one registration (publisher or consumer) as a plain value.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use messaging_spec::{EventHandler, RequestHandler};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::erased::{ErasedEvent, ErasedRequest, Event, Request};
use crate::options::{ConsumerOptions, StartAt};

/// One registration: a publisher or a consumer, with its options.
///
/// Transport builders turn named shortcuts into `Setup`s; you can also build them yourself
/// and pass a list to a builder's `setups(..)`, e.g. to bundle a feature's registrations
/// in one function that works on every transport.
///
/// ```
/// use messaging_core::Setup;
/// use messaging_spec::{ConsumableEvent, HandlerError};
///
/// async fn on_order(ev: ConsumableEvent<serde_json::Value>) -> Result<(), HandlerError> {
///     println!("{}", ev.payload);
///     Ok(())
/// }
///
/// let setups = vec![
///     Setup::event_publisher(),
///     Setup::event_consumer("Order.#", on_order).suffix("audit").max_deliver(5),
/// ];
/// assert_eq!(setups.len(), 2);
/// ```
#[derive(Clone)]
pub struct Setup {
    pub(crate) kind: SetupKind,
    pub(crate) options: ConsumerOptions,
}

/// What a [`Setup`] registers. Names are raw here; the plan validates them.
#[derive(Clone)]
#[non_exhaustive]
pub enum SetupKind {
    /// A publisher.
    Publisher(TargetSpec),
    /// A consumer of an event stream or a custom stream.
    StreamConsumer {
        /// `None` means the default `events` stream.
        stream: Option<String>,
        /// The routing key or pattern.
        pattern: String,
        /// True for a transient (ephemeral) consumer.
        transient: bool,
        /// The handler.
        handler: Arc<dyn ErasedEvent>,
        /// The payload's Rust type name, for the topology.
        message_type: &'static str,
    },
    /// A request handler of this service.
    RequestHandler {
        /// The routing key or pattern.
        pattern: String,
        /// The handler.
        handler: Arc<dyn ErasedRequest>,
        /// The request's Rust type name, for the topology.
        message_type: &'static str,
    },
    /// A consumer of the replies another service sends to this one.
    ResponseConsumer {
        /// The service that answers.
        target: String,
        /// The routing key or pattern.
        pattern: String,
        /// The handler.
        handler: Arc<dyn ErasedEvent>,
        /// The payload's Rust type name, for the topology.
        message_type: &'static str,
    },
}

/// A publisher's target, before validation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetSpec {
    /// The `events` stream.
    Events,
    /// A custom stream (bare name or AMQP-style `<name>.topic.exchange`).
    Stream(String),
    /// Another service's requests.
    Service(String),
    /// AMQP only: a named queue, by sender-selected distribution.
    Queue(String),
}

impl Setup {
    fn new(kind: SetupKind) -> Self {
        Self {
            kind,
            options: ConsumerOptions::default(),
        }
    }

    /// Publish domain events to the default `events` stream.
    #[must_use]
    pub fn event_publisher() -> Self {
        Self::new(SetupKind::Publisher(TargetSpec::Events))
    }

    /// Publish to a custom stream (`audit`, or AMQP-style `audit.topic.exchange`).
    #[must_use]
    pub fn stream_publisher(stream: impl Into<String>) -> Self {
        Self::new(SetupKind::Publisher(TargetSpec::Stream(stream.into())))
    }

    /// Send events straight to the queue `queue` (AMQP only: the default exchange with a
    /// `CC` header, the reference's `QueuePublisher`). Declares nothing.
    #[must_use]
    pub fn queue_publisher(queue: impl Into<String>) -> Self {
        Self::new(SetupKind::Publisher(TargetSpec::Queue(queue.into())))
    }

    /// Send requests to another service (Core NATS request-reply, or the service's AMQP
    /// request exchange).
    #[must_use]
    pub fn service_publisher(target_service: impl Into<String>) -> Self {
        Self::new(SetupKind::Publisher(TargetSpec::Service(
            target_service.into(),
        )))
    }

    /// Durable consumer of `routing_key` (wildcards `*`, `#`) on the `events` stream.
    #[must_use]
    pub fn event_consumer<T, H>(routing_key: impl Into<String>, handler: H) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        H: EventHandler<T>,
    {
        Self::stream_consumer_impl(None, routing_key.into(), false, handler)
    }

    /// Transient consumer on the `events` stream: no durable name, gone when the service is.
    #[must_use]
    pub fn transient_event_consumer<T, H>(routing_key: impl Into<String>, handler: H) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        H: EventHandler<T>,
    {
        Self::stream_consumer_impl(None, routing_key.into(), true, handler)
    }

    /// Durable consumer on a custom stream.
    #[must_use]
    pub fn stream_consumer<T, H>(
        stream: impl Into<String>,
        routing_key: impl Into<String>,
        handler: H,
    ) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        H: EventHandler<T>,
    {
        Self::stream_consumer_impl(Some(stream.into()), routing_key.into(), false, handler)
    }

    /// Transient consumer on a custom stream.
    #[must_use]
    pub fn transient_stream_consumer<T, H>(
        stream: impl Into<String>,
        routing_key: impl Into<String>,
        handler: H,
    ) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        H: EventHandler<T>,
    {
        Self::stream_consumer_impl(Some(stream.into()), routing_key.into(), true, handler)
    }

    fn stream_consumer_impl<T, H>(
        stream: Option<String>,
        pattern: String,
        transient: bool,
        handler: H,
    ) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        H: EventHandler<T>,
    {
        Self::new(SetupKind::StreamConsumer {
            stream,
            pattern,
            transient,
            handler: Arc::new(Event::<T, H>::new(handler)),
            message_type: std::any::type_name::<T>(),
        })
    }

    /// Answer requests for `routing_key` sent to this service (`<service>.request.<key>`).
    /// The reply is the handler's value as JSON, or `{"error": "…"}` when it fails.
    #[must_use]
    pub fn request_handler<T, R, H>(routing_key: impl Into<String>, handler: H) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        H: RequestHandler<T, R>,
    {
        Self::new(SetupKind::RequestHandler {
            pattern: routing_key.into(),
            handler: Arc::new(Request::<T, R, H>::new(handler)),
            message_type: std::any::type_name::<T>(),
        })
    }

    /// Receive the replies to requests this service sends to `target_service` for keys
    /// matching `routing_key`. On NATS the reply travels on the request's inbox and the
    /// handler runs after each publish to that service; on AMQP replies arrive on the
    /// response queue `<target>.headers.exchange.response.queue.<service>`.
    #[must_use]
    pub fn service_response_consumer<T, H>(
        target_service: impl Into<String>,
        routing_key: impl Into<String>,
        handler: H,
    ) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        H: EventHandler<T>,
    {
        Self::new(SetupKind::ResponseConsumer {
            target: target_service.into(),
            pattern: routing_key.into(),
            handler: Arc::new(Event::<T, H>::new(handler)),
            message_type: std::any::type_name::<T>(),
        })
    }

    /// Replaces all consumer options.
    #[must_use]
    pub fn options(mut self, options: ConsumerOptions) -> Self {
        self.options = options;
        self
    }

    /// Durable name suffix: the consumer becomes `<service>-<suffix>`.
    #[must_use]
    pub fn suffix(mut self, suffix: impl Into<String>) -> Self {
        self.options = self.options.suffix(suffix);
        self
    }

    /// Maximum delivery attempts.
    #[must_use]
    pub fn max_deliver(mut self, n: i64) -> Self {
        self.options = self.options.max_deliver(n);
        self
    }

    /// Retry delays by attempt.
    #[must_use]
    pub fn backoff(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        self.options = self.options.backoff(delays);
        self
    }

    /// Where a newly created consumer starts reading its stream.
    #[must_use]
    pub fn start_at(mut self, start: StartAt) -> Self {
        self.options = self.options.start_at(start);
        self
    }

    /// Handlers in flight at once.
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.options = self.options.concurrency(n);
        self
    }

    /// Filter duplicates by `ce-id` within `window` (see
    /// [`ConsumerOptions::deduplicate`]).
    #[must_use]
    pub fn deduplicate(mut self, window: Duration) -> Self {
        self.options = self.options.deduplicate(window);
        self
    }

    /// Filter duplicates by `ce-id` within `window`, shared between instances (see
    /// [`ConsumerOptions::deduplicate_shared`]).
    #[must_use]
    pub fn deduplicate_shared(mut self, window: Duration) -> Self {
        self.options = self.options.deduplicate_shared(window);
        self
    }

    /// Dead-letter what this consumer gives up on (see [`ConsumerOptions::dead_letter`]).
    #[must_use]
    pub fn dead_letter(mut self, destination: impl Into<String>) -> Self {
        self.options = self.options.dead_letter(destination);
        self
    }

    /// What this registers.
    #[must_use]
    pub fn kind(&self) -> &SetupKind {
        &self.kind
    }

    /// Its consumer options.
    #[must_use]
    pub fn consumer_options(&self) -> &ConsumerOptions {
        &self.options
    }

    /// True for consumers (anything that runs a handler).
    #[must_use]
    pub fn is_consumer(&self) -> bool {
        !matches!(self.kind, SetupKind::Publisher(_))
    }
}

impl fmt::Debug for SetupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let setup = Setup {
            kind: self.clone(),
            options: ConsumerOptions::default(),
        };
        fmt::Debug::fmt(&setup, f)
    }
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SetupKind::Publisher(TargetSpec::Events) => f.write_str("event_publisher()")?,
            SetupKind::Publisher(TargetSpec::Stream(s)) => write!(f, "stream_publisher({s:?})")?,
            SetupKind::Publisher(TargetSpec::Service(s)) => {
                write!(f, "service_publisher({s:?})")?;
            }
            SetupKind::Publisher(TargetSpec::Queue(q)) => write!(f, "queue_publisher({q:?})")?,
            SetupKind::StreamConsumer {
                stream,
                pattern,
                transient,
                ..
            } => {
                let prefix = if *transient { "transient_" } else { "" };
                match stream {
                    None => write!(f, "{prefix}event_consumer({pattern:?})")?,
                    Some(s) => write!(f, "{prefix}stream_consumer({s:?}, {pattern:?})")?,
                }
            }
            SetupKind::RequestHandler { pattern, .. } => write!(f, "request_handler({pattern:?})")?,
            SetupKind::ResponseConsumer {
                target, pattern, ..
            } => write!(f, "service_response_consumer({target:?}, {pattern:?})")?,
        }
        if self.options != ConsumerOptions::default() {
            write!(f, ".options({:?})", self.options)?;
        }
        Ok(())
    }
}
