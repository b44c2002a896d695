//! Commands that talk to a live NATS server: `tail`, `publish`, `request` and `dlq`. Each
//! connects as a short-lived service of its own (no durable consumer, nothing left on the
//! broker) and reports as text or JSON.

pub(crate) mod dlq;
pub(crate) mod publish;
pub(crate) mod tail;

use std::future::Future;

use messaging_nats::{Connection, ConnectionBuilder};

use crate::output::Outcome;

/// The default server, as `NATS_URL` conventionally names it.
pub(crate) const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// Where and as whom a live command connects.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Server {
    /// The NATS server URL (several comma-separated for a cluster).
    #[arg(long = "nats", env = "NATS_URL", default_value = DEFAULT_URL)]
    pub(crate) url: String,
    /// The service name to connect as: the `ce-source` of what it publishes.
    #[arg(long, default_value = "messaging-cli")]
    pub(crate) service: String,
}

impl Server {
    /// A builder for this server, as `service`.
    pub(crate) fn builder(&self) -> ConnectionBuilder {
        Connection::builder(self.service.clone()).urls(self.url.split(',').map(str::trim))
    }
}

/// Runs an async command on a runtime of its own; any error is the command's outcome.
pub(crate) fn block_on<F>(f: F) -> Outcome
where
    F: Future<Output = Result<Outcome, messaging_nats::Error>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Outcome::invalid(&format!("starting the async runtime: {e}")),
    };
    match runtime.block_on(f) {
        Ok(outcome) => outcome,
        Err(e) => Outcome::invalid(&e),
    }
}

/// Parses a JSON argument, naming it in the error.
pub(crate) fn json_arg(what: &str, text: &str) -> Result<serde_json::Value, Outcome> {
    serde_json::from_str(text).map_err(|e| Outcome::invalid(&format!("{what} is not JSON: {e}")))
}
