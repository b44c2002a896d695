//! The CLI's error type: everything that stops a command before validation can speak.

use std::io;
use std::path::PathBuf;

use crate::input::Input;

/// A failure that is not a validation finding. Its text names the file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// An input could not be read.
    #[error("reading {input}: {source}")]
    Read {
        /// The file (or stdin).
        input: Input,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// An input was not a topology.
    #[error("parsing {input}: {source}")]
    Parse {
        /// The file (or stdin).
        input: Input,
        /// The JSON failure.
        #[source]
        source: serde_json::Error,
    },
    /// A fixture file was not JSON at all.
    #[error("{}: invalid JSON: {source}", .path.display())]
    InvalidJson {
        /// The fixture file.
        path: PathBuf,
        /// The JSON failure.
        #[source]
        source: serde_json::Error,
    },
    /// A fixture directory could not be listed.
    #[error("reading directory {}: {source}", .dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// The topologies could not be exported as AsyncAPI.
    #[error("exporting AsyncAPI: {source}")]
    Export {
        /// Why.
        #[source]
        source: messaging_spec::Error,
    },
    /// The `--schemas` file was JSON but not an object.
    #[error("{}: must be a JSON object mapping message types or routing keys to JSON Schemas", .path.display())]
    Schemas {
        /// The schemas file.
        path: PathBuf,
    },
    /// Two documents would be written to the same file.
    #[error("two documents would be written to {file}: each service may appear once")]
    DuplicateOutput {
        /// The file name inside the output directory.
        file: String,
    },
    /// An output file or directory could not be written.
    #[error("writing {}: {source}", .path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// `visualize --svg` was given topologies with no named service: there is no picture.
    #[error("nothing to draw: no topology names a service (serviceName is empty)")]
    NothingToDraw,
    /// The HTML page could not be written.
    #[error("writing {}: {source}", .path.display())]
    WriteHtml {
        /// The page's path.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// The NATS server could not be reached.
    #[error(
        "connecting to {url}: {source}; check the URL (--nats or NATS_URL) and that the server runs"
    )]
    NatsConnect {
        /// The URL, without credentials.
        url: String,
        /// The client's failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A request to the NATS server (a JetStream API call, `$SRV.INFO`) failed.
    #[error("{what}: {source}")]
    NatsRequest {
        /// What was asked.
        what: String,
        /// The failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The RabbitMQ management API could not be used.
    #[error("RabbitMQ management API at {url}: {detail}")]
    Management {
        /// The base URL, without credentials.
        url: String,
        /// What went wrong and what to do.
        detail: String,
    },
}
