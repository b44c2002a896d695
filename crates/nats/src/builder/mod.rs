//! [`ConnectionBuilder`]: settings plus registrations, no I/O until [`start`](ConnectionBuilder::start).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use messaging_spec::{ErrorNotification, Notification, StreamName, Topology};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::events::ConnectionEvents;
use crate::options::{StreamConfig, Timing};
use crate::plan::{self, Plan};
use messaging_core::ConsumerOptions;
use messaging_core::Setup;

mod background;
mod bring_up;
mod connect;

pub use connect::redact_url;
mod start;

use start::MetricsSetting;

/// The async-nats default of `connection_timeout`.
const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepted health-check intervals: shorter ones would flood the server with probes.
const HEALTH_INTERVALS: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(10)..=Duration::from_secs(3600);

/// Client-level settings passed through to async-nats. `Debug` shows which credentials
/// are set, never their values.
#[derive(Default)]
struct ClientSettings {
    base: Option<async_nats::ConnectOptions>,
    name: Option<String>,
    user_password: Option<(String, String)>,
    token: Option<String>,
    nkey: Option<String>,
    credentials_file: Option<PathBuf>,
    root_certificates: Vec<PathBuf>,
    client_certificate: Option<(PathBuf, PathBuf)>,
    require_tls: bool,
    retry_initial_connect: bool,
    max_reconnects: Option<Option<usize>>,
    connection_timeout: Option<Duration>,
    domain: Option<String>,
    api_prefix: Option<String>,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SET: &str = "<redacted>";
        let secret = |set: bool| set.then_some(SET);
        f.debug_struct("ClientSettings")
            .field("client_options", &self.base.is_some())
            .field("name", &self.name)
            .field("user", &self.user_password.as_ref().map(|(u, _)| u))
            .field("password", &secret(self.user_password.is_some()))
            .field("token", &secret(self.token.is_some()))
            .field("nkey", &secret(self.nkey.is_some()))
            .field("credentials_file", &self.credentials_file)
            .field("root_certificates", &self.root_certificates)
            .field("client_certificate", &self.client_certificate)
            .field("require_tls", &self.require_tls)
            .field("retry_initial_connect", &self.retry_initial_connect)
            .field("max_reconnects", &self.max_reconnects)
            .field("connection_timeout", &self.connection_timeout)
            .field("domain", &self.domain)
            .field("api_prefix", &self.api_prefix)
            .finish()
    }
}

/// Configures a [`Connection`](crate::Connection): settings and registrations in any order, validated
/// together by [`start`](Self::start) before the broker is touched.
///
/// ```no_run
/// use std::time::Duration;
/// use messaging_nats::{Connection, ConsumerOptions, StreamConfig};
/// use messaging_spec::{ConsumableEvent, HandlerError};
///
/// async fn audit(ev: ConsumableEvent<serde_json::Value>) -> Result<(), HandlerError> {
///     Ok(())
/// }
///
/// # async fn demo() -> Result<(), messaging_nats::Error> {
/// let conn = Connection::builder("orders")
///     .url("nats://127.0.0.1:4222")
///     .stream_defaults(StreamConfig::new().max_age(Duration::from_secs(7 * 86_400)))
///     .consumer_defaults(ConsumerOptions::new().max_deliver(5))
///     .event_publisher()
///     .service_publisher("billing")
///     .event_consumer("Order.#", audit)
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until start() is awaited"]
pub struct ConnectionBuilder {
    service: String,
    urls: Vec<String>,
    client: ClientSettings,
    timing: Timing,
    stream_defaults: StreamConfig,
    stream_configs: BTreeMap<String, StreamConfig>,
    consumer_defaults: ConsumerOptions,
    notifications: Option<mpsc::Sender<Notification>>,
    errors: Option<mpsc::Sender<ErrorNotification>>,
    span: Option<tracing::Span>,
    setups: Vec<Setup>,
    metrics: MetricsSetting,
    #[cfg(feature = "otel")]
    otel: Option<crate::OtelTracing>,
    health_interval: Duration,
    events: Arc<ConnectionEvents>,
    micro: crate::micro::MicroSettings,
    optional_broker: bool,
}

impl std::fmt::Debug for ConnectionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials are redacted, and so is the user info of URLs.
        let urls: Vec<String> = self.urls.iter().map(|u| connect::redact_url(u)).collect();
        f.debug_struct("ConnectionBuilder")
            .field("service", &self.service)
            .field("urls", &urls)
            .field("client", &self.client)
            .field("timing", &self.timing)
            .field("stream_defaults", &self.stream_defaults)
            .field("stream_configs", &self.stream_configs)
            .field("consumer_defaults", &self.consumer_defaults)
            .field("setups", &self.setups)
            .field("optional_broker", &self.optional_broker)
            .finish_non_exhaustive()
    }
}

impl ConnectionBuilder {
    pub(crate) fn new(service: impl Into<String>) -> Self {
        let service = service.into();
        Self {
            urls: Vec::new(),
            client: ClientSettings::default(),
            timing: Timing::default(),
            stream_defaults: StreamConfig::default(),
            stream_configs: BTreeMap::new(),
            consumer_defaults: ConsumerOptions::default(),
            notifications: None,
            errors: None,
            span: None,
            setups: Vec::new(),
            metrics: MetricsSetting::default(),
            #[cfg(feature = "otel")]
            otel: None,
            health_interval: crate::health::DEFAULT_INTERVAL,
            events: Arc::new(ConnectionEvents::new(&service)),
            micro: crate::micro::MicroSettings::default(),
            optional_broker: false,
            service,
        }
    }

    // ---- where to connect -------------------------------------------------------------

    /// A server URL (`nats://host:4222`). Call again, or use [`urls`](Self::urls), for a
    /// cluster. Defaults to `nats://127.0.0.1:4222`. If none can be reached, `start()` fails
    /// with [`Error::ConnectFailed`] naming the URLs (without any `user:password@` part).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.urls.push(url.into());
        self
    }

    /// Several server URLs.
    pub fn urls<S: Into<String>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        self.urls.extend(urls.into_iter().map(Into::into));
        self
    }

    /// Starts from these async-nats options (anything not covered below); the named
    /// settings are applied on top.
    pub fn client_options(mut self, options: async_nats::ConnectOptions) -> Self {
        self.client.base = Some(options);
        self
    }

    /// Connection name shown by the server (default: the service name).
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.client.name = Some(name.into());
        self
    }

    /// User and password authentication. If the server refuses them, `start()` fails with
    /// [`Error::ConnectFailed`] of kind [`ConnectFailure::Auth`](crate::ConnectFailure::Auth).
    /// Like every credential, the password is never shown by `Debug`, errors or logs.
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.client.user_password = Some((user.into(), password.into()));
        self
    }

    /// Token authentication (refused: [`ConnectFailure::Auth`](crate::ConnectFailure::Auth)).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.client.token = Some(token.into());
        self
    }

    /// NKey seed (`SU…`) authentication. An unknown or invalid seed fails `start()` with
    /// [`ConnectFailure::Auth`](crate::ConnectFailure::Auth).
    pub fn nkey(mut self, seed: impl Into<String>) -> Self {
        self.client.nkey = Some(seed.into());
        self
    }

    /// A `.creds` file (user JWT + NKey seed), read during `start()`: an unreadable file is
    /// [`Error::Connect`], a refused user [`ConnectFailure::Auth`](crate::ConnectFailure::Auth).
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.client.credentials_file = Some(path.into());
        self
    }

    /// A CA certificate (PEM) to trust instead of the system's roots; implies TLS. A server
    /// certificate it did not sign fails `start()` with
    /// [`ConnectFailure::Tls`](crate::ConnectFailure::Tls).
    pub fn tls_root_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.client.root_certificates.push(path.into());
        self
    }

    /// A client certificate and key (PEM) for mutual TLS (a server with `verify: true`
    /// refuses clients without one: [`ConnectFailure::Tls`](crate::ConnectFailure::Tls)).
    pub fn tls_client_certificate(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.client.client_certificate = Some((cert.into(), key.into()));
        self
    }

    /// Requires TLS, even when the server does not ask for it; a server without TLS fails
    /// `start()` with [`ConnectFailure::Tls`](crate::ConnectFailure::Tls).
    pub fn require_tls(mut self, require: bool) -> Self {
        self.client.require_tls = require;
        self
    }

    /// Keeps retrying the first connect instead of failing at once: `start()` waits for
    /// the connection for at most [`connection_timeout`](Self::connection_timeout) (5 s by
    /// default; raise it to wait longer), then fails with [`Error::Connect`]. Once
    /// connected, it goes on as usual.
    pub fn retry_initial_connect(mut self, retry: bool) -> Self {
        self.client.retry_initial_connect = retry;
        self
    }

    /// Lets the service start while the broker is unreachable (default off). `start()`
    /// still validates everything first (invalid settings and registrations fail at once),
    /// then returns a [`Connection`](crate::Connection) without waiting for the broker.
    /// The client keeps trying to connect in the background, and on the first connection
    /// the connection sets up everything `start()` would: streams, consumers, request
    /// handlers, the NATS service registration. Until then:
    ///
    /// - [`Connection::health`](crate::Connection::health) is not ready: degraded with
    ///   [`HealthProblem::BrokerUnreachable`](crate::HealthProblem::BrokerUnreachable)
    ///   naming the URLs, then [`HealthStatus::Starting`](crate::HealthStatus::Starting)
    ///   while setting up, then as usual;
    /// - publishing and requests fail at once with [`Error::NotConnected`], which is
    ///   retryable;
    /// - a set-up failure that is not about reaching the broker (JetStream not enabled, a
    ///   server too old, a stream with other storage) is reported as
    ///   [`HealthProblem::StartFailed`](crate::HealthProblem::StartFailed) and as an
    ///   error notification, and retried with backoff (1 s doubling to 30 s).
    ///
    /// [`close`](crate::Connection::close) works at any point, and stops the connection
    /// attempts. Wins over [`retry_initial_connect`](Self::retry_initial_connect). The
    /// client's reconnect delays are async-nats's defaults (a delay callback set through
    /// [`client_options`](Self::client_options) is replaced), and with
    /// [`max_reconnects`](Self::max_reconnects) the first connection gives up after that
    /// many attempts too.
    pub fn optional_broker(mut self, optional: bool) -> Self {
        self.optional_broker = optional;
        self
    }

    /// Reconnect attempts before giving up (`None`: forever; async-nats default: forever).
    pub fn max_reconnects(mut self, attempts: Option<usize>) -> Self {
        self.client.max_reconnects = Some(attempts);
        self
    }

    /// Timeout of each connection attempt (async-nats default 5 s); with
    /// [`retry_initial_connect`](Self::retry_initial_connect), also how long `start()`
    /// waits for the first connection.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.client.connection_timeout = Some(timeout);
        self
    }

    /// JetStream domain (leaf nodes, hubs).
    pub fn jetstream_domain(mut self, domain: impl Into<String>) -> Self {
        self.client.domain = Some(domain.into());
        self
    }

    /// JetStream API prefix (cross-account imports).
    pub fn jetstream_api_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.client.api_prefix = Some(prefix.into());
        self
    }

    // ---- behaviour ----------------------------------------------------------------------

    /// Timeout of Core NATS requests (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.timing.request_timeout = timeout;
        self
    }

    /// AckWait of every consumer (server default 30 s). Messages waiting in the backlog and
    /// messages being handled get in-progress acks every quarter of it, so neither is
    /// redelivered while this instance holds it.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.timing.ack_wait = Some(ack_wait);
        self
    }

    /// How long to wait for a stream's publish ack per attempt (default 5 s).
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.timing.publish_timeout = timeout;
        self
    }

    /// Attempts per publish when the ack times out or nobody answers (default 10 from
    /// 100 ms: about 11 s of waits, longer than a leader election), all with the same
    /// message id; the first retry waits `delay`, then it doubles (capped at 2 s, or at
    /// `delay` when that is longer). Waits count from when the failed attempt was sent.
    pub fn publish_retries(mut self, attempts: u32, delay: Duration) -> Self {
        self.timing.publish_attempts = attempts;
        self.timing.publish_retry_delay = delay;
        self
    }

    /// Bounds the publish acks in flight for [`Publish::send`](crate::Publish::send)
    /// (default 5 000). Each [`PendingAck`](crate::PendingAck) holds a slot until it is
    /// awaited or dropped; with every slot held, `send()` waits for one and after
    /// `publish_timeout` fails with [`PublishFailure::Backpressure`](crate::PublishFailure).
    /// Await acks in a sliding window no wider than `n`.
    pub fn max_ack_inflight(mut self, n: usize) -> Self {
        self.timing.max_ack_inflight = Some(n);
        self
    }

    /// How long [`Connection::close`](crate::Connection::close) waits for handlers in flight (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.timing.shutdown_timeout = timeout;
        self
    }

    /// Settings for every stream this service creates or updates.
    pub fn stream_defaults(mut self, config: StreamConfig) -> Self {
        self.stream_defaults = config;
        self
    }

    /// Settings for one stream, overriding the defaults field by field. Accepts AMQP-style
    /// names (`audit.topic.exchange` is the stream `audit`).
    pub fn stream_config(mut self, stream: impl Into<String>, config: StreamConfig) -> Self {
        // Keyed by the bare stream name, which is what start() looks up.
        let stream = messaging_spec::naming::nats_stream_name(&stream.into());
        self.stream_configs.insert(stream, config);
        self
    }

    /// Options for every consumer; per-registration options win. The effective options
    /// of each consumer are checked together (e.g. a `backoff` here longer than a
    /// registration's `max_deliver` is an [`Error::Core`] (`InvalidRegistration`)). A `suffix` here
    /// is an [`Error::Core`] (`InvalidConfig`): name consumers on their registrations.
    pub fn consumer_defaults(mut self, options: ConsumerOptions) -> Self {
        self.consumer_defaults = options;
        self
    }

    /// Success notifications. A full channel drops them (counted), never blocks.
    pub fn notifications(mut self, tx: mpsc::Sender<Notification>) -> Self {
        self.notifications = Some(tx);
        self
    }

    /// Error notifications. A full channel drops them (counted), never blocks.
    pub fn error_notifications(mut self, tx: mpsc::Sender<ErrorNotification>) -> Self {
        self.errors = Some(tx);
        self
    }

    /// Parent span for every background task and handler of this connection.
    pub fn span(mut self, span: tracing::Span) -> Self {
        self.span = Some(span);
        self
    }

    /// Registers this connection's Prometheus metrics on `registry` when it starts
    /// (`start` fails if they are already registered there; to report several connections
    /// on one registry, use [`shared_metrics`](Self::shared_metrics)). A `start` that fails
    /// unregisters them again.
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, registry: &prometheus::Registry) -> Self {
        self.metrics = MetricsSetting::Register(registry.clone());
        self
    }

    /// Reports to an already registered [`Metrics`](crate::Metrics) set, which several
    /// connections may share.
    #[cfg(feature = "metrics")]
    pub fn shared_metrics(mut self, metrics: &crate::Metrics) -> Self {
        self.metrics = MetricsSetting::Shared(metrics.clone());
        self
    }

    /// OpenTelemetry settings: tracer provider, propagator, span names. Without this,
    /// spans go to the global tracer provider and trace context is W3C.
    #[cfg(feature = "otel")]
    pub fn otel(mut self, tracing: crate::OtelTracing) -> Self {
        self.otel = Some(tracing);
        self
    }

    /// How often consumers are probed on the server for [`Connection::health`](crate::Connection::health) and the
    /// lag gauges refreshed (default 5 s). A consumer unconfirmed for three intervals is
    /// stale, so the connection is not ready. Must be between 10 ms and 1 h.
    pub fn health_check_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }

    /// Registers the request handlers as a NATS service (the "micro" protocol; default
    /// on), so `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` (and `nats micro ls`) show the
    /// service, its request subjects and per-endpoint counters. Request subjects, queue
    /// group and replies are the same either way. Nothing is registered for a service
    /// without request handlers, or whose name is not a micro name (A-Z, a-z, 0-9, `-`,
    /// `_`). Turn it off when the account may not subscribe to `$SRV.>`.
    pub fn micro_service(mut self, enabled: bool) -> Self {
        self.micro.enabled = enabled;
        self
    }

    /// The version the NATS service reports (default `0.0.0`). It must be a semantic
    /// version: anything else fails `start()` with [`Error::Core`] (`InvalidConfig`).
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.micro.version = Some(version.into());
        self
    }

    /// Applies a [`Config`](crate::Config) loaded from a file or the environment: every
    /// field it sets goes through the matching setter above, so settings made after this
    /// call win, and fields it leaves unset keep what the builder has. Its URLs are added
    /// to the builder's. No I/O (a `creds_file` is read by `start()`).
    pub fn config(self, config: &crate::Config) -> Self {
        config.apply(self)
    }

    // ---- registrations ------------------------------------------------------------------

    /// Adds one registration.
    pub fn setup(mut self, setup: Setup) -> Self {
        self.setups.push(setup);
        self
    }

    /// Adds several registrations.
    pub fn setups(mut self, setups: impl IntoIterator<Item = Setup>) -> Self {
        self.setups.extend(setups);
        self
    }

    messaging_core::registration_methods!();

    // ---- terminal calls -----------------------------------------------------------------

    fn validate(&self) -> Result<Plan> {
        self.timing.check()?;
        self.micro.check()?;
        if !HEALTH_INTERVALS.contains(&self.health_interval) {
            return Err(Error::invalid_config(format!(
                "health check interval must be between {:?} and {:?}, got {:?}",
                HEALTH_INTERVALS.start(),
                HEALTH_INTERVALS.end(),
                self.health_interval
            )));
        }
        for name in self.stream_configs.keys() {
            StreamName::from_exchange(name.as_str())?;
        }
        plan::plan(&self.service, &self.setups, &self.consumer_defaults)
    }

    /// The topology this builder would register, with no broker (Go's `CollectTopology`).
    ///
    /// # Errors
    /// The same validation errors as [`start`](Self::start).
    pub fn topology(&self) -> Result<Topology> {
        Ok(self.validate()?.topology)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use messaging_spec::StreamName;

    use crate::connection::Connection;
    use crate::error::Result;
    use crate::options::StreamConfig;
    use crate::plan::Plan;

    #[test]
    fn amqp_style_stream_config_configures_the_bare_stream() -> Result<()> {
        let minute = Duration::from_secs(60);
        let b = Connection::builder("svc")
            .stream_config("audit.topic.exchange", StreamConfig::new().max_age(minute));
        let cfg = Plan::stream_config(
            &b.stream_defaults,
            &b.stream_configs,
            &StreamName::new("audit")?,
        );
        assert_eq!(cfg.get_max_age(), Some(minute));
        Ok(())
    }
}
