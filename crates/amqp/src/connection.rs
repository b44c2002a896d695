//! A started [`Connection`]: publishers, topology, health, responses and graceful close.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use messaging_core::{Observer, PublishTarget};
use messaging_spec::{ServiceName, StreamName, Topology};
use serde::Serialize;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::builder::ConnectionBuilder;
use crate::declare::{ExchangeSpec, Kind};
use crate::error::{Error, Result};
use crate::health::{Health, QueueHealth};
use crate::metrics::Instruments;
use crate::options::Timing;
use crate::plan::QueuePlan;
use crate::publish::PublishChannel;
use crate::publisher::{PublishReceipt, Publisher, Publishers};
use crate::reply::ReplyClient;

/// State shared by the connection, its publishers and its background tasks.
pub(crate) struct Shared {
    pub(crate) service: ServiceName,
    /// The connection, replaced when it is lost.
    pub(crate) link: Arc<crate::link::Link>,
    pub(crate) timing: Timing,
    pub(crate) observer: Observer,
    pub(crate) metrics: Instruments,
    pub(crate) otel: crate::otel::Tracing,
    pub(crate) shutdown: CancellationToken,
    /// Handler tasks and delayed requeues: close() waits for them to settle.
    pub(crate) tracker: TaskTracker,
    /// Consumer loops: close() waits for them to stop (an inline handler included).
    pub(crate) loops: TaskTracker,
    pub(crate) closed: AtomicBool,
    /// Response queues by target, to hand typed-request replies to their handlers too.
    pub(crate) responses: Vec<(ServiceName, Arc<QueuePlan>)>,
    /// Responses and direct replies, opened on first use (confirm mode).
    pub(crate) responder: OnceCell<PublishChannel>,
    /// Our `<service>.headers.exchange.response`, declared once before the first
    /// `publish_service_response` (already declared at start when we serve requests).
    pub(crate) response_exchange: OnceCell<()>,
    pub(crate) replies: ReplyClient,
    pub(crate) health: Vec<QueueHealth>,
}

impl Shared {
    /// The channel responses and replies go out on.
    pub(crate) async fn responder(&self) -> Result<&PublishChannel> {
        self.responder
            .get_or_try_init(|| async {
                PublishChannel::open(
                    Arc::clone(&self.link),
                    "responses",
                    self.timing.max_in_flight_confirms,
                    self.timing.publish_timeout,
                )
                .await
                .map_err(|e| Error::channel("open the responses channel", e))
            })
            .await
    }

    /// Declares our response exchange once (durable headers exchange, as the reference).
    pub(crate) async fn ensure_response_exchange(&self) -> Result<()> {
        self.response_exchange
            .get_or_try_init(|| async {
                let channel = self
                    .link
                    .current()
                    .create_channel()
                    .await
                    .map_err(|e| Error::channel("open a setup channel", e))?;
                let spec = ExchangeSpec::new(
                    messaging_spec::naming::service_response_exchange_name(self.service.as_str()),
                    Kind::Headers,
                );
                let declared = spec.declare(&channel).await;
                let _ = channel.close(200, "OK".into()).await;
                declared
            })
            .await
            .map(|_| ())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// A running service on RabbitMQ: its queues are declared and consumed, its publishers
/// ready.
///
/// Built with [`Connection::builder`]. Dropping it without [`close`](Self::close) stops
/// consuming but does not wait for handlers in flight.
///
/// ```no_run
/// use messaging_amqp::Connection;
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
/// # async fn demo() -> Result<(), messaging_amqp::Error> {
/// let conn = Connection::builder("notifications")
///     .url("amqp://guest:guest@127.0.0.1:5672/%2f")
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
    pub(crate) publishers: Publishers,
    /// Every consumed queue; their channels are closed last.
    pub(crate) queues: Vec<Arc<crate::consume::QueueRuntime>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("service", &self.shared.service.as_str())
            .field("publishers", &self.publishers.targets())
            .field("endpoints", &self.topology.endpoints.len())
            .finish_non_exhaustive()
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

    /// The service's topology, identical to [`ConnectionBuilder::topology`] (transient
    /// queues included: their UUIDs are chosen once per builder).
    #[must_use]
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The publisher registered for `target`.
    ///
    /// # Errors
    /// [`Error::PublisherNotRegistered`] when no such publisher was registered.
    pub fn publisher(&self, target: &PublishTarget) -> Result<Publisher> {
        self.publishers.get(&self.shared, target)
    }

    /// The publishers registered, in registration order.
    #[must_use]
    pub fn publisher_targets(&self) -> Vec<PublishTarget> {
        self.publishers.targets()
    }

    /// The `events.topic.exchange` publisher.
    ///
    /// # Errors
    /// When `event_publisher()` was not registered.
    pub fn event_publisher(&self) -> Result<Publisher> {
        self.publisher(&PublishTarget::EventStream)
    }

    /// The publisher of a custom stream (`audit`, or `audit.topic.exchange`).
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

    /// The queue publisher for `queue` (sender-selected distribution).
    ///
    /// # Errors
    /// When no such publisher was registered.
    pub fn queue_publisher(&self, queue: &str) -> Result<Publisher> {
        self.publisher(&PublishTarget::Queue(queue.to_owned()))
    }

    /// Sends a response to `target_service` the reference way (Go's
    /// `PublishServiceResponse`): to this service's `<service>.headers.exchange.response`
    /// with header `service = <target_service>` (the recipient), so it reaches
    /// `<service>.headers.exchange.response.queue.<target_service>`. Waits for the
    /// broker's confirm.
    ///
    /// ```no_run
    /// # async fn demo(conn: messaging_amqp::Connection) -> Result<(), messaging_amqp::Error> {
    /// conn.publish_service_response("scheduler", "task.execute", &serde_json::json!({"status": "completed"}))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Invalid names, [`Error::Closed`], or the publish's error.
    pub async fn publish_service_response<M: Serialize + ?Sized>(
        &self,
        target_service: &str,
        routing_key: &str,
        message: &M,
    ) -> Result<PublishReceipt> {
        let target = ServiceName::new(target_service)?;
        let body = serde_json::to_vec(message).map_err(Error::Encode)?;
        self.shared.ensure_response_exchange().await?;
        crate::respond::publish_response(&self.shared, &target, routing_key, body.into(), None)
            .await
    }

    /// The underlying lapin connection in use now, for anything this crate does not
    /// cover. After a connection loss the library opens a new one, so hold it briefly.
    #[must_use]
    pub fn amqp(&self) -> Arc<lapin::Connection> {
        self.shared.link.current()
    }

    /// Connected, and every queue consumed (cheap, no I/O).
    #[must_use]
    pub fn health(&self) -> Health {
        Health::new(
            self.shared.link.is_connected(),
            self.shared.is_closed(),
            &self.shared.health,
        )
    }

    /// True only when connected and every queue is consumed. Suits a `/ready` endpoint.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.health().is_ready()
    }

    /// How many notifications were dropped because their channel was full.
    #[must_use]
    pub fn dropped_notifications(&self) -> u64 {
        self.shared.observer.dropped()
    }

    /// Stops consuming (`basic.cancel`), waits up to the shutdown timeout for handlers in
    /// flight to finish and settle (delayed requeues are sent at once), waits for the
    /// confirms in flight, then closes the channels and the connection. Deliveries that
    /// were prefetched but not started go back to the queue when their channel closes.
    /// Publishing afterwards fails with [`Error::Closed`].
    ///
    /// # Errors
    /// [`Error::ShutdownTimeout`] when handlers were still running at the deadline (the
    /// connection is closed anyway).
    pub async fn close(self) -> Result<()> {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        shared.shutdown.cancel();
        let started = Instant::now();
        let timeout = shared.timing.shutdown_timeout;
        let finished = messaging_core::drain_tasks(&shared.loops, &shared.tracker, timeout).await;
        self.publishers.close().await;
        if let Some(r) = shared.responder.get() {
            r.close().await;
        }
        shared.replies.close().await;
        // Each close is bounded: a connection that just died may never answer.
        let limit = shared.timing.publish_timeout;
        for q in &self.queues {
            let ch = q.channel();
            if ch.status().connected() {
                let closed = tokio::time::timeout(limit, ch.close(200, "OK".into())).await;
                if !matches!(closed, Ok(Ok(()))) {
                    tracing::debug!(?closed, "closing a consumer channel failed");
                }
            }
        }
        let connection = shared.link.current();
        let closed = tokio::time::timeout(limit, connection.close(200, "OK".into())).await;
        if !matches!(closed, Ok(Ok(()))) {
            tracing::debug!(?closed, "closing the connection failed");
        }
        tracing::info!(service = shared.service.as_str(), elapsed = ?started.elapsed(), "connection closed");
        if finished {
            Ok(())
        } else {
            Err(Error::ShutdownTimeout(timeout))
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.shutdown.cancel();
    }
}
