//! [`ConnectionBuilder`]: settings plus registrations, no I/O until
//! [`start`](ConnectionBuilder::start).

use std::sync::Mutex;
use std::time::Duration;

use messaging_core::{ConsumerOptions, Setup};
use messaging_spec::{ErrorNotification, Notification, Topology};
use tokio::sync::mpsc;

use crate::connect::redact;
use crate::error::Result;
use crate::options::Timing;
use crate::plan::{self, Plan};

mod start;

use start::MetricsSetting;

/// Configures a [`Connection`](crate::Connection): settings and registrations in any
/// order, validated together by [`start`](Self::start) before the broker is touched.
///
/// ```no_run
/// use std::time::Duration;
/// use messaging_amqp::{Connection, ConsumerOptions};
/// use messaging_spec::{ConsumableEvent, HandlerError};
///
/// async fn audit(ev: ConsumableEvent<serde_json::Value>) -> Result<(), HandlerError> {
///     Ok(())
/// }
///
/// # async fn demo() -> Result<(), messaging_amqp::Error> {
/// let conn = Connection::builder("orders")
///     .url("amqp://guest:guest@127.0.0.1:5672/%2f")
///     .consumer_defaults(
///         ConsumerOptions::new()
///             .max_deliver(5)
///             .backoff([Duration::from_millis(200), Duration::from_secs(2)]),
///     )
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
    url: Option<String>,
    connection_name: Option<String>,
    timing: Timing,
    consumer_defaults: ConsumerOptions,
    notifications: Option<mpsc::Sender<Notification>>,
    errors: Option<mpsc::Sender<ErrorNotification>>,
    span: Option<tracing::Span>,
    setups: Vec<Setup>,
    metrics: MetricsSetting,
    #[cfg(feature = "otel")]
    otel: Option<crate::OtelTracing>,
    /// The UUIDs of transient queues, chosen once, so `topology()` and `start()` agree.
    transient_ids: Mutex<Vec<String>>,
}

impl std::fmt::Debug for ConnectionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionBuilder")
            .field("service", &self.service)
            .field("url", &self.url.as_deref().map(redact))
            .field("timing", &self.timing)
            .field("consumer_defaults", &self.consumer_defaults)
            .field("setups", &self.setups)
            .finish_non_exhaustive()
    }
}

impl ConnectionBuilder {
    pub(crate) fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            url: None,
            connection_name: None,
            timing: Timing::default(),
            consumer_defaults: ConsumerOptions::default(),
            notifications: None,
            errors: None,
            span: None,
            setups: Vec::new(),
            metrics: MetricsSetting::default(),
            #[cfg(feature = "otel")]
            otel: None,
            transient_ids: Mutex::new(Vec::new()),
        }
    }

    // ---- where to connect -------------------------------------------------------------

    /// The broker URL: `amqp://user:password@host:port/vhost` (vhost `%2f` is `/`; no
    /// path also means `/`). Defaults to `amqp://guest:guest@127.0.0.1:5672/%2f`. The
    /// heartbeat is 10 s unless the URL sets `?heartbeat=`. `amqps://` needs the `rustls`
    /// feature. The password never appears in logs, errors or `Debug`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The connection name the broker shows (default, as the reference:
    /// `<service>#<crate version>#@<hostname>`).
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = Some(name.into());
        self
    }

    /// How long `start()` waits for the TCP and AMQP handshake (default 10 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.timing.connection_timeout = timeout;
        self
    }

    // ---- behaviour ----------------------------------------------------------------------

    /// Prefetch of every consumer channel (the reference's `WithPrefetchLimit`, default
    /// 20, raised to the consumer's concurrency). A consumer's own
    /// `ConsumerOptions::prefetch` wins.
    pub fn prefetch(mut self, n: u16) -> Self {
        self.timing.prefetch = Some(n);
        self
    }

    /// How long a typed [`request`](crate::Publisher::request) waits for its reply
    /// (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.timing.request_timeout = timeout;
        self
    }

    /// How long one publish attempt waits for a confirm slot and for the broker's
    /// confirm (default 5 s).
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.timing.publish_timeout = timeout;
        self
    }

    /// Attempts per publish when the channel or connection went away or the confirm timed
    /// out (default 3), all with the same CloudEvents id; the first retry waits `delay`,
    /// then it doubles (capped at 5 s, or at `delay` when that is longer). A broker
    /// `basic.nack` is not retried.
    pub fn publish_retries(mut self, attempts: u32, delay: Duration) -> Self {
        self.timing.publish_attempts = attempts;
        self.timing.publish_retry_delay = delay;
        self
    }

    /// Bounds the confirms in flight per publisher for [`Publish::send`](crate::Publish::send)
    /// (default 5 000). Each [`PendingConfirm`](crate::PendingConfirm) holds a slot until it
    /// is awaited or dropped.
    pub fn max_in_flight_confirms(mut self, n: usize) -> Self {
        self.timing.max_in_flight_confirms = n;
        self
    }

    /// How long [`Connection::close`](crate::Connection::close) waits for handlers in
    /// flight (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.timing.shutdown_timeout = timeout;
        self
    }

    /// Options for every consumer and request handler; per-registration options win.
    /// A `suffix` here is an error (name queues on their registrations), and so are
    /// NATS-only options (`start_at` other than `All`).
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

    /// Registers this connection's Prometheus metrics (`amqp_events_*`) on `registry`
    /// when it starts (`start` fails if they are already registered there; to report
    /// several connections on one registry, use [`shared_metrics`](Self::shared_metrics)).
    /// A `start` that fails unregisters them again.
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

    // The named shortcuts (`event_publisher`, `stream_publisher`, `service_publisher`,
    // `queue_publisher`, `event_consumer`, `transient_event_consumer`, `stream_consumer`,
    // `transient_stream_consumer`, `request_handler`, `service_response_consumer`), the
    // same on every transport; what each declares on RabbitMQ is in `docs/amqp.md`.
    messaging_core::registration_methods!(queue);

    // ---- terminal calls -----------------------------------------------------------------

    fn validate(&self) -> Result<Plan> {
        self.timing.check()?;
        let ids = &self.transient_ids;
        plan::plan(
            &self.service,
            &self.setups,
            &self.consumer_defaults,
            self.timing.prefetch,
            |i| {
                let mut ids = match ids.lock() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                while ids.len() <= i {
                    ids.push(uuid::Uuid::new_v4().to_string());
                }
                ids[i].clone()
            },
        )
    }

    /// The topology this builder would register, with no broker (Go's `CollectTopology`;
    /// transient queue names are the ones `start()` will declare).
    ///
    /// # Errors
    /// The same validation errors as [`start`](Self::start).
    pub fn topology(&self) -> Result<Topology> {
        Ok(self.validate()?.topology)
    }
}

#[cfg(test)]
mod tests {
    use crate::Connection;

    #[test]
    fn debug_never_shows_the_password() {
        let b = Connection::builder("svc").url("amqp://app:s3cret@mq:5672/%2f");
        let shown = format!("{b:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("amqp://app:***@mq:5672/%2f"), "{shown}");
    }

    #[test]
    fn bad_urls_and_settings_fail_before_any_io() {
        let rt = tokio::runtime::Builder::new_current_thread().build();
        let Ok(rt) = rt else { panic!("runtime") };
        let started = rt.block_on(
            Connection::builder("svc")
                .url("http://u:hidden@h")
                .event_publisher()
                .start(),
        );
        let Err(e) = started else {
            panic!("a bad URL must fail")
        };
        assert!(!e.to_string().contains("hidden"), "{e}");
        let zero = Connection::builder("svc").publish_timeout(std::time::Duration::ZERO);
        assert!(zero.topology().is_err());
    }
}
