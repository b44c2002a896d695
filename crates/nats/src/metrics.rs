//! Prometheus metrics on a caller-given registry. The reference's names, labels, units
//! (whole milliseconds) and buckets come first so dashboards built for the Go services work
//! unchanged; ours follow. Nothing is global: every [`Metrics`] owns its collectors.
//!
//! Hot path: label handles are cached per (consumer or stream, routing key) and created on
//! first use, so recording a message allocates nothing after the first of its kind.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

use crate::error::{Error, Result};
use messaging_core::Outcome;

mod series;

use series::{ConsumerSeries, PublishSeries, RequestSeries, Table};

/// Buckets of `nats_events_processed_duration`, in milliseconds (as the reference).
pub const PROCESSED_BUCKETS_MS: [f64; 7] = [100.0, 200.0, 500.0, 1000.0, 3000.0, 5000.0, 10000.0];
/// Buckets of `nats_events_publish_duration`, in milliseconds (as the reference).
pub const PUBLISH_BUCKETS_MS: [f64; 9] = [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
/// Buckets of `nats_request_duration`, in milliseconds: the publish buckets, extended to
/// the default request timeout's order of magnitude.
pub const REQUEST_BUCKETS_MS: [f64; 12] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// The label used when the routing key (after mapping) is empty.
pub const UNKNOWN_ROUTING_KEY: &str = "unknown";

type Mapper = dyn for<'a> Fn(&'a str) -> Cow<'a, str> + Send + Sync;

/// The transport's Prometheus collectors, registered on one [`Registry`].
///
/// Create it once per registry and hand it to every connection that should report there
/// ([`ConnectionBuilder::shared_metrics`](crate::ConnectionBuilder::shared_metrics)), or
/// let a single connection register its own with
/// [`ConnectionBuilder::metrics`](crate::ConnectionBuilder::metrics). Cheap to clone.
///
/// ```
/// use std::borrow::Cow;
/// use messaging_nats::Metrics;
/// use prometheus::Registry;
///
/// let registry = Registry::new();
/// // Keys with ids in them would create a series per id; map them to one label.
/// let metrics = Metrics::builder()
///     .routing_key_mapper(|key| match key.strip_prefix("Customer.") {
///         Some(_) => Cow::Borrowed("Customer.*"),
///         None => Cow::Borrowed(key),
///     })
///     .register(&registry)?;
/// # let _ = metrics;
/// # Ok::<(), messaging_nats::Error>(())
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Collectors>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("routing_key_mapper", &self.inner.mapper.is_some())
            .finish_non_exhaustive()
    }
}

/// Options of a [`Metrics`] set, then [`register`](Self::register).
#[must_use = "a builder does nothing until register() is called"]
#[derive(Default)]
pub struct MetricsBuilder {
    mapper: Option<Arc<Mapper>>,
}

impl std::fmt::Debug for MetricsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsBuilder")
            .field("routing_key_mapper", &self.mapper.is_some())
            .finish()
    }
}

impl MetricsBuilder {
    /// Maps every routing key to its `routing_key` label (identity by default), to bound
    /// cardinality when keys carry ids. An empty result becomes `unknown`. Return
    /// `Cow::Borrowed` (the key itself or a literal) to keep recording allocation-free.
    pub fn routing_key_mapper<F>(mut self, mapper: F) -> Self
    where
        F: for<'a> Fn(&'a str) -> Cow<'a, str> + Send + Sync + 'static,
    {
        self.mapper = Some(Arc::new(mapper));
        self
    }

    /// Creates the collectors and registers them on `registry`.
    ///
    /// # Errors
    /// [`Error::Metrics`] when a collector of the same name is already registered there
    /// (nothing stays registered then).
    pub fn register(self, registry: &Registry) -> Result<Metrics> {
        let inner = Collectors::new(self.mapper).map_err(metrics_error)?;
        let mut done: Vec<Box<dyn Collector>> = Vec::new();
        for c in inner.all() {
            if let Err(e) = registry.register(c.clone_box()) {
                for registered in done {
                    // Best effort: leave the registry as it was.
                    let _ = registry.unregister(registered);
                }
                return Err(metrics_error(e));
            }
            done.push(c.clone_box());
        }
        Ok(Metrics {
            inner: Arc::new(inner),
        })
    }
}

fn metrics_error(e: prometheus::Error) -> Error {
    Error::Metrics(Box::new(e))
}

impl Metrics {
    /// Options (routing-key mapper) before registering.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder::default()
    }

    /// Registers the collectors on `registry` with default options.
    ///
    /// # Errors
    /// [`Error::Metrics`] when they are already registered there.
    pub fn register(registry: &Registry) -> Result<Self> {
        Self::builder().register(registry)
    }

    /// Removes these collectors from `registry` again (a start that failed after
    /// registering them), so the same registry can be used by the next attempt.
    pub(crate) fn unregister(&self, registry: &Registry) {
        for c in self.inner.all() {
            if let Err(e) = registry.unregister(c.clone_box()) {
                tracing::debug!(error = %e, "unregistering a collector failed");
            }
        }
    }
}

/// Lets the collector list be cloned into the registry.
trait CloneCollector {
    fn clone_box(&self) -> Box<dyn Collector>;
}

impl<C: Collector + Clone + 'static> CloneCollector for C {
    fn clone_box(&self) -> Box<dyn Collector> {
        Box::new(self.clone())
    }
}

struct Collectors {
    received: IntCounterVec,
    ack: IntCounterVec,
    nak: IntCounterVec,
    without_handler: IntCounterVec,
    not_parsable: IntCounterVec,
    processed: HistogramVec,
    publish_succeed: IntCounterVec,
    publish_failed: IntCounterVec,
    publish_duration: HistogramVec,
    term: IntCounterVec,
    redelivered: IntCounterVec,
    request_duration: HistogramVec,
    request_handled: IntCounterVec,
    num_pending: IntGaugeVec,
    num_ack_pending: IntGaugeVec,
    notifications_dropped: IntCounterVec,
    connection_events: IntCounterVec,
    dead_lettered: IntCounterVec,
    mapper: Option<Arc<Mapper>>,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    IntCounterVec::new(Opts::new(name, help), labels)
}

fn histogram(
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
}

const CONSUMER: &[&str] = &["consumer", "routing_key"];
const STREAM: &[&str] = &["stream", "routing_key"];

impl Collectors {
    fn new(mapper: Option<Arc<Mapper>>) -> prometheus::Result<Self> {
        Ok(Self {
            received: counter(
                "nats_events_received",
                "Count of NATS events received",
                CONSUMER,
            )?,
            ack: counter(
                "nats_events_ack",
                "Count of NATS events that were acknowledged",
                CONSUMER,
            )?,
            nak: counter(
                "nats_events_nak",
                "Count of NATS events that were negatively acknowledged",
                CONSUMER,
            )?,
            without_handler: counter(
                "nats_events_without_handler",
                "Count of NATS events without a handler",
                CONSUMER,
            )?,
            not_parsable: counter(
                "nats_events_not_parsable",
                "Count of NATS events that could not be parsed",
                CONSUMER,
            )?,
            processed: histogram(
                "nats_events_processed_duration",
                "Milliseconds taken to process an event",
                &["consumer", "routing_key", "result"],
                &PROCESSED_BUCKETS_MS,
            )?,
            publish_succeed: counter(
                "nats_events_publish_succeed",
                "Count of NATS events published successfully",
                STREAM,
            )?,
            publish_failed: counter(
                "nats_events_publish_failed",
                "Count of NATS events that could not be published",
                STREAM,
            )?,
            publish_duration: histogram(
                "nats_events_publish_duration",
                "Milliseconds taken to publish an event",
                &["stream", "routing_key", "result"],
                &PUBLISH_BUCKETS_MS,
            )?,
            term: counter(
                "nats_events_term",
                "Count of NATS events that were terminated (never redelivered)",
                CONSUMER,
            )?,
            redelivered: counter(
                "nats_events_redelivered",
                "Count of NATS events received again after an earlier delivery",
                CONSUMER,
            )?,
            request_duration: histogram(
                "nats_request_duration",
                "Milliseconds taken by a request until its reply (client side)",
                &["service", "routing_key", "result"],
                &REQUEST_BUCKETS_MS,
            )?,
            request_handled: counter(
                "nats_request_handled",
                "Count of requests handled by this service (server side)",
                &["consumer", "routing_key", "result"],
            )?,
            num_pending: IntGaugeVec::new(
                Opts::new(
                    "nats_consumer_num_pending",
                    "Messages in the stream not yet delivered to the consumer",
                ),
                &["consumer", "stream"],
            )?,
            num_ack_pending: IntGaugeVec::new(
                Opts::new(
                    "nats_consumer_num_ack_pending",
                    "Messages delivered to the consumer and not yet acknowledged",
                ),
                &["consumer", "stream"],
            )?,
            notifications_dropped: counter(
                "nats_notifications_dropped",
                "Count of notifications dropped because their channel was full",
                &["service"],
            )?,
            connection_events: counter(
                "nats_connection_events",
                "Count of NATS connection events by kind",
                &["service", "event"],
            )?,
            dead_lettered: counter(
                "nats_events_dead_lettered",
                "Count of NATS events published to a dead-letter stream, by reason",
                &["consumer", "routing_key", "reason"],
            )?,
            mapper,
        })
    }

    fn all(&self) -> [&dyn CloneCollector; 18] {
        [
            &self.received,
            &self.ack,
            &self.nak,
            &self.without_handler,
            &self.not_parsable,
            &self.processed,
            &self.publish_succeed,
            &self.publish_failed,
            &self.publish_duration,
            &self.term,
            &self.redelivered,
            &self.request_duration,
            &self.request_handled,
            &self.num_pending,
            &self.num_ack_pending,
            &self.notifications_dropped,
            &self.connection_events,
            &self.dead_lettered,
        ]
    }

    fn label<'a>(&self, key: &'a str) -> Cow<'a, str> {
        let mapped = match &self.mapper {
            Some(f) => f(key),
            None => Cow::Borrowed(key),
        };
        if mapped.is_empty() {
            Cow::Borrowed(UNKNOWN_ROUTING_KEY)
        } else {
            mapped
        }
    }
}

/// Whole milliseconds, as the reference observes them.
#[allow(clippy::cast_precision_loss)] // exact below 2^53 ms
fn millis(d: Duration) -> f64 {
    d.as_millis() as f64
}

/// One connection's view of its [`Metrics`] (none when metrics are off).
#[derive(Default)]
pub(crate) struct Instruments {
    inner: Option<Arc<ConnInstruments>>,
}

struct ConnInstruments {
    collectors: Arc<Collectors>,
    service: Box<str>,
    consumers: Table<ConsumerSeries>,
    publishers: Table<PublishSeries>,
    requests: Table<RequestSeries>,
    handled: Table<RequestSeries>,
}

impl Instruments {
    pub(crate) fn new(metrics: Option<&Metrics>, service: &str) -> Self {
        Self {
            inner: metrics.map(|m| {
                Arc::new(ConnInstruments {
                    collectors: Arc::clone(&m.inner),
                    service: service.into(),
                    consumers: Table::new(),
                    publishers: Table::new(),
                    requests: Table::new(),
                    handled: Table::new(),
                })
            }),
        }
    }

    /// The recorder for one delivery to `consumer` (its label) under `key`.
    pub(crate) fn consumer(&self, consumer: &str, key: &str) -> ConsumerRecorder {
        ConsumerRecorder(self.inner.as_ref().map(|i| {
            (
                Arc::clone(&i.collectors),
                i.consumers.get(&i.collectors, consumer, key),
            )
        }))
    }

    /// The recorder for one publish to `destination` (stream or target service).
    pub(crate) fn publish(&self, destination: &str, key: &str) -> PublishRecorder {
        PublishRecorder(self.inner.as_ref().map(|i| {
            (
                Arc::clone(&i.collectors),
                i.publishers.get(&i.collectors, destination, key),
            )
        }))
    }

    /// True when metrics are on (callers skip work only metrics need).
    pub(crate) fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Client side: a request to `service` answered (or not) after `elapsed`.
    pub(crate) fn request(
        &self,
        service: &str,
        key: &str,
        result: RequestResult,
        elapsed: Duration,
    ) {
        if let Some(i) = &self.inner {
            let s = i.requests.get(&i.collectors, service, key);
            let (cell, label) = match result {
                RequestResult::Ok => (&s.ok, "OK"),
                RequestResult::Error => (&s.error, "ERROR"),
                RequestResult::RemoteError => (&s.remote_error, "REMOTE_ERROR"),
            };
            s.labels
                .histogram(cell, &i.collectors.request_duration, label)
                .observe(millis(elapsed));
        }
    }

    /// Server side: this service handled a request for `key`.
    pub(crate) fn request_handled(&self, key: &str, ok: bool) {
        if let Some(i) = &self.inner {
            i.handled
                .get(&i.collectors, &i.service, key)
                .handled(&i.collectors.request_handled, ok)
                .inc();
        }
    }

    /// The consumer's lag as the server last reported it.
    pub(crate) fn lag(&self, consumer: &str, stream: &str, pending: u64, ack_pending: usize) {
        if let Some(i) = &self.inner {
            let c = &i.collectors;
            c.num_pending
                .with_label_values(&[consumer, stream])
                .set(i64::try_from(pending).unwrap_or(i64::MAX));
            c.num_ack_pending
                .with_label_values(&[consumer, stream])
                .set(i64::try_from(ack_pending).unwrap_or(i64::MAX));
        }
    }

    /// A connection event (`connected`, `disconnected`, `reconnected`, `slow_consumer`…).
    pub(crate) fn connection_event(&self, event: &str) {
        if let Some(i) = &self.inner {
            i.collectors
                .connection_events
                .with_label_values(&[&*i.service, event])
                .inc();
        }
    }

    /// The counter of dropped notifications, for the observer.
    pub(crate) fn dropped_notifications(&self) -> Option<IntCounter> {
        self.inner.as_ref().map(|i| {
            i.collectors
                .notifications_dropped
                .with_label_values(&[&*i.service])
        })
    }
}

/// How a client-side request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestResult {
    /// A reply that is not an error.
    Ok,
    /// No reply: timeout, no responders, connection failure.
    Error,
    /// The handler answered `{"error": …}`.
    RemoteError,
}

/// Records one delivery: received on arrival, then how it was settled.
pub(crate) struct ConsumerRecorder(Option<(Arc<Collectors>, Arc<ConsumerSeries>)>);

impl ConsumerRecorder {
    /// The message arrived; `delivered` is the server's 1-based delivery count.
    pub(crate) fn received(&self, delivered: i64) {
        if let Some((c, s)) = &self.0 {
            s.labels.counter(&s.received, &c.received).inc();
            if delivered > 1 {
                s.labels.counter(&s.redelivered, &c.redelivered).inc();
            }
        }
    }

    /// How handling ended, as in the ack table: success acks, retryable failures nak,
    /// the rest terminate (no duration observed for those, as the reference).
    pub(crate) fn settled(&self, outcome: Outcome, elapsed: Duration) {
        let Some((c, s)) = &self.0 else { return };
        let l = &s.labels;
        match outcome {
            Outcome::Handled => {
                l.counter(&s.ack, &c.ack).inc();
                l.histogram(&s.processed_ack, &c.processed, "ACK")
                    .observe(millis(elapsed));
            }
            Outcome::Failed(messaging_spec::Disposition::Reject) => {
                l.counter(&s.term, &c.term).inc();
            }
            Outcome::Failed(_) | Outcome::Panicked => {
                l.counter(&s.nak, &c.nak).inc();
                l.histogram(&s.processed_nak, &c.processed, "NAK")
                    .observe(millis(elapsed));
            }
            Outcome::NoHandler => {
                l.counter(&s.without_handler, &c.without_handler).inc();
                l.counter(&s.term, &c.term).inc();
            }
            Outcome::Undecodable => {
                l.counter(&s.not_parsable, &c.not_parsable).inc();
                l.counter(&s.term, &c.term).inc();
            }
        }
    }
}

impl ConsumerRecorder {
    /// The message went to the dead-letter stream (rare: no cached handle).
    pub(crate) fn dead_lettered(&self, reason: messaging_core::DeadLetterReason) {
        if let Some((c, s)) = &self.0 {
            c.dead_lettered
                .with_label_values(&[&*s.labels.group, &*s.labels.key, reason.as_str()])
                .inc();
        }
    }
}

/// Records one publish attempt (retries included) to a stream or service.
pub(crate) struct PublishRecorder(Option<(Arc<Collectors>, Arc<PublishSeries>)>);

impl PublishRecorder {
    /// The broker confirmed (or the service answered) after `elapsed`.
    pub(crate) fn succeeded(&self, elapsed: Duration) {
        if let Some((c, s)) = &self.0 {
            s.labels.counter(&s.succeed, &c.publish_succeed).inc();
            s.labels
                .histogram(&s.ok, &c.publish_duration, "OK")
                .observe(millis(elapsed));
        }
    }

    /// The publish failed for good after `elapsed`.
    pub(crate) fn failed(&self, elapsed: Duration) {
        if let Some((c, s)) = &self.0 {
            s.labels.counter(&s.failed, &c.publish_failed).inc();
            s.labels
                .histogram(&s.error, &c.publish_duration, "ERROR")
                .observe(millis(elapsed));
        }
    }
}

/// Measures the recording path without a broker, for the `observe` benchmark: one
/// received + ack + duration per message, over `keys` in turn. Not a stable API.
#[doc(hidden)]
pub fn bench_record_consumed(metrics: &Metrics, consumer: &str, keys: &[&str], messages: usize) {
    let instruments = Instruments::new(Some(metrics), "bench");
    for i in 0..messages {
        let key = keys.get(i % keys.len().max(1)).copied().unwrap_or("k");
        let rec = instruments.consumer(consumer, key);
        rec.received(1);
        rec.settled(Outcome::Handled, Duration::from_micros(1500));
    }
}

#[cfg(test)]
mod tests;
