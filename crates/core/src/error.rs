//! The transport-neutral error type: invalid registrations, handler outcomes and remote
//! errors, the same on every broker.

/// A boxed error from a lower layer.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong independent of the broker: a registration that cannot work, a
/// delivery that could not be handled, or a remote service answering with an error.
///
/// Transports wrap it (`messaging_nats::Error::Core`, `messaging_amqp::Error::Core`), and
/// error notifications carry it as it is, so one `match` works on every transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A registration is invalid; nothing was created on the broker.
    #[error("invalid registration #{index} `{registration}`: {reason}")]
    InvalidRegistration {
        /// Position of the registration in the builder (0-based).
        index: usize,
        /// A readable description of the registration.
        registration: String,
        /// What is wrong with it.
        reason: String,
        /// The underlying spec error, when there is one.
        #[source]
        source: Option<messaging_spec::Error>,
    },
    /// A connection setting is invalid; nothing was created on the broker.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A delivered body was not the JSON the handler expects (settled without redelivery).
    #[error("undecodable message on {routing_key}: {source}")]
    Undecodable {
        /// The routing key.
        routing_key: String,
        /// The decode error.
        #[source]
        source: messaging_spec::Error,
    },
    /// No handler matches the routing key (settled without redelivery).
    #[error("no handler for routing key {routing_key}")]
    NoHandler {
        /// The routing key.
        routing_key: String,
    },
    /// A handler failed; `retry` says whether the message will be redelivered.
    #[error("handler for {routing_key} failed: {source}")]
    Handler {
        /// The routing key.
        routing_key: String,
        /// True when the message goes back for redelivery, false when it was settled.
        retry: bool,
        /// The handler's error.
        #[source]
        source: BoxError,
    },
    /// A handler panicked; treated as a retryable failure.
    #[error("handler for {routing_key} panicked: {message}")]
    Panicked {
        /// The routing key.
        routing_key: String,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// A message was retried `attempts` times and failed every time; it was settled
    /// without redelivery (dead-lettered where the consumer has a dead-letter target).
    #[error("giving up on {routing_key} after {attempts} deliveries: {last_error}")]
    Exhausted {
        /// The routing key.
        routing_key: String,
        /// Deliveries made, this one included.
        attempts: i64,
        /// The last failure, as text.
        last_error: String,
    },
    /// A message was given up on and published to the dead-letter destination; `source`
    /// is why.
    #[error("dead-lettered {routing_key} to {subject} ({reason}): {source}")]
    DeadLettered {
        /// The routing key it was consumed with.
        routing_key: String,
        /// Where it went.
        subject: String,
        /// Why.
        reason: crate::DeadLetterReason,
        /// The failure that made the library give up.
        #[source]
        source: Box<Error>,
    },
    /// The remote handler answered with `{"error": …}`.
    #[error("{service} returned an error: {message}")]
    Remote {
        /// The service that answered.
        service: String,
        /// The error text it sent.
        message: String,
    },
    /// A name or routing key was invalid.
    #[error(transparent)]
    Spec(#[from] messaging_spec::Error),
}

impl Error {
    /// The remote service's error text, when this is [`Error::Remote`].
    #[must_use]
    pub fn remote_message(&self) -> Option<&str> {
        match self {
            Self::Remote { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
