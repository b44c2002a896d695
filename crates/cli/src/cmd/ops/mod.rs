//! Commands that look at a live broker as an operator does: `discover` (the fleet's
//! topology, read back from the broker), `plan` (declared topology files against the
//! broker) and `doctor` (server, JetStream and consumer health). They never create,
//! change or delete anything on the broker.

pub(crate) mod discover;
pub(crate) mod doctor;
pub(crate) mod nats_state;
pub(crate) mod plan;
pub(crate) mod progress;
pub(crate) mod rabbit;
pub(crate) mod table;

use std::future::Future;
use std::time::Duration;

use messaging_nats::async_nats;

use crate::cmd::live::DEFAULT_URL;
use crate::error::CliError;
use crate::output::Outcome;

/// How long `discover` and `plan` wait for `$SRV.INFO` answers after the last one came.
pub(crate) const DEFAULT_SRV_WAIT: Duration = Duration::from_millis(300);

/// The broker an ops command reads.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Broker {
    /// The NATS server URL (several comma-separated for a cluster).
    #[arg(long = "nats", value_name = "URL", env = "NATS_URL", default_value = DEFAULT_URL)]
    pub(crate) nats: String,
    /// Read RabbitMQ's management API instead of NATS
    /// (`http://user:password@host:15672`; `guest:guest` without user info).
    #[arg(long = "rabbitmq", value_name = "URL")]
    pub(crate) rabbitmq: Option<String>,
    /// The RabbitMQ virtual host.
    #[arg(long, default_value = "/", requires = "rabbitmq")]
    pub(crate) vhost: String,
}

pub(crate) use messaging_nats::redact_url;

/// Connects to NATS as `messaging-cli`, without retrying: an operator wants to know at once.
pub(crate) async fn connect(url: &str) -> Result<async_nats::Client, CliError> {
    let urls: Vec<&str> = url.split(',').map(str::trim).collect();
    async_nats::ConnectOptions::new()
        .name("messaging-cli")
        .connection_timeout(Duration::from_secs(5))
        .connect(urls)
        .await
        .map_err(|e| CliError::NatsConnect {
            url: redact_url(url),
            source: Box::new(e),
        })
}

/// A failed NATS request, saying what was asked.
pub(crate) fn request_error(
    what: impl Into<String>,
    e: impl std::error::Error + Send + Sync + 'static,
) -> CliError {
    CliError::NatsRequest {
        what: what.into(),
        source: Box::new(e),
    }
}

/// Runs an async command on a runtime of its own; any error is the command's outcome.
pub(crate) fn block_on<F>(f: F) -> Outcome
where
    F: Future<Output = Result<Outcome, CliError>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Outcome::invalid(&format!("starting the async runtime: {e}")),
    };
    runtime.block_on(f).unwrap_or_else(Outcome::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        assert_eq!(
            redact_url("nats://alice:s3cret@h:4222"),
            "nats://***@h:4222"
        );
        assert_eq!(
            redact_url("http://guest:guest@127.0.0.1:15672/api"),
            "http://***@127.0.0.1:15672/api"
        );
        assert_eq!(
            redact_url("nats://a:b@h1:1, nats://h2:2"),
            "nats://***@h1:1,nats://h2:2"
        );
        assert_eq!(redact_url("h:4222"), "h:4222");
    }
}
