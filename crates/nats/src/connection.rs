//! A started [`Connection`]: publishers, topology, health and graceful close.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use async_nats::jetstream;
use messaging_spec::{ServiceName, StreamName, Topology};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::builder::ConnectionBuilder;
use crate::error::{Error, Result};
use crate::health::{Health, HealthTracker};
use crate::metrics::Instruments;
use crate::options::Timing;
use crate::plan::ResponsePlan;
use crate::publisher::Publisher;
use messaging_core::Observer;
use messaging_core::PublishTarget;

/// State shared by the connection, its publishers and its background tasks.
pub(crate) struct Shared {
    pub(crate) service: ServiceName,
    /// The server URLs, comma-separated, without user info: for errors.
    pub(crate) url: String,
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) timing: Timing,
    pub(crate) observer: Observer,
    pub(crate) health: HealthTracker,
    pub(crate) metrics: Instruments,
    pub(crate) otel: crate::otel::Tracing,
    pub(crate) responses: Vec<ResponsePlan>,
    pub(crate) shutdown: CancellationToken,
    /// Handler tasks: close() waits for them to finish and ack.
    pub(crate) tracker: TaskTracker,
    /// Fetch, dispatch and request loops hold a token: close() waits for them to stop
    /// (and hand back what they buffered) before it waits for handlers.
    pub(crate) loops: TaskTracker,
    /// Ephemeral consumers by label: `(stream, server-side name)`, deleted on close.
    pub(crate) ephemerals: std::sync::Mutex<std::collections::BTreeMap<String, (String, String)>>,
    pub(crate) closed: AtomicBool,
    /// The NATS service (`$SRV.*`) this connection registers for its request handlers.
    pub(crate) micro: Option<crate::micro::Registry>,
    /// Permission violations the server reported.
    pub(crate) violations: Arc<crate::permissions::Violations>,
}

/// A running service on NATS: its consumers are fetching and its publishers are ready
/// (with [`optional_broker`](ConnectionBuilder::optional_broker), once
/// [`is_ready`](Self::is_ready) says so; publishers fail with [`Error::NotConnected`]
/// before).
///
/// Built with [`Connection::builder`]. Dropping it without [`close`](Self::close) stops
/// fetching but does not wait for handlers in flight.
///
/// ```no_run
/// use messaging_nats::Connection;
/// use messaging_spec::{ConsumableEvent, HandlerError};
///
/// #[derive(serde::Deserialize)]
/// struct OrderCreated { id: u64 }
///
/// async fn on_order(ev: ConsumableEvent<OrderCreated>) -> Result<(), HandlerError> {
///     println!("order {}", ev.payload.id);
///     Ok(())
/// }
///
/// # async fn demo() -> Result<(), messaging_nats::Error> {
/// let conn = Connection::builder("notifications")
///     .url("nats://127.0.0.1:4222")
///     .event_consumer("Order.Created", on_order)
///     .start()
///     .await?;
/// // … later
/// conn.close().await?;
/// # Ok(()) }
/// ```
pub struct Connection {
    pub(crate) shared: Arc<Shared>,
    pub(crate) topology: Topology,
    pub(crate) publishers: Vec<PublishTarget>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("service", &self.shared.service.as_str())
            .field("publishers", &self.publishers)
            .field("endpoints", &self.topology.endpoints.len())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// `Ok` once the connection is up; before (only with `optional_broker`),
    /// [`Error::NotConnected`] saying why. One atomic load when up: publishers call it on
    /// every publish.
    #[inline]
    pub(crate) fn check_started(&self) -> Result<()> {
        let startup = &self.health.startup;
        if startup.is_up() {
            return Ok(());
        }
        startup.check(&self.client.connection_state())
    }

    /// `e`, or [`Error::PermissionDenied`] when the server reported a violation that
    /// explains an operation on `subject` started at `since` failing.
    pub(crate) fn denied_or(&self, since: Instant, subject: &str, e: Error) -> Error {
        match self.violations.explain(since, subject) {
            Some(v) => v.into_error(self.url.clone()),
            None => e,
        }
    }
}

impl Connection {
    /// Starts configuring a connection for `service_name`.
    pub fn builder(service_name: impl Into<String>) -> ConnectionBuilder {
        ConnectionBuilder::new(service_name)
    }

    /// The service name.
    #[must_use]
    pub fn service_name(&self) -> &ServiceName {
        &self.shared.service
    }

    /// The service's topology, identical to [`ConnectionBuilder::topology`].
    #[must_use]
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The publisher registered for `target`.
    ///
    /// # Errors
    /// [`Error::PublisherNotRegistered`] when no such publisher was registered.
    pub fn publisher(&self, target: &PublishTarget) -> Result<Publisher> {
        if self.publishers.contains(target) {
            Ok(Publisher::new(Arc::clone(&self.shared), target.clone()))
        } else {
            Err(Error::PublisherNotRegistered(target.to_string()))
        }
    }

    /// The publishers registered, in registration order.
    #[must_use]
    pub fn publisher_targets(&self) -> &[PublishTarget] {
        &self.publishers
    }

    /// The `events` stream publisher.
    ///
    /// # Errors
    /// When `event_publisher()` was not registered.
    pub fn event_publisher(&self) -> Result<Publisher> {
        self.publisher(&PublishTarget::EventStream)
    }

    /// The publisher of a custom stream.
    ///
    /// # Errors
    /// When the name is invalid or no such publisher was registered.
    pub fn stream_publisher(&self, stream: &str) -> Result<Publisher> {
        let name = StreamName::from_exchange(stream)?;
        if name.as_str() == messaging_spec::DEFAULT_EVENT_EXCHANGE_NAME {
            return self.event_publisher();
        }
        self.publisher(&PublishTarget::Stream(name))
    }

    /// The request publisher for `target_service`.
    ///
    /// # Errors
    /// When the name is invalid or no such publisher was registered.
    pub fn service_publisher(&self, target_service: &str) -> Result<Publisher> {
        self.publisher(&PublishTarget::Service(ServiceName::new(target_service)?))
    }

    /// The underlying async-nats client, for anything this crate does not cover.
    #[must_use]
    pub fn client(&self) -> &async_nats::Client {
        &self.shared.client
    }

    /// The connection's health: connected, consumers bound and fetching, or degraded
    /// with the reasons (with [`optional_broker`](ConnectionBuilder::optional_broker),
    /// also while the broker is unreachable, or setting up failed). Cheap (no I/O); consumers are probed in the background at the
    /// builder's [`health_check_interval`](crate::ConnectionBuilder::health_check_interval).
    #[must_use]
    pub fn health(&self) -> Health {
        let shared = &self.shared;
        shared.health.health(
            &shared.client.connection_state(),
            shared.closed.load(Ordering::Acquire),
            Instant::now(),
        )
    }

    /// True only when connected and every consumer is bound and was confirmed within
    /// three health-check intervals. Suits a `/ready` endpoint.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.health().is_ready()
    }

    /// How many notifications were dropped because their channel was full.
    #[must_use]
    pub fn dropped_notifications(&self) -> u64 {
        self.shared.observer.dropped()
    }

    /// Stops fetching, waits (up to the shutdown timeout) for handlers in flight to finish
    /// and ack or nak, hands back buffered messages, then drains the connection.
    /// Publishing afterwards fails with [`Error::Closed`]. With
    /// [`optional_broker`](ConnectionBuilder::optional_broker) before the broker was
    /// reached, it stops the set-up and the connection attempts and returns at once.
    ///
    /// # Errors
    /// [`Error::ShutdownTimeout`] when handlers were still running at the deadline (the
    /// connection is drained anyway).
    pub async fn close(self) -> Result<()> {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        shared.health.startup.abandon();
        shared.shutdown.cancel();
        let started = Instant::now();
        let timeout = shared.timing.shutdown_timeout;
        // Loops first: they stop fetching, hand back buffered messages and may still start
        // handlers for requests already received; then wait for every handler.
        let finished = messaging_core::drain_tasks(&shared.loops, &shared.tracker, timeout).await;
        self.delete_ephemerals().await;
        // Acks are fire-and-forget publishes; a drain may close the socket before they are
        // written, and the server would redeliver messages already handled. Bounded: while
        // disconnected a flush waits for the reconnect. Nothing was acked before the
        // bring-up finished, and a client that never connected would only time out.
        if shared.health.startup.is_up() {
            let flush = tokio::time::timeout(shared.timing.publish_timeout, shared.client.flush());
            match flush.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "flush before drain failed"),
                Err(_) => tracing::debug!("flush before drain timed out"),
            }
        }
        // Bounded too: the drain is queued to the client, whose queue may be full.
        match tokio::time::timeout(shared.timing.publish_timeout, shared.client.drain()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "drain failed"),
            Err(_) => tracing::debug!("drain timed out"),
        }
        tracing::info!(service = shared.service.as_str(), elapsed = ?started.elapsed(), "connection closed");
        if finished {
            Ok(())
        } else {
            Err(Error::ShutdownTimeout(timeout))
        }
    }
}

impl Connection {
    /// Best effort: an ephemeral consumer would otherwise linger until the server reaps it.
    async fn delete_ephemerals(&self) {
        let ephemerals = self
            .shared
            .ephemerals
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        for (stream, name) in ephemerals.into_values() {
            let deleted = async {
                let s = self.shared.js.get_stream(&stream).await.ok()?;
                s.delete_consumer(&name).await.ok()
            };
            let deadline = self.shared.timing.publish_timeout;
            if tokio::time::timeout(deadline, deleted)
                .await
                .ok()
                .flatten()
                .is_none()
            {
                tracing::debug!(stream = %stream, consumer = %name, "could not delete ephemeral consumer");
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.health.startup.abandon();
        self.shared.shutdown.cancel();
    }
}
