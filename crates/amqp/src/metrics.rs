//! Prometheus metrics on a caller-given registry, with the Go reference's names, help
//! texts, labels, units (whole milliseconds) and buckets, so dashboards built for the Go
//! services keep working. Nothing is global: every [`Metrics`] owns its collectors.
//!
//! Differences from the reference: publishes are counted when the broker confirms them
//! (the reference counts the frame write, before a possible nack), durations include the
//! confirm, and transient queues are labelled `<exchange>.queue.<service>-transient`
//! instead of their UUID name (bounded cardinality across restarts).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use messaging_core::Outcome;
use prometheus::core::Collector;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::error::{Error, Result};

/// Buckets of `amqp_events_processed_duration`, in milliseconds (as the reference).
pub const PROCESSED_BUCKETS_MS: [f64; 7] = [100.0, 200.0, 500.0, 1000.0, 3000.0, 5000.0, 10000.0];
/// Buckets of `amqp_events_publish_duration`, in milliseconds (as the reference).
pub const PUBLISH_BUCKETS_MS: [f64; 9] = [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
/// The label used when the routing key (after mapping) is empty.
pub const UNKNOWN_ROUTING_KEY: &str = "unknown";

type Mapper = dyn for<'a> Fn(&'a str) -> Cow<'a, str> + Send + Sync;

/// The transport's Prometheus collectors, registered on one [`Registry`].
///
/// Create it once per registry and hand it to every connection that should report there
/// ([`ConnectionBuilder::shared_metrics`](crate::ConnectionBuilder::shared_metrics)), or
/// let one connection register its own with
/// [`ConnectionBuilder::metrics`](crate::ConnectionBuilder::metrics). Cheap to clone.
///
/// ```
/// use std::borrow::Cow;
/// use messaging_amqp::Metrics;
/// use prometheus::Registry;
///
/// let registry = Registry::new();
/// let metrics = Metrics::builder()
///     .routing_key_mapper(|key| match key.strip_prefix("Customer.") {
///         Some(_) => Cow::Borrowed("Customer.*"),
///         None => Cow::Borrowed(key),
///     })
///     .register(&registry)?;
/// # let _ = metrics;
/// # Ok::<(), messaging_amqp::Error>(())
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
    /// Maps every routing key to its `routing_key` label (identity by default; the
    /// reference's `WithRoutingKeyMapper`). An empty result becomes `unknown`.
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

    /// Removes these collectors from `registry` again (a start that failed).
    pub(crate) fn unregister(&self, registry: &Registry) {
        for c in self.inner.all() {
            if let Err(e) = registry.unregister(c.clone_box()) {
                tracing::debug!(error = %e, "unregistering a collector failed");
            }
        }
    }
}

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
    nack: IntCounterVec,
    without_handler: IntCounterVec,
    not_parsable: IntCounterVec,
    processed: HistogramVec,
    publish_succeed: IntCounterVec,
    publish_failed: IntCounterVec,
    publish_duration: HistogramVec,
    dead_lettered: IntCounterVec,
    connection_events: IntCounterVec,
    mapper: Option<Arc<Mapper>>,
}

const QUEUE: &[&str] = &["queue", "routing_key"];
const EXCHANGE: &[&str] = &["exchange", "routing_key"];

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

impl Collectors {
    fn new(mapper: Option<Arc<Mapper>>) -> prometheus::Result<Self> {
        Ok(Self {
            received: counter(
                "amqp_events_received",
                "Count of AMQP events received",
                QUEUE,
            )?,
            ack: counter(
                "amqp_events_ack",
                "Count of AMQP events that were acknowledged",
                QUEUE,
            )?,
            nack: counter(
                "amqp_events_nack",
                "Count of AMQP events that were not acknowledged",
                QUEUE,
            )?,
            without_handler: counter(
                "amqp_events_without_handler",
                "Count of AMQP events without a handler",
                QUEUE,
            )?,
            not_parsable: counter(
                "amqp_events_not_parsable",
                "Count of AMQP events that could not be parsed",
                QUEUE,
            )?,
            processed: histogram(
                "amqp_events_processed_duration",
                "Milliseconds taken to process an event",
                &["queue", "routing_key", "result"],
                &PROCESSED_BUCKETS_MS,
            )?,
            publish_succeed: counter(
                "amqp_events_publish_succeed",
                "Count of AMQP events that could be published successfully",
                EXCHANGE,
            )?,
            publish_failed: counter(
                "amqp_events_publish_failed",
                "Count of AMQP events that could not be published",
                EXCHANGE,
            )?,
            publish_duration: histogram(
                "amqp_events_publish_duration",
                "Milliseconds taken to publish an event",
                &["exchange", "routing_key", "result"],
                &PUBLISH_BUCKETS_MS,
            )?,
            dead_lettered: counter(
                "amqp_events_dead_lettered",
                "Count of AMQP events rejected to the queue's dead-letter exchange, by reason",
                &["queue", "routing_key", "reason"],
            )?,
            connection_events: counter(
                "amqp_connection_events",
                "Count of AMQP connection losses and reconnections, by event",
                &["event"],
            )?,
            mapper,
        })
    }

    fn all(&self) -> [&dyn CloneCollector; 11] {
        [
            &self.received,
            &self.ack,
            &self.nack,
            &self.without_handler,
            &self.not_parsable,
            &self.processed,
            &self.publish_succeed,
            &self.publish_failed,
            &self.publish_duration,
            &self.dead_lettered,
            &self.connection_events,
        ]
    }

    fn label(&self, key: &str) -> String {
        let mapped = match &self.mapper {
            Some(f) => f(key),
            None => Cow::Borrowed(key),
        };
        if mapped.is_empty() {
            UNKNOWN_ROUTING_KEY.to_owned()
        } else {
            mapped.into_owned()
        }
    }
}

/// Whole milliseconds, as the reference observes them.
#[allow(clippy::cast_precision_loss)] // exact below 2^53 ms
fn millis(d: Duration) -> f64 {
    d.as_millis() as f64
}

/// One connection's view of its [`Metrics`] (none when metrics are off).
#[derive(Default, Clone)]
pub(crate) struct Instruments {
    inner: Option<Arc<Collectors>>,
}

impl Instruments {
    pub(crate) fn new(metrics: Option<&Metrics>) -> Self {
        Self {
            inner: metrics.map(|m| Arc::clone(&m.inner)),
        }
    }

    /// The recorder for one delivery on `queue` (its label) under `key`.
    pub(crate) fn consumer(&self, queue: &str, key: &str) -> ConsumerRecorder {
        ConsumerRecorder(
            self.inner
                .as_ref()
                .map(|c| (Arc::clone(c), [queue.to_owned(), c.label(key)])),
        )
    }

    /// The recorder for one publish to `exchange` (`""` for queue publishes).
    /// Counts a connection event: `disconnected` or `reconnected`.
    pub(crate) fn connection_event(&self, event: &'static str) {
        if let Some(c) = &self.inner {
            c.connection_events.with_label_values(&[event]).inc();
        }
    }

    pub(crate) fn publish(&self, exchange: &str, key: &str) -> PublishRecorder {
        PublishRecorder(
            self.inner
                .as_ref()
                .map(|c| (Arc::clone(c), [exchange.to_owned(), c.label(key)])),
        )
    }
}

/// Records one delivery: received on arrival, then how it was settled.
pub(crate) struct ConsumerRecorder(Option<(Arc<Collectors>, [String; 2])>);

impl ConsumerRecorder {
    pub(crate) fn received(&self) {
        if let Some((c, l)) = &self.0 {
            c.received.with_label_values(&[&l[0], &l[1]]).inc();
        }
    }

    /// As the reference: ack (+ `ACK` duration), nack (+ `NACK` duration), not parsable
    /// and without handler (no duration).
    pub(crate) fn settled(&self, outcome: Outcome, elapsed: Duration) {
        let Some((c, l)) = &self.0 else { return };
        let labels = [l[0].as_str(), l[1].as_str()];
        match outcome {
            Outcome::Handled => {
                c.ack.with_label_values(&labels).inc();
                c.processed
                    .with_label_values(&[labels[0], labels[1], "ACK"])
                    .observe(millis(elapsed));
            }
            Outcome::Failed(_) | Outcome::Panicked => {
                c.nack.with_label_values(&labels).inc();
                c.processed
                    .with_label_values(&[labels[0], labels[1], "NACK"])
                    .observe(millis(elapsed));
            }
            Outcome::NoHandler => c.without_handler.with_label_values(&labels).inc(),
            Outcome::Undecodable => c.not_parsable.with_label_values(&labels).inc(),
        }
    }
}

impl ConsumerRecorder {
    /// Rejected to the dead-letter exchange.
    pub(crate) fn dead_lettered(&self, reason: messaging_core::DeadLetterReason) {
        if let Some((c, l)) = &self.0 {
            c.dead_lettered
                .with_label_values(&[l[0].as_str(), l[1].as_str(), reason.as_str()])
                .inc();
        }
    }
}

/// Records one publish (all attempts together).
pub(crate) struct PublishRecorder(Option<(Arc<Collectors>, [String; 2])>);

impl PublishRecorder {
    /// The broker confirmed after `elapsed`.
    pub(crate) fn succeeded(&self, elapsed: Duration) {
        if let Some((c, l)) = &self.0 {
            c.publish_succeed.with_label_values(&[&l[0], &l[1]]).inc();
            c.publish_duration
                .with_label_values(&[&l[0], &l[1], "OK"])
                .observe(millis(elapsed));
        }
    }

    /// The publish failed for good after `elapsed`.
    pub(crate) fn failed(&self, elapsed: Duration) {
        if let Some((c, l)) = &self.0 {
            c.publish_failed.with_label_values(&[&l[0], &l[1]]).inc();
            c.publish_duration
                .with_label_values(&[&l[0], &l[1], "ERROR"])
                .observe(millis(elapsed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_labels_and_buckets_are_the_reference() -> Result<()> {
        let registry = Registry::new();
        let m = Metrics::register(&registry)?;
        let i = Instruments::new(Some(&m));
        let r = i.consumer("q", "Order.Created");
        r.received();
        r.settled(Outcome::Handled, Duration::from_millis(150));
        i.consumer("q", "")
            .settled(Outcome::Undecodable, Duration::ZERO);
        i.publish("events.topic.exchange", "Order.Created")
            .succeeded(Duration::from_millis(3));
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap_or_default();
        for line in [
            "amqp_events_received{queue=\"q\",routing_key=\"Order.Created\"} 1\n",
            "amqp_events_ack{queue=\"q\",routing_key=\"Order.Created\"} 1\n",
            "amqp_events_processed_duration_bucket{queue=\"q\",result=\"ACK\",routing_key=\"Order.Created\",le=\"200\"} 1\n",
            "amqp_events_processed_duration_sum{queue=\"q\",result=\"ACK\",routing_key=\"Order.Created\"} 150\n",
            "amqp_events_not_parsable{queue=\"q\",routing_key=\"unknown\"} 1\n",
            "amqp_events_publish_succeed{exchange=\"events.topic.exchange\",routing_key=\"Order.Created\"} 1\n",
            "amqp_events_publish_duration_bucket{exchange=\"events.topic.exchange\",result=\"OK\",routing_key=\"Order.Created\",le=\"5\"} 1\n",
            "# HELP amqp_events_received Count of AMQP events received\n",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("amqp_events_nack{"));
        assert!(text.contains("le=\"10000\"") && text.contains("le=\"1000\""));
        assert!(matches!(
            Metrics::register(&registry),
            Err(Error::Metrics(_))
        ));
        m.unregister(&registry);
        assert!(Metrics::register(&registry).is_ok());
        Ok(())
    }
}
