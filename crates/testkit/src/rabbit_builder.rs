//! Options for starting a RabbitMQ broker.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::TestkitError;
use crate::rabbit::RabbitServer;

/// Default bound on waiting for the broker to become ready.
pub(crate) const DEFAULT_RABBIT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What a broker is started with; kept so it can be started again the same way.
#[derive(Debug, Clone)]
pub(crate) struct RabbitSettings {
    /// The `rabbitmq-server` script; `None` means `RABBITMQ_SERVER_BIN`, then
    /// the Debian paths.
    pub(crate) binary: Option<PathBuf>,
    pub(crate) amqp_port: Option<u16>,
    pub(crate) management_port: Option<u16>,
    /// Plugins enabled besides `rabbitmq_management`.
    pub(crate) plugins: Vec<String>,
    /// Extra `rabbitmq.conf` lines.
    pub(crate) config: Vec<String>,
    pub(crate) startup_timeout: Duration,
    /// How long dropping waits for a clean shutdown before SIGKILL.
    pub(crate) drop_grace: Duration,
}

impl Default for RabbitSettings {
    fn default() -> Self {
        Self {
            binary: None,
            amqp_port: None,
            management_port: None,
            plugins: Vec::new(),
            config: Vec::new(),
            startup_timeout: DEFAULT_RABBIT_STARTUP_TIMEOUT,
            drop_grace: Duration::ZERO,
        }
    }
}

/// Options for [`RabbitServer`]; made by [`RabbitServer::builder`].
///
/// Nothing runs until [`start`](Self::start). Defaults: free loopback ports
/// for AMQP and the management API, the `rabbitmq_management` plugin, the
/// `guest`/`guest` user, a fresh temporary data directory, a 60 s startup
/// bound, and an immediate SIGKILL on drop.
///
/// ```no_run
/// use std::time::Duration;
/// use messaging_testkit::RabbitServer;
///
/// # fn main() -> Result<(), messaging_testkit::TestkitError> {
/// let broker = RabbitServer::builder()
///     .plugin("rabbitmq_consistent_hash_exchange")
///     .config("collect_statistics_interval = 500")
///     .startup_timeout(Duration::from_secs(90))
///     .start()?;
/// println!("{}", broker.amqp_url());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RabbitServerBuilder {
    settings: RabbitSettings,
}

impl RabbitServerBuilder {
    /// Runs this `rabbitmq-server` script instead of the one named by
    /// `RABBITMQ_SERVER_BIN` or found in the Debian paths. A bare name is
    /// looked up on `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.settings.binary = Some(path.into());
        self
    }

    /// Listens for AMQP clients on this loopback port instead of a free one.
    pub fn amqp_port(mut self, port: u16) -> Self {
        self.settings.amqp_port = Some(port);
        self
    }

    /// Serves the management API on this loopback port instead of a free one.
    pub fn management_port(mut self, port: u16) -> Self {
        self.settings.management_port = Some(port);
        self
    }

    /// Enables another plugin shipped with the broker, for example
    /// `"rabbitmq_consistent_hash_exchange"`. `rabbitmq_management` is always
    /// enabled. May be called many times.
    pub fn plugin(mut self, name: impl Into<String>) -> Self {
        self.settings.plugins.push(name.into());
        self
    }

    /// Appends a `rabbitmq.conf` line, for example
    /// `"collect_statistics_interval = 500"` (queue message counts in the
    /// management API are refreshed every 5 s by default). May be called
    /// many times.
    ///
    /// The harness writes `listeners.tcp.default`, `management.tcp.*`,
    /// `loopback_users` and the `log.*` settings itself.
    pub fn config(mut self, line: impl Into<String>) -> Self {
        self.settings.config.push(line.into());
        self
    }

    /// Bounds each wait for readiness (start, restart); default 60 s.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.settings.startup_timeout = timeout;
        self
    }

    /// How long dropping the server waits for a clean shutdown (SIGTERM)
    /// before it kills the broker. The default, zero, kills at once: the
    /// data directory is deleted anyway, and a clean RabbitMQ 3.10 shutdown
    /// takes about 6 s.
    pub fn drop_grace(mut self, grace: Duration) -> Self {
        self.settings.drop_grace = grace;
        self
    }

    /// Starts the broker and waits until the management API answers and
    /// the AMQP port accepts connections.
    ///
    /// # Errors
    ///
    /// [`TestkitError::RabbitNotFound`] if no `rabbitmq-server` or `epmd`
    /// is installed; [`TestkitError::RabbitExited`] or
    /// [`TestkitError::RabbitNotReady`] (with the broker's log tail) if it
    /// does not come up; [`TestkitError::Io`] for file-system failures.
    pub fn start(self) -> Result<RabbitServer, TestkitError> {
        RabbitServer::launch(self.settings)
    }
}
