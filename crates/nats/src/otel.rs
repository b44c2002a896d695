//! OpenTelemetry on NATS: a producer span per publish or request, a consumer span per
//! handled message, and trace context carried in NATS headers both ways (W3C
//! `traceparent` / `tracestate` by default), so a consumer's span is the child of its
//! producer's. The span machinery, and what makes it free without a tracer, is the core's
//! ([`messaging_core::MessageTracer`]); this file names the spans and sets their
//! attributes.

use std::sync::Arc;

use async_nats::HeaderMap;
use messaging_core::{MessageSpan as CoreSpan, MessageTracer, TracerChoice};
use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, TracerProvider};
use opentelemetry::{InstrumentationScope, KeyValue};

use messaging_spec::Headers;

/// Instrumentation scope name of every span this crate creates.
pub const INSTRUMENTATION_NAME: &str = "messaging-nats";

type PublishName = dyn Fn(&str) -> String + Send + Sync;
type ConsumerName = dyn Fn(&str, &str) -> String + Send + Sync;

/// Tracing settings of a connection: tracer provider, propagator and span names.
///
/// Without [`ConnectionBuilder::otel`](crate::ConnectionBuilder::otel), a connection uses
/// the global tracer provider as it is when the connection starts (a no-op one unless
/// the application installed another) and W3C trace context.
///
/// ```
/// use messaging_nats::OtelTracing;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
///
/// let provider = SdkTracerProvider::builder().build();
/// let tracing = OtelTracing::new()
///     .tracer_provider(&provider)
///     .publish_span_name(|key| format!("send {key}"))
///     .consumer_span_name(|consumer, key| format!("{consumer} handles {key}"));
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

    /// Creates spans with `provider` instead of the global one.
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

    /// Carries trace context with `propagator` (default: W3C trace context).
    #[must_use]
    pub fn propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.choice = self.choice.propagator(propagator);
        self
    }

    /// Names publish spans from the routing key (default `publish <routing key>`).
    #[must_use]
    pub fn publish_span_name(
        mut self,
        name: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> Self {
        self.publish_name = Some(Arc::new(name));
        self
    }

    /// Names consumer spans from the consumer label and routing key (default
    /// `<consumer>#<routing key>`).
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

impl Default for Tracing {
    fn default() -> Self {
        OtelTracing::new().build("")
    }
}

/// What a span is about, for its attributes.
pub(crate) struct SpanFacts<'a> {
    /// The stream, target service, or (request handlers) the request subject.
    pub(crate) destination: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) routing_key: &'a str,
    pub(crate) message_id: Option<&'a str>,
    pub(crate) body_size: usize,
    /// The consumer label (consumer spans only).
    pub(crate) subscription: Option<&'a str>,
}

impl Tracing {
    fn attributes(&self, operation: &'static str, f: &SpanFacts<'_>) -> Vec<KeyValue> {
        let mut attrs = vec![
            KeyValue::new("messaging.system", "nats"),
            KeyValue::new("messaging.operation", operation),
            KeyValue::new("messaging.destination.name", f.destination.to_owned()),
            KeyValue::new("messaging.nats.subject", f.subject.to_owned()),
            KeyValue::new("messaging.client_id", self.service.to_string()),
            KeyValue::new(
                "messaging.message.body.size",
                i64::try_from(f.body_size).unwrap_or(i64::MAX),
            ),
        ];
        if let Some(sub) = f.subscription {
            attrs.push(KeyValue::new(
                "messaging.destination.subscription",
                sub.to_owned(),
            ));
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
            Some(f) => f(facts.routing_key),
            None => format!("publish {}", facts.routing_key),
        };
        MessageSpan(
            self.spans
                .producer(name, || self.attributes("publish", facts), headers),
        )
    }

    /// Starts the consumer span of a delivery, child of the context its headers carry.
    pub(crate) fn consume(&self, facts: &SpanFacts<'_>, headers: &Headers) -> MessageSpan {
        let consumer = facts.subscription.unwrap_or(&self.service);
        let name = || match &self.consumer_name {
            Some(f) => f(consumer, facts.routing_key),
            None => format!("{consumer}#{}", facts.routing_key),
        };
        let span = self.spans.start(
            SpanKind::Consumer,
            &self.spans.parent(headers),
            name,
            || self.attributes("receive", facts),
        );
        MessageSpan(
            span.with_log(tracing::info_span!("message", service = %self.service,
            stream = facts.destination, consumer, routing_key = facts.routing_key,
            ce_id = facts.message_id)),
        )
    }

    /// Writes `span`'s context into a NATS header map (replies).
    pub(crate) fn inject_nats(&self, span: &MessageSpan, headers: &mut HeaderMap) {
        self.spans.inject(&span.0, &mut NatsInjector(headers));
    }
}

/// A started span (the core's), ended with this crate's errors.
pub(crate) struct MessageSpan(CoreSpan);

impl MessageSpan {
    /// Runs `fut` with this span as the current OpenTelemetry context.
    pub(crate) fn wrap<F: std::future::Future>(
        &self,
        fut: F,
    ) -> impl std::future::Future<Output = F::Output> + use<F> {
        self.0.wrap(fut)
    }

    /// Ends the span: Ok, or Error with the error recorded.
    pub(crate) fn finish(&self, error: Option<&messaging_core::Error>) {
        self.0.finish(error.map(|e| e as _));
    }

    /// Ends the span with this error.
    pub(crate) fn failed(&self, error: &(dyn std::error::Error + 'static)) {
        self.0.finish(Some(error));
    }
}

struct NatsInjector<'a>(&'a mut HeaderMap);

impl Injector for NatsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        match (
            crate::headers::name(key),
            crate::headers::value(key, &value),
        ) {
            (Ok(k), Ok(v)) => {
                self.0.insert(k, v);
            }
            _ => tracing::debug!(key, "propagator produced an invalid NATS header; skipped"),
        }
    }
}

/// Measures span cost without a broker, for the `observe` benchmark: a consumer span per
/// message, extracted from headers carrying a `traceparent` when `traced`, then ended.
/// Not a stable API.
#[doc(hidden)]
pub fn bench_consumer_spans(tracing: OtelTracing, messages: usize, traced: bool) {
    let t = tracing.build("bench");
    let mut headers = Headers::new();
    for (k, v) in [
        ("ce-id", "8c4e2a0c-5d2c-4c4e-9b8e-3f1f0d7a9b21"),
        ("ce-type", "Order.Created"),
        ("ce-source", "orders"),
    ] {
        headers.insert(k, v);
    }
    if traced {
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
    }
    for _ in 0..messages {
        let facts = SpanFacts {
            destination: "events",
            subject: "events.Order.Created",
            routing_key: "Order.Created",
            message_id: Some("id"),
            body_size: 42,
            subscription: Some("bench"),
        };
        t.consume(&facts, &headers).finish(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Context;
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    impl MessageSpan {
        fn context(&self) -> Context {
            self.0.context().cloned().unwrap_or_default()
        }
    }

    #[test]
    fn publish_injects_its_own_span_and_consume_continues_it() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let t = OtelTracing::new().tracer_provider(&provider).build("svc");
        let mut headers = Headers::new();
        let facts = SpanFacts {
            destination: "events",
            subject: "events.Order.Created",
            routing_key: "Order.Created",
            message_id: Some("ce-1"),
            body_size: 9,
            subscription: None,
        };
        let producer = t.publish(&facts, &mut headers);
        let producer_ctx = producer.context().span().span_context().clone();
        let traceparent = headers
            .get_str("traceparent")
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            traceparent,
            format!(
                "00-{}-{}-01",
                producer_ctx.trace_id(),
                producer_ctx.span_id()
            )
        );
        producer.finish(None);
        // Header names may arrive in another case.
        let mut shouted = Headers::new();
        shouted.insert("Traceparent", traceparent);
        let consumer = t.consume(
            &SpanFacts {
                subscription: Some("billing"),
                ..facts
            },
            &shouted,
        );
        consumer.finish(None);
        let spans = exporter.get_finished_spans().unwrap_or_default();
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(names, ["publish Order.Created", "billing#Order.Created"]);
        let consumer = &spans[1];
        assert_eq!(consumer.parent_span_id, producer_ctx.span_id());
        assert_eq!(consumer.span_context.trace_id(), producer_ctx.trace_id());
        assert_eq!(consumer.span_kind, SpanKind::Consumer);
    }

    #[test]
    fn a_no_op_provider_records_nothing_and_injects_nothing() {
        let provider = SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff)
            .build();
        let t = OtelTracing::new().tracer_provider(&provider).build("svc");
        let mut headers = Headers::new();
        let facts = SpanFacts {
            destination: "events",
            subject: "events.K",
            routing_key: "K",
            message_id: None,
            body_size: 0,
            subscription: None,
        };
        let span = t.publish(&facts, &mut headers);
        let cx = span.context();
        assert!(!cx.span().is_recording());
        assert!(!cx.has_active_span() || !cx.span().span_context().is_sampled());
        span.finish(None);
    }

    #[test]
    fn a_no_op_tracer_is_skipped_once_learned_but_incoming_context_still_flows() {
        // No provider installed: the global one is a no-op.
        let t = OtelTracing::new().build("svc");
        let facts = SpanFacts {
            destination: "events",
            subject: "events.K",
            routing_key: "K",
            message_id: None,
            body_size: 0,
            subscription: None,
        };
        let first = t.consume(&facts, &Headers::new());
        assert!(first.0.context().is_some(), "the first span teaches");
        assert!(t.spans.is_noop());
        let mut plain = Headers::new();
        assert!(t.consume(&facts, &plain).0.context().is_none());
        assert!(t.publish(&facts, &mut plain).0.context().is_none());
        assert!(plain.get_str("traceparent").is_none());
        // A message with trace context still hands it on: the handler's own publishes
        // continue the caller's trace.
        let mut traced = Headers::new();
        traced.insert(
            "TraceParent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        let span = t.consume(&facts, &traced);
        let cx = span.context();
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }
}
