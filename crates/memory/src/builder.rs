//! [`ConnectionBuilder`]: the NATS transport's settings and registrations, validated by
//! `messaging_core::plan` before the broker is touched.

use std::time::Duration;

use messaging_core::{ConsumerOptions, Rules, Setup};
use messaging_spec::{ErrorNotification, Notification, Topology};
use tokio::sync::mpsc;

use crate::broker::Broker;
use crate::connection::Connection;
use crate::error::{Error, Result};

/// nats-server's default AckWait.
pub(crate) const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// What the memory transport can do: everything NATS can (shared transient consumers,
/// the start positions `All`, `New` and `Last`, wildcard request keys, topology on
/// `Transport::Nats`), plus AMQP's sender-selected queue publish, and dead-lettering to a
/// stream as on NATS. Queue arguments (single active consumer), the other start positions
/// and JetStream's server-side consumer settings (`replay`, `max_ack_pending`,
/// `inactive_threshold`, `idle_heartbeat`, `max_batch`, `max_bytes`, `max_expires`) are
/// refused at start.
#[must_use]
pub fn memory_rules() -> Rules {
    let mut rules = Rules::nats();
    rules.name = "the in-memory transport";
    rules.queue_publish = true;
    // No broker to keep them: refused rather than silently ignored.
    rules.extended_start_positions = false;
    rules.server_consumer_settings = false;
    rules
}

/// Connection-wide timing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) request_timeout: Duration,
    pub(crate) ack_wait: Option<Duration>,
    pub(crate) shutdown_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            ack_wait: None,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl Timing {
    /// The same limits as the NATS transport.
    fn check(&self) -> Result<()> {
        for (what, d) in [
            ("request timeout", self.request_timeout),
            ("shutdown timeout", self.shutdown_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::invalid_config(format!("{what} must be positive")));
            }
        }
        if self
            .ack_wait
            .is_some_and(|d| d < Duration::from_millis(100))
        {
            return Err(Error::invalid_config("ack wait must be at least 100ms"));
        }
        Ok(())
    }

    pub(crate) fn ack_wait(&self) -> Duration {
        self.ack_wait.unwrap_or(DEFAULT_ACK_WAIT)
    }
}

/// Configures a [`Connection`] on a [`Broker`]: the same settings and registrations as
/// `messaging_nats::ConnectionBuilder` (minus what only a network needs: URLs, auth,
/// publish retries, stream limits), in any order, validated together by
/// [`start`](Self::start) before the broker is touched.
///
/// ```
/// use std::time::Duration;
/// use messaging_memory::{Broker, Connection, ConsumerOptions};
/// use messaging_spec::{ConsumableEvent, HandlerError};
///
/// async fn audit(_ev: ConsumableEvent<serde_json::Value>) -> Result<(), HandlerError> {
///     Ok(())
/// }
///
/// let broker = Broker::new();
/// let builder = Connection::builder("orders")
///     .broker(&broker)
///     .consumer_defaults(ConsumerOptions::new().max_deliver(5))
///     .ack_wait(Duration::from_secs(10))
///     .event_publisher()
///     .service_publisher("billing")
///     .event_consumer("Order.#", audit);
/// assert_eq!(builder.topology()?.endpoints.len(), 3);
/// # Ok::<(), messaging_memory::Error>(())
/// ```
#[must_use = "a builder does nothing until start() is awaited"]
pub struct ConnectionBuilder {
    pub(crate) service: String,
    pub(crate) broker: Option<Broker>,
    pub(crate) timing: Timing,
    pub(crate) consumer_defaults: ConsumerOptions,
    pub(crate) notifications: Option<mpsc::Sender<Notification>>,
    pub(crate) errors: Option<mpsc::Sender<ErrorNotification>>,
    pub(crate) span: Option<tracing::Span>,
    pub(crate) setups: Vec<Setup>,
}

impl std::fmt::Debug for ConnectionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionBuilder")
            .field("service", &self.service)
            .field("broker", &self.broker.is_some())
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
            broker: None,
            timing: Timing::default(),
            consumer_defaults: ConsumerOptions::default(),
            notifications: None,
            errors: None,
            span: None,
            setups: Vec::new(),
        }
    }

    // ---- where --------------------------------------------------------------------------

    /// The broker to connect to (required). Connections on the same broker see each
    /// other's streams, consumers and request handlers.
    pub fn broker(mut self, broker: &Broker) -> Self {
        self.broker = Some(broker.clone());
        self
    }

    // ---- behaviour ----------------------------------------------------------------------

    /// Timeout of requests to other services (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.timing.request_timeout = timeout;
        self
    }

    /// AckWait of every consumer (default 30 s, nats-server's). A delivery neither acked
    /// nor nak'ed within it is redelivered; a running handler sends in-progress acks every
    /// quarter of it (as the NATS transport does), so only deliveries of a crashed
    /// ([`Connection::abort`]) or timed-out instance expire. At least 100 ms.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.timing.ack_wait = Some(ack_wait);
        self
    }

    /// How long [`Connection::close`] waits for handlers in flight (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.timing.shutdown_timeout = timeout;
        self
    }

    /// Options for every consumer; per-registration options win (checked together, as
    /// on NATS). A `suffix` here is an [`Error::Core`] (`InvalidConfig`).
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

    /// Sends events straight to one durable consumer, bypassing its filters (AMQP's
    /// sender-selected queue publish). `queue` is a durable name on the `events` stream
    /// (`billing`, `billing-audit`), or an AMQP queue name
    /// `<stream>.topic.exchange.queue.<durable>`. A message for a consumer that does not
    /// exist is dropped, as an unroutable AMQP message is.
    pub fn queue_publisher(self, queue: impl Into<String>) -> Self {
        self.setup(Setup::queue_publisher(queue))
    }

    messaging_core::registration_methods!();

    // ---- terminal calls -----------------------------------------------------------------

    pub(crate) fn validate(&self) -> Result<messaging_core::Plan> {
        self.timing.check()?;
        Ok(messaging_core::plan(
            &memory_rules(),
            &self.service,
            &self.setups,
            &self.consumer_defaults,
        )?)
    }

    /// The topology this builder would register, with no broker: the NATS transport's
    /// topology for the same registrations (`transport: nats`).
    ///
    /// # Errors
    /// The same validation errors as [`start`](Self::start).
    pub fn topology(&self) -> Result<Topology> {
        Ok(self.validate()?.topology)
    }

    /// Validates everything, then creates streams and consumers on the broker, subscribes
    /// the request handlers and starts delivering.
    ///
    /// # Errors
    /// Invalid registrations or settings (nothing is created), no [`broker`](Self::broker),
    /// or [`Error::Consumer`] when an existing durable cannot take this configuration
    /// (what was attached is detached again).
    pub async fn start(self) -> Result<Connection> {
        let plan = self.validate()?;
        let Some(broker) = self.broker.clone() else {
            return Err(Error::invalid_config(
                "no broker: call .broker(&broker) on the builder",
            ));
        };
        crate::connection::bring_up(self, broker, plan)
    }
}

#[cfg(test)]
mod tests {

    use messaging_core::{ConsumerOptions, StartAt};
    use messaging_spec::{ConsumableEvent, HandlerError};

    use crate::{Connection, Error};

    async fn noop(_: ConsumableEvent<serde_json::Value>) -> Result<(), HandlerError> {
        Ok(())
    }

    /// What the broker cannot honour is refused by name, not ignored. The whole table is
    /// `messaging_core`'s (`plan::options` tests); here, that these rules are the ones used.
    #[test]
    fn jetstream_consumer_settings_are_refused_by_name() {
        let cases = [
            (
                "start_at",
                ConsumerOptions::new().start_at(StartAt::Sequence(3)),
            ),
            ("max_batch", ConsumerOptions::new().max_batch(5)),
        ];
        for (what, opts) in cases {
            let b = Connection::builder("svc")
                .setup(messaging_core::Setup::transient_event_consumer("K", noop).options(opts));
            match b.topology() {
                Err(Error::Core(messaging_core::Error::InvalidRegistration { reason, .. })) => {
                    assert!(
                        reason.starts_with(what)
                            && reason.contains("not available on the in-memory transport"),
                        "{reason}"
                    );
                }
                other => panic!("expected InvalidRegistration for {what}, got {other:?}"),
            }
        }
        for start in [StartAt::All, StartAt::New, StartAt::Last] {
            let b = Connection::builder("svc")
                .setup(messaging_core::Setup::event_consumer("K", noop).start_at(start));
            assert!(b.topology().is_ok(), "{start:?}");
        }
    }
}
