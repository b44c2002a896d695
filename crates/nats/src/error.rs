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
    /// No stream answered on the subject: none exists (no responders, or it was
    /// deleted), or it has no leader while a cluster elects one.
    NoStream,
    /// `max_ack_inflight` acks were outstanding for all of `publish_timeout`: await the
    /// pending acks before sending more.
    Backpressure,
    /// The message (body and headers) is larger than the server's `max_payload` (1 MiB by
    /// default); not retried.
    TooLarge,
    /// Anything else (connection closed, server error…).
    Other,
}

impl std::fmt::Display for PublishFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TimedOut => "no ack within publish_timeout",
            Self::NoStream => {
                "no stream answered: it does not exist, or it has no leader (unavailable while the cluster elects one)"
            }
            Self::Backpressure => {
                "every max_ack_inflight slot stayed taken; await pending acks before sending more"
            }
            Self::TooLarge => "the message is larger than the server's max_payload",
            Self::Other => "the server or connection refused it",
        })
    }
}

/// A consumer setting the server cannot change on an existing consumer: the kind of
/// [`Error::ConsumerConflict`]. `Display` gives the server's name of the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerSetting {
    /// `deliver_policy`, from `start_at`.
    DeliverPolicy,
    /// `opt_start_seq`, from `start_at(StartAt::Sequence(..))`.
    OptStartSeq,
    /// `opt_start_time`, from `start_at(StartAt::Time(..))`.
    OptStartTime,
    /// `replay_policy`, from `replay`.
    ReplayPolicy,
    /// `ack_policy`: always `explicit` for the consumers of this library.
    AckPolicy,
}

impl ConsumerSetting {
    /// The [`ConsumerOptions`](crate::ConsumerOptions) option it comes from (`start_at`,
    /// `replay`), or `ack_policy` for the ack policy, which is not an option.
    #[must_use]
    pub fn option(self) -> &'static str {
        match self {
            Self::DeliverPolicy | Self::OptStartSeq | Self::OptStartTime => "start_at",
            Self::ReplayPolicy => "replay",
            Self::AckPolicy => "ack_policy",
        }
    }
}

impl std::fmt::Display for ConsumerSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DeliverPolicy => "deliver_policy",
            Self::OptStartSeq => "opt_start_seq",
            Self::OptStartTime => "opt_start_time",
            Self::ReplayPolicy => "replay_policy",
            Self::AckPolicy => "ack_policy",
        })
    }
}

/// Why connecting to NATS failed: the kind of [`Error::ConnectFailed`]. Its `Display`
/// says what to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// Nothing listens at the address: the server is down, or the host or port is wrong.
    Refused,
    /// The host name could not be resolved.
    Dns,
    /// No connection within `connection_timeout` (TCP, the server's `INFO`, TLS and
    /// authentication together).
    TimedOut,
    /// TLS failed: the server's certificate is not trusted (see `tls_root_certificate`),
    /// the server refused the client certificate, or one side does not speak TLS.
    Tls,
    /// The server refused the credentials (authorization violation), or they could not
    /// be used (an invalid NKey seed, a malformed credentials file).
    Auth,
    /// Anything else (an invalid URL, the connection closed during the handshake…).
    Other,
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Refused => {
                "connection refused (is nats-server running, and listening on that host and port?)"
            }
            Self::Dns => "the host name could not be resolved (check the URL)",
            Self::TimedOut => {
                "timed out (check the address and firewalls, or raise connection_timeout)"
            }
            Self::Tls => {
                "TLS failed (check tls_root_certificate and tls_client_certificate, and that \
                 the server has TLS enabled)"
            }
            Self::Auth => {
                "authorization failed (check the user and password, token, NKey seed or \
                 credentials file)"
            }
            Self::Other => "the connection failed",
        })
    }
}

/// Everything that can go wrong in `messaging-nats`.
///
/// `Debug` prints the same message as `Display`, followed by the causes that the message
/// does not already include, so `main() -> Result<(), Error>` shows a readable error.
/// Neither ever shows a password, token, NKey seed or credentials: URLs are printed
/// without their user info.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Something else failed while connecting: reading the credentials file, waiting for
    /// the first connection with `retry_initial_connect`, or the first flush.
    #[error("failed to connect to NATS: {0}")]
    Connect(#[source] BoxError),
    /// No server could be reached, or the one reached refused the connection. `kind` says
    /// why and its `Display` what to check.
    #[error("cannot connect to NATS at {url}: {kind}: {source}")]
    ConnectFailed {
        /// The URLs tried, comma-separated, without user info.
        url: String,
        /// Why the (last) attempt failed.
        kind: ConnectFailure,
        /// The cause reported by the client.
        #[source]
        source: BoxError,
    },
    /// The server answers no JetStream API request: JetStream is not enabled on it (or,
    /// in operator mode, not for this account). Streams and consumers need it.
    #[error(
        "JetStream is not enabled on the NATS server at {url}: start the server with \
         `nats-server -js`, or add `jetstream {{}}` to its configuration (in operator mode, \
         give the account JetStream limits)"
    )]
    JetStreamNotEnabled {
        /// The server's URLs, comma-separated, without user info.
        url: String,
    },
    /// The server is older than this library needs.
    #[error(
        "nats-server {version} at {url} is too old: {needed} or newer is needed \
         (consumers with several filter subjects need 2.10)"
    )]
    ServerTooOld {
        /// The server's URLs, comma-separated, without user info.
        url: String,
        /// The version the server reported.
        version: String,
        /// The oldest supported version.
        needed: &'static str,
    },
    /// The server does not permit this connection to publish or subscribe to `subject`.
    /// The server dropped the message or subscription and reported it asynchronously; the
    /// operation that needed it (a publish, a request, a JetStream API call of `start()`,
    /// a request handler's subscription) fails with this instead of a timeout.
    #[error(
        "the NATS server at {url} does not permit this connection to {permission} \"{subject}\": \
         allow it in the user's permissions (`{}: {{ allow: [\"{subject}\"] }}` in the \
         server's authorization block, or the user JWT's permissions), or connect as a user \
         that may",
        .permission.config_key()
    )]
    PermissionDenied {
        /// The server's URLs, comma-separated, without user info.
        url: String,
        /// Publishing or subscribing.
        permission: crate::Permission,
        /// The subject the server named.
        subject: String,
    },
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
    /// An existing durable differs from this service's registrations in a setting the
    /// server cannot change on an existing consumer: where it starts, its replay policy
    /// or its ack policy. Nothing was changed. What the server can change (AckWait,
    /// `max_deliver`, filters, `max_ack_pending`, the pull limits) is updated in place.
    #[error(
        "consumer {consumer} on stream {stream} has {setting} {server}, but this service \
         asks for {ours} (from {}); the server cannot change {setting} of an existing \
         consumer: {}",
        .setting.option(),
        conflict_advice(*.setting, .stream, .consumer)
    )]
    ConsumerConflict {
        /// The stream.
        stream: String,
        /// The durable name.
        consumer: String,
        /// The setting that differs.
        setting: ConsumerSetting,
        /// The server's value, as the server writes it (`all`, `by_start_sequence`, `42`,
        /// an RFC 3339 time…).
        server: String,
        /// Ours, written the same way.
        ours: String,
        /// The server's refusal.
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
    #[error("publish to {subject} failed after {attempts} attempt(s), {kind}: {source}")]
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
    /// A message in a dead-letter stream is missing or was not written by this library.
    #[error("dead letter {sequence} in stream {stream}: {reason}")]
    DeadLetter {
        /// The dead-letter stream.
        stream: String,
        /// The sequence asked for.
        sequence: u64,
        /// What is wrong with it.
        reason: String,
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
    /// A connection started with
    /// [`optional_broker`](crate::ConnectionBuilder::optional_broker) is not up yet: the
    /// broker has not been reached, or its streams, consumers and handlers are still being
    /// set up (or setting them up failed and is being retried). Nothing was sent. Retry
    /// later: the connection keeps trying in the background, and
    /// [`Connection::is_ready`](crate::Connection::is_ready) turns true once it is up.
    #[error("not connected to NATS at {url} yet: {reason}")]
    NotConnected {
        /// The server URLs, comma-separated, without user info.
        url: String,
        /// Why: the server is unreachable, or what the set-up is doing or failed with, and
        /// what to do.
        reason: String,
    },
    /// Registering metrics failed, e.g. the names are already registered on that registry.
    #[error("failed to register metrics: {0}")]
    Metrics(#[source] BoxError),
    /// A [`Config`](crate::Config) could not be loaded: a file that cannot be read or
    /// parsed, an unknown key, a value of the wrong type, or one the builder refuses.
    #[error(
        "invalid configuration: {}{source_name}: {reason}",
        .key.as_ref().map_or_else(String::new, |k| format!("{k} from "))
    )]
    Config {
        /// The key at fault (`request_timeout`, `streams.events.max_age`); `None` when
        /// the whole source failed (an unreadable file, a TOML syntax error).
        key: Option<String>,
        /// Where the value came from: `file <path>`, `environment variable <NAME>`,
        /// `TOML string`, or `Config value` (set in code).
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A name or routing key was invalid.
    #[error(transparent)]
    Spec(#[from] messaging_spec::Error),
    /// Transport-neutral: an invalid registration or setting, a handler outcome, or a
    /// remote error (the same on every transport).
    #[error(transparent)]
    Core(messaging_core::Error),
}

/// What to do about an [`Error::ConsumerConflict`].
fn conflict_advice(setting: ConsumerSetting, stream: &str, consumer: &str) -> String {
    let delete = format!(
        "delete the consumer (`nats consumer rm {stream} {consumer}`; it loses its position) \
         so that start() creates it anew"
    );
    if setting == ConsumerSetting::AckPolicy {
        // Not an option: every consumer of this library acks explicitly.
        format!("this library always acks explicitly, so {delete}, or use another suffix")
    } else {
        format!("set {} to match, or {delete}", setting.option())
    }
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

impl std::fmt::Debug for Error {
    /// The `Display` message, then every cause in the source chain whose text the output
    /// does not already contain.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = self.to_string();
        let mut out = message.clone();
        let mut causes = Vec::new();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            let text = cause.to_string();
            if !text.is_empty() && !out.contains(&text) {
                out.push_str(&text);
                causes.push(text);
            }
            next = cause.source();
        }
        f.write_str(&message)?;
        if !causes.is_empty() {
            f.write_str("\n\nCaused by:")?;
            for (i, cause) in causes.iter().enumerate() {
                write!(f, "\n    {i}: {cause}")?;
            }
        }
        Ok(())
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
