//! A started [`Connection`]: publishers, topology and graceful close.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use messaging_core::erased::ErasedRequest;
use messaging_core::{DeadLetterTarget, Observer, Plan, PublishTarget, ResponseRoute, Route};
use messaging_spec::naming::nats_durable_name;
use messaging_spec::{ConsumerSuffix, ServiceName, StreamName, Topology};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::broker::Broker;
use crate::broker::state::ConsumerConfig;
use crate::builder::{ConnectionBuilder, Timing};
use crate::consumer::GroupRuntime;
use crate::error::{Error, Result};
use crate::publisher::Publisher;

/// State shared by the connection, its publishers and its background tasks.
pub(crate) struct Shared {
    pub(crate) service: ServiceName,
    pub(crate) broker: Broker,
    pub(crate) timing: Timing,
    pub(crate) observer: Observer,
    pub(crate) responses: Vec<ResponseRoute>,
    /// Stops the delivery loops.
    pub(crate) shutdown: CancellationToken,
    /// Stops running handlers too ([`Connection::abort`]).
    pub(crate) killed: CancellationToken,
    /// Handler tasks: close() waits for them to finish and settle.
    pub(crate) tracker: TaskTracker,
    /// Delivery and request loops.
    pub(crate) loops: TaskTracker,
    pub(crate) closed: AtomicBool,
    /// Set when this instance can no longer reach the broker (a close that timed out, or
    /// an abort): its settlements and in-progress acks are dropped, as a drained NATS
    /// client's would be, so its deliveries expire after AckWait.
    pub(crate) abandoned: AtomicBool,
    /// `(stream, consumer)` this instance consumes from.
    pub(crate) consumers: Vec<(String, String)>,
    /// Request subscriptions: `(id)` on this service.
    pub(crate) responders: Vec<u64>,
    unsubscribed: AtomicBool,
    detached: AtomicBool,
}

impl Shared {
    /// Request subscriptions end: new requests go to other instances, those already
    /// delivered here are still answered.
    fn unsubscribe(&self) {
        if self.unsubscribed.swap(true, Ordering::AcqRel) {
            return;
        }
        let service = self.service.as_str();
        self.broker.change(|st| {
            for id in &self.responders {
                st.unregister_responder(service, *id);
            }
        });
    }

    /// This instance leaves its consumers; transient ones are deleted.
    fn detach(&self) {
        if self.detached.swap(true, Ordering::AcqRel) {
            return;
        }
        self.broker.change(|st| {
            for (stream, name) in &self.consumers {
                st.detach(stream, name);
            }
        });
    }
}

/// A running service on a [`Broker`]: its consumers are receiving and its publishers are
/// ready. The same API as `messaging_nats::Connection`.
///
/// Built with [`Connection::builder`]. Dropping it without [`close`](Self::close) stops
/// delivering, unsubscribes its request handlers and deletes its transient consumers, but
/// does not wait for handlers in flight.
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
            .field("consumers", &self.shared.consumers)
            .finish_non_exhaustive()
    }
}

/// A request route with its concurrency, as the request loop runs it.
pub(crate) struct RequestRuntime {
    pub(crate) route: Route<dyn ErasedRequest>,
    pub(crate) concurrency: usize,
}

/// Creates streams and consumers, subscribes request handlers and spawns the loops.
pub(crate) fn bring_up(
    builder: ConnectionBuilder,
    broker: Broker,
    plan: Plan,
) -> Result<Connection> {
    let service = plan.service.clone();
    let span = builder
        .span
        .clone()
        .unwrap_or_else(|| tracing::info_span!("messaging", service = service.as_str()));
    // Checked before the broker changes, as every other registration error.
    let dead_letters = plan
        .groups
        .iter()
        .map(|g| {
            g.options
                .get_dead_letter()
                .map(|d| DeadLetterTarget::for_streams(d, &service, plan.streams.values()))
                .transpose()
                .map_err(|reason| {
                    Error::Core(messaging_core::Error::InvalidConfig(format!(
                        "consumer on stream {}: {reason}",
                        g.stream.as_str()
                    )))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    broker.change(|st| {
        for stream in plan.streams.values() {
            st.ensure_stream(stream.as_str());
        }
        for target in dead_letters.iter().flatten() {
            st.ensure_stream(target.stream.as_str());
        }
    });
    let ack_wait = builder.timing.ack_wait();
    let transient_label = format!("{}-transient", service.as_str());
    let mut attached: Vec<(String, String)> = Vec::new();
    let mut runtimes = Vec::new();
    for (group, dead_letter) in plan.groups.into_iter().zip(dead_letters) {
        let durable = (!group.transient).then(|| {
            nats_durable_name(
                service.as_str(),
                group.suffix.as_ref().map(ConsumerSuffix::as_str),
            )
        });
        let config = ConsumerConfig {
            filters: group.routes.iter().map(|(p, _)| p.clone()).collect(),
            max_deliver: group.options.get_max_deliver(),
            ack_wait,
            start_at: group.options.get_start_at().unwrap_or_default(),
        };
        let stream: StreamName = group.stream.clone();
        let result = broker.change(|st| {
            st.attach(
                stream.as_str(),
                durable.as_deref(),
                &transient_label,
                config,
            )
        });
        let (name, notify) = match result {
            Ok(ok) => ok,
            Err(reason) => {
                broker.change(|st| {
                    for (s, n) in &attached {
                        st.detach(s, n);
                    }
                });
                return Err(Error::Consumer {
                    stream: stream.as_str().to_owned(),
                    consumer: durable.unwrap_or_else(|| transient_label.clone()),
                    reason,
                });
            }
        };
        tracing::info!(parent: &span, consumer = %name, stream = stream.as_str(), "started consumer");
        attached.push((stream.as_str().to_owned(), name.clone()));
        let label = durable.unwrap_or_else(|| transient_label.clone());
        runtimes.push((group, stream, name, label, notify, dead_letter));
    }
    let mut responders = Vec::new();
    let mut request_loops = Vec::new();
    for req in plan.requests {
        let (id, rx) =
            broker.change(|st| st.register_responder(service.as_str(), req.route.pattern.clone()));
        responders.push(id);
        let rt = RequestRuntime {
            concurrency: req.options.effective_concurrency(),
            route: req.route,
        };
        request_loops.push((Arc::new(rt), rx));
    }
    let observer = Observer::new(builder.notifications, builder.errors);
    let shared = Arc::new(Shared {
        service,
        broker,
        timing: builder.timing,
        observer,
        responses: plan.responses,
        shutdown: CancellationToken::new(),
        killed: CancellationToken::new(),
        tracker: TaskTracker::new(),
        loops: TaskTracker::new(),
        closed: AtomicBool::new(false),
        abandoned: AtomicBool::new(false),
        consumers: attached,
        responders,
        unsubscribed: AtomicBool::new(false),
        detached: AtomicBool::new(false),
    });
    for (group, stream, name, label, notify, dead_letter) in runtimes {
        let rt = GroupRuntime::new(Arc::clone(&shared), group, stream, name, label, notify)
            .dead_letter(dead_letter);
        shared
            .loops
            .spawn(Arc::new(rt).run().instrument(span.clone()));
    }
    for (rt, rx) in request_loops {
        shared
            .loops
            .spawn(crate::request::run(Arc::clone(&shared), rt, rx).instrument(span.clone()));
    }
    tracing::info!(parent: &span, "connection started");
    Ok(Connection {
        shared,
        topology: plan.topology,
        publishers: plan.publishers,
    })
}

impl Connection {
    /// Starts configuring a connection for `service_name`; give it a
    /// [`broker`](ConnectionBuilder::broker).
    pub fn builder(service_name: impl Into<String>) -> ConnectionBuilder {
        ConnectionBuilder::new(service_name)
    }

    /// The service name.
    #[must_use]
    pub fn service_name(&self) -> &ServiceName {
        &self.shared.service
    }

    /// The broker this connection runs on.
    #[must_use]
    pub fn broker(&self) -> &Broker {
        &self.shared.broker
    }

    /// The service's topology, identical to [`ConnectionBuilder::topology`].
    #[must_use]
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The consumers this connection receives from, as `(stream, consumer name)`: durable
    /// names, and the generated `<service>-transient-<n>` of transient consumers (for
    /// [`Broker::consumer_stats`]).
    #[must_use]
    pub fn consumers(&self) -> &[(String, String)] {
        &self.shared.consumers
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

    /// The queue publisher for `queue`.
    ///
    /// # Errors
    /// When no such publisher was registered.
    pub fn queue_publisher(&self, queue: &str) -> Result<Publisher> {
        self.publisher(&PublishTarget::Queue(queue.to_owned()))
    }

    /// True until the connection is closed (there is no network to lose).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        !self.shared.closed.load(Ordering::Acquire)
    }

    /// How many notifications were dropped because their channel was full.
    #[must_use]
    pub fn dropped_notifications(&self) -> u64 {
        self.shared.observer.dropped()
    }

    /// Stops delivering, unsubscribes request handlers (requests already received are
    /// still answered), waits up to the shutdown timeout for handlers in flight to finish
    /// and settle, then leaves its consumers (transient ones are deleted; durables keep
    /// their position for the next instance). Publishing afterwards fails with
    /// [`Error::Closed`].
    ///
    /// Handlers still running at the deadline are abandoned as a drained NATS client
    /// abandons them: their acks are dropped, so their messages return to the consumer
    /// after AckWait, for the next instance.
    ///
    /// # Errors
    /// [`Error::ShutdownTimeout`] when handlers were still running at the deadline.
    pub async fn close(self) -> Result<()> {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        shared.shutdown.cancel();
        shared.unsubscribe();
        let timeout = shared.timing.shutdown_timeout;
        let finished = messaging_core::drain_tasks(&shared.loops, &shared.tracker, timeout).await;
        if !finished {
            shared.abandoned.store(true, Ordering::Release);
        }
        shared.detach();
        tracing::info!(service = shared.service.as_str(), "connection closed");
        if finished {
            Ok(())
        } else {
            Err(Error::ShutdownTimeout(timeout))
        }
    }

    /// Simulates a crash of this instance: handlers stop where they are, nothing is
    /// acked or nak'ed, in-progress acks stop. Its durable deliveries are redelivered to
    /// other instances once their AckWait expires; requests it had received are never
    /// answered (their callers time out); its transient consumers are deleted.
    pub fn abort(self) {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        shared.abandoned.store(true, Ordering::Release);
        shared.killed.cancel();
        shared.shutdown.cancel();
        shared.unsubscribe();
        shared.detach();
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        shared.shutdown.cancel();
        shared.unsubscribe();
        shared.detach();
    }
}
