//! The spec crate's error type.

use std::fmt;
use std::sync::Arc;

use crate::validate::ValidationErrors;

/// Which kind of name a [`Error::InvalidName`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameKind {
    /// A service name.
    Service,
    /// A stream (or exchange base) name.
    Stream,
    /// A consumer name suffix.
    Suffix,
    /// A queue name.
    Queue,
    /// A header key.
    Header,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Service => "service name",
            Self::Stream => "stream name",
            Self::Suffix => "consumer name suffix",
            Self::Queue => "queue name",
            Self::Header => "header key",
        })
    }
}

/// Everything that can go wrong in the spec crate.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name was empty.
    #[error("{kind} must not be empty")]
    EmptyName {
        /// What was being named.
        kind: NameKind,
    },
    /// A name contained something NATS or AMQP cannot carry.
    #[error("{kind} {name:?} is invalid: {reason}")]
    InvalidName {
        /// What was being named.
        kind: NameKind,
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A routing key or routing pattern was malformed.
    #[error("routing key {key:?} is invalid: {reason}")]
    InvalidRoutingKey {
        /// The rejected key.
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The same routing pattern was registered twice in one routing table.
    #[error("routing pattern {pattern:?} is already registered")]
    DuplicateRoutingPattern {
        /// The repeated pattern (normalised: `>` written as `#`).
        pattern: String,
    },
    /// A payload was not the JSON the handler expects. Always permanent.
    #[error("failed to parse JSON payload: {0}")]
    ParseJson(#[source] Arc<serde_json::Error>),
    /// A topology (or a payload schema) cannot be described in AsyncAPI.
    #[error("AsyncAPI export: {subject}: {reason}")]
    AsyncApiExport {
        /// What is at fault, e.g. `service "orders", endpoint 2` or `schema "Order"`.
        subject: String,
        /// Why.
        reason: &'static str,
    },
    /// A topology failed validation.
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::ParseJson(Arc::new(e))
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
