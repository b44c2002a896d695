//! OpenTelemetry on RabbitMQ: a producer span per publish, a consumer span per handled
//! delivery, and trace context carried in AMQP headers both ways (W3C `traceparent` /
//! `tracestate` by default, as long strings), so a consumer's span is the child of its
//! producer's. Attribute names are the reference's (`messaging.system=rabbitmq`, …). The
//! span machinery, and what makes it free without a tracer, is the core's
//! ([`messaging_core::MessageTracer`]); this file names the spans and sets their
//! attributes.

use std::sync::Arc;

pub(crate) use messaging_core::MessageSpan;
use messaging_core::{MessageTracer, TracerChoice};
use messaging_spec::Headers;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TracerProvider};
use opentelemetry::{InstrumentationScope, KeyValue};

/// Instrumentation scope name of every span this crate creates.
pub const INSTRUMENTATION_NAME: &str = "messaging-amqp";

type PublishName = dyn Fn(&str, &str) -> String + Send + Sync;
type ConsumerName = dyn Fn(&str, &str) -> String + Send + Sync;

/// Tracing settings of a connection: tracer provider, propagator and span names.
///
/// Without [`ConnectionBuilder::otel`](crate::ConnectionBuilder::otel), a connection uses
/// the global tracer provider as it is when the connection starts (a no-op one unless the
/// application installed another) and W3C trace context.
///
/// ```
/// use messaging_amqp::OtelTracing;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
///
/// let provider = SdkTracerProvider::builder().build();
/// let tracing = OtelTracing::new()
///     .tracer_provider(&provider)
///     .publish_span_name(|exchange, key| format!("send {key} to {exchange}"))
///     .consumer_span_name(|queue, key| format!("{queue} handles {key}"));
/// # let _ = tracing;
/// ```
#[derive(Clone, Default)]
pub struct OtelTracing {
    choice: TracerChoice,
    publish_name: Option<Arc<PublishName>>,
    consumer_name: Option<Arc<ConsumerName>>,
}

impl std::fmt::Debug for OtelTracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelTracing")
            .field("custom_tracer", &self.choice.has_custom_tracer())
            .field("custom_publish_name", &self.publish_name.is_some())
            .field("custom_consumer_name", &self.consumer_name.is_some())
            .finish_non_exhaustive()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(INSTRUMENTATION_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

impl OtelTracing {
    /// The global tracer provider and W3C trace context.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates spans with `provider` instead of the global one (the reference's
    /// `WithTracing`).
    #[must_use]
    pub fn tracer_provider<P, T, S>(mut self, provider: &P) -> Self
    where
        P: TracerProvider<Tracer = T>,
        T: opentelemetry::trace::Tracer<Span = S> + Send + Sync + 'static,
        S: opentelemetry::trace::Span + Send + Sync + 'static,
    {
        self.choice = self.choice.tracer_provider(provider, scope());
        self
    }

    /// Carries trace context with `propagator` (default: W3C trace context; the
    /// reference's `WithPropagator`).
    #[must_use]
    pub fn propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.choice = self.choice.propagator(propagator);
        self
    }

    /// Names publish spans from the exchange and routing key (default
    /// `publish <routing key>`; the reference's `WithPublishSpanNameFn`).
    #[must_use]
    pub fn publish_span_name(
        mut self,
        name: impl Fn(&str, &str) -> String + Send + Sync + 'static,
    ) -> Self {
        self.publish_name = Some(Arc::new(name));
        self
    }

    /// Names consumer spans from the queue and routing key (default: the queue without
    /// its leading `<exchange>.`, then `#<routing key>`, e.g. `queue.orders#Order.Created`).
    #[must_use]
    pub fn consumer_span_name(
        mut self,
        name: impl Fn(&str, &str) -> String + Send + Sync + 'static,
    ) -> Self {
        self.consumer_name = Some(Arc::new(name));
        self
    }

    pub(crate) fn build(self, service: &str) -> Tracing {
        Tracing {
            spans: self.choice.build(scope()),
            publish_name: self.publish_name,
            consumer_name: self.consumer_name,
            service: service.into(),
        }
    }
}

/// A connection's tracer.
pub(crate) struct Tracing {
    spans: MessageTracer,
    publish_name: Option<Arc<PublishName>>,
    consumer_name: Option<Arc<ConsumerName>>,
    service: Box<str>,
}

/// What a span is about, for its attributes.
pub(crate) struct SpanFacts<'a> {
    pub(crate) exchange: &'a str,
    pub(crate) routing_key: &'a str,
    pub(crate) message_id: Option<&'a str>,
    pub(crate) body_size: usize,
    /// The queue (consumer spans only).
    pub(crate) queue: Option<&'a str>,
}

impl Tracing {
    fn attributes(&self, operation: &'static str, f: &SpanFacts<'_>) -> Vec<KeyValue> {
        let mut attrs = vec![
            KeyValue::new("messaging.system", "rabbitmq"),
            KeyValue::new("messaging.operation", operation),
            KeyValue::new("messaging.destination.name", f.exchange.to_owned()),
            KeyValue::new("messaging.rabbitmq.routing_key", f.routing_key.to_owned()),
            KeyValue::new("messaging.client_id", self.service.to_string()),
            KeyValue::new(
                "messaging.message.body.size",
                i64::try_from(f.body_size).unwrap_or(i64::MAX),
            ),
        ];
        if let Some(q) = f.queue {
            attrs.push(KeyValue::new("messaging.destination.queue", q.to_owned()));
        }
        if let Some(id) = f.message_id {
            attrs.push(KeyValue::new("messaging.message.id", id.to_owned()));
        }
        attrs
    }

    /// Starts the producer span of a publish (child of the caller's current context) and
    /// writes its context into `headers`.
    pub(crate) fn publish(&self, facts: &SpanFacts<'_>, headers: &mut Headers) -> MessageSpan {
        let name = || match &self.publish_name {
            Some(f) => f(facts.exchange, facts.routing_key),
            None => format!("publish {}", facts.routing_key),
        };
        self.spans
            .producer(name, || self.attributes("publish", facts), headers)
    }

    /// Starts the consumer span of a delivery, child of the context its headers carry.
    pub(crate) fn consume(&self, facts: &SpanFacts<'_>, headers: &Headers) -> MessageSpan {
        let queue = facts.queue.unwrap_or_default();
        let name = || match &self.consumer_name {
            Some(f) => f(queue, facts.routing_key),
            None => default_consumer_name(queue, facts.exchange, facts.routing_key),
        };
        let span = self.spans.start(
            SpanKind::Consumer,
            &self.spans.parent(headers),
            name,
            || self.attributes("receive", facts),
        );
        span.with_log(tracing::info_span!("message", service = %self.service,
            exchange = facts.exchange, queue, routing_key = facts.routing_key,
            ce_id = facts.message_id))
    }
}

/// The reference's consumer span name: the queue without its leading `<exchange>.`,
/// then `#<routing key>`.
fn default_consumer_name(queue: &str, exchange: &str, key: &str) -> String {
    let short = queue
        .strip_prefix(exchange)
        .and_then(|q| q.strip_prefix('.'))
        .unwrap_or(queue);
    format!("{short}#{key}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    #[test]
    fn a_no_op_tracer_is_skipped_once_learned_but_incoming_context_still_flows() {
        // No provider installed: the global one is a no-op.
        let t = OtelTracing::new().build("svc");
        let facts = SpanFacts {
            exchange: "events.topic.exchange",
            routing_key: "K",
            message_id: None,
            body_size: 0,
            queue: Some("events.topic.exchange.queue.svc"),
        };
        assert!(
            t.consume(&facts, &Headers::new()).context().is_some(),
            "the first span teaches"
        );
        assert!(t.spans.is_noop());
        let mut plain = Headers::new();
        assert!(t.consume(&facts, &plain).context().is_none());
        assert!(t.publish(&facts, &mut plain).context().is_none());
        assert!(plain.get_str("traceparent").is_none());
        let mut traced = Headers::new();
        traced.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        let span = t.consume(&facts, &traced);
        let cx = span.context().cloned().unwrap_or_default();
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn consumer_spans_continue_the_producer_and_use_the_reference_names() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let t = OtelTracing::new()
            .tracer_provider(&provider)
            .build("orders");
        let mut headers = Headers::new();
        let facts = SpanFacts {
            exchange: "events.topic.exchange",
            routing_key: "Order.Created",
            message_id: Some("ce-1"),
            body_size: 9,
            queue: None,
        };
        let producer = t.publish(&facts, &mut headers);
        producer.finish(None);
        assert!(headers.get_str("traceparent").is_some());
        let consumer = t.consume(
            &SpanFacts {
                queue: Some("events.topic.exchange.queue.billing"),
                ..facts
            },
            &headers,
        );
        consumer.finish(Some(&std::io::Error::other("boom")));
        let spans = exporter.get_finished_spans().unwrap_or_default();
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(
            names,
            ["publish Order.Created", "queue.billing#Order.Created"]
        );
        assert_eq!(spans[1].parent_span_id, spans[0].span_context.span_id());
        let system = spans[1]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "messaging.system")
            .map(|kv| kv.value.to_string());
        assert_eq!(system.as_deref(), Some("rabbitmq"));
        let queue = spans[1]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "messaging.destination.queue")
            .map(|kv| kv.value.to_string());
        assert_eq!(
            queue.as_deref(),
            Some("events.topic.exchange.queue.billing")
        );
    }

    #[test]
    fn request_queue_span_names_are_the_reference_ones() {
        assert_eq!(
            default_consumer_name(
                "email.direct.exchange.request.queue",
                "email.direct.exchange.request",
                "email.send"
            ),
            "queue#email.send"
        );
        assert_eq!(default_consumer_name("q", "x", "k"), "q#k");
    }
}
