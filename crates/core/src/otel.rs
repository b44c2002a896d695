//! OpenTelemetry that every transport shares (feature `otel`): the tracer and propagator
//! of a connection, the span of one message, and trace context read from and written to
//! the spec's [`Headers`]. A transport adds its span names and attributes.
//!
//! Spans are built without attributes or a real name and only filled in when they
//! record, so an unsampled pipeline costs next to nothing per message. A no-op tracer
//! (no provider installed) costs nothing at all: once a span built without a parent
//! comes back without a span context, messages that carry no trace context skip the
//! tracer, the context and its attachment to the handler's future altogether.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use messaging_spec::Headers;
use opentelemetry::context::FutureExt as _;
use opentelemetry::global::BoxedTracer;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanBuilder, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider,
};
use opentelemetry::{Context, ContextGuard, InstrumentationScope, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument as _;

/// A propagator shared by a connection's spans.
pub type SharedPropagator = Arc<dyn TextMapPropagator + Send + Sync>;

/// The tracer and propagator a connection was configured with, before it starts:
/// the part of a transport's `OtelTracing` that does not depend on the broker.
#[derive(Clone)]
pub struct TracerChoice {
    tracer: Option<Arc<BoxedTracer>>,
    propagator: SharedPropagator,
}

impl std::fmt::Debug for TracerChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerChoice")
            .field("custom_tracer", &self.tracer.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for TracerChoice {
    /// The global tracer provider (as it is when the connection starts) and W3C trace
    /// context.
    fn default() -> Self {
        Self {
            tracer: None,
            propagator: Arc::new(TraceContextPropagator::new()),
        }
    }
}

impl TracerChoice {
    /// Whether a tracer provider was given (else the global one is used).
    #[must_use]
    pub fn has_custom_tracer(&self) -> bool {
        self.tracer.is_some()
    }

    /// Creates spans with `provider`'s tracer for `scope`.
    #[must_use]
    pub fn tracer_provider<P, T, S>(mut self, provider: &P, scope: InstrumentationScope) -> Self
    where
        P: TracerProvider<Tracer = T>,
        T: opentelemetry::trace::Tracer<Span = S> + Send + Sync + 'static,
        S: opentelemetry::trace::Span + Send + Sync + 'static,
    {
        let tracer = provider.tracer_with_scope(scope);
        self.tracer = Some(Arc::new(BoxedTracer::new(Box::new(tracer))));
        self
    }

    /// Carries trace context with `propagator`.
    #[must_use]
    pub fn propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.propagator = Arc::new(propagator);
        self
    }

    /// The connection's tracer: the given provider's, or the global provider's for
    /// `scope` as it is now.
    #[must_use]
    pub fn build(self, scope: InstrumentationScope) -> MessageTracer {
        let tracer = self
            .tracer
            .unwrap_or_else(|| Arc::new(opentelemetry::global::tracer_with_scope(scope)));
        MessageTracer {
            tracer,
            propagator: self.propagator,
            noop: AtomicBool::new(false),
        }
    }
}

/// A connection's tracer: starts message spans and moves trace context in and out of
/// headers.
pub struct MessageTracer {
    tracer: Arc<BoxedTracer>,
    propagator: SharedPropagator,
    /// Learned: the tracer makes no span context of its own (a no-op tracer).
    noop: AtomicBool,
}

impl std::fmt::Debug for MessageTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageTracer")
            .field("noop", &self.is_noop())
            .finish_non_exhaustive()
    }
}

impl MessageTracer {
    /// Whether the tracer has shown itself to be a no-op one.
    #[must_use]
    pub fn is_noop(&self) -> bool {
        self.noop.load(Ordering::Relaxed)
    }

    /// Starts a span of `kind` under `parent`. `name` and `attributes` are computed only
    /// when the span records.
    pub fn start(
        &self,
        kind: SpanKind,
        parent: &Context,
        name: impl FnOnce() -> String,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> MessageSpan {
        let orphan = !parent.span().span_context().is_valid();
        if orphan && self.is_noop() {
            return MessageSpan::none();
        }
        let builder = SpanBuilder::from_name(Cow::Borrowed("message")).with_kind(kind);
        let span = self.tracer.build_with_context(builder, parent);
        let cx = parent.with_span(span);
        let span = cx.span();
        if span.is_recording() {
            span.update_name(name());
            span.set_attributes(attributes());
        } else if orphan && !span.span_context().is_valid() {
            // Any real tracer gives a root span a context, sampled or not.
            self.noop.store(true, Ordering::Relaxed);
        }
        MessageSpan {
            cx: Some(cx),
            log: tracing::Span::none(),
        }
    }

    /// Starts a producer span, child of the caller's current context, and writes its
    /// context into `headers`.
    pub fn producer(
        &self,
        name: impl FnOnce() -> String,
        attributes: impl FnOnce() -> Vec<KeyValue>,
        headers: &mut Headers,
    ) -> MessageSpan {
        let span = self.start(SpanKind::Producer, &Context::current(), name, attributes);
        self.inject(&span, &mut HeadersInjector(headers));
        span
    }

    /// The context `headers` carry, to parent a consumer span. Skipped when the tracer
    /// is a no-op one and the headers carry no trace context.
    #[must_use]
    pub fn parent(&self, headers: &Headers) -> Context {
        if self.is_noop() && !self.carries_context(headers) {
            Context::new()
        } else {
            self.propagator.extract(&HeadersExtractor(headers))
        }
    }

    /// Writes `span`'s context through `injector` (a transport's own header map).
    pub fn inject(&self, span: &MessageSpan, injector: &mut dyn Injector) {
        if let Some(cx) = &span.cx {
            self.propagator.inject_context(cx, injector);
        }
    }

    /// Whether `headers` may carry trace context for the propagator (any of its fields,
    /// in any case). Cheaper than extracting nothing.
    fn carries_context(&self, headers: &Headers) -> bool {
        // One scan covers the exact key too; the length check inside rejects most keys.
        self.propagator.fields().any(|field| {
            headers
                .iter_str()
                .any(|(k, _)| k.eq_ignore_ascii_case(field))
        })
    }
}

/// A started span and the context that carries it (none for a no-op tracer and no
/// incoming trace context), with the `tracing` span handler logs run in.
#[derive(Debug)]
pub struct MessageSpan {
    cx: Option<Context>,
    log: tracing::Span,
}

impl MessageSpan {
    /// No span at all.
    #[must_use]
    pub fn none() -> Self {
        Self {
            cx: None,
            log: tracing::Span::none(),
        }
    }

    /// Handler logs carry `log`'s fields.
    #[must_use]
    pub fn with_log(mut self, log: tracing::Span) -> Self {
        self.log = log;
        self
    }

    /// The span's context, if a span was started.
    #[must_use]
    pub fn context(&self) -> Option<&Context> {
        self.cx.as_ref()
    }

    /// Runs `fut` with this span as the current OpenTelemetry context.
    pub fn wrap<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> + use<F> {
        let fut = match &self.cx {
            Some(cx) => futures::future::Either::Left(fut.with_context(cx.clone())),
            None => futures::future::Either::Right(fut),
        };
        fut.instrument(self.log.clone())
    }

    /// Makes this span the current context until the guard drops (synchronous code only).
    #[must_use]
    pub fn enter(&self) -> Option<ContextGuard> {
        self.cx.clone().map(Context::attach)
    }

    /// Ends the span: Ok, or Error with `error` recorded.
    pub fn finish(&self, error: Option<&(dyn std::error::Error + 'static)>) {
        let Some(cx) = &self.cx else {
            return;
        };
        let span = cx.span();
        if span.is_recording() {
            match error {
                None => span.set_status(Status::Ok),
                Some(e) => {
                    span.record_error(e);
                    span.set_status(Status::error(e.to_string()));
                }
            }
        }
        span.end();
    }
}

struct HeadersInjector<'a>(&'a mut Headers);

impl Injector for HeadersInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value);
    }
}

struct HeadersExtractor<'a>(&'a Headers);

impl Extractor for HeadersExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // Other clients may have changed the case of header names.
        self.0.get_str(key).or_else(|| {
            self.0
                .iter_str()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter_str().map(|(k, _)| k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> InstrumentationScope {
        InstrumentationScope::builder("core-test").build()
    }

    #[test]
    fn a_no_op_tracer_is_skipped_once_learned_but_incoming_context_still_flows() {
        // No provider installed: the global one is a no-op.
        let t = TracerChoice::default().build(scope());
        let first = t.start(
            SpanKind::Consumer,
            &t.parent(&Headers::new()),
            String::new,
            Vec::new,
        );
        assert!(first.context().is_some(), "the first span teaches");
        assert!(t.is_noop());
        let mut plain = Headers::new();
        let parent = t.parent(&plain);
        assert!(
            t.start(SpanKind::Consumer, &parent, String::new, Vec::new)
                .context()
                .is_none()
        );
        assert!(
            t.producer(String::new, Vec::new, &mut plain)
                .context()
                .is_none()
        );
        assert!(plain.get_str("traceparent").is_none());
        // A message with trace context still hands it on, whatever the header's case.
        let mut traced = Headers::new();
        traced.insert(
            "TraceParent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        let span = t.start(
            SpanKind::Consumer,
            &t.parent(&traced),
            String::new,
            Vec::new,
        );
        let trace = span
            .context()
            .map(|cx| cx.span().span_context().trace_id().to_string());
        assert_eq!(trace.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    }
}
