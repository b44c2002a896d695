//! The adapter's one error type. Every variant that a request can cause becomes an error
//! response; the process keeps serving.

use std::io;

use messaging_spec::tck::PROTOCOL_VERSION;

use crate::protocol::Method;

/// Everything that can go wrong in the adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Error {
    /// The line is not a JSON-RPC request.
    #[error("malformed request: {0}")]
    Malformed(#[source] serde_json::Error),
    /// The method is not part of protocol version 1.
    #[error("unknown method {0:?}")]
    UnknownMethod(String),
    /// The params do not fit the method.
    #[error("invalid params for {method}: {source}")]
    InvalidParams {
        /// The method called.
        method: Method,
        /// Why decoding failed.
        #[source]
        source: serde_json::Error,
    },
    /// The runner speaks another protocol version.
    #[error("unsupported protocol version {0} (this adapter speaks {PROTOCOL_VERSION})")]
    ProtocolVersion(u32),
    /// The intent has no mapping on this transport (queue-publish is AMQP-only).
    #[error("unsupported intent on {transport}: {what}")]
    UnsupportedIntent {
        /// `NATS` or `AMQP`.
        transport: &'static str,
        /// The pattern, or pattern and direction.
        what: String,
    },
    /// `start_service` for a name that is already running.
    #[error("service {0} is already running")]
    ServiceRunning(String),
    /// A request names a service that is not running.
    #[error("unknown service {0}")]
    UnknownService(String),
    /// `publish` with a key the service did not return from `start_service`.
    #[error("service {service} has no publisher {key:?}")]
    UnknownPublisher {
        /// The service.
        service: String,
        /// The key asked for.
        key: String,
    },
    /// The NATS transport failed (connect, declare, publish…).
    #[error(transparent)]
    Nats(#[from] messaging_nats::Error),
    /// The AMQP transport failed (connect, declare, publish…).
    #[error(transparent)]
    Amqp(#[from] messaging_amqp::Error),
    /// A result could not be encoded as JSON.
    #[error("cannot encode the result: {0}")]
    Encode(#[source] serde_json::Error),
    /// fd 3, where responses go, is not open for writing.
    #[error(
        "cannot open {path} for responses ({source}); the TCK runner passes the response pipe \
         as fd 3, e.g. `messaging-tck-adapter 3>responses`"
    )]
    ResponseChannel {
        /// The path opened.
        path: &'static str,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// Reading requests or writing responses failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// `Result` with the adapter's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
