//! Options for starting a single server.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::NatsAuth;
use crate::config::ClusterConf;
use crate::error::TestkitError;
use crate::server::NatsServer;
use crate::tls::TlsMode;

/// Default bound on waiting for a server to become ready.
pub(crate) const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which health check means "ready".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// `/healthz`: JetStream enabled and its streams recovered.
    Full,
    /// `/healthz?js-enabled-only=true`: a cluster node, which is only fully
    /// healthy once its peers are up; the cluster checks that separately.
    JetStreamEnabled,
}

/// What a server is started with; kept so it can be started again the same way.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) jetstream: bool,
    pub(crate) server_name: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) monitoring_port: Option<u16>,
    pub(crate) store_dir: Option<PathBuf>,
    pub(crate) config: Vec<String>,
    pub(crate) args: Vec<OsString>,
    pub(crate) startup_timeout: Duration,
    pub(crate) cluster: Option<ClusterConf>,
    pub(crate) readiness: Readiness,
    pub(crate) tls: Option<TlsMode>,
    pub(crate) auth: Option<NatsAuth>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            jetstream: true,
            server_name: None,
            port: None,
            monitoring_port: None,
            store_dir: None,
            config: Vec::new(),
            args: Vec::new(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            cluster: None,
            readiness: Readiness::Full,
            tls: None,
            auth: None,
        }
    }
}

/// Options for [`NatsServer`]; made by [`NatsServer::builder`].
///
/// Nothing runs until [`start`](Self::start). Defaults: JetStream on, a
/// free loopback client port and monitoring port, a fresh temporary store
/// directory, a 10 s startup bound.
///
/// ```no_run
/// use std::time::Duration;
/// use messaging_testkit::NatsServer;
///
/// # fn main() -> Result<(), messaging_testkit::TestkitError> {
/// let server = NatsServer::builder()
///     .server_name("orders-test")
///     .config("max_payload: 2MB")
///     .startup_timeout(Duration::from_secs(20))
///     .start()?;
/// println!("{}", server.client_url());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct NatsServerBuilder {
    settings: Settings,
}

impl NatsServerBuilder {
    /// Turns JetStream on (the default) or off.
    pub fn jetstream(mut self, enabled: bool) -> Self {
        self.settings.jetstream = enabled;
        self
    }

    /// Sets `server_name` (the server picks a random id otherwise).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.settings.server_name = Some(name.into());
        self
    }

    /// Listens for clients on this loopback port instead of a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.settings.port = Some(port);
        self
    }

    /// Serves monitoring on this loopback port instead of a free one.
    pub fn monitoring_port(mut self, port: u16) -> Self {
        self.settings.monitoring_port = Some(port);
        self
    }

    /// Keeps JetStream data in `dir` (the server adds a `jetstream/` folder
    /// inside it). The harness never deletes a directory given here; by
    /// default it uses a temporary one that it removes on drop.
    pub fn store_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.settings.store_dir = Some(dir.into());
        self
    }

    /// Appends configuration text, for example `"max_payload: 2MB"` or an
    /// `accounts { .. }` block. May be called many times.
    ///
    /// The harness writes `listen`, `http`, `ports_file_dir`, `server_name`,
    /// `jetstream` and `cluster` itself, and `tls`, `authorization` or
    /// `operator` when [`tls`](Self::tls) or [`auth`](Self::auth) are used;
    /// set those through the builder.
    pub fn config(mut self, text: impl Into<String>) -> Self {
        self.settings.config.push(text.into());
        self
    }

    /// Appends a command-line argument, for example `"-DV"` for a debug log.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.settings.args.push(arg.into());
        self
    }

    /// Appends command-line arguments.
    pub fn args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.settings.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Bounds each wait for readiness (start, restart); default 10 s.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.settings.startup_timeout = timeout;
        self
    }

    /// Serves clients over TLS only, with a certificate signed by a CA made
    /// for this server (see [`TlsFiles`](crate::TlsFiles) and
    /// [`NatsServer::tls`]). Clients that do not trust that CA are refused.
    pub fn tls(mut self) -> Self {
        self.settings.tls = Some(TlsMode { verify: false });
        self
    }

    /// Like [`tls`](Self::tls), and also requires each client to present a
    /// certificate signed by the CA (`verify: true`), such as
    /// [`TlsFiles::client_cert`](crate::TlsFiles::client_cert).
    pub fn mutual_tls(mut self) -> Self {
        self.settings.tls = Some(TlsMode { verify: true });
        self
    }

    /// Requires clients to authenticate this way (see [`NatsAuth`]).
    ///
    /// For other users or permissions, write an `authorization { .. }` block
    /// with [`config`](Self::config) instead (not both).
    pub fn auth(mut self, auth: NatsAuth) -> Self {
        self.settings.auth = Some(auth);
        self
    }

    /// Starts the server and waits until it accepts clients (and, with
    /// JetStream, until JetStream is ready).
    ///
    /// # Errors
    ///
    /// [`TestkitError::BinaryNotFound`] or [`TestkitError::TooOld`] for a
    /// missing or old `nats-server`; [`TestkitError::Exited`] or
    /// [`TestkitError::NotReady`] (with the server's log tail) if it does
    /// not come up; [`TestkitError::Io`] for file-system failures.
    pub fn start(self) -> Result<NatsServer, TestkitError> {
        NatsServer::launch(self.settings)
    }

    /// Makes this server a cluster node; used by the cluster builder.
    pub(crate) fn cluster_node(mut self, cluster: ClusterConf) -> Self {
        self.settings.cluster = Some(cluster);
        self.settings.readiness = Readiness::JetStreamEnabled;
        self
    }
}
